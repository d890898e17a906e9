//! ID tokens signed here with fresh keys: what passes, and each way a token is refused.

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::json;

const ISSUER: &str = "https://id.example.org";
const CLIENT: &str = "portunus";
const NOW: u64 = 1_800_000_000;

fn b64(v: &[u8]) -> String {
    B64.encode(v)
}

struct Signer {
    ec: EcdsaKeyPair,
    ed: Ed25519KeyPair,
}

impl Signer {
    fn new() -> Self {
        Signer {
            ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            ed: Ed25519KeyPair::generate().unwrap(),
        }
    }

    fn jwks(&self) -> Value {
        let point = self.ec.public_key().as_ref();
        json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "ec1", "use": "sig",
              "x": b64(&point[1..33]), "y": b64(&point[33..65]) },
            { "kty": "OKP", "crv": "Ed25519", "kid": "ed1",
              "x": b64(self.ed.public_key().as_ref()) },
        ]})
    }

    fn token(&self, header: Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = match header["alg"].as_str() {
            Some("ES256") => self
                .ec
                .sign(&SystemRandom::new(), signed.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            Some("EdDSA") => self.ed.sign(signed.as_bytes()).as_ref().to_vec(),
            _ => b"not a signature".to_vec(),
        };
        format!("{signed}.{}", b64(&sig))
    }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "aud": CLIENT, "sub": "248289761001", "preferred_username": "alice",
        "exp": NOW + 300, "iat": NOW - 5, "nonce": "n-0S6_WzA2Mj",
    })
}

fn expect() -> Expect<'static> {
    Expect {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: "n-0S6_WzA2Mj",
        now: NOW,
    }
}

fn check(s: &Signer, header: Value, claims: &Value) -> Result<String, String> {
    let p = parse(&s.token(header, claims)).map_err(|e| e.0)?;
    verify(p, &s.jwks(), None, &expect())
        .map(|c| c["preferred_username"].as_str().unwrap_or("").to_string())
        .map_err(|e| e.0)
}

fn refused_for(s: &Signer, header: Value, claims: &Value, words: &str) {
    match check(s, header, claims) {
        Err(why) => assert!(why.contains(words), "{why:?} does not say {words:?}"),
        Ok(user) => panic!("accepted for {user}; expected a refusal saying {words:?}"),
    }
}

#[test]
fn tokens_signed_with_the_providers_keys_pass() {
    let s = Signer::new();
    let es = json!({"alg": "ES256", "kid": "ec1"});
    assert_eq!(check(&s, es, &claims()).as_deref(), Ok("alice"));
    let ed = json!({"alg": "EdDSA", "kid": "ed1"});
    assert_eq!(check(&s, ed, &claims()).as_deref(), Ok("alice"));
    // No kid: the keys of the right type are tried.
    assert_eq!(
        check(&s, json!({"alg": "ES256"}), &claims()).as_deref(),
        Ok("alice")
    );
    // Several audiences, this client the authorized party.
    let mut c = claims();
    c["aud"] = json!([CLIENT, "other"]);
    c["azp"] = json!(CLIENT);
    assert_eq!(
        check(&s, json!({"alg": "ES256", "kid": "ec1"}), &c).as_deref(),
        Ok("alice")
    );
}

#[test]
fn unsigned_and_shared_secret_tokens_are_refused() {
    let s = Signer::new();
    refused_for(&s, json!({"alg": "none"}), &claims(), "alg none");
    refused_for(&s, json!({"alg": "HS256"}), &claims(), "shared-secret");
    refused_for(&s, json!({"alg": "XS999"}), &claims(), "not supported");
    refused_for(&s, json!({"kid": "ec1"}), &claims(), "no alg");
}

#[test]
fn a_wrong_signature_or_key_is_refused() {
    let s = Signer::new();
    let other = Signer::new();
    // Signed by another key that claims the provider's kid.
    let token = other.token(json!({"alg": "ES256", "kid": "ec1"}), &claims());
    let why = verify(parse(&token).unwrap(), &s.jwks(), None, &expect()).unwrap_err();
    assert!(why.0.contains("does not verify"), "{why}");
    refused_for(
        &s,
        json!({"alg": "ES256", "kid": "gone"}),
        &claims(),
        "no ES256 key with kid \"gone\"",
    );
    // The EC key cannot check an EdDSA signature: it is not a candidate.
    refused_for(
        &s,
        json!({"alg": "EdDSA", "kid": "ec1"}),
        &claims(),
        "no EdDSA key",
    );
    // A payload changed after signing.
    let token = s.token(json!({"alg": "ES256", "kid": "ec1"}), &claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut c = claims();
    c["preferred_username"] = json!("root");
    parts[1] = b64(c.to_string().as_bytes());
    let why = verify(parse(&parts.join(".")).unwrap(), &s.jwks(), None, &expect()).unwrap_err();
    assert!(why.0.contains("does not verify"), "{why}");
}

#[test]
fn claims_are_checked() {
    let s = Signer::new();
    let h = || json!({"alg": "ES256", "kid": "ec1"});
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        c
    };
    refused_for(&s, h(), &with("aud", json!("someone-else")), "audience");
    refused_for(
        &s,
        h(),
        &with("iss", json!("https://evil.example")),
        "issued by",
    );
    refused_for(&s, h(), &with("exp", json!(NOW - SKEW_SECS - 1)), "expired");
    refused_for(&s, h(), &with("iat", json!(NOW + 3600)), "in the future");
    refused_for(&s, h(), &with("nonce", json!("replayed")), "nonce");
    let mut c = claims();
    c.as_object_mut().unwrap().remove("nonce");
    refused_for(&s, h(), &c, "nonce");
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    refused_for(&s, h(), &c, "no exp");
    // Several audiences need this client as the authorized party; one audience with a
    // foreign authorized party is refused too.
    refused_for(
        &s,
        h(),
        &with("aud", json!([CLIENT, "other"])),
        "another party",
    );
    refused_for(&s, h(), &with("azp", json!("other")), "another party");
    // Within the skew an expired token still passes (clocks differ a little).
    assert!(check(&s, h(), &with("exp", json!(NOW - 10))).is_ok());
}

#[test]
fn malformed_tokens_are_refused_with_a_reason() {
    for (token, words) in [
        ("", "three dot-separated parts"),
        ("a.b", "three dot-separated parts"),
        ("a.b.c.d", "three dot-separated parts"),
        ("!!.e30.AA", "header is not base64url"),
        ("e30.e30.AA", "no alg"),
        ("eyJhbGciOiJFUzI1NiJ9.WzFd.AA", "not a JSON object"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.%%", "signature is not base64url"),
    ] {
        match parse(token) {
            Err(e) => assert!(e.0.contains(words), "{token}: {e}"),
            Ok(_) => panic!("{token:?} parsed"),
        }
    }
    let long = "a".repeat(MAX_TOKEN + 1);
    assert!(parse(&long).is_err());
}

#[test]
fn only_algorithms_the_provider_announces_pass() {
    let s = Signer::new();
    let token = s.token(json!({"alg": "ES256", "kid": "ec1"}), &claims());
    let allowed = vec!["RS256".to_string()];
    let why = verify(parse(&token).unwrap(), &s.jwks(), Some(&allowed), &expect()).unwrap_err();
    assert!(
        why.0.contains("not among those the provider announces"),
        "{why}"
    );
}
