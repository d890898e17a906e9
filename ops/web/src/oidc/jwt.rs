//! ID tokens: a compact JWS checked against the provider's JSON Web Key Set, then its claims
//! (OpenID Connect Core 3.1.3.7). Only asymmetric signatures pass (RS*, PS*, ES256, ES384,
//! EdDSA with Ed25519): `none` and the HMAC algorithms (which would take the client secret as
//! the key) are refused, whatever the token says.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::Value;

/// Clock difference tolerated between the provider and this node.
pub(crate) const SKEW_SECS: u64 = 120;
/// Longest token read (a few KiB is usual).
const MAX_TOKEN: usize = 64 * 1024;

/// Why an ID token was refused, in words for the log and the browser.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the ID token was refused: {0}")]
pub(crate) struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

/// What the ID token must say.
pub(crate) struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the epoch.
    pub now: u64,
}

/// A token's parts, its signature not yet checked.
pub(crate) struct Parsed {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: serde_json::Map<String, Value>,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

fn part(s: &str, what: &str) -> Result<Vec<u8>, Refused> {
    B64.decode(s)
        .map_err(|_| refused(format!("its {what} is not base64url")))
}

/// Splits and decodes a compact JWS.
pub(crate) fn parse(token: &str) -> Result<Parsed, Refused> {
    if token.len() > MAX_TOKEN {
        return Err(refused("it is longer than 64 KiB"));
    }
    let mut it = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(refused(
            "it is not a signed JWT (three dot-separated parts)",
        ));
    };
    let header: Value = serde_json::from_slice(&part(h, "header")?)
        .map_err(|_| refused("its header is not JSON"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| refused("its header names no alg"))?
        .to_string();
    if header.get("crit").is_some() {
        return Err(refused("its header has critical extensions (crit)"));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let claims = match serde_json::from_slice(&part(c, "payload")?) {
        Ok(Value::Object(m)) => m,
        _ => return Err(refused("its payload is not a JSON object")),
    };
    Ok(Parsed {
        alg,
        kid,
        claims,
        signed: format!("{h}.{c}").into_bytes(),
        signature: part(s, "signature")?,
    })
}

/// The verification algorithm for `alg` and a key of type `kty`.
fn algorithm(alg: &str) -> Result<Alg, Refused> {
    use aws_lc_rs::signature as sig;
    Ok(match alg {
        "RS256" => Alg::Rsa(&sig::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Alg::Rsa(&sig::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Alg::Rsa(&sig::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => Alg::Rsa(&sig::RSA_PSS_2048_8192_SHA256),
        "PS384" => Alg::Rsa(&sig::RSA_PSS_2048_8192_SHA384),
        "PS512" => Alg::Rsa(&sig::RSA_PSS_2048_8192_SHA512),
        "ES256" => Alg::Ec("P-256", 32, &sig::ECDSA_P256_SHA256_FIXED),
        "ES384" => Alg::Ec("P-384", 48, &sig::ECDSA_P384_SHA384_FIXED),
        "EdDSA" => Alg::Ed25519,
        "none" => return Err(refused("it is unsigned (alg none)")),
        a if a.starts_with("HS") => {
            return Err(refused(format!(
                "it is signed with {a}, a shared-secret algorithm; only the provider's \
                 published keys are trusted"
            )))
        }
        a => return Err(refused(format!("its algorithm {a:?} is not supported"))),
    })
}

enum Alg {
    Rsa(&'static aws_lc_rs::signature::RsaParameters),
    Ec(
        &'static str,
        usize,
        &'static aws_lc_rs::signature::EcdsaVerificationAlgorithm,
    ),
    Ed25519,
}

fn member(jwk: &Value, name: &str) -> Result<Vec<u8>, Refused> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| refused(format!("the provider's key has no {name}")))?;
    part(s, &format!("key's {name}"))
}

/// Whether `jwk` is a key `p` may have been signed with (its kid, use and type).
fn candidate(jwk: &Value, p: &Parsed) -> bool {
    let kid_ok = match &p.kid {
        Some(k) => jwk.get("kid").and_then(Value::as_str) == Some(k),
        None => true,
    };
    let use_ok = jwk
        .get("use")
        .and_then(Value::as_str)
        .is_none_or(|u| u == "sig");
    let alg_ok = jwk
        .get("alg")
        .and_then(Value::as_str)
        .is_none_or(|a| a == p.alg);
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    let kty_ok = match p.alg.as_str() {
        a if a.starts_with("RS") || a.starts_with("PS") => kty == "RSA",
        a if a.starts_with("ES") => kty == "EC",
        _ => kty == "OKP",
    };
    kid_ok && use_ok && alg_ok && kty_ok
}

/// Checks the signature of `p` with `jwk`.
fn verify_with(jwk: &Value, p: &Parsed) -> Result<(), Refused> {
    use aws_lc_rs::signature::{RsaPublicKeyComponents, UnparsedPublicKey, ED25519};
    let bad = || refused("its signature does not verify with the provider's key");
    match algorithm(&p.alg)? {
        Alg::Rsa(params) => {
            let key = RsaPublicKeyComponents {
                n: member(jwk, "n")?,
                e: member(jwk, "e")?,
            };
            key.verify(params, &p.signed, &p.signature)
                .map_err(|_| bad())
        }
        Alg::Ec(curve, len, alg) => {
            if jwk.get("crv").and_then(Value::as_str) != Some(curve) {
                return Err(refused(format!("the provider's key is not on {curve}")));
            }
            let (x, y) = (member(jwk, "x")?, member(jwk, "y")?);
            if x.len() != len || y.len() != len {
                return Err(refused(
                    "the provider's EC key has coordinates of a wrong size",
                ));
            }
            let point = [&[4u8][..], &x, &y].concat();
            UnparsedPublicKey::new(alg, point)
                .verify(&p.signed, &p.signature)
                .map_err(|_| bad())
        }
        Alg::Ed25519 => {
            if jwk.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                return Err(refused("the provider's OKP key is not Ed25519"));
            }
            UnparsedPublicKey::new(&ED25519, member(jwk, "x")?)
                .verify(&p.signed, &p.signature)
                .map_err(|_| bad())
        }
    }
}

/// Whether a key of `jwks` could check `p` at all (else the set is fetched again: the provider
/// may have rotated its keys).
pub(crate) fn has_key_for(jwks: &Value, p: &Parsed) -> bool {
    keys(jwks).iter().any(|k| candidate(k, p))
}

fn keys(jwks: &Value) -> &[Value] {
    jwks.get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Checks the signature of `p` against the key set `jwks`, then its claims against `expect`;
/// the claims on success.
pub(crate) fn verify(
    p: Parsed,
    jwks: &Value,
    allowed_algs: Option<&[String]>,
    expect: &Expect<'_>,
) -> Result<serde_json::Map<String, Value>, Refused> {
    algorithm(&p.alg)?;
    if let Some(allowed) = allowed_algs {
        if !allowed.contains(&p.alg) {
            return Err(refused(format!(
                "its algorithm {} is not among those the provider announces",
                p.alg
            )));
        }
    }
    let candidates: Vec<&Value> = keys(jwks).iter().filter(|k| candidate(k, &p)).collect();
    if candidates.is_empty() {
        return Err(refused(match &p.kid {
            Some(kid) => format!("the provider publishes no {} key with kid {kid:?}", p.alg),
            None => format!("the provider publishes no {} key", p.alg),
        }));
    }
    let mut last = None;
    let signed = candidates.iter().any(|k| match verify_with(k, &p) {
        Ok(()) => true,
        Err(e) => {
            last = Some(e);
            false
        }
    });
    if !signed {
        return Err(last.unwrap_or_else(|| refused("its signature does not verify")));
    }
    check_claims(&p.claims, expect)?;
    Ok(p.claims)
}

/// OpenID Connect Core 3.1.3.7: issuer, audience (and authorized party), expiry, issue time,
/// nonce.
fn check_claims(c: &serde_json::Map<String, Value>, e: &Expect<'_>) -> Result<(), Refused> {
    let iss = c.get("iss").and_then(Value::as_str);
    if iss != Some(e.issuer) {
        return Err(refused(format!(
            "it was issued by {}, not by the configured provider {}",
            iss.map_or("nobody named".to_string(), |i| format!("{i:?}")),
            e.issuer
        )));
    }
    let auds: Vec<&str> = match c.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !auds.contains(&e.client_id) {
        return Err(refused(format!(
            "its audience {auds:?} is not this bastion's client {:?}",
            e.client_id
        )));
    }
    let azp = c.get("azp").and_then(Value::as_str);
    if auds.len() > 1 && azp != Some(e.client_id) || azp.is_some_and(|a| a != e.client_id) {
        return Err(refused(format!(
            "it was issued to another party (azp {:?})",
            azp.unwrap_or("")
        )));
    }
    let time = |name: &str| -> Result<u64, Refused> {
        c.get(name)
            .and_then(Value::as_f64)
            .filter(|t| t.is_finite() && *t >= 0.0)
            .map(|t| t as u64)
            .ok_or_else(|| refused(format!("it has no {name} time")))
    };
    let exp = time("exp")?;
    if exp.saturating_add(SKEW_SECS) <= e.now {
        return Err(refused(format!(
            "it expired {} s ago",
            e.now.saturating_sub(exp)
        )));
    }
    let iat = time("iat")?;
    if iat > e.now.saturating_add(SKEW_SECS) {
        return Err(refused(format!(
            "it was issued {} s in the future (clocks apart?)",
            iat - e.now
        )));
    }
    let nonce = c.get("nonce").and_then(Value::as_str);
    if nonce != Some(e.nonce) {
        return Err(refused(
            "its nonce is not the one this login sent (a replayed or foreign token)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
