//! The console's MySQL client: a protocol-4.1 login with no password of its own (the gateway
//! logs in to the target with the session's credential), then `COM_QUERY` and text result sets.

use super::{read_exact, shown, Answer, ConsoleError, DbError, Grid};
use crate::mysql::command::COM_QUERY;
use crate::mysql::handshake::{
    Greeting, Response, CLIENT_DEPRECATE_EOF, CLIENT_LONG_PASSWORD, CLIENT_MULTI_RESULTS,
    CLIENT_MULTI_STATEMENTS, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
};
use crate::mysql::wire::{frame, header, parse_err, Reader, WireError};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// The server status flag saying another result follows.
const MORE_RESULTS_EXIST: u16 = 0x0008;
/// The largest answer packet read (a row of one huge value); bigger ones end the session.
const MAX_PACKET: usize = 64 << 20;
/// utf8mb4_general_ci.
const UTF8MB4: u8 = 45;

impl From<WireError> for ConsoleError {
    fn from(e: WireError) -> Self {
        ConsoleError::Protocol(e.to_string())
    }
}

/// A logged-in MySQL session.
pub struct Client<S> {
    io: S,
    deprecate_eof: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Logs in as `account` (the gateway's session is for that account only), selecting
    /// `database` when given.
    pub async fn login(
        mut io: S,
        account: &str,
        database: Option<&str>,
    ) -> Result<Client<S>, ConsoleError> {
        let (_, greeting) = read_packet(&mut io).await?;
        let greeting =
            Greeting::parse(&greeting).map_err(|e| ConsoleError::Closed(e.to_string()))?;
        let wanted = CLIENT_LONG_PASSWORD
            | CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_MULTI_RESULTS
            | CLIENT_MULTI_STATEMENTS
            | CLIENT_DEPRECATE_EOF;
        let capabilities = wanted & greeting.capabilities | CLIENT_PROTOCOL_41;
        let response = Response {
            capabilities,
            max_packet: MAX_PACKET as u32,
            charset: UTF8MB4,
            user: account.as_bytes().to_vec(),
            auth: Vec::new(),
            database: database.map(|d| d.as_bytes().to_vec()),
            auth_plugin: Some(greeting.auth_plugin.clone()),
            attributes: None,
        };
        write_packet(&mut io, &response.build(), 1).await?;
        let (_, answer) = read_packet(&mut io).await?;
        match answer.first() {
            Some(0x00) => Ok(Client {
                io,
                deprecate_eof: capabilities & CLIENT_DEPRECATE_EOF != 0,
            }),
            Some(0xff) => Err(ConsoleError::Closed(parse_err(&answer).1)),
            _ => Err(ConsoleError::Protocol(
                "the login was answered with neither OK nor an error".into(),
            )),
        }
    }

    /// Runs `sql` (one statement, or several separated by `;`) and reads every result.
    pub async fn query(&mut self, sql: &str) -> Result<Answer, ConsoleError> {
        let mut payload = Vec::with_capacity(sql.len() + 1);
        payload.push(COM_QUERY);
        payload.extend_from_slice(sql.as_bytes());
        write_packet(&mut self.io, &payload, 0).await?;
        let mut answer = Answer::default();
        loop {
            let (seq, first) = read_packet(&mut self.io).await?;
            let more = match first.first() {
                Some(0x00) => {
                    let (grid, status, warnings) = ok(&first)?;
                    answer.results.push(grid);
                    warn(&mut answer, warnings);
                    status & MORE_RESULTS_EXIST != 0
                }
                Some(0xff) => {
                    answer.error = Some(error(&first));
                    return Ok(answer);
                }
                Some(0xfb) => {
                    // LOAD DATA LOCAL INFILE: the console sends no file (an empty one).
                    write_packet(&mut self.io, &[], seq.wrapping_add(1)).await?;
                    answer.notices.push(
                        "the web console sends no local files: an empty file was sent".into(),
                    );
                    continue;
                }
                _ => {
                    let (grid, status, warnings) = self.result_set(&first).await?;
                    warn(&mut answer, warnings);
                    match grid {
                        Ok(grid) => answer.results.push(grid),
                        Err(e) => {
                            answer.error = Some(e);
                            return Ok(answer);
                        }
                    }
                    status & MORE_RESULTS_EXIST != 0
                }
            };
            if !more {
                return Ok(answer);
            }
        }
    }

    /// Reads a result set whose first packet (the column count) is `first`: the grid (or the
    /// error that cut it), and the server status and warnings after it.
    async fn result_set(
        &mut self,
        first: &[u8],
    ) -> Result<(Result<Grid, DbError>, u16, u16), ConsoleError> {
        let count = Reader::new(first).lenenc("the column count")?;
        let mut grid = Grid::default();
        for _ in 0..count {
            let (_, def) = read_packet(&mut self.io).await?;
            let mut r = Reader::new(&def);
            for what in ["catalog", "schema", "table", "original table"] {
                r.lenenc_bytes(what)?;
            }
            grid.columns.push(shown(r.lenenc_bytes("column name")?));
        }
        if !self.deprecate_eof {
            read_packet(&mut self.io).await?;
        }
        loop {
            let (_, row) = read_packet(&mut self.io).await?;
            match row.first() {
                Some(0xfe) if row.len() < 0xff_ffff => {
                    let (status, warnings) = if self.deprecate_eof {
                        let (_, status, warnings) = ok(&row)?;
                        (status, warnings)
                    } else {
                        let mut r = Reader::new(&row);
                        r.u8("EOF")?;
                        let warnings = r.u16("warnings")?;
                        (r.u16("status")?, warnings)
                    };
                    return Ok((Ok(grid), status, warnings));
                }
                Some(0xff) => return Ok((Err(error(&row)), 0, 0)),
                _ => {
                    let columns = grid.columns.len();
                    grid.push(|| text_row(&row, columns))?;
                }
            }
        }
    }
}

/// An OK packet (or an EOF in its place): what it says, the status and warnings.
fn ok(p: &[u8]) -> Result<(Grid, u16, u16), ConsoleError> {
    let mut r = Reader::new(p);
    r.u8("OK")?;
    let affected = r.lenenc("affected rows")?;
    r.lenenc("last insert id")?;
    let status = r.u16("status")?;
    let warnings = r.u16("warnings")?;
    let info = shown(info(r.rest()));
    let grid = Grid {
        affected: Some(affected),
        tag: info,
        ..Grid::default()
    };
    Ok((grid, status, warnings))
}

/// The human-readable info at the end of an OK packet: MariaDB sends it length-encoded,
/// MySQL without session tracking as the rest of the packet.
fn info(rest: &[u8]) -> &[u8] {
    match rest.split_first() {
        Some((&n, text)) if usize::from(n) == text.len() && n < 0xfb => text,
        _ => rest,
    }
}

fn warn(answer: &mut Answer, warnings: u16) {
    if warnings > 0 {
        answer
            .notices
            .push(format!("{warnings} warning(s): SHOW WARNINGS lists them"));
    }
}

fn error(p: &[u8]) -> DbError {
    let (code, message) = parse_err(p);
    let sqlstate =
        (p.len() >= 9 && p[3] == b'#').then(|| String::from_utf8_lossy(&p[4..9]).into_owned());
    DbError {
        code: code.to_string(),
        sqlstate,
        message,
    }
}

/// A text-protocol row: each value a length-encoded string, or `0xfb` for NULL.
fn text_row(p: &[u8], columns: usize) -> Result<Vec<Option<String>>, ConsoleError> {
    let mut r = Reader::new(p);
    let mut row = Vec::with_capacity(columns);
    for _ in 0..columns {
        if r.remaining() > 0 && p[p.len() - r.remaining()] == 0xfb {
            r.u8("NULL")?;
            row.push(None);
        } else {
            row.push(Some(shown(r.lenenc_bytes("a value")?)));
        }
    }
    Ok(row)
}

/// One packet's sequence number and payload (a payload of 16 MiB or more arrives in parts).
async fn read_packet<S: AsyncRead + Unpin>(io: &mut S) -> Result<(u8, Vec<u8>), ConsoleError> {
    let mut payload = Vec::new();
    loop {
        let mut h = [0u8; 4];
        read_exact(io, &mut h).await?;
        let (len, seq) = header(h);
        if payload.len() + len > MAX_PACKET {
            return Err(ConsoleError::Protocol(format!(
                "an answer packet over {} MiB",
                MAX_PACKET >> 20
            )));
        }
        let at = payload.len();
        payload.resize(at + len, 0);
        read_exact(io, &mut payload[at..]).await?;
        if len < 0xff_ffff {
            return Ok((seq, payload));
        }
    }
}

async fn write_packet<S: AsyncWrite + Unpin>(
    io: &mut S,
    payload: &[u8],
    seq: u8,
) -> Result<(), ConsoleError> {
    io.write_all(&frame(payload, seq).0).await?;
    io.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_values_and_nulls() {
        let mut p = Vec::new();
        crate::mysql::wire::put_lenenc_bytes(&mut p, b"42");
        p.push(0xfb);
        crate::mysql::wire::put_lenenc_bytes(&mut p, b"");
        assert_eq!(
            text_row(&p, 3).expect("a row"),
            vec![Some("42".into()), None, Some(String::new())]
        );
        assert!(text_row(&p[..2], 2).is_err());
    }

    #[test]
    fn ok_info_is_read_with_or_without_its_length() {
        assert_eq!(info(b"\x05Rows!"), b"Rows!");
        assert_eq!(info(b"Rows matched: 1"), b"Rows matched: 1");
        assert_eq!(info(b""), b"");
    }

    #[test]
    fn errors_keep_code_and_sqlstate() {
        let p = crate::mysql::wire::err_payload(1064, "42000", "You have an error");
        let e = error(&p);
        assert_eq!(e.code, "1064");
        assert_eq!(e.sqlstate.as_deref(), Some("42000"));
        assert_eq!(e.message, "You have an error");
    }
}
