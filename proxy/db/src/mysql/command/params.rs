//! The bound values of `COM_STMT_EXECUTE` (binary protocol), rendered as SQL literals for audit.

use super::super::wire::{Reader, WireError};
use std::collections::HashSet;

/// Longest rendering of one value (longer ones are cut, ending in `...`).
const MAX_VALUE: usize = 256;

/// Reads the null bitmap, the (possibly new) types and the values of `count` parameters;
/// `types` keeps the types bound last, which an execute may reuse.
pub(super) fn decode(
    r: &mut Reader<'_>,
    count: u16,
    types: &mut Vec<(u8, bool)>,
    long_data: &HashSet<u16>,
) -> Result<Vec<String>, WireError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let n = usize::from(count);
    let nulls = r.bytes(n.div_ceil(8), "null bitmap")?.to_vec();
    if r.u8("new params bound")? == 1 {
        types.clear();
        for _ in 0..n {
            let t = r.u8("parameter type")?;
            let flags = r.u8("parameter flags")?;
            types.push((t, flags & 0x80 != 0));
        }
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            out.push("NULL".to_string());
            continue;
        }
        if long_data.contains(&(i as u16)) {
            out.push("<long data>".to_string());
            continue;
        }
        let Some(&(ty, unsigned)) = types.get(i) else {
            return Err(WireError::Malformed("an execute without parameter types"));
        };
        out.push(value(r, ty, unsigned)?);
    }
    Ok(out)
}

fn value(r: &mut Reader<'_>, ty: u8, unsigned: bool) -> Result<String, WireError> {
    const W: &str = "parameter value";
    Ok(match ty {
        0x01 => int(r.u8(W)?.into(), unsigned, 8),
        0x02 | 0x0d => int(r.u16(W)?.into(), unsigned, 16),
        0x03 | 0x09 => int(r.u32(W)?.into(), unsigned, 32),
        0x08 => int(r.u64(W)?, unsigned, 64),
        0x04 => f32::from_bits(r.u32(W)?).to_string(),
        0x05 => f64::from_bits(r.u64(W)?).to_string(),
        0x06 => "NULL".to_string(),
        0x07 | 0x0a | 0x0c => datetime(r.lenenc_bytes(W)?),
        0x0b => time(r.lenenc_bytes(W)?),
        0xf9..=0xfc | 0xff | 0x10 => blob(r.lenenc_bytes(W)?),
        _ => text(r.lenenc_bytes(W)?),
    })
}

fn int(v: u64, unsigned: bool, bits: u32) -> String {
    if unsigned {
        return v.to_string();
    }
    let shift = 64 - bits;
    (((v << shift) as i64) >> shift).to_string()
}

fn text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for (i, c) in s.chars().enumerate() {
        if i >= MAX_VALUE {
            out.push_str("...");
            break;
        }
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn blob(b: &[u8]) -> String {
    if std::str::from_utf8(b).is_ok_and(|s| !s.chars().any(char::is_control)) {
        return text(b);
    }
    let shown: String = b
        .iter()
        .take(MAX_VALUE / 2)
        .map(|x| format!("{x:02X}"))
        .collect();
    let more = if b.len() > MAX_VALUE / 2 { "..." } else { "" };
    format!("X'{shown}{more}' /* {} bytes */", b.len())
}

fn datetime(b: &[u8]) -> String {
    let mut r = Reader::new(b);
    let (y, mo, d) = (
        r.u16("year").unwrap_or(0),
        r.u8("month").unwrap_or(0),
        r.u8("day").unwrap_or(0),
    );
    let mut s = format!("'{y:04}-{mo:02}-{d:02}");
    if b.len() >= 7 {
        let (h, mi, se) = (
            r.u8("hour").unwrap_or(0),
            r.u8("minute").unwrap_or(0),
            r.u8("second").unwrap_or(0),
        );
        s.push_str(&format!(" {h:02}:{mi:02}:{se:02}"));
        if let Ok(us) = r.u32("microseconds") {
            s.push_str(&format!(".{us:06}"));
        }
    }
    s.push('\'');
    s
}

fn time(b: &[u8]) -> String {
    let mut r = Reader::new(b);
    if b.is_empty() {
        return "'00:00:00'".to_string();
    }
    let neg = r.u8("sign").unwrap_or(0) == 1;
    let days = r.u32("days").unwrap_or(0);
    let (h, mi, se) = (
        r.u8("hour").unwrap_or(0),
        r.u8("minute").unwrap_or(0),
        r.u8("second").unwrap_or(0),
    );
    let hours = u64::from(days) * 24 + u64::from(h);
    let sign = if neg { "-" } else { "" };
    let mut s = format!("'{sign}{hours:02}:{mi:02}:{se:02}");
    if let Ok(us) = r.u32("microseconds") {
        s.push_str(&format!(".{us:06}"));
    }
    s.push('\'');
    s
}
