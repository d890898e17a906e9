//! Who is calling: the ACS3 signature checked against an enabled AccessKey of the replicated
//! state (clock skew and nonce replay included), and what that key's role may do.
//!
//! Replay protection has two levels. This node's [`NonceCache`] refuses a nonce it has seen
//! without a round trip; then the call's first log entry records the nonce in the replicated
//! state ([`SeenNonce::record`], carried by `Command::ApiCall`: see [`super::fold`]), which
//! refuses it if any node has seen it, so a signed request captured on the wire cannot be
//! replayed to another node within its clock-skew window.

use super::error::ApiError;
use super::nonce::NonceCache;
use super::params::Params;
use super::sign;
use super::table::Access;
use crate::Backend;
use axum::http::HeaderMap;
use portunus_model::{NonceKey, NonceRecord, Rejection, Role, UserId};

/// Sealing purpose of AccessKey secrets.
pub const ACCESS_KEY_PURPOSE: &str = portunus_model::seal_purpose::ACCESS_KEY_SECRET;

/// Random text from an alphabet without look-alike characters, each character equally likely.
pub fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    // Bytes from the largest multiple of the alphabet's length up are drawn again.
    let bound = 256 - 256 % ALPHABET.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut raw = [0u8; 64];
        aws_lc_rs::rand::fill(&mut raw).expect("system randomness");
        for b in raw.into_iter().map(usize::from).filter(|b| *b < bound) {
            if out.len() < len {
                out.push(ALPHABET[b % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// A fresh AccessKey: its id (`PTN` and 21 characters) and its 30-character secret.
pub fn new_access_key() -> (String, String) {
    (format!("PTN{}", random_text(21)), random_text(30))
}

/// How old a request may be (its `x-acs-date` behind this node's clock).
pub use portunus_model::state::MAX_REQUEST_AGE_MS;
/// How far ahead of this node's clock a request may be dated: less than it may be old, since
/// the cluster keeps a nonce until its request is too old, and a far future date would keep it
/// (and count it against its key's share) for longer.
pub use portunus_model::state::MAX_REQUEST_LEAD_MS;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    pub role: Role,
    /// The user the key acts as (Operator keys always have one).
    pub user_id: Option<UserId>,
}

/// The nonce of a correctly signed request, checked against this node's memory and not yet
/// recorded cluster-wide (see [`record_nonce`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenNonce {
    /// The entry in this node's [`NonceCache`].
    local: String,
    /// The replicated form: see [`nonce_key`].
    key: NonceKey,
    /// The AccessKey that signed the request (whose share of the nonce table it uses).
    access_key_id: String,
    /// The request's `x-acs-date`: the cluster keeps the nonce as long as a node may accept it.
    request_ms: u64,
}

/// The form in which the replicated state remembers a nonce: the first 16 bytes of
/// SHA-256(`"<AccessKeyId>\n<nonce>"`) (header values never contain a newline).
pub fn nonce_key(access_key_id: &str, nonce: &str) -> NonceKey {
    let text = format!("{access_key_id}\n{nonce}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest.as_ref()[..16]);
    key
}

/// The parts of an HTTP request the signature covers.
pub struct SignedParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::IncompleteSignature(
            "a required x-acs-* header is missing",
        ))
}

/// Verifies the request signature, refuses a nonce this node has already seen, and returns
/// the caller with the nonce to record cluster-wide before running the action.
pub fn authenticate(
    backend: &dyn Backend,
    nonces: &NonceCache,
    req: &SignedParts<'_>,
    now_ms: u64,
) -> Result<(Caller, SeenNonce), ApiError> {
    let auth_value = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::IncompleteSignature(
            "the Authorization header is missing",
        ))?;
    let auth = sign::parse_authorization(auth_value)?;
    sign::check_coverage(req.headers, &auth)?;
    let date = header(req.headers, "x-acs-date")?;
    let ts = sign::parse_acs_date(date).ok_or(ApiError::TimestampExpired)?;
    if ts.saturating_add(MAX_REQUEST_AGE_MS) < now_ms
        || ts > now_ms.saturating_add(MAX_REQUEST_LEAD_MS)
    {
        return Err(ApiError::TimestampExpired);
    }
    let payload = sign::sha256_hex(req.body);
    if header(req.headers, "x-acs-content-sha256")? != payload {
        return Err(ApiError::SignatureDoesNotMatch);
    }
    let nonce = header(req.headers, "x-acs-signature-nonce")?;
    if nonce.is_empty() || nonce.len() > 128 {
        return Err(ApiError::IncompleteSignature(
            "the signature nonce is malformed",
        ));
    }
    let sts = sign::string_to_sign(
        req.method,
        req.path,
        req.raw_query,
        req.headers,
        &auth,
        &payload,
    )?;
    // An unknown or disabled key is checked against a secret nobody has, so that it costs the
    // same HMAC and gets the same answer as a wrong signature.
    let key = lookup_key(backend, &auth.access_key_id);
    let secret = match &key {
        Some(k) => backend
            .unseal(ACCESS_KEY_PURPOSE, &k.secret)
            .map_err(|_| ApiError::Internal)?,
        None => unknown_key_secret(),
    };
    let verified = sign::verify(&secret, &sts, &auth.signature);
    let key = match key {
        Some(k) if verified => k,
        _ => return Err(ApiError::SignatureDoesNotMatch),
    };
    // This node accepts the date until it is MAX_REQUEST_AGE_MS old.
    let remember_until = ts + MAX_REQUEST_AGE_MS;
    let local = format!("{}/{nonce}", key.access_key_id);
    if !nonces.insert(&local, now_ms, remember_until) {
        return Err(ApiError::NonceUsed);
    }
    let seen = SeenNonce {
        local,
        key: nonce_key(&key.access_key_id, nonce),
        access_key_id: key.access_key_id.clone(),
        request_ms: ts,
    };
    let caller = Caller {
        access_key_id: key.access_key_id,
        role: key.role,
        user_id: key.user_id,
    };
    Ok((caller, seen))
}

impl SeenNonce {
    /// The nonce as the replicated state records it (carried by the call's first entry: see
    /// [`super::fold`]), which refuses it if any node has recorded it already.
    pub fn record(&self) -> NonceRecord {
        NonceRecord {
            access_key_id: self.access_key_id.clone(),
            key: self.key,
            request_ms: self.request_ms,
        }
    }
}

/// The answer to a call whose nonce the replicated state refused.
pub fn nonce_refused(r: Rejection) -> ApiError {
    match r {
        Rejection::NonceUsed => ApiError::NonceUsed,
        // Deleted or disabled since it was checked: the same answer as any unknown key.
        Rejection::AccessKeyNotFound { .. } => ApiError::SignatureDoesNotMatch,
        other => ApiError::Rejected(other),
    }
}

/// Forgets this node's copy of the nonce (its entry had no answer: the identical request may
/// be retried, and the replicated record still refuses it if the entry did commit).
pub fn forget(nonces: &NonceCache, seen: &SeenNonce) {
    nonces.remove(&seen.local);
}

/// The enabled AccessKey with this id, if any.
fn lookup_key(backend: &dyn Backend, access_key_id: &str) -> Option<portunus_model::AccessKey> {
    let mut found = None;
    backend.read(&mut |s| found = s.access_key(access_key_id).cloned());
    found.filter(|k| k.enabled)
}

/// A random secret, the same for the life of the process, that no AccessKey has.
fn unknown_key_secret() -> Vec<u8> {
    static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    SECRET
        .get_or_init(|| {
            let mut b = [0u8; 32];
            // Only its cost matters: an unknown key is refused whatever the HMAC says.
            let _ = aws_lc_rs::rand::fill(&mut b);
            b
        })
        .to_vec()
}

/// Whether `caller` may run an action of this access class with these parameters.
pub fn authorize(caller: &Caller, access: Access, params: &Params) -> Result<(), ApiError> {
    let allowed = match (caller.role, access) {
        (Role::Admin, _) => true,
        (Role::Auditor, Access::Read | Access::ForUser) => true,
        (Role::Operator, Access::ForUser) => {
            caller.user_id.is_some()
                && params.opt("UserId") == caller.user_id.map(|u| u.to_string()).as_deref()
        }
        (Role::Operator, Access::Token) => caller.user_id.is_some(),
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the AccessKey's role does not permit this action".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_are_fresh_and_drawn_from_the_plain_alphabet() {
        let (id, secret) = new_access_key();
        assert!(id.starts_with("PTN") && id.len() == 24, "{id}");
        assert_eq!(secret.len(), 30);
        let text = random_text(4000);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(!text.contains(['0', '1', 'I', 'O', 'l']), "no look-alikes");
        assert_ne!(new_access_key(), new_access_key());
    }

    fn caller(role: Role, user: Option<u64>) -> Caller {
        Caller {
            access_key_id: "ak".into(),
            role,
            user_id: user,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        p.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .expect("distinct");
        p
    }

    #[test]
    fn nonce_keys_are_per_access_key_and_stable() {
        let k = nonce_key("ak", "n1");
        assert_eq!(k, nonce_key("ak", "n1"));
        assert_ne!(k, nonce_key("ak", "n2"));
        assert_ne!(k, nonce_key("other", "n1"));
        assert_ne!(nonce_key("a/b", "c"), nonce_key("a", "b/c"));
    }

    #[test]
    fn roles_are_enforced() {
        let none = params(&[]);
        let own = params(&[("UserId", "7")]);
        let other = params(&[("UserId", "8")]);
        assert!(authorize(&caller(Role::Admin, None), Access::Write, &none).is_ok());
        assert!(authorize(&caller(Role::Auditor, None), Access::Read, &none).is_ok());
        assert!(authorize(&caller(Role::Auditor, None), Access::Write, &none).is_err());
        assert!(authorize(&caller(Role::Auditor, None), Access::Token, &none).is_err());
        let op = caller(Role::Operator, Some(7));
        assert!(authorize(&op, Access::ForUser, &own).is_ok());
        assert!(authorize(&op, Access::ForUser, &other).is_err());
        assert!(authorize(&op, Access::Read, &none).is_err());
        assert!(authorize(&op, Access::Write, &own).is_err());
        assert!(authorize(&op, Access::Token, &none).is_ok());
        let e = authorize(&op, Access::Write, &own).unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("Forbidden", 403));
    }
}
