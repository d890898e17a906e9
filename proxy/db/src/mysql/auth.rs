//! The target login with a hosted password: the answer to each authentication method the target
//! may ask for, as a state machine over the target's packets (no I/O).
//!
//! Supported: `mysql_native_password`; `caching_sha2_password`, fast path and full path (the
//! password in clear over TLS, or RSA-OAEP encrypted with the server's public key without TLS);
//! `sha256_password` the same way; `mysql_clear_password` over TLS only; MariaDB's
//! `client_ed25519` (an Ed25519 signature of the server's 32-byte nonce, with the key expanded
//! from the password). Anything else is refused with the method's name, so an administrator sees
//! what the target wants.

use super::wire::{self, Reader};
use crate::Secret;
use aws_lc_rs::digest;

/// Why the target login failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The target refused the login (wrong hosted password, unknown account, blocked host).
    #[error("the database refused the login: {message} (error {code})")]
    Refused { code: u16, message: String },
    #[error(
        "the database asks for the authentication method {0}, which the bastion does not support"
    )]
    Unsupported(String),
    #[error("the database asks for the password in clear ({0}) over a connection without TLS; the bastion does not send it")]
    ClearWithoutTls(String),
    #[error("the database's public key is unusable: {0}")]
    PublicKey(&'static str),
    #[error("unexpected packet during the login: {0}")]
    Unexpected(&'static str),
}

/// What to do after a target packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Send this payload to the target, then read its next packet.
    Send(Vec<u8>),
    /// Read the target's next packet.
    Read,
    /// Logged in: the target's OK payload.
    Done(Vec<u8>),
}

/// `mysql_native_password`: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
pub fn native_password(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let sha1 = |parts: &[&[u8]]| {
        let mut c = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        for p in parts {
            c.update(p);
        }
        c.finish()
    };
    let stage1 = sha1(&[password]);
    let stage2 = sha1(&[stage1.as_ref()]);
    let mixed = sha1(&[&scramble[..scramble.len().min(20)], stage2.as_ref()]);
    xor(stage1.as_ref(), mixed.as_ref())
}

/// Checks a `mysql_native_password` answer against the stored SHA1(SHA1(password)), as a
/// server does: SHA1(answer XOR SHA1(scramble + stored)) must be the stored value.
pub fn native_password_matches(stored: &[u8; 20], scramble: &[u8], answer: &[u8]) -> bool {
    if answer.len() != 20 {
        return false;
    }
    let mut c = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    c.update(&scramble[..scramble.len().min(20)]);
    c.update(stored);
    let mixed = c.finish();
    let stage1 = xor(answer, mixed.as_ref());
    let check = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &stage1);
    check.as_ref() == stored
}

/// `caching_sha2_password`'s scramble: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
pub fn caching_sha2(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let sha = |parts: &[&[u8]]| {
        let mut c = digest::Context::new(&digest::SHA256);
        for p in parts {
            c.update(p);
        }
        c.finish()
    };
    let p1 = sha(&[password]);
    let p2 = sha(&[p1.as_ref()]);
    let p3 = sha(&[p2.as_ref(), &scramble[..scramble.len().min(20)]]);
    xor(p1.as_ref(), p3.as_ref())
}

/// The length of MariaDB's `client_ed25519` nonce.
pub const ED25519_NONCE: usize = 32;

/// MariaDB's `client_ed25519`: the nonce signed as Ed25519 signs, with the expanded key taken
/// as SHA-512 of the password itself (of any length) rather than of a 32-byte seed: the first
/// half, clamped, is the secret scalar, the second half the prefix hashed with the message
/// for the signature's nonce. The server keeps only the public key (the scalar times the base
/// point), so it checks the signature as any Ed25519 signature. A password of exactly 32 bytes
/// signs as a standard Ed25519 key with that password as its seed.
pub fn ed25519_signature(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
    use sha2::{Digest, Sha512};
    let expanded: [u8; 64] = Sha512::digest(password).into();
    let key = ExpandedSecretKey::from_bytes(&expanded);
    let public = ed25519_dalek::VerifyingKey::from(&key);
    raw_sign::<Sha512>(&key, nonce, &public).to_bytes().to_vec()
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The password (NUL-terminated) XOR the scramble, RSA-OAEP (SHA-1) encrypted with the server's
/// PEM public key, as `caching_sha2_password` and `sha256_password` want without TLS.
pub fn rsa_encrypted(password: &[u8], scramble: &[u8], pem: &[u8]) -> Result<Vec<u8>, AuthError> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
    use base64::Engine;
    let text = std::str::from_utf8(pem).map_err(|_| AuthError::PublicKey("not text"))?;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| AuthError::PublicKey("not PEM"))?;
    let key = PublicEncryptingKey::from_der(&der).map_err(|_| AuthError::PublicKey("not RSA"))?;
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| AuthError::PublicKey("not RSA"))?;
    let mut plain = password.to_vec();
    plain.push(0);
    if !scramble.is_empty() {
        for (i, b) in plain.iter_mut().enumerate() {
            *b ^= scramble[i % scramble.len()];
        }
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let n = key
        .encrypt(&OAEP_SHA1_MGF1SHA1, &plain, &mut out, None)
        .map_err(|_| AuthError::PublicKey("the password does not fit the key"))?
        .len();
    out.truncate(n);
    Ok(out)
}

/// The login with a hosted password, one target packet at a time.
pub struct TargetAuth {
    password: Secret,
    plugin: Vec<u8>,
    scramble: Vec<u8>,
    tls: bool,
    /// A public key was asked for; the next data is it.
    awaiting_key: bool,
}

impl TargetAuth {
    /// Starts a login to a target that greeted with `plugin` and `scramble`; `tls` tells
    /// whether the connection to it is encrypted.
    pub fn new(password: Secret, plugin: &[u8], scramble: &[u8], tls: bool) -> Self {
        TargetAuth {
            password,
            plugin: plugin.to_vec(),
            scramble: scramble.to_vec(),
            tls,
            awaiting_key: false,
        }
    }

    /// The plugin named in the login.
    pub fn plugin(&self) -> &[u8] {
        &self.plugin
    }

    /// The auth response for the current plugin and scramble.
    pub fn response(&mut self) -> Result<Vec<u8>, AuthError> {
        let pw = self.password.0.as_bytes();
        match self.plugin.as_slice() {
            b"mysql_native_password" => Ok(native_password(pw, &self.scramble)),
            b"caching_sha2_password" => Ok(caching_sha2(pw, &self.scramble)),
            b"sha256_password" | b"mysql_clear_password" if self.tls => {
                let mut p = pw.to_vec();
                p.push(0);
                Ok(p)
            }
            b"sha256_password" => {
                self.awaiting_key = true;
                Ok(vec![1])
            }
            b"mysql_clear_password" => Err(AuthError::ClearWithoutTls(self.plugin_name())),
            b"client_ed25519" if self.scramble.len() == ED25519_NONCE => {
                Ok(ed25519_signature(pw, &self.scramble))
            }
            b"client_ed25519" => Err(AuthError::Unexpected(
                "a client_ed25519 nonce that is not 32 bytes",
            )),
            _ => Err(AuthError::Unsupported(self.plugin_name())),
        }
    }

    fn plugin_name(&self) -> String {
        String::from_utf8_lossy(&self.plugin).into_owned()
    }

    /// What to do with the target's next packet during the login.
    pub fn on_packet(&mut self, p: &[u8]) -> Result<Next, AuthError> {
        match p.first() {
            Some(0x00) => Ok(Next::Done(p.to_vec())),
            Some(0xff) => {
                let (code, message) = wire::parse_err(p);
                Err(AuthError::Refused { code, message })
            }
            Some(0xfe) if p.len() == 1 => Err(AuthError::Unsupported("mysql_old_password".into())),
            Some(0xfe) => {
                let mut r = Reader::new(&p[1..]);
                self.plugin = r.nul_or_rest().to_vec();
                let mut data = r.rest().to_vec();
                // Scrambles of the password methods end with a NUL; ed25519's nonce is 32 raw
                // bytes, and may end with a zero byte.
                if data.last() == Some(&0) && self.plugin != b"client_ed25519" {
                    data.pop();
                }
                self.scramble = data;
                self.awaiting_key = false;
                self.response().map(Next::Send)
            }
            Some(0x01) => self.more_data(&p[1..]),
            _ => Err(AuthError::Unexpected("an unknown packet")),
        }
    }

    fn more_data(&mut self, data: &[u8]) -> Result<Next, AuthError> {
        if self.awaiting_key {
            self.awaiting_key = false;
            let pw = self.password.0.as_bytes();
            return rsa_encrypted(pw, &self.scramble, data).map(Next::Send);
        }
        match (self.plugin.as_slice(), data) {
            (b"caching_sha2_password", [3]) => Ok(Next::Read),
            (b"caching_sha2_password", [4]) if self.tls => {
                let mut p = self.password.0.as_bytes().to_vec();
                p.push(0);
                Ok(Next::Send(p))
            }
            (b"caching_sha2_password", [4]) => {
                self.awaiting_key = true;
                Ok(Next::Send(vec![2]))
            }
            _ => Err(AuthError::Unexpected(
                "authentication data the method does not define",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Reference values computed with Python's hashlib from the formulas in the MySQL manual.
    #[test]
    fn scrambles_match_the_reference_formulas() {
        let scramble: Vec<u8> = (1..=20).collect();
        assert_eq!(
            hex(&native_password(b"secret", &scramble)),
            "b32bb3a583e1340c0a1108d58b1be49781ad8c2f"
        );
        assert_eq!(
            hex(&caching_sha2(b"secret", &scramble)),
            "746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9"
        );
        assert!(native_password(b"", &scramble).is_empty());
    }

    #[test]
    fn a_native_answer_checks_against_the_stored_double_sha1() {
        let sha1 = |b: &[u8]| digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, b);
        let mut stored = [0u8; 20];
        stored.copy_from_slice(sha1(sha1(b"tok3n").as_ref()).as_ref());
        let scramble: Vec<u8> = (40..60).collect();
        let answer = native_password(b"tok3n", &scramble);
        assert!(native_password_matches(&stored, &scramble, &answer));
        assert!(!native_password_matches(
            &stored,
            &scramble,
            &native_password(b"tok3m", &scramble)
        ));
        assert!(!native_password_matches(&stored, &[1; 20], &answer));
        assert!(!native_password_matches(&stored, &scramble, &[]));
    }

    #[test]
    fn caching_sha2_full_path_asks_for_the_key_without_tls_and_sends_clear_with_it() {
        let mut a = TargetAuth::new(
            Secret("pw".into()),
            b"caching_sha2_password",
            &[1; 20],
            false,
        );
        assert_eq!(a.response().map(|r| r.len()), Ok(32));
        assert_eq!(a.on_packet(&[1, 3]), Ok(Next::Read));
        assert_eq!(a.on_packet(&[1, 4]), Ok(Next::Send(vec![2])));
        assert!(matches!(
            a.on_packet(b"\x01-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----"),
            Err(AuthError::PublicKey(_))
        ));
        let mut t = TargetAuth::new(
            Secret("pw".into()),
            b"caching_sha2_password",
            &[1; 20],
            true,
        );
        assert_eq!(t.on_packet(&[1, 4]), Ok(Next::Send(b"pw\0".to_vec())));
        assert_eq!(t.on_packet(&[0, 0, 0]), Ok(Next::Done(vec![0, 0, 0])));
    }

    #[test]
    fn an_auth_switch_answers_the_new_method_with_the_new_scramble() {
        let mut a = TargetAuth::new(
            Secret("pw".into()),
            b"caching_sha2_password",
            &[1; 20],
            false,
        );
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"mysql_native_password\0");
        switch.extend_from_slice(&[9; 20]);
        switch.push(0);
        assert_eq!(
            a.on_packet(&switch),
            Ok(Next::Send(native_password(b"pw", &[9; 20])))
        );
        let mut gssapi = vec![0xfe];
        gssapi.extend_from_slice(b"auth_gssapi_client\0");
        gssapi.extend_from_slice(b"service@REALM\0");
        let e = a.on_packet(&gssapi).unwrap_err();
        assert_eq!(e, AuthError::Unsupported("auth_gssapi_client".into()));
        assert!(e.to_string().contains("auth_gssapi_client"), "{e}");
        let mut clear = vec![0xfe];
        clear.extend_from_slice(b"mysql_clear_password\0");
        assert!(matches!(
            a.on_packet(&clear),
            Err(AuthError::ClearWithoutTls(_))
        ));
    }

    /// The nonce of the vectors below: the bytes 1 to 32.
    fn nonce() -> Vec<u8> {
        (1..=32).collect()
    }

    /// With a password of exactly 32 bytes, MariaDB's scheme is standard Ed25519 with the
    /// password as the seed: the reference signature is Python `cryptography`'s
    /// `Ed25519PrivateKey.from_private_bytes(password).sign(nonce)`.
    #[test]
    fn ed25519_with_a_32_byte_password_is_standard_ed25519_with_it_as_seed() {
        let password = b"0123456789abcdef0123456789ABCDEF";
        assert_eq!(
            hex(&ed25519_signature(password, &nonce())),
            "bcb2799ce75010429559dff97affdd87b53ef3749ccaae441fc13f15726e7d0a\
             847ca74d73a95072130401743a4a8488fd1c3aa45e3da6ab1ad319dd3372910a"
        );
        let seeded = ed25519_dalek::SigningKey::from_bytes(password);
        use ed25519_dalek::Signer;
        assert_eq!(
            seeded.sign(&nonce()).to_bytes().to_vec(),
            ed25519_signature(password, &nonce())
        );
    }

    /// Passwords of other lengths: reference values from a separate implementation of the
    /// scheme (Python, integer arithmetic on the curve as RFC 8032 defines it, the key
    /// expanded as SHA-512 of the password); it gives the 32-byte vector above too.
    #[test]
    fn ed25519_expands_a_password_of_any_length_with_sha512() {
        assert_eq!(
            hex(&ed25519_signature(b"secret", &nonce())),
            "60a0f4f8bcb6396043e44b2a25521af16f0815ff6369cc541c281e2c4455c823\
             2b79b21ee5bb933507725db2f2919ea09e676f6abee19c5c7b98b40a627a9707"
        );
        let long = b"a much longer hosted password, well past thirty-two bytes";
        assert_eq!(
            hex(&ed25519_signature(long, &nonce())),
            "257fc0459f6f3b82839a8d7a0b2a84121021c232d6b7d67fa781915e1cb999a9\
             5aa3d397e36ecd426ddeb34fa359650a56b236726e6a835d2a3da08133815a0a"
        );
    }

    #[test]
    fn an_ed25519_switch_signs_the_raw_nonce_even_when_it_ends_with_zero() {
        let mut a = TargetAuth::new(
            Secret("secret".into()),
            b"mysql_native_password",
            &[1; 20],
            false,
        );
        let mut nonce = nonce();
        nonce[31] = 0;
        let mut switch = vec![0xfe];
        switch.extend_from_slice(b"client_ed25519\0");
        switch.extend_from_slice(&nonce);
        assert_eq!(
            a.on_packet(&switch),
            Ok(Next::Send(ed25519_signature(b"secret", &nonce)))
        );
        assert_eq!(a.plugin(), b"client_ed25519");
        assert_eq!(
            a.on_packet(&[0, 0, 0, 2, 0]),
            Ok(Next::Done(vec![0, 0, 0, 2, 0]))
        );
        // A nonce of another length is not signed.
        let mut short = vec![0xfe];
        short.extend_from_slice(b"client_ed25519\0");
        short.extend_from_slice(&[7; 20]);
        assert!(matches!(a.on_packet(&short), Err(AuthError::Unexpected(_))));
    }

    #[test]
    fn a_refusal_carries_the_targets_words() {
        let mut a = TargetAuth::new(
            Secret("pw".into()),
            b"mysql_native_password",
            &[1; 20],
            false,
        );
        let err = wire::err_payload(1045, "28000", "Access denied for user 'app'");
        assert_eq!(
            a.on_packet(&err),
            Err(AuthError::Refused {
                code: 1045,
                message: "Access denied for user 'app'".into()
            })
        );
    }

    #[test]
    fn rsa_encryption_produces_a_key_sized_ciphertext_the_private_key_opens() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::{
            KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1,
        };
        use base64::Engine;
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der = private.public_key().as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let scramble = [5u8; 20];
        let sealed = rsa_encrypted(b"hunter2", &scramble, pem.as_bytes()).unwrap();
        assert_eq!(sealed.len(), 256);
        let opener = OaepPrivateDecryptingKey::new(private).unwrap();
        let mut out = vec![0u8; opener.min_output_size()];
        let plain = opener
            .decrypt(&OAEP_SHA1_MGF1SHA1, &sealed, &mut out, None)
            .unwrap();
        let pw: Vec<u8> = plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ scramble[i % 20])
            .collect();
        assert_eq!(pw, b"hunter2\0");
    }
}
