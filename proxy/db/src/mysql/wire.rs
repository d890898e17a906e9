//! Packets (`[length: 3][sequence: 1][payload]`) and the protocol's encodings: little-endian
//! integers, length-encoded integers and strings, NUL-terminated strings.

use thiserror::Error;

/// A payload of this length continues in the next packet.
pub const MAX_PAYLOAD: usize = 0xff_ffff;

/// Bad bytes from either side.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("packet truncated: {0}")]
    Truncated(&'static str),
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
}

/// Reads the fields of one payload in order.
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

    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.remaining() < n {
            return Err(WireError::Truncated(what));
        }
        let r = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(r)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-encoded integer. `0xfb` (NULL in a row) and `0xff` are not integers.
    pub fn lenenc(&mut self, what: &'static str) -> Result<u64, WireError> {
        match self.u8(what)? {
            n @ 0..=0xfa => Ok(u64::from(n)),
            0xfc => self.u16(what).map(u64::from),
            0xfd => {
                let b = self.bytes(3, what)?;
                Ok(u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16)
            }
            0xfe => self.u64(what),
            _ => Err(WireError::Malformed(what)),
        }
    }

    /// A length-encoded string.
    pub fn lenenc_bytes(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let n = self.lenenc(what)?;
        let n = usize::try_from(n).map_err(|_| WireError::Malformed(what))?;
        self.bytes(n, what)
    }

    /// A NUL-terminated string (the NUL consumed, not returned).
    pub fn nul(&mut self, what: &'static str) -> Result<&'a [u8], WireError> {
        let rest = &self.buf[self.pos..];
        let Some(end) = rest.iter().position(|b| *b == 0) else {
            return Err(WireError::Truncated(what));
        };
        self.pos += end + 1;
        Ok(&rest[..end])
    }

    /// A NUL-terminated string, or the rest of the payload when no NUL ends it.
    pub fn nul_or_rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|b| *b == 0) {
            Some(end) => {
                self.pos += end + 1;
                &rest[..end]
            }
            None => self.rest(),
        }
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfa => out.push(n as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_lenenc(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends a NUL-terminated string.
pub fn put_nul(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b);
    out.push(0);
}

/// Frames `payload` as packets from sequence `seq` (split at 16 MiB as the protocol wants; a
/// payload of an exact multiple of the maximum ends with an empty packet). Returns the bytes and
/// the next sequence number.
pub fn frame(payload: &[u8], mut seq: u8) -> (Vec<u8>, u8) {
    let mut out = Vec::with_capacity(payload.len() + 4);
    let mut chunks = payload.chunks(MAX_PAYLOAD).peekable();
    let mut last_len = 0;
    while let Some(c) = chunks.next() {
        out.extend_from_slice(&(c.len() as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(c);
        seq = seq.wrapping_add(1);
        last_len = c.len();
        if chunks.peek().is_none() {
            break;
        }
    }
    if payload.is_empty() || last_len == MAX_PAYLOAD {
        out.extend_from_slice(&[0, 0, 0, seq]);
        seq = seq.wrapping_add(1);
    }
    (out, seq)
}

/// The header of a packet: payload length and sequence number.
pub fn header(h: [u8; 4]) -> (usize, u8) {
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    (len, h[3])
}

/// An ERR packet's payload (protocol 4.1 form, with SQLSTATE).
pub fn err_payload(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    let mut state = [b'H', b'Y', b'0', b'0', b'0'];
    for (d, s) in state.iter_mut().zip(sqlstate.bytes()) {
        *d = s;
    }
    p.extend_from_slice(&state);
    p.extend_from_slice(message.as_bytes());
    p
}

/// An OK packet's payload: no rows affected, no insert id, `status` flags, no warnings.
pub fn ok_payload(status: u16) -> Vec<u8> {
    let mut p = vec![0x00, 0x00, 0x00];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p
}

/// An ERR packet's code and message (after the `0xff`), for audit.
pub fn parse_err(payload: &[u8]) -> (u16, String) {
    let mut r = Reader::new(payload);
    if r.u8("ERR").ok() != Some(0xff) {
        return (0, String::new());
    }
    let code = r.u16("error code").unwrap_or(0);
    let mut rest = r.rest();
    if rest.first() == Some(&b'#') && rest.len() >= 6 {
        rest = &rest[6..];
    }
    (code, String::from_utf8_lossy(rest).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_encoded_integers_round_trip_at_every_width() {
        for n in [
            0,
            250,
            251,
            0xffff,
            0x1_0000,
            0xff_ffff,
            0x100_0000,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_lenenc(&mut b, n);
            let mut r = Reader::new(&b);
            assert_eq!(r.lenenc("n"), Ok(n), "{n}");
            assert_eq!(r.remaining(), 0);
        }
        assert!(Reader::new(&[0xfb]).lenenc("null").is_err());
        assert_eq!(
            Reader::new(&[0xfe, 1, 2]).lenenc("short"),
            Err(WireError::Truncated("short"))
        );
    }

    #[test]
    fn payloads_are_framed_in_16_mib_packets_with_an_empty_one_after_an_exact_multiple() {
        let (b, next) = frame(b"abc", 7);
        assert_eq!(b, [3, 0, 0, 7, b'a', b'b', b'c']);
        assert_eq!(next, 8);
        let (b, next) = frame(&[], 0);
        assert_eq!(b, [0, 0, 0, 0]);
        assert_eq!(next, 1);
        let big = vec![1u8; MAX_PAYLOAD];
        let (b, next) = frame(&big, 0);
        assert_eq!(b.len(), MAX_PAYLOAD + 8);
        assert_eq!(&b[MAX_PAYLOAD + 4..], [0, 0, 0, 1]);
        assert_eq!(next, 2);
    }

    #[test]
    fn error_packets_carry_code_state_and_message() {
        let p = err_payload(1142, "42000", "denied");
        assert_eq!(parse_err(&p), (1142, "denied".to_string()));
        assert_eq!(&p[3..9], b"#42000");
    }
}
