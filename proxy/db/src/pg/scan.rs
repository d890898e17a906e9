//! Where each server message ends and what the few that matter said. Data rows (`D`) and COPY
//! data (`d`) are counted or skipped without being copied; every other message is kept (up to
//! a bound) and returned as a [`Reply`], so the driver forwards the target's bytes as they come
//! and learns from the scanner which request each reply answers.

use super::wire::{header, Fields, WireError};

/// Body bytes kept from ordinary messages (command tags, statuses).
const HEAD: usize = 256;
/// Body bytes kept from errors and notices (their message).
const LONG_HEAD: usize = 8192;

/// A server message that ends or advances a request's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `Z`: ready for the next request, with the transaction status.
    Ready(u8),
    /// `C`: a statement completed, with its tag (`INSERT 0 3`, `SELECT 2`).
    Complete(String),
    /// `E`: an error.
    Error(Fields),
    /// `I`: the query was empty.
    EmptyQuery,
    /// `s`: an Execute's row limit was reached.
    Suspended,
    /// `1`, `2`, `3`: Parse, Bind, Close done.
    ParseComplete,
    BindComplete,
    CloseComplete,
    /// `n` or `T`: a Describe's last message (`t` precedes `T` or `n` for a statement).
    NoData,
    RowDescription,
    ParameterDescription,
    /// `G`: the server waits for the client's COPY data.
    CopyIn,
    /// `H`: COPY data follows from the server.
    CopyOut,
    /// `W`: replication's both-ways COPY.
    CopyBoth,
    /// `c`: the end of the server's COPY data.
    CopyDone,
    /// `V`: a fast-path function's result.
    FunctionResult,
    /// Anything that answers no request: notices, parameter changes, notifications.
    Aside,
}

/// Splits a server's byte stream into messages.
#[derive(Debug, Default)]
pub struct Scan {
    header: Vec<u8>,
    tag: u8,
    left: usize,
    keep: usize,
    head: Vec<u8>,
    rows: u64,
}

impl Scan {
    pub fn new() -> Scan {
        Scan::default()
    }

    /// Data rows seen since the last call.
    pub fn take_rows(&mut self) -> u64 {
        std::mem::take(&mut self.rows)
    }

    /// Consumes `data` up to the end of the next message that is a [`Reply`] (or all of it);
    /// returns how many bytes were consumed and the reply, if one ended.
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Option<Reply>), WireError> {
        let mut i = 0;
        while i < data.len() {
            if self.header.len() < 5 {
                let n = (5 - self.header.len()).min(data.len() - i);
                self.header.extend_from_slice(&data[i..i + n]);
                i += n;
                let Some(h) = header(&self.header) else {
                    break;
                };
                let (tag, len) = h?;
                self.tag = tag;
                self.left = len;
                self.head.clear();
                self.keep = match tag {
                    b'D' | b'd' => 0,
                    b'E' | b'N' => len.min(LONG_HEAD),
                    _ => len.min(HEAD),
                };
            }
            let take = self.left.min(data.len() - i);
            let want = self.keep.saturating_sub(self.head.len()).min(take);
            self.head.extend_from_slice(&data[i..i + want]);
            i += take;
            self.left -= take;
            if self.left == 0 {
                self.header.clear();
                if let Some(reply) = self.finish() {
                    return Ok((i, Some(reply)));
                }
            }
        }
        Ok((i, None))
    }

    fn finish(&mut self) -> Option<Reply> {
        let b = &self.head;
        Some(match self.tag {
            b'D' => {
                self.rows += 1;
                return None;
            }
            b'd' => return None,
            b'Z' => Reply::Ready(b.first().copied().unwrap_or(b'I')),
            b'C' => Reply::Complete(
                String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap_or(b)).into_owned(),
            ),
            b'E' => Reply::Error(Fields::parse(b).unwrap_or_else(|_| {
                Fields::new("ERROR", "XX000", "(an error the bastion could not read)")
            })),
            b'I' => Reply::EmptyQuery,
            b's' => Reply::Suspended,
            b'1' => Reply::ParseComplete,
            b'2' => Reply::BindComplete,
            b'3' => Reply::CloseComplete,
            b'n' => Reply::NoData,
            b'T' => Reply::RowDescription,
            b't' => Reply::ParameterDescription,
            b'G' => Reply::CopyIn,
            b'H' => Reply::CopyOut,
            b'W' => Reply::CopyBoth,
            b'c' => Reply::CopyDone,
            b'V' => Reply::FunctionResult,
            _ => Reply::Aside,
        })
    }
}

/// Rows changed and rows returned, read from a command tag: `INSERT 0 3` changed 3,
/// `SELECT 2` returned 2, `COPY 5` moved 5 (returned when `copy_out`, else changed).
pub fn counts(tag: &str, copy_out: bool) -> (u64, u64) {
    let mut words = tag.split_ascii_whitespace();
    let verb = words.next().unwrap_or("");
    let n = tag
        .rsplit_once(' ')
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .unwrap_or(0);
    match verb {
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => (n, 0),
        "SELECT" | "FETCH" => (0, n),
        "COPY" if copy_out => (0, n),
        "COPY" => (n, 0),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests;
