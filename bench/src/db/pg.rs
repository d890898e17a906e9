//! A small PostgreSQL client for the benchmarks, built on the gateway's own codecs
//! (`portunus_db::pg`): a startup and a login answered by the gateway's target-login state
//! machine (SCRAM-SHA-256, MD5, cleartext or trust: a direct login, or the native port's user +
//! O&M token), and a simple query whose answer is drained and counted, message by message,
//! without decoding rows.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use portunus_db::pg::auth::{Next, TargetAuth};
use portunus_db::pg::wire::{header, message, Fields, Startup, PROTOCOL_3};
use portunus_db::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::mysql::Drained;

const READ: usize = 256 * 1024;

/// One logged-in connection.
pub(crate) struct Pg {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
}

impl Pg {
    /// Connects to `addr` and logs in as `user` with `password` to `database`.
    pub(crate) async fn connect(
        addr: SocketAddr,
        user: &str,
        password: &str,
        database: &str,
    ) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        let _ = stream.set_nodelay(true);
        let mut c = Pg {
            stream,
            buf: Vec::with_capacity(READ),
            start: 0,
        };
        let startup = Startup::Startup {
            version: PROTOCOL_3,
            params: vec![
                ("user".into(), user.into()),
                ("database".into(), database.into()),
            ],
        };
        c.stream.write_all(&startup.build()).await?;
        let mut auth = TargetAuth::new(user, Secret(password.into()));
        loop {
            let (tag, body) = c.read_message().await?;
            let next = auth
                .on_message(tag, &body)
                .with_context(|| format!("login to {addr} as {user}"))?;
            match next {
                Next::Send(bytes) => c.stream.write_all(&bytes).await?,
                Next::Read => {}
                Next::Done => break,
            }
        }
        // Parameters and the backend key, up to ReadyForQuery.
        loop {
            match c.read_message().await? {
                (b'Z', _) => return Ok(c),
                (b'E', body) => bail!("login to {addr} refused: {}", error_text(&body)),
                _ => {}
            }
        }
    }

    /// Runs `sql` (simple query protocol) and reads its whole answer up to ReadyForQuery,
    /// counting bytes and data rows; fails on an error.
    pub(crate) async fn query_drain(&mut self, sql: &str) -> anyhow::Result<Drained> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.stream.write_all(&message(b'Q', &body)).await?;
        let mut drained = Drained::default();
        let mut error = None;
        loop {
            let (tag, len) = self.next_header().await?;
            drained.bytes += 5 + len as u64;
            match tag {
                b'D' => {
                    self.skip(5 + len).await?;
                    drained.rows += 1;
                }
                b'E' => {
                    let (_, body) = self.read_message().await?;
                    error = Some(error_text(&body));
                }
                b'Z' => {
                    self.skip(5 + len).await?;
                    break;
                }
                _ => self.skip(5 + len).await?,
            }
        }
        match error {
            Some(e) => bail!("{sql}: {e}"),
            None => Ok(drained),
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(READ);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }

    /// The next message's tag and body length, buffered but not consumed.
    async fn next_header(&mut self) -> anyhow::Result<(u8, usize)> {
        loop {
            if let Some(h) = header(self.buffered()) {
                return Ok(h?);
            }
            self.fill().await?;
        }
    }

    /// Consumes `n` bytes, reading as needed, without keeping them.
    async fn skip(&mut self, mut n: usize) -> anyhow::Result<()> {
        loop {
            let have = self.buffered().len().min(n);
            self.start += have;
            n -= have;
            if n == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    async fn read_message(&mut self) -> anyhow::Result<(u8, Vec<u8>)> {
        let (tag, len) = self.next_header().await?;
        while self.buffered().len() < 5 + len {
            self.fill().await?;
        }
        let body = self.buffered()[5..5 + len].to_vec();
        self.start += 5 + len;
        Ok((tag, body))
    }
}

fn error_text(body: &[u8]) -> String {
    match Fields::parse(body) {
        Ok(f) => format!("{} {}", f.code, f.message),
        Err(e) => e.to_string(),
    }
}
