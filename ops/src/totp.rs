//! TOTP, RFC 6238 over RFC 4226's HOTP: HMAC-SHA-1, 6 digits, 30-second steps, which is what
//! Google Authenticator, FreeOTP and 1Password use for an `otpauth://totp/` URI. Also the
//! secret's base32 text (RFC 4648, as the URI carries it) and recovery codes with their
//! digests. Pure functions; randomness and HMAC from aws-lc-rs (the node's one crypto
//! provider). One home for the API (enrolment) and the node's gate (logins).

use aws_lc_rs::{constant_time, digest, hmac, rand};

/// Seconds per time-step.
pub const STEP_SECS: u64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps of clock skew accepted either way (RFC 6238 section 5.2 recommends at most one).
pub const SKEW_STEPS: u64 = 1;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = portunus_model::second_factor::RECOVERY_CODES;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4226 HOTP value of `counter`, with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    bin % 10u32.pow(digits)
}

/// The time-step of a unix time in milliseconds.
pub fn step_of(unix_ms: u64) -> u64 {
    unix_ms / 1000 / STEP_SECS
}

/// The 6-digit code of time-step `step`.
pub fn code_at(secret: &[u8], step: u64) -> String {
    format!("{:06}", hotp(secret, step, DIGITS))
}

/// Whether `text` looks like a code (6 ASCII digits) rather than a recovery code.
pub fn is_code_shaped(text: &str) -> bool {
    text.len() == DIGITS as usize && text.bytes().all(|b| b.is_ascii_digit())
}

/// The time-step, within the accepted skew of `now_ms` and above `after` (the last step
/// used), whose code is `code`; None when there is none. Codes are compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now_ms: u64, after: u64) -> Option<u64> {
    if !is_code_shaped(code) {
        return None;
    }
    let now = step_of(now_ms);
    (now.saturating_sub(SKEW_STEPS)..=now.saturating_add(SKEW_STEPS))
        .filter(|step| *step > after)
        .find(|step| {
            constant_time::verify_slices_are_equal(
                code_at(secret, *step).as_bytes(),
                code.as_bytes(),
            )
            .is_ok()
        })
}

/// A new random secret.
pub fn new_secret() -> Option<Vec<u8>> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::fill(&mut secret).ok()?;
    Some(secret)
}

/// RFC 4648 base32 without padding (what authenticator apps read).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for b in bytes {
        buffer = (buffer << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32 (any case, padding and spaces ignored); None on another character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b'=' | b' ')) {
        let value = BASE32.iter().position(|a| *a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI an authenticator app reads (as a QR code, or pasted).
pub fn uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let issuer_enc = utf8_percent_encode(issuer, NON_ALPHANUMERIC).to_string();
    let account_enc = utf8_percent_encode(account, NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{issuer_enc}:{account_enc}?secret={}&issuer={issuer_enc}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret)
    )
}

/// New recovery codes (`xxxxx-xxxxx`, 50 random bits each).
pub fn new_recovery_codes() -> Option<Vec<String>> {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut raw = [0u8; 10];
            rand::fill(&mut raw).ok()?;
            // 256 is a multiple of 32: every character is equally likely.
            let chars: String = raw
                .iter()
                .map(|b| char::from(alphabet[usize::from(b & 31)]))
                .collect();
            Some(format!("{}-{}", &chars[..5], &chars[5..]))
        })
        .collect()
}

/// The digest a recovery code is stored as; case, dashes and spaces do not matter.
pub fn recovery_digest(code: &str) -> [u8; 32] {
    let normal: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"portunus recovery code\n");
    ctx.update(normal.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_SECRET, counter as u64, 6),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_sha1() {
        for (unix, want) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let step = step_of(unix * 1000);
            assert_eq!(
                format!("{:08}", hotp(RFC_SECRET, step, 8)),
                want,
                "T={unix}"
            );
            assert_eq!(code_at(RFC_SECRET, step), want[2..], "T={unix}, 6 digits");
        }
    }

    #[test]
    fn one_step_of_skew_is_accepted_either_way_and_no_more() {
        let now_ms = 1_234_567_890_000;
        let now = step_of(now_ms);
        for (step, accepted) in [
            (now - 2, false),
            (now - 1, true),
            (now, true),
            (now + 1, true),
            (now + 2, false),
        ] {
            let code = code_at(RFC_SECRET, step);
            let found = matching_step(RFC_SECRET, &code, now_ms, 0);
            assert_eq!(found.is_some(), accepted, "step {step} against {now}");
            if accepted {
                assert_eq!(found, Some(step));
            }
        }
    }

    #[test]
    fn steps_at_or_below_the_last_one_used_are_not_matched() {
        let now_ms = 1_234_567_890_000;
        let now = step_of(now_ms);
        let code = code_at(RFC_SECRET, now);
        assert_eq!(matching_step(RFC_SECRET, &code, now_ms, now - 1), Some(now));
        assert_eq!(matching_step(RFC_SECRET, &code, now_ms, now), None);
        let wrong = format!("{:06}", (hotp(RFC_SECRET, now, 6) + 1) % 1_000_000);
        assert_eq!(matching_step(RFC_SECRET, &wrong, now_ms, 0), None);
        assert_eq!(matching_step(RFC_SECRET, "12345", now_ms, 0), None);
        assert_eq!(matching_step(RFC_SECRET, "12345a", now_ms, 0), None);
    }

    #[test]
    fn base32_follows_rfc_4648_and_round_trips() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        assert!(base32_decode("MZ1").is_none());
        let secret = new_secret().unwrap();
        assert_eq!(base32_decode(&base32(&secret)).unwrap(), secret);
    }

    #[test]
    fn uri_names_issuer_account_and_parameters() {
        let uri = uri("Portunus", "alice", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/Portunus:alice?secret=MZXW6YTBOI&issuer=Portunus&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_their_digest_ignores_presentation() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        assert!(!is_code_shaped(code));
        assert_eq!(
            recovery_digest(code),
            recovery_digest(&code.to_uppercase().replace('-', " "))
        );
        assert_ne!(recovery_digest(code), recovery_digest(&codes[1]));
    }
}
