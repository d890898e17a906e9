//! Entry points that feed arbitrary bytes to every decoder the gateway runs on input from a
//! client or a target, for the fuzz targets (`proxy/db/fuzz`, `scripts/fuzz.sh`) and for the
//! randomized test run with the unit tests. Each may return errors, never panic, and never
//! allocate in proportion to a length field rather than to the bytes given.

use crate::mysql::command::{Answer, Statements};
use crate::mysql::handshake::{Greeting, Response};
use crate::pg::frontend;
use crate::pg::scram::{verifier, ServerExchange};
use crate::pg::wire::{Fields, Startup};
use crate::sql::rules::{Matcher, RuleSpec, Rules};
use crate::sql::Dialect;
use crate::Secret;
use std::num::NonZeroU32;

/// What a MySQL client sends: the login, then commands (prepared statements tracked across
/// them), each as a whole packet payload; the input is cut into packets at `0xff 0x00` pairs.
pub fn mysql_client(data: &[u8]) {
    let _ = Response::is_ssl_request(data);
    let _ = Response::parse(data);
    let mut statements = Statements::default();
    for packet in split(data) {
        if let Ok(request) = statements.decode(packet) {
            if request.answer == Answer::Prepare {
                statements.prepared(Some((1, 2)));
            }
        }
    }
}

/// What a MySQL target sends: its greeting, its answers to the login (with each
/// authentication method the gateway answers), and answers of every kind scanned to their end.
pub fn mysql_server(data: &[u8]) {
    let _ = Greeting::parse(data);
    for plugin in [
        &b"mysql_native_password"[..],
        b"caching_sha2_password",
        b"sha256_password",
        b"mysql_clear_password",
    ] {
        for tls in [false, true] {
            let mut auth = crate::mysql::auth::TargetAuth::new(
                Secret("fuzzing-password".into()),
                plugin,
                b"0123456789abcdefghij",
                tls,
            );
            let _ = auth.response();
            for packet in split(data).take(8) {
                if auth.on_packet(packet).is_err() {
                    break;
                }
            }
        }
    }
    for answer in [
        Answer::Result,
        Answer::Prepare,
        Answer::FieldList,
        Answer::Fetch,
        Answer::Single,
    ] {
        for deprecate_eof in [false, true] {
            let mut scan = crate::mysql::scan::Scan::new(answer, deprecate_eof);
            let mut at = 0;
            while at < data.len() {
                match scan.feed(&data[at..]) {
                    Ok((0, _)) | Err(_) => break,
                    Ok((n, _)) => at += n,
                }
            }
            let _ = scan.tally();
        }
    }
}

/// What a PostgreSQL client sends: the startup packet, then typed messages, and the SCRAM
/// messages the native port reads.
pub fn pg_client(data: &[u8]) {
    let _ = Startup::parse(data);
    let mut at = 0;
    while let Some(Ok((tag, len))) = crate::pg::wire::header(&data[at..]) {
        let Some(body) = data.get(at + 5..at + 5 + len) else {
            break;
        };
        if let Ok(frontend::Message::Bind { params, .. }) = frontend::decode(tag, body) {
            for p in &params {
                for oid in [0, 16, 20, 21, 23, 25, 1700] {
                    let _ = frontend::render(p, oid);
                }
            }
        }
        at += 5 + len;
    }
    let (first, last) = halves(data);
    if let Ok(exchange) = ServerExchange::start(first, b"salt", 4096) {
        let _ = exchange.server_first();
        if let Ok(proof) = exchange.finish(last) {
            let v = verifier(b"token", b"salt", NonZeroU32::MIN);
            let _ = proof.matches(&v);
            let _ = proof.server_final(&v);
        }
    }
}

/// What a PostgreSQL target sends: authentication requests answered with a hosted password,
/// errors and notices, and replies scanned message by message.
pub fn pg_server(data: &[u8]) {
    let _ = Fields::parse(data);
    let mut auth = crate::pg::auth::TargetAuth::new("account", Secret("fuzzing-password".into()));
    let mut at = 0;
    while let Some(Ok((tag, len))) = crate::pg::wire::header(&data[at..]) {
        let Some(body) = data.get(at + 5..at + 5 + len) else {
            break;
        };
        if auth.on_message(tag, body).is_err() {
            break;
        }
        at += 5 + len;
    }
    let mut scan = crate::pg::scan::Scan::new();
    let mut at = 0;
    while at < data.len() {
        match scan.feed(&data[at..]) {
            Ok((0, _)) | Err(_) => break,
            Ok((n, _)) => at += n,
        }
        let _ = scan.take_rows();
    }
}

/// Statement text as the SQL rules read it, in both dialects.
pub fn sql(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let specs = [
        RuleSpec {
            name: "verbs".into(),
            matcher: Matcher::Verbs(vec!["DROP".into(), "GRANT".into(), "DROP DATABASE".into()]),
        },
        RuleSpec {
            name: "where".into(),
            matcher: Matcher::WithoutWhere,
        },
        RuleSpec {
            name: "tables".into(),
            matcher: Matcher::Tables(vec!["hr.*".into(), "*.salaries".into()]),
        },
    ];
    for dialect in [Dialect::MySql, Dialect::PostgreSql] {
        for allow in [false, true] {
            let rules = Rules::new(&specs, allow).in_dialect(dialect);
            let _ = rules.check(&text, Some("shop"));
        }
    }
    let _ = crate::sql::shape(&text);
}

/// The input cut into pieces at each `0xff 0x00` pair (shared by every crate's fuzzing
/// entry points).
pub fn split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest.windows(2).position(|w| w == [0xff, 0x00]);
        let (piece, next) = match cut {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        Some(piece)
    })
}

/// The input cut in two at its first NUL.
pub fn halves(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Inputs for a deterministic randomized run of fuzz entry points (the unit tests of every
/// crate that has some): `rounds` inputs, each a random string of bytes (one in four) or one
/// of `seeds` with up to seven random mutations (a byte changed, inserted or flipped, or the
/// rest cut). The same `seed` gives the same inputs, so a failure is reproducible.
pub fn mutations(
    seeds: &[Vec<u8>],
    seed: u64,
    rounds: usize,
) -> impl Iterator<Item = Vec<u8>> + '_ {
    // xorshift; a zero state would stay zero.
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..rounds).map(move |round| {
        let mut data = if round % 4 == 0 || seeds.is_empty() {
            let len = (next() % 256) as usize;
            (0..len).map(|_| next() as u8).collect()
        } else {
            seeds[(next() as usize) % seeds.len()].clone()
        };
        for _ in 0..(next() % 8) {
            if data.is_empty() {
                break;
            }
            let at = (next() as usize) % data.len();
            match next() % 4 {
                0 => data[at] = next() as u8,
                1 => data.truncate(at),
                2 => data.insert(at, next() as u8),
                _ => data[at] ^= 0x80,
            }
        }
        data
    })
}

#[cfg(test)]
mod tests {
    /// Valid messages to mutate from: the decoders' interesting paths start from them.
    fn seeds() -> Vec<Vec<u8>> {
        use crate::pg::wire::{message, Startup};
        let startup = Startup::Startup {
            version: crate::pg::wire::PROTOCOL_3,
            params: vec![
                ("user".into(), "alice".into()),
                ("database".into(), "shop".into()),
            ],
        }
        .build();
        let mut bind =
            b"\0S_1\0\0\x01\0\x01\0\x02\0\0\0\x04\0\0\0\x07\xff\xff\xff\xff\0\0".to_vec();
        bind.truncate(bind.len());
        vec![
            startup[4..].to_vec(),
            message(b'P', b"S_1\0SELECT * FROM t WHERE id = $1\0\0\x01\0\0\0\x17"),
            message(b'B', &bind),
            message(b'R', &10i32.to_be_bytes()),
            b"n,,n=,r=abcdef\0c=biws,r=abcdefXYZ,p=AAAA".to_vec(),
            b"\x03SELECT 1; DROP TABLE hr.salaries".to_vec(),
            b"\x16SELECT ? FROM t\xff\x00\x17\x01\0\0\0\0\x01\0\0\0\0\x01\x03\0\x07\0\0\0".to_vec(),
            // A text result set: column count, one column definition, EOF, a row, EOF.
            b"\x01\0\0\x01\x01\x17\0\0\x02\x03def\0\0\0\x01a\0\x0c\x3f\0\x0b\0\0\0\x03\0\0\0\0\0\x05\0\0\x03\xfe\0\0\x02\0\x02\0\0\x04\x017\x05\0\0\x05\xfe\0\0\x02\0".to_vec(),
            b"\x0a5.7.99\0\x01\0\0\0abcdefgh\0\xff\xf7\x2d\x02\0\xff\x81\x15\0\0\0\0\0\0\0\0\0\0ijklmnopqrst\0mysql_native_password\0".to_vec(),
        ]
    }

    #[test]
    fn the_decoders_survive_random_and_mutated_input() {
        let targets: [fn(&[u8]); 5] = [
            super::mysql_client,
            super::mysql_server,
            super::pg_client,
            super::pg_server,
            super::sql,
        ];
        for data in super::mutations(&seeds(), 0x5eed_1234_abcd_9876, 20_000) {
            for target in targets {
                target(&data);
            }
        }
    }
}
