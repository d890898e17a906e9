//! Message framing: a typed message is a type byte, a big-endian length that counts itself
//! but not the type byte, and a body. The client's first message (startup, SSL or GSS
//! encryption request, cancel request) has no type byte: a length, then a 32-bit code.

/// Protocol version 3.0, as a startup packet's code.
pub const PROTOCOL_3: i32 = 196_608;
/// `SSLRequest`'s code.
pub const SSL_REQUEST: i32 = 80_877_103;
/// `GSSENCRequest`'s code.
pub const GSSENC_REQUEST: i32 = 80_877_104;
/// `CancelRequest`'s code.
pub const CANCEL_REQUEST: i32 = 80_877_102;
/// The largest startup packet a server accepts (PostgreSQL's own limit).
pub const MAX_STARTUP: usize = 10_000;

/// Why bytes could not be read as the protocol.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message truncated: {0}")]
    Truncated(&'static str),
    #[error("malformed message: {0}")]
    Malformed(&'static str),
}

/// Reads the fields of one body in order.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated(what));
        }
        let r = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(r)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn i16(&mut self, what: &'static str) -> Result<i16, WireError> {
        let b = self.bytes(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub fn i32(&mut self, what: &'static str) -> Result<i32, WireError> {
        let b = self.bytes(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A NUL-terminated string (without its NUL).
    pub fn cstr(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let rest = &self.buf[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(WireError::Truncated(what))?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// A NUL-terminated string as text (invalid UTF-8 replaced).
    pub fn string(&mut self, what: &'static str) -> Result<String, WireError> {
        Ok(String::from_utf8_lossy(self.cstr(what)?).into_owned())
    }
}

/// A typed message: `tag`, length, `body`.
pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(tag);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The header of a typed message at the start of `data`: its tag and body length; None while
/// fewer than five bytes are there.
pub fn header(data: &[u8]) -> Option<Result<(u8, usize), WireError>> {
    let h = data.get(..5)?;
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len < 4 {
        return Some(Err(WireError::Malformed("a message length under 4")));
    }
    Some(Ok((h[0], len - 4)))
}

/// The client's first message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Startup {
    /// A startup packet: protocol version and parameters (`user`, `database`, ...).
    Startup {
        version: i32,
        params: Vec<(String, String)>,
    },
    Ssl,
    GssEnc,
    Cancel {
        pid: i32,
        key: Vec<u8>,
    },
}

impl Startup {
    /// Parses a first message's body (after its 4-byte length).
    pub fn parse(body: &[u8]) -> Result<Startup, WireError> {
        let mut r = Reader::new(body);
        let code = r.i32("the startup code")?;
        match code {
            SSL_REQUEST => return Ok(Startup::Ssl),
            GSSENC_REQUEST => return Ok(Startup::GssEnc),
            CANCEL_REQUEST => {
                let pid = r.i32("the cancelled process")?;
                return Ok(Startup::Cancel {
                    pid,
                    key: r.rest().to_vec(),
                });
            }
            _ => {}
        }
        let mut params = Vec::new();
        loop {
            let name = r.string("a startup parameter")?;
            if name.is_empty() {
                break;
            }
            let value = r.string("a startup parameter's value")?;
            params.push((name, value));
        }
        Ok(Startup::Startup {
            version: code,
            params,
        })
    }

    /// A parameter of a startup packet.
    pub fn param(&self, name: &str) -> Option<&str> {
        match self {
            Startup::Startup { params, .. } => params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    /// The message's bytes, length included.
    pub fn build(&self) -> Vec<u8> {
        let mut body = Vec::new();
        match self {
            Startup::Startup { version, params } => {
                body.extend_from_slice(&version.to_be_bytes());
                for (n, v) in params {
                    for s in [n, v] {
                        body.extend_from_slice(s.as_bytes());
                        body.push(0);
                    }
                }
                body.push(0);
            }
            Startup::Ssl => body.extend_from_slice(&SSL_REQUEST.to_be_bytes()),
            Startup::GssEnc => body.extend_from_slice(&GSSENC_REQUEST.to_be_bytes()),
            Startup::Cancel { pid, key } => {
                body.extend_from_slice(&CANCEL_REQUEST.to_be_bytes());
                body.extend_from_slice(&pid.to_be_bytes());
                body.extend_from_slice(key);
            }
        }
        let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }
}

/// The fields of an `ErrorResponse` or `NoticeResponse` that the gateway reads or writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields {
    /// `ERROR`, `FATAL`, `NOTICE`...
    pub severity: String,
    /// The SQLSTATE code (`42501`).
    pub code: String,
    pub message: String,
}

impl Fields {
    pub fn new(severity: &str, code: &str, message: &str) -> Fields {
        Fields {
            severity: severity.into(),
            code: code.into(),
            message: message.into(),
        }
    }

    /// Reads a body of `(type byte, string)` fields; fields it does not know are skipped.
    pub fn parse(body: &[u8]) -> Result<Fields, WireError> {
        let mut r = Reader::new(body);
        let mut f = Fields::default();
        loop {
            let kind = r.u8("an error field")?;
            if kind == 0 {
                return Ok(f);
            }
            let value = r.string("an error field's text")?;
            match kind {
                b'V' => f.severity = value,
                b'S' if f.severity.is_empty() => f.severity = value,
                b'C' => f.code = value,
                b'M' => f.message = value,
                _ => {}
            }
        }
    }

    /// The whole message, as `ErrorResponse` (`E`) or `NoticeResponse` (`N`).
    pub fn build(&self, tag: u8) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in [
            (b'S', &self.severity),
            (b'V', &self.severity),
            (b'C', &self.code),
            (b'M', &self.message),
        ] {
            body.push(kind);
            body.extend_from_slice(value.replace('\0', " ").as_bytes());
            body.push(0);
        }
        body.push(0);
        message(tag, &body)
    }
}

/// An `ErrorResponse` with severity `ERROR` (the session goes on).
pub fn error(code: &str, message: &str) -> Vec<u8> {
    Fields::new("ERROR", code, message).build(b'E')
}

/// An `ErrorResponse` with severity `FATAL` (the connection ends).
pub fn fatal(code: &str, message: &str) -> Vec<u8> {
    Fields::new("FATAL", code, message).build(b'E')
}

/// `ReadyForQuery` with a transaction status (`I`, `T` or `E`).
pub fn ready(status: u8) -> Vec<u8> {
    message(b'Z', &[status])
}

/// `AuthenticationOk`.
pub fn auth_ok() -> Vec<u8> {
    message(b'R', &0i32.to_be_bytes())
}

#[cfg(test)]
mod tests;
