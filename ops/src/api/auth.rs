//! Who is calling: the ACS3 signature checked against an enabled AccessKey of the replicated
//! state (clock skew and nonce replay included), and what that key's role may do.

use super::error::ApiError;
use super::nonce::NonceCache;
use super::params::Params;
use super::sign;
use super::table::Access;
use crate::Backend;
use axum::http::HeaderMap;
use portunus_model::{Role, UserId};

/// Sealing purpose of AccessKey secrets.
pub const ACCESS_KEY_PURPOSE: &str = "access key secret";

/// Largest accepted difference between the request time and this node's clock.
pub const MAX_SKEW_MS: u64 = 15 * 60 * 1000;

/// The authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    pub role: Role,
    /// The user the key acts as (Operator keys always have one).
    pub user_id: Option<UserId>,
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

/// Verifies the request signature and returns the caller.
pub fn authenticate(
    backend: &dyn Backend,
    nonces: &NonceCache,
    req: &SignedParts<'_>,
    now_ms: u64,
) -> Result<Caller, ApiError> {
    let auth_value = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::IncompleteSignature(
            "the Authorization header is missing",
        ))?;
    let auth = sign::parse_authorization(auth_value)?;
    let date = header(req.headers, "x-acs-date")?;
    let ts = sign::parse_acs_date(date).ok_or(ApiError::TimestampExpired)?;
    if ts.abs_diff(now_ms) > MAX_SKEW_MS {
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
    let key = lookup_key(backend, &auth.access_key_id)?;
    let secret = backend
        .unseal(ACCESS_KEY_PURPOSE, &key.secret)
        .map_err(|_| ApiError::Internal)?;
    let sts = sign::string_to_sign(
        req.method,
        req.path,
        req.raw_query,
        req.headers,
        &auth,
        &payload,
    )?;
    if !sign::verify(&secret, &sts, &auth.signature) {
        return Err(ApiError::SignatureDoesNotMatch);
    }
    let remember_until = ts.max(now_ms) + MAX_SKEW_MS;
    if !nonces.insert(
        &format!("{}/{nonce}", key.access_key_id),
        now_ms,
        remember_until,
    ) {
        return Err(ApiError::NonceUsed);
    }
    Ok(Caller {
        access_key_id: key.access_key_id,
        role: key.role,
        user_id: key.user_id,
    })
}

fn lookup_key(
    backend: &dyn Backend,
    access_key_id: &str,
) -> Result<portunus_model::AccessKey, ApiError> {
    let mut found = None;
    backend.read(&mut |s| found = s.access_key(access_key_id).cloned());
    match found {
        Some(k) if k.enabled => Ok(k),
        _ => Err(ApiError::InvalidAccessKey),
    }
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
