//! What a client asks, decoded from its typed messages for rules and audit: simple queries,
//! the extended protocol's Parse/Bind/Execute (with bound parameters rendered as SQL literals),
//! and the messages the gateway only relays.

use super::wire::{Reader, WireError};

/// A client message, as far as the gateway reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `Q`: one or more statements.
    Query(String),
    /// `P`: a statement prepared under `name` (empty: the unnamed one), with the parameter
    /// types the client gave (0: unspecified).
    Parse {
        name: String,
        text: String,
        types: Vec<u32>,
    },
    /// `B`: a portal bound to a prepared statement, with its parameters (format, value).
    Bind {
        portal: String,
        statement: String,
        params: Vec<Param>,
    },
    /// `E`: run a portal.
    Execute { portal: String },
    /// `D`: describe a statement or portal.
    Describe,
    /// `C`: close a statement (`S`) or portal (`P`).
    Close { kind: u8, name: String },
    /// `S`: end of an extended-protocol batch.
    Sync,
    /// `H`: send what is ready.
    Flush,
    /// `X`: the client leaves.
    Terminate,
    /// `d`, `c`, `f`: COPY FROM STDIN data, end, or failure.
    Copy,
    /// `F`: a fast-path function call.
    FunctionCall,
    /// Anything else (the target judges it).
    Other(u8),
}

/// One bound parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub binary: bool,
    /// None: SQL NULL.
    pub value: Option<Vec<u8>>,
}

/// Decodes a client message's body.
pub fn decode(tag: u8, body: &[u8]) -> Result<Message, WireError> {
    let mut r = Reader::new(body);
    Ok(match tag {
        b'Q' => Message::Query(r.string("the query")?),
        b'P' => {
            let name = r.string("the statement name")?;
            let text = r.string("the statement")?;
            let n = count(&mut r, "the parameter type count")?;
            let mut types = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                types.push(r.i32("a parameter type")? as u32);
            }
            Message::Parse { name, text, types }
        }
        b'B' => bind(&mut r)?,
        b'E' => Message::Execute {
            portal: r.string("the portal name")?,
        },
        b'D' => Message::Describe,
        b'C' => Message::Close {
            kind: r.u8("what to close")?,
            name: r.string("the name to close")?,
        },
        b'S' => Message::Sync,
        b'H' => Message::Flush,
        b'X' => Message::Terminate,
        b'd' | b'c' | b'f' => Message::Copy,
        b'F' => Message::FunctionCall,
        other => Message::Other(other),
    })
}

fn count(r: &mut Reader<'_>, what: &'static str) -> Result<usize, WireError> {
    usize::try_from(r.i16(what)?).map_err(|_| WireError::Malformed(what))
}

fn bind(r: &mut Reader<'_>) -> Result<Message, WireError> {
    let portal = r.string("the portal name")?;
    let statement = r.string("the statement name")?;
    let nformats = count(r, "the format count")?;
    let mut formats = Vec::with_capacity(nformats.min(1024));
    for _ in 0..nformats {
        formats.push(r.i16("a parameter format")? == 1);
    }
    let n = count(r, "the parameter count")?;
    let mut params = Vec::with_capacity(n.min(1024));
    for i in 0..n {
        let binary = match formats.len() {
            0 => false,
            1 => formats[0],
            _ => *formats
                .get(i)
                .ok_or(WireError::Malformed("fewer formats than parameters"))?,
        };
        let len = r.i32("a parameter's length")?;
        let value = match usize::try_from(len) {
            Ok(len) => Some(r.bytes(len, "a parameter")?.to_vec()),
            Err(_) => None,
        };
        params.push(Param { binary, value });
    }
    Ok(Message::Bind {
        portal,
        statement,
        params,
    })
}

/// Type OIDs whose text form is a number (rendered without quotes).
const NUMERIC: [u32; 8] = [20, 21, 23, 26, 700, 701, 1700, 16];

/// A parameter as a SQL literal for audit: NULL, a number as given for numeric types, a quoted
/// string otherwise; binary values as their integer when the type is one, else as hex bytes.
pub fn render(param: &Param, oid: u32) -> String {
    let Some(v) = &param.value else {
        return "NULL".into();
    };
    if param.binary {
        let int = match (oid, v.len()) {
            (21, 2) => Some(i64::from(i16::from_be_bytes([v[0], v[1]]))),
            (23, 4) => Some(i64::from(i32::from_be_bytes([v[0], v[1], v[2], v[3]]))),
            (20, 8) => Some(i64::from_be_bytes([
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
            ])),
            _ => None,
        };
        if let Some(n) = int {
            return n.to_string();
        }
        let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
        return format!("'\\x{hex}'");
    }
    let text = String::from_utf8_lossy(v);
    if NUMERIC.contains(&oid) {
        return text.into_owned();
    }
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests;
