//! ACS3-HMAC-SHA256 request signatures, as the Alibaba Cloud SDK (tea-openapi `do_request`)
//! computes them by default: `Authorization: ACS3-HMAC-SHA256 Credential=<AK>,
//! SignedHeaders=<h1;h2>,Signature=<hex>` over the canonical request
//! `METHOD\nPATH\nQUERY\nHEADERS\nSIGNED\nSHA256(body)`.

use super::error::ApiError;
use aws_lc_rs::{digest, hmac};
use axum::http::HeaderMap;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The only algorithm accepted.
pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// Headers that must be covered by the signature.
const REQUIRED_SIGNED: [&str; 5] = [
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
];

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (Python's
/// `quote(v, safe='~')`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The parsed `Authorization` header.
#[derive(Debug)]
pub struct Authorization {
    pub access_key_id: String,
    pub signed_headers: Vec<String>,
    pub signature: Vec<u8>,
}

/// Parses `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
pub fn parse_authorization(value: &str) -> Result<Authorization, ApiError> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(ApiError::IncompleteSignature(
            "unsupported signature algorithm",
        ))?;
    let (mut ak, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => ak = Some(v.to_string()),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => sig = Some(v),
            _ => {
                return Err(ApiError::IncompleteSignature(
                    "malformed Authorization header",
                ))
            }
        }
    }
    let access_key_id = ak
        .filter(|a| !a.is_empty())
        .ok_or(ApiError::IncompleteSignature("Credential is missing"))?;
    let signed_headers: Vec<String> = signed
        .ok_or(ApiError::IncompleteSignature("SignedHeaders is missing"))?
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    for required in REQUIRED_SIGNED {
        if !signed_headers.iter().any(|h| h == required) {
            return Err(ApiError::IncompleteSignature(
                "host and x-acs-* headers must be signed",
            ));
        }
    }
    let signature = sig
        .and_then(|s| hex::decode(s).ok())
        .ok_or(ApiError::IncompleteSignature("Signature is not hex"))?;
    Ok(Authorization {
        access_key_id,
        signed_headers,
        signature,
    })
}

/// Headers that change how the request is read and so must be signed whenever they are sent:
/// `content-type` decides whether the body is read as parameters (the official SDK signs every
/// header it sends, `content-type` included when it sends a form body).
const SIGNED_WHEN_PRESENT: [&str; 1] = ["content-type"];

/// Refuses a request that carries a header of [`SIGNED_WHEN_PRESENT`] outside the signature.
pub fn check_coverage(headers: &HeaderMap, auth: &Authorization) -> Result<(), ApiError> {
    for name in SIGNED_WHEN_PRESENT {
        if headers.contains_key(name) && !auth.signed_headers.iter().any(|h| h == name) {
            return Err(ApiError::IncompleteSignature(
                "the content-type header must be signed when it is sent",
            ));
        }
    }
    Ok(())
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// The canonical query string: decoded pairs with names and values re-encoded per RFC 3986,
/// sorted by name. Encoding the names matters: otherwise `A%3D%26B=1` (one parameter named
/// `A=&B`) and `A=&B=1` (two parameters) would share one canonical form, and a signature for
/// one would be accepted for the other. (The official SDK sends only names made of unreserved
/// characters, which encode to themselves.)
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, RFC3986).to_string(),
                utf8_percent_encode(&v, RFC3986).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    encoded.join("&")
}

/// The canonical headers block (`name:v1,v2\n` per signed header).
fn canonical_headers(headers: &HeaderMap, signed: &[String]) -> Result<String, ApiError> {
    let mut out = String::new();
    for name in signed {
        let mut values = Vec::new();
        for v in headers.get_all(name.as_str()) {
            let v = v
                .to_str()
                .map_err(|_| ApiError::IncompleteSignature("a signed header is not text"))?;
            values.push(v.trim().to_string());
        }
        if values.is_empty() {
            return Err(ApiError::IncompleteSignature("a signed header is missing"));
        }
        values.sort();
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(out)
}

/// The string to sign for a request.
pub fn string_to_sign(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    auth: &Authorization,
    payload_hash: &str,
) -> Result<String, ApiError> {
    let canonical = format!(
        "{method}\n{path}\n{}\n{}\n{}\n{payload_hash}",
        canonical_query(raw_query),
        canonical_headers(headers, &auth.signed_headers)?,
        auth.signed_headers.join(";"),
    );
    Ok(format!("{ALGORITHM}\n{}", sha256_hex(canonical.as_bytes())))
}

/// HMAC-SHA256 of the string to sign, as lowercase hex (what the client sends).
pub fn sign(secret: &[u8], string_to_sign: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hex::encode(hmac::sign(&key, string_to_sign.as_bytes()))
}

/// Constant-time check of a signature.
pub fn verify(secret: &[u8], string_to_sign: &str, signature: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, string_to_sign.as_bytes(), signature).is_ok()
}

/// Parses `x-acs-date` (`YYYY-MM-DDTHH:MM:SSZ`, UTC) into unix milliseconds.
pub fn parse_acs_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs).ok().map(|s| s * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats unix milliseconds as `x-acs-date` (the inverse of [`parse_acs_date`]; used by the
/// client side, [`crate::client`]).
pub fn format_acs_date(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{format_acs_date, sha256_hex};
    use axum::http::HeaderMap;
    use axum::http::HeaderValue;

    #[test]
    fn sdk_computed_signature_verifies() {
        // Computed with alibabacloud_tea_openapi.utils.Utils.get_authorization (SDK 0.4.6) for
        // these exact headers and query (the SDK sends the query urlencoded, spaces as '+').
        let raw_query =
            "HostName=web+1%2F%C3%A4%2A~&InstanceId=portunus-fake&HostIds=%5B%221%22%2C%222%22%5D";
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("host", "127.0.0.1:18080"),
            ("x-acs-version", "2019-12-09"),
            ("x-acs-action", "CreateHost"),
            ("user-agent", "AlibabaCloud (Linux) Python/3.11"),
            ("x-acs-date", "2026-11-25T13:40:00Z"),
            ("x-acs-signature-nonce", "0123456789abcdef"),
            ("accept", "application/json"),
            (
                "x-acs-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
        ] {
            headers.insert(k, HeaderValue::from_static(v));
        }
        let auth = super::parse_authorization("ACS3-HMAC-SHA256 Credential=test-ak,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=94d834727c093105c9a08e048a353ed44e17eca6b446ca4aacdda5c430293b17").expect("parse");
        let payload = sha256_hex(b"");
        let sts =
            super::string_to_sign("POST", "/", raw_query, &headers, &auth, &payload).expect("sts");
        assert!(super::verify(b"test-secret", &sts, &auth.signature));
        assert!(!super::verify(b"other-secret", &sts, &auth.signature));
        let tampered = raw_query.replace("web", "weB");
        let sts2 =
            super::string_to_sign("POST", "/", &tampered, &headers, &auth, &payload).expect("sts");
        assert!(!super::verify(b"test-secret", &sts2, &auth.signature));
        assert_eq!(
            super::parse_acs_date("2026-11-25T13:40:00Z"),
            Some(1_795_614_000_000)
        );
        assert_eq!(format_acs_date(1_795_614_000_000), "2026-11-25T13:40:00Z");
    }

    #[test]
    fn parameter_names_are_encoded_in_the_canonical_query() {
        // One parameter named "A=&PageSize" is not two parameters A and PageSize.
        let one = super::canonical_query("A%3D%26PageSize=1");
        let two = super::canonical_query("A=&PageSize=1");
        assert_eq!(one, "A%3D%26PageSize=1");
        assert_eq!(two, "A=&PageSize=1");
        assert_ne!(one, two);
        // Names and values alike: '+' is a space in the form encoding, '~' stays.
        assert_eq!(
            super::canonical_query("b~+x=1+2&a=%2A"),
            "a=%2A&b~%20x=1%202"
        );
    }

    fn sdk_form_request() -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("host", "127.0.0.1:18080"),
            ("x-acs-version", "2019-12-09"),
            ("x-acs-action", "GetAutoOpsTask"),
            ("user-agent", "AlibabaCloud (Linux) Python/3.11"),
            ("x-acs-date", "2026-11-25T13:40:00Z"),
            ("x-acs-signature-nonce", "fedcba9876543210"),
            ("accept", "application/json"),
            ("content-type", "application/x-www-form-urlencoded"),
            (
                "x-acs-content-sha256",
                "335ff537f2171ea17502ba472652aa6e4559ba5e6fda5d080f700f1ad3a6fce6",
            ),
        ] {
            headers.insert(k, HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn the_sdk_signs_content_type_with_a_form_body_and_it_must_be_signed() {
        // Computed with alibabacloud_tea_openapi.utils.Utils.get_authorization (SDK 0.4.6): the
        // SDK signs every header it sends, content-type included when it sends a form body.
        let raw_query = "InstanceId=portunus-fake&RegionId=cn-hangzhou";
        let body = b"TaskId=42&Note=a%20b";
        let headers = sdk_form_request();
        let auth = super::parse_authorization("ACS3-HMAC-SHA256 Credential=test-ak,SignedHeaders=accept;content-type;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=7a39c296888cb4005acde4e78b88e342634cfa05ddf0d422e57636ebc4aa4d27").expect("parse");
        assert!(super::check_coverage(&headers, &auth).is_ok());
        let payload = sha256_hex(body);
        let sts =
            super::string_to_sign("POST", "/", raw_query, &headers, &auth, &payload).expect("sts");
        assert!(super::verify(b"test-secret", &sts, &auth.signature));

        // The same request with content-type left out of the signed headers is refused.
        let unsigned = super::parse_authorization("ACS3-HMAC-SHA256 Credential=test-ak,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=7a39c296888cb4005acde4e78b88e342634cfa05ddf0d422e57636ebc4aa4d27").expect("parse");
        let e = super::check_coverage(&headers, &unsigned).unwrap_err();
        assert_eq!(e.code(), "IncompleteSignature");
        assert!(e.to_string().contains("content-type"), "{e}");
        // Without a content-type header there is nothing to cover.
        let mut bare = headers.clone();
        bare.remove("content-type");
        assert!(super::check_coverage(&bare, &unsigned).is_ok());
    }
}
