//! What a client asks, decoded for audit and control: the command byte, the SQL text, and for
//! prepared statements the statement text kept from `COM_STMT_PREPARE` and the bound values of
//! each `COM_STMT_EXECUTE`, rendered as SQL literals.

mod params;

use super::wire::{Reader, WireError};
use std::collections::{HashMap, HashSet};

pub const COM_QUIT: u8 = 0x01;
pub const COM_INIT_DB: u8 = 0x02;
pub const COM_QUERY: u8 = 0x03;
pub const COM_FIELD_LIST: u8 = 0x04;
pub const COM_STATISTICS: u8 = 0x09;
pub const COM_CHANGE_USER: u8 = 0x11;
pub const COM_STMT_PREPARE: u8 = 0x16;
pub const COM_STMT_EXECUTE: u8 = 0x17;
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub const COM_STMT_CLOSE: u8 = 0x19;
pub const COM_STMT_RESET: u8 = 0x1a;
pub const COM_SET_OPTION: u8 = 0x1b;
pub const COM_STMT_FETCH: u8 = 0x1c;
pub const COM_RESET_CONNECTION: u8 = 0x1f;

/// What kind of answer a request gets from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// OK, ERR, or result sets (text or binary), possibly several.
    Result,
    /// The answer to `COM_STMT_PREPARE`.
    Prepare,
    /// Column definitions up to an EOF (`COM_FIELD_LIST`).
    FieldList,
    /// Rows up to an EOF (`COM_STMT_FETCH`).
    Fetch,
    /// One packet of any form (`COM_STATISTICS`).
    Single,
    /// Nothing (`COM_STMT_CLOSE`, `COM_STMT_SEND_LONG_DATA`, `COM_QUIT`).
    None,
}

/// A request decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub command: u8,
    /// The audit kind (`query`, `execute`...); None for requests not audited one by one
    /// (pings, statement closes, long data).
    pub kind: Option<&'static str>,
    /// The SQL (or the database for `init_db`, the table for `field_list`).
    pub text: String,
    pub params: Vec<String>,
    pub answer: Answer,
    /// Why the gateway does not relay it; None when it does.
    pub refusal: Option<&'static str>,
}

/// A statement the client prepared.
#[derive(Clone, Debug, Default)]
struct Prepared {
    text: String,
    params: u16,
    /// Parameter types as last bound (an execute may reuse them without sending them again).
    types: Vec<(u8, bool)>,
    /// Parameters whose value came by `COM_STMT_SEND_LONG_DATA` since the last execute.
    long_data: HashSet<u16>,
}

/// The client's prepared statements, as far as audit needs them.
#[derive(Debug, Default)]
pub struct Statements {
    by_id: HashMap<u32, Prepared>,
    /// Text of a prepare whose answer has not come yet.
    pending: Option<String>,
    /// The last statement prepared (MariaDB clients may execute id 0xffffffff for it).
    last: Option<u32>,
}

/// At most this many prepared statements are tracked per session (a client that never closes
/// them cannot grow the gateway without bound; the oldest are forgotten, their executes audited
/// with an unknown text).
const MAX_TRACKED: usize = 4096;

impl Statements {
    /// Decodes one request (a whole command packet's payload).
    pub fn decode(&mut self, p: &[u8]) -> Result<Request, WireError> {
        let Some((&command, body)) = p.split_first() else {
            return Err(WireError::Truncated("an empty command"));
        };
        let text = || String::from_utf8_lossy(body).into_owned();
        let req = |kind, text, answer| Request {
            command,
            kind,
            text,
            params: Vec::new(),
            answer,
            refusal: None,
        };
        Ok(match command {
            COM_QUIT => req(None, String::new(), Answer::None),
            COM_QUERY => req(Some("query"), text(), Answer::Result),
            COM_INIT_DB => req(Some("init_db"), text(), Answer::Result),
            COM_FIELD_LIST => {
                let table = Reader::new(body).nul_or_rest();
                let table = String::from_utf8_lossy(table).into_owned();
                req(Some("field_list"), table, Answer::FieldList)
            }
            COM_STMT_PREPARE => {
                self.pending = Some(text());
                req(Some("prepare"), text(), Answer::Prepare)
            }
            COM_STMT_EXECUTE => self.execute(body)?,
            COM_STMT_SEND_LONG_DATA => {
                let mut r = Reader::new(body);
                let id = self.resolve(r.u32("statement id")?);
                let param = r.u16("parameter")?;
                if let Some(s) = self.by_id.get_mut(&id) {
                    s.long_data.insert(param);
                }
                req(None, String::new(), Answer::None)
            }
            COM_STMT_CLOSE => {
                let id = self.resolve(Reader::new(body).u32("statement id")?);
                self.by_id.remove(&id);
                req(None, String::new(), Answer::None)
            }
            COM_STMT_RESET => {
                let id = self.resolve(Reader::new(body).u32("statement id")?);
                if let Some(s) = self.by_id.get_mut(&id) {
                    s.long_data.clear();
                }
                req(None, String::new(), Answer::Result)
            }
            COM_STMT_FETCH => req(None, String::new(), Answer::Fetch),
            COM_STATISTICS => req(None, String::new(), Answer::Single),
            0x0c /* PROCESS_KILL */ => {
                let id = Reader::new(body).u32("connection id")?;
                req(Some("process_kill"), format!("KILL {id}"), Answer::Result)
            }
            0x0d /* DEBUG */ | 0x0e /* PING */ | COM_SET_OPTION
            | COM_RESET_CONNECTION | 0x07 /* REFRESH */ => req(None, String::new(), Answer::Result),
            COM_CHANGE_USER => Request {
                refusal: Some(
                    "changing the database user inside a session is not allowed through the \
                     bastion; open a new connection",
                ),
                ..req(Some("change_user"), String::new(), Answer::None)
            },
            0x12 | 0x15 | 0x1e => Request {
                refusal: Some("replication through the bastion is not allowed"),
                ..req(Some("replication"), String::new(), Answer::None)
            },
            _ => Request {
                refusal: Some("this command is not supported through the bastion"),
                ..req(Some("unknown_command"), format!("command 0x{command:02x}"), Answer::None)
            },
        })
    }

    /// The answer to a prepare came: `OK` with the statement id and parameter count, or ERR.
    pub fn prepared(&mut self, ok: Option<(u32, u16)>) {
        let text = self.pending.take().unwrap_or_default();
        if let Some((id, params)) = ok {
            if self.by_id.len() >= MAX_TRACKED {
                if let Some(old) = self.by_id.keys().min().copied() {
                    self.by_id.remove(&old);
                }
            }
            self.by_id.insert(
                id,
                Prepared {
                    text,
                    params,
                    ..Prepared::default()
                },
            );
            self.last = Some(id);
        }
    }

    fn resolve(&self, id: u32) -> u32 {
        match (id, self.last) {
            (u32::MAX, Some(last)) => last,
            _ => id,
        }
    }

    fn execute(&mut self, body: &[u8]) -> Result<Request, WireError> {
        let mut r = Reader::new(body);
        let id = self.resolve(r.u32("statement id")?);
        let _flags = r.u8("cursor flags")?;
        let _iterations = r.u32("iteration count")?;
        let (text, params) = match self.by_id.get_mut(&id) {
            Some(s) => {
                let values = params::decode(&mut r, s.params, &mut s.types, &s.long_data)?;
                s.long_data.clear();
                (s.text.clone(), values)
            }
            None => (
                format!("<statement {id}: not prepared in this session>"),
                Vec::new(),
            ),
        };
        Ok(Request {
            command: COM_STMT_EXECUTE,
            kind: Some("execute"),
            text,
            params,
            answer: Answer::Result,
            refusal: None,
        })
    }
}

#[cfg(test)]
mod tests;
