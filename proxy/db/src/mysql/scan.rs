//! Where a server's answer ends and what it said, read from packet headers and the first bytes
//! of each packet only: result rows are counted, never decoded or copied, so the driver forwards
//! an answer's bytes as they come and learns from [`Scan`] where it stops.
//!
//! The grammar (per the protocol's "text resultset", "binary resultset" and
//! `COM_STMT_PREPARE` answers): an OK or ERR packet, or a column count, the column definitions
//! (then an EOF unless `CLIENT_DEPRECATE_EOF`), the rows, and a terminator (EOF, or an OK packet
//! with the `0xfe` header) whose status says whether another result follows.

use super::command::Answer;
use super::wire::{self, Reader, MAX_PAYLOAD};

const MORE_RESULTS_EXIST: u16 = 0x0008;
const CURSOR_EXISTS: u16 = 0x0040;
/// Payload bytes kept from the start of each packet (enough for OK, EOF, counts).
const HEAD: usize = 64;
/// Payload bytes kept from ERR and LOCAL INFILE packets (message, file name).
const LONG_HEAD: usize = 1024;

/// How far the answer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Not finished: feed more bytes.
    More,
    /// The answer is complete.
    Done,
    /// The server asks the client for a local file (`LOAD DATA LOCAL INFILE`): the client's
    /// data packets go to the server, then the answer goes on.
    LocalInfile(String),
}

/// What the answer said, summed over its results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub affected: u64,
    pub rows: u64,
    /// The first error: code and message.
    pub error: Option<(u16, String)>,
    /// A prepare's statement id and parameter count.
    pub prepared: Option<(u32, u16)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    First,
    Columns(u64),
    ColumnsEof,
    Rows,
    PrepareFirst,
    PrepareParams(u16, u16),
    PrepareParamsEof(u16),
    PrepareColumns(u16),
    PrepareColumnsEof,
    UntilEof,
    Single,
    Done,
}

/// Scans one answer.
#[derive(Debug)]
pub struct Scan {
    deprecate_eof: bool,
    state: State,
    tally: Tally,
    header: [u8; 4],
    header_got: usize,
    len: usize,
    left: usize,
    head: Vec<u8>,
    goal: usize,
    seen: bool,
    continuation: bool,
    previous_max: bool,
    pending: Option<Progress>,
}

impl Scan {
    /// Starts scanning the answer to a request expecting `answer`.
    pub fn new(answer: Answer, deprecate_eof: bool) -> Scan {
        let state = match answer {
            Answer::Result => State::First,
            Answer::Prepare => State::PrepareFirst,
            Answer::FieldList => State::UntilEof,
            Answer::Fetch => State::Rows,
            Answer::Single => State::Single,
            Answer::None => State::Done,
        };
        Scan {
            deprecate_eof,
            state,
            tally: Tally::default(),
            header: [0; 4],
            header_got: 0,
            len: 0,
            left: 0,
            head: Vec::with_capacity(HEAD),
            goal: 0,
            seen: false,
            continuation: false,
            previous_max: false,
            pending: None,
        }
    }

    /// After a local file was sent: the server's final OK or ERR follows.
    pub fn resume(&mut self) {
        self.state = State::First;
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Consumes `data` up to the end of the answer (or all of it); returns how many bytes
    /// belong to the answer and how far it is. Bytes past the end belong to the next answer.
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Progress), wire::WireError> {
        let mut i = 0;
        if self.state == State::Done {
            return Ok((0, Progress::Done));
        }
        while i < data.len() {
            if self.header_got < 4 {
                let n = (4 - self.header_got).min(data.len() - i);
                self.header[self.header_got..self.header_got + n].copy_from_slice(&data[i..i + n]);
                self.header_got += n;
                i += n;
                if self.header_got < 4 {
                    break;
                }
                self.start_packet();
            }
            if !self.seen && self.head.len() < self.goal {
                let n = (self.goal - self.head.len()).min(data.len() - i);
                self.head.extend_from_slice(&data[i..i + n]);
                i += n;
                self.left -= n;
                if self.head.len() == 1 && matches!(self.head[0], 0xff | 0xfb) {
                    self.goal = self.len.min(LONG_HEAD);
                }
            }
            if !self.seen && self.head.len() >= self.goal {
                self.seen = true;
                if !self.continuation {
                    let progress = self.on_packet()?;
                    if progress != Progress::More {
                        self.pending = Some(progress);
                    }
                }
            }
            if self.seen {
                let skip = self.left.min(data.len() - i);
                i += skip;
                self.left -= skip;
                if self.left == 0 {
                    self.header_got = 0;
                    if let Some(p) = self.pending.take() {
                        return Ok((i, p));
                    }
                }
            }
        }
        Ok((i, Progress::More))
    }

    fn start_packet(&mut self) {
        let (len, _seq) = wire::header(self.header);
        self.len = len;
        self.left = len;
        self.continuation = self.previous_max;
        self.previous_max = len == MAX_PAYLOAD;
        self.head.clear();
        self.goal = if self.continuation { 0 } else { len.min(HEAD) };
        self.seen = false;
    }

    fn on_packet(&mut self) -> Result<Progress, wire::WireError> {
        let p = &self.head;
        let first = p.first().copied();
        let terminator =
            first == Some(0xfe) && self.len < MAX_PAYLOAD && (self.deprecate_eof || self.len < 9);
        let eof = first == Some(0xfe) && self.len < 9;
        let (next, progress) = match self.state {
            State::First => match first {
                Some(0x00) => self.ok(false)?,
                Some(0xff) => self.error(),
                Some(0xfb) => {
                    let name = String::from_utf8_lossy(&p[1..]).into_owned();
                    (State::First, Progress::LocalInfile(name))
                }
                _ => {
                    let n = Reader::new(p).lenenc("column count")?;
                    if n == 0 {
                        return Err(wire::WireError::Malformed("a result with no columns"));
                    }
                    (State::Columns(n), Progress::More)
                }
            },
            State::Columns(n) if first == Some(0xff) && n > 0 => self.error(),
            State::Columns(n) => {
                let left = n - 1;
                match (left, self.deprecate_eof) {
                    (0, true) => (State::Rows, Progress::More),
                    (0, false) => (State::ColumnsEof, Progress::More),
                    _ => (State::Columns(left), Progress::More),
                }
            }
            State::ColumnsEof if eof => {
                let status = eof_status(p);
                if status & CURSOR_EXISTS != 0 {
                    self.after(status)
                } else {
                    (State::Rows, Progress::More)
                }
            }
            State::ColumnsEof => {
                return Err(wire::WireError::Malformed("no EOF after the columns"))
            }
            State::Rows if first == Some(0xff) => self.error(),
            State::Rows if terminator => {
                if eof && !self.deprecate_eof {
                    let status = eof_status(p);
                    self.after(status)
                } else {
                    self.ok(true)?
                }
            }
            State::Rows => {
                self.tally.rows += 1;
                (State::Rows, Progress::More)
            }
            State::PrepareFirst => match first {
                Some(0x00) => {
                    let mut r = Reader::new(&p[1..]);
                    let id = r.u32("statement id")?;
                    let columns = r.u16("column count")?;
                    let params = r.u16("parameter count")?;
                    self.tally.prepared = Some((id, params));
                    self.prepare_params(params, columns)
                }
                Some(0xff) => self.error(),
                _ => return Err(wire::WireError::Malformed("an unknown answer to a prepare")),
            },
            State::PrepareParams(n, columns) => {
                if n > 1 {
                    (State::PrepareParams(n - 1, columns), Progress::More)
                } else if self.deprecate_eof {
                    self.prepare_columns(columns)
                } else {
                    (State::PrepareParamsEof(columns), Progress::More)
                }
            }
            State::PrepareParamsEof(columns) => self.prepare_columns(columns),
            State::PrepareColumns(n) => {
                if n > 1 {
                    (State::PrepareColumns(n - 1), Progress::More)
                } else if self.deprecate_eof {
                    (State::Done, Progress::Done)
                } else {
                    (State::PrepareColumnsEof, Progress::More)
                }
            }
            State::PrepareColumnsEof => (State::Done, Progress::Done),
            State::UntilEof if first == Some(0xff) => self.error(),
            State::UntilEof if terminator => (State::Done, Progress::Done),
            State::UntilEof => (State::UntilEof, Progress::More),
            State::Single => {
                if first == Some(0xff) {
                    self.tally.error = Some(wire::parse_err(&self.head));
                }
                (State::Done, Progress::Done)
            }
            State::Done => (State::Done, Progress::Done),
        };
        self.state = next;
        Ok(progress)
    }

    fn prepare_params(&self, params: u16, columns: u16) -> (State, Progress) {
        if params > 0 {
            (State::PrepareParams(params, columns), Progress::More)
        } else {
            self.prepare_columns(columns)
        }
    }

    fn prepare_columns(&self, columns: u16) -> (State, Progress) {
        if columns > 0 {
            (State::PrepareColumns(columns), Progress::More)
        } else {
            (State::Done, Progress::Done)
        }
    }

    fn error(&mut self) -> (State, Progress) {
        if self.tally.error.is_none() {
            self.tally.error = Some(wire::parse_err(&self.head));
        }
        (State::Done, Progress::Done)
    }

    /// An OK packet (or an OK-form terminator): rows affected and whether more results follow.
    fn ok(&mut self, terminator: bool) -> Result<(State, Progress), wire::WireError> {
        let mut r = Reader::new(&self.head[1..]);
        let affected = r.lenenc("affected rows")?;
        r.lenenc("last insert id")?;
        let status = r.u16("status")?;
        if !terminator {
            // The target's number: a sum over many results must not overflow.
            self.tally.affected = self.tally.affected.saturating_add(affected);
        }
        Ok(self.after(status))
    }

    fn after(&self, status: u16) -> (State, Progress) {
        if status & MORE_RESULTS_EXIST != 0 {
            (State::First, Progress::More)
        } else {
            (State::Done, Progress::Done)
        }
    }
}

/// An EOF packet's status flags (`0xfe`, warnings, status).
fn eof_status(p: &[u8]) -> u16 {
    match p {
        [_, _, _, lo, hi, ..] => u16::from_le_bytes([*lo, *hi]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
