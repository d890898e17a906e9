//! The console's PostgreSQL client: a protocol-3 startup with no password of its own (the
//! gateway logs in to the target with the session's credential), then the simple query
//! protocol: every statement of the text, each result in order, until `ReadyForQuery`.

use super::{read_exact, shown, Answer, ConsoleError, DbError, Grid};
use crate::pg::wire::{message, Fields, Reader, Startup, WireError, PROTOCOL_3};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// The largest message read (a row of one huge value); bigger ones end the session.
const MAX_MESSAGE: usize = 64 << 20;

impl From<WireError> for ConsoleError {
    fn from(e: WireError) -> Self {
        ConsoleError::Protocol(e.to_string())
    }
}

/// A logged-in PostgreSQL session.
pub struct Client<S> {
    io: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Logs in as `account` (the gateway's session is for that account only) to `database`
    /// (the account's default when None).
    pub async fn login(
        mut io: S,
        account: &str,
        database: Option<&str>,
    ) -> Result<Client<S>, ConsoleError> {
        let mut params = vec![
            ("user".to_string(), account.to_string()),
            ("application_name".to_string(), "portunus-web".to_string()),
            ("client_encoding".to_string(), "UTF8".to_string()),
        ];
        if let Some(d) = database {
            params.push(("database".into(), d.into()));
        }
        let startup = Startup::Startup {
            version: PROTOCOL_3,
            params,
        };
        io.write_all(&startup.build()).await?;
        io.flush().await?;
        loop {
            let (tag, body) = read_message(&mut io).await?;
            match tag {
                b'R' => {
                    let code = Reader::new(&body).i32("the authentication code")?;
                    if code != 0 {
                        return Err(ConsoleError::Protocol(format!(
                            "the gateway asked for authentication method {code}"
                        )));
                    }
                }
                b'E' => return Err(ConsoleError::Closed(Fields::parse(&body)?.message)),
                b'Z' => return Ok(Client { io }),
                // ParameterStatus, BackendKeyData, NoticeResponse.
                _ => {}
            }
        }
    }

    /// Runs `sql` (one statement or several) and reads every result.
    pub async fn query(&mut self, sql: &str) -> Result<Answer, ConsoleError> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.io.write_all(&message(b'Q', &body)).await?;
        self.io.flush().await?;
        let mut answer = Answer::default();
        let mut grid: Option<Grid> = None;
        loop {
            let (tag, body) = read_message(&mut self.io).await?;
            match tag {
                b'T' => grid = Some(columns(&body)?),
                b'D' => {
                    let g = grid.get_or_insert_with(Grid::default);
                    g.push(|| data_row(&body))?;
                }
                b'C' => {
                    let mut g = grid.take().unwrap_or_default();
                    g.tag = Reader::new(&body).string("the command tag")?;
                    g.affected = affected(&g.tag);
                    answer.results.push(g);
                }
                b'I' => {}
                b'E' => {
                    let f = Fields::parse(&body)?;
                    grid = None;
                    answer.error = Some(DbError {
                        code: f.code.clone(),
                        sqlstate: Some(f.code),
                        message: f.message,
                    });
                }
                b'N' => {
                    let f = Fields::parse(&body)?;
                    answer
                        .notices
                        .push(format!("{}: {}", f.severity, f.message));
                }
                b'A' => {
                    let mut r = Reader::new(&body);
                    r.i32("the notifying process")?;
                    let channel = r.string("the channel")?;
                    let payload = r.string("the payload")?;
                    answer.notices.push(format!("NOTIFY {channel}: {payload}"));
                }
                b'G' => {
                    // COPY FROM STDIN: the console has no file to send.
                    let mut fail = b"the web console sends no files".to_vec();
                    fail.push(0);
                    self.io.write_all(&message(b'f', &fail)).await?;
                    self.io.flush().await?;
                }
                b'H' => {
                    grid = Some(Grid {
                        columns: vec!["COPY".into()],
                        ..Grid::default()
                    })
                }
                b'd' => {
                    let g = grid.get_or_insert_with(Grid::default);
                    g.push(|| Ok(vec![Some(shown(body.strip_suffix(b"\n").unwrap_or(&body)))]))?;
                }
                b'Z' => return Ok(answer),
                // ParameterStatus (a SET), CopyDone.
                _ => {}
            }
        }
    }
}

/// A RowDescription's column names.
fn columns(body: &[u8]) -> Result<Grid, ConsoleError> {
    let mut r = Reader::new(body);
    let n = r.i16("the column count")?;
    let mut grid = Grid::default();
    for _ in 0..n.max(0) {
        grid.columns.push(r.string("a column name")?);
        // Table, attribute, type, size, modifier, format.
        r.bytes(4 + 2 + 4 + 2 + 4 + 2, "a column's description")?;
    }
    Ok(grid)
}

/// A DataRow's values (text format), NULL as None.
fn data_row(body: &[u8]) -> Result<Vec<Option<String>>, ConsoleError> {
    let mut r = Reader::new(body);
    let n = r.i16("the value count")?;
    let mut row = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n.max(0) {
        let len = r.i32("a value's length")?;
        row.push(match usize::try_from(len) {
            Ok(len) => Some(shown(r.bytes(len, "a value")?)),
            Err(_) => None,
        });
    }
    Ok(row)
}

/// The rows a command tag counts (`INSERT 0 3`, `UPDATE 2`, `SELECT 5`...).
fn affected(tag: &str) -> Option<u64> {
    let mut words = tag.split(' ');
    let verb = words.next()?;
    let n = words.next_back()?.parse().ok()?;
    matches!(
        verb,
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" | "MOVE" | "FETCH"
    )
    .then_some(n)
}

async fn read_message<S: AsyncRead + Unpin>(io: &mut S) -> Result<(u8, Vec<u8>), ConsoleError> {
    let mut h = [0u8; 5];
    read_exact(io, &mut h).await?;
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if !(4..=MAX_MESSAGE).contains(&len) {
        return Err(ConsoleError::Protocol(format!(
            "a message of length {len} (type {})",
            h[0] as char
        )));
    }
    let mut body = vec![0u8; len - 4];
    read_exact(io, &mut body).await?;
    Ok((h[0], body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tags_count_changed_rows() {
        assert_eq!(affected("INSERT 0 3"), Some(3));
        assert_eq!(affected("UPDATE 2"), Some(2));
        assert_eq!(affected("SELECT 5"), None);
        assert_eq!(affected("CREATE TABLE"), None);
    }

    #[test]
    fn data_rows_read_values_and_nulls() {
        let mut body = 2i16.to_be_bytes().to_vec();
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(b"hi");
        body.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(
            data_row(&body).expect("a row"),
            vec![Some("hi".into()), None]
        );
        assert!(data_row(&body[..5]).is_err());
    }
}
