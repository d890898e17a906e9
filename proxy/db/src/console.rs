//! The web database console's client: the bastion itself speaks to its own gateway as a
//! database client, so that a statement typed in the browser takes the path every client's
//! statement takes (hosted credential, SQL rules, audit under the engineer's session). The
//! gateway's session runs on one end of an in-memory pipe, this client on the other.
//!
//! Only the text protocols: MySQL `COM_QUERY` (every result set of a statement, as text) and
//! PostgreSQL's simple query (every statement of the text). Rows are kept up to
//! [`MAX_ROWS`] per result, and each value up to [`MAX_VALUE`] characters; what is past them is
//! counted and read, never kept.

pub mod mysql;
pub mod pg;

/// Rows a result keeps (the rest are counted).
pub const MAX_ROWS: usize = 1000;
/// Characters a value keeps; a longer one ends with `…`.
pub const MAX_VALUE: usize = 4096;
/// Bytes of values a result keeps: past them rows are counted, not kept (wide rows reach it
/// before [`MAX_ROWS`]).
pub const MAX_KEPT_BYTES: usize = 8 << 20;

/// One result of a statement: a grid of rows, or what a statement without rows said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grid {
    /// Column names (none for a statement without a result set).
    pub columns: Vec<String>,
    /// The first [`MAX_ROWS`] rows; `None` is SQL NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// How many rows the result had in all.
    pub total_rows: u64,
    /// Rows changed (MySQL's affected rows, PostgreSQL's count in the command tag).
    pub affected: Option<u64>,
    /// What the database said of it: PostgreSQL's command tag (`INSERT 0 1`), MySQL's info.
    pub tag: String,
    /// Bytes of the values kept so far.
    kept_bytes: usize,
}

/// A statement the database (or the bastion's SQL rules) refused; the session goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbError {
    /// MySQL's error number (`1064`), or PostgreSQL's SQLSTATE (`42501`).
    pub code: String,
    /// The SQLSTATE, when the database gave one.
    pub sqlstate: Option<String>,
    pub message: String,
}

/// Everything a run of statements answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// Each result, in order (results before an error are kept).
    pub results: Vec<Grid>,
    /// The error that ended the run, if one did.
    pub error: Option<DbError>,
    /// Notices and warnings the database sent on the way.
    pub notices: Vec<String>,
}

/// Why the console cannot go on: the session is over.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the session ended: {0}")]
    Closed(String),
    #[error("the database's answer could not be read: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads exactly `buf.len()` bytes; the gateway closing the pipe ends the session.
async fn read_exact<S: tokio::io::AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut [u8],
) -> Result<(), ConsoleError> {
    match tokio::io::AsyncReadExt::read_exact(io, buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ConsoleError::Closed(
            "the gateway closed the connection".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A value as the grid keeps it: at most [`MAX_VALUE`] characters, lossy UTF-8.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(MAX_VALUE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

impl Grid {
    /// Keeps `row` while the grid holds fewer than [`MAX_ROWS`] rows and [`MAX_KEPT_BYTES`]
    /// bytes of values; counts it either way.
    fn push(
        &mut self,
        row: impl FnOnce() -> Result<Vec<Option<String>>, ConsoleError>,
    ) -> Result<(), ConsoleError> {
        if self.rows.len() < MAX_ROWS && self.kept_bytes < MAX_KEPT_BYTES {
            let row = row()?;
            self.kept_bytes += row.iter().flatten().map(String::len).sum::<usize>();
            self.rows.push(row);
        }
        self.total_rows += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character() {
        assert_eq!(shown(b"abc"), "abc");
        let long = "é".repeat(MAX_VALUE + 3);
        let cut = shown(long.as_bytes());
        assert_eq!(cut.chars().count(), MAX_VALUE + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(shown(&[0x66, 0xff]), "f\u{fffd}");
    }

    #[test]
    fn rows_past_the_limit_are_counted_not_kept() {
        let mut g = Grid::default();
        for i in 0..MAX_ROWS + 5 {
            g.push(|| Ok(vec![Some(i.to_string())])).expect("a row");
        }
        assert_eq!(g.rows.len(), MAX_ROWS);
        assert_eq!(g.total_rows, (MAX_ROWS + 5) as u64);
        assert_eq!(g.rows[MAX_ROWS - 1], vec![Some((MAX_ROWS - 1).to_string())]);
        let mut wide = Grid::default();
        let value = "x".repeat(MAX_VALUE);
        for _ in 0..MAX_ROWS {
            wide.push(|| Ok(vec![Some(value.clone()); 8]))
                .expect("a row");
        }
        assert_eq!(wide.total_rows, MAX_ROWS as u64);
        assert_eq!(
            wide.rows.len(),
            MAX_KEPT_BYTES / (8 * MAX_VALUE),
            "{}",
            wide.kept_bytes
        );
    }
}
