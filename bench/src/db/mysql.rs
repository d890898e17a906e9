//! A small MySQL client for the benchmarks, built on the gateway's own codecs
//! (`portunus_db::mysql`): `mysql_native_password` login (a direct login, the native port's
//! user + O&M token, or a tunnel's hosted account), a query whose answer is drained and counted
//! without decoding rows, and idle connections held open. Cheap enough to open hundreds of
//! connections and to read a GiB result set faster than the gateway or HAProxy forward it.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use portunus_db::mysql::auth::native_password;
use portunus_db::mysql::command::{Answer, COM_QUERY};
use portunus_db::mysql::handshake::{
    Greeting, Response, CLIENT_LONG_PASSWORD, CLIENT_MULTI_RESULTS, CLIENT_PLUGIN_AUTH,
    CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
};
use portunus_db::mysql::scan::{Progress, Scan};
use portunus_db::mysql::wire::{frame, header, parse_err};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ: usize = 256 * 1024;

/// One logged-in connection.
pub(crate) struct MySql {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

/// What a drained answer held.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Drained {
    /// Bytes of the answer as it came over the wire (headers included).
    pub(crate) bytes: u64,
    pub(crate) rows: u64,
}

impl MySql {
    /// Connects to `addr` and logs in as `user` with `password` (native password), selecting
    /// `database` when given.
    pub(crate) async fn connect(
        addr: SocketAddr,
        user: &str,
        password: &str,
        database: Option<&str>,
    ) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        let _ = stream.set_nodelay(true);
        let mut c = MySql {
            stream,
            buf: Vec::with_capacity(READ),
            start: 0,
        };
        let (_, greeting) = c.read_packet().await?;
        let greeting = Greeting::parse(&greeting).context("the server's greeting")?;
        let response = Response {
            capabilities: CLIENT_LONG_PASSWORD
                | CLIENT_PROTOCOL_41
                | CLIENT_SECURE_CONNECTION
                | CLIENT_PLUGIN_AUTH
                | CLIENT_MULTI_RESULTS,
            max_packet: 1 << 24,
            charset: 45,
            user: user.as_bytes().to_vec(),
            auth: native_password(password.as_bytes(), &greeting.scramble),
            database: database.map(|d| d.as_bytes().to_vec()),
            auth_plugin: Some(b"mysql_native_password".to_vec()),
            attributes: None,
        };
        c.write_packet(&response.build(), 1).await?;
        loop {
            let (seq, p) = c.read_packet().await?;
            match p.first() {
                Some(0x00) => return Ok(c),
                Some(0xff) => {
                    let (code, message) = parse_err(&p);
                    bail!("login to {addr} as {user} refused: {code} {message}");
                }
                Some(0xfe) => {
                    // AuthSwitchRequest: method NUL scramble NUL.
                    let rest = &p[1..];
                    let nul = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                    if &rest[..nul] != b"mysql_native_password" {
                        bail!("{addr} asked for {}", String::from_utf8_lossy(&rest[..nul]));
                    }
                    let scramble = rest.get(nul + 1..).unwrap_or_default();
                    let scramble = scramble.strip_suffix(&[0]).unwrap_or(scramble);
                    let answer = native_password(password.as_bytes(), scramble);
                    c.write_packet(&answer, seq.wrapping_add(1)).await?;
                }
                _ => bail!("unexpected packet during the login to {addr}"),
            }
        }
    }

    /// Runs `sql` and reads its whole answer, counting bytes and rows; fails on an error.
    pub(crate) async fn query_drain(&mut self, sql: &str) -> anyhow::Result<Drained> {
        let mut payload = vec![COM_QUERY];
        payload.extend_from_slice(sql.as_bytes());
        self.write_packet(&payload, 0).await?;
        let mut scan = Scan::new(Answer::Result, false);
        let mut bytes = 0u64;
        loop {
            if self.buffered().is_empty() && self.fill().await? == 0 {
                bail!("the server closed the connection during an answer");
            }
            let (n, progress) = scan.feed(self.buffered())?;
            bytes += n as u64;
            self.consume(n);
            match progress {
                Progress::More => {}
                Progress::Done => break,
                Progress::LocalInfile(_) => bail!("unexpected LOCAL INFILE request"),
            }
        }
        if let Some((code, message)) = &scan.tally().error {
            bail!("{sql}: error {code} {message}");
        }
        Ok(Drained {
            bytes,
            rows: scan.tally().rows,
        })
    }

    /// Whether the server still answers (a `SELECT 1`).
    pub(crate) async fn ping(&mut self) -> anyhow::Result<()> {
        self.query_drain("SELECT 1").await.map(|_| ())
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    async fn fill(&mut self) -> anyhow::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ, 0);
        let n = self.stream.read(&mut self.buf[old..]).await;
        self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
        Ok(n?)
    }

    async fn read_packet(&mut self) -> anyhow::Result<(u8, Vec<u8>)> {
        while self.buffered().len() < 4 {
            if self.fill().await? == 0 {
                bail!("the server closed the connection");
            }
        }
        let h = self.buffered();
        let (len, seq) = header([h[0], h[1], h[2], h[3]]);
        while self.buffered().len() < 4 + len {
            if self.fill().await? == 0 {
                bail!("the server closed the connection inside a packet");
            }
        }
        let p = self.buffered()[4..4 + len].to_vec();
        self.consume(4 + len);
        Ok((seq, p))
    }

    async fn write_packet(&mut self, payload: &[u8], seq: u8) -> anyhow::Result<()> {
        let (bytes, _) = frame(payload, seq);
        self.stream.write_all(&bytes).await?;
        Ok(())
    }
}
