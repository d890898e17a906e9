//! The client side of SCRAM-SHA-256 (RFC 5802 and 7677) as PostgreSQL uses it: no channel
//! binding (`n,,`), an empty user name in the exchange (the server takes the startup packet's),
//! the password used as given (PostgreSQL itself falls back to the raw bytes when SASLprep does
//! not apply). The server's signature is checked, so a target that does not know the password
//! cannot pretend the login succeeded.

use aws_lc_rs::{digest, hmac, pbkdf2};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::num::NonZeroU32;

/// The highest iteration count accepted from a server (PostgreSQL's default is 4096): a target
/// cannot make the bastion spend minutes hashing.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Why the exchange failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("the server's SCRAM message is malformed: {0}")]
    Malformed(&'static str),
    #[error("the server's nonce does not extend the client's")]
    Nonce,
    #[error("the server asks for {0} iterations, over the bastion's limit")]
    Iterations(u32),
    #[error("the server's signature is wrong (it does not know the password)")]
    Signature,
    #[error("the server refused the proof: {0}")]
    Refused(String),
}

/// One exchange, client side.
pub struct Client {
    password: Vec<u8>,
    nonce: String,
    first_bare: String,
    server_signature: Option<Vec<u8>>,
}

impl Client {
    /// Starts with a fresh random nonce.
    pub fn new(password: &str) -> Client {
        let mut raw = [0u8; 18];
        if aws_lc_rs::rand::fill(&mut raw).is_err() {
            // Without randomness the exchange is still correct, only replayable by the target.
            raw = [7; 18];
        }
        Client::with_nonce(password, &B64.encode(raw))
    }

    /// Starts with a given nonce (tests use the RFC's).
    pub fn with_nonce(password: &str, nonce: &str) -> Client {
        Client {
            password: password.as_bytes().to_vec(),
            nonce: nonce.into(),
            first_bare: format!("n=,r={nonce}"),
            server_signature: None,
        }
    }

    /// The client-first message.
    pub fn first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// The client-final message, from the server-first one.
    pub fn last(&mut self, server_first: &[u8]) -> Result<String, ScramError> {
        let text =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for part in text.split(',') {
            match part.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iterations = Some(v),
                Some(("m", _)) => return Err(ScramError::Malformed("a mandatory extension")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(ScramError::Malformed("no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::Nonce);
        }
        let salt = B64
            .decode(salt.ok_or(ScramError::Malformed("no salt"))?)
            .map_err(|_| ScramError::Malformed("the salt is not base64"))?;
        let iterations: u32 = iterations
            .ok_or(ScramError::Malformed("no iteration count"))?
            .parse()
            .map_err(|_| ScramError::Malformed("the iteration count"))?;
        if iterations > MAX_ITERATIONS {
            return Err(ScramError::Iterations(iterations));
        }
        let iterations =
            NonZeroU32::new(iterations).ok_or(ScramError::Malformed("zero iterations"))?;
        let keys = Keys::derive(&self.password, &salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.first_bare);
        let signature = sign(&keys.verifier.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = (keys.client_key.iter())
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        self.server_signature =
            Some(sign(&keys.verifier.server_key, auth_message.as_bytes()).to_vec());
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server-final message.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text =
            std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramError::Refused(e.into()));
        }
        let v = text
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .ok_or(ScramError::Malformed("no verifier"))?;
        let v = B64
            .decode(v)
            .map_err(|_| ScramError::Malformed("the verifier is not base64"))?;
        let expected = self
            .server_signature
            .as_ref()
            .ok_or(ScramError::Signature)?;
        // Not secret: the signature proves the server; comparing it leaks nothing of ours.
        if &v != expected {
            return Err(ScramError::Signature);
        }
        Ok(())
    }
}

/// What a server keeps to check SCRAM-SHA-256 logins made with a password, without the
/// password: `StoredKey` checks a client's proof, `ServerKey` proves the server to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verifier {
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

/// The keys RFC 5802 derives from a password.
struct Keys {
    client_key: [u8; 32],
    verifier: Verifier,
}

impl Keys {
    fn derive(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Keys {
        let mut salted = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            salt,
            password,
            &mut salted,
        );
        let client_key = sign(&salted, b"Client Key");
        let mut stored_key = [0u8; 32];
        stored_key.copy_from_slice(digest::digest(&digest::SHA256, &client_key).as_ref());
        let server_key = sign(&salted, b"Server Key");
        Keys {
            client_key,
            verifier: Verifier {
                stored_key,
                server_key,
            },
        }
    }
}

/// HMAC-SHA-256 of `data` under `key`.
fn sign(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref());
    out
}

/// The verifier of `password` with `salt` and `iterations`.
pub fn verifier(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Verifier {
    Keys::derive(password, salt, iterations).verifier
}

/// The iteration count of the verifiers kept for O&M tokens on the native PostgreSQL port:
/// PostgreSQL's default. Only the client pays it, once per login.
pub const TOKEN_ITERATIONS: u32 = 4096;

/// The salt of a user's token verifiers. The gateway must name the salt before it knows which
/// of the user's tokens the client holds, so all of a user's tokens share one, derived from the
/// user name (unknown names get one too: the answer does not tell who exists). Tokens are
/// random 256-bit values, so a shared salt costs nothing.
pub fn token_salt(user: &str) -> [u8; 16] {
    let d = digest::digest(
        &digest::SHA256,
        format!("portunus pg token salt\0{user}").as_bytes(),
    );
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

/// The verifier of an O&M token issued to `user`.
pub fn token_verifier(user: &str, token: &str) -> Verifier {
    let iterations = NonZeroU32::new(TOKEN_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    verifier(token.as_bytes(), &token_salt(user), iterations)
}

/// Why a client's SCRAM message is refused (server side).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientScramError {
    #[error("the client's SCRAM message is malformed: {0}")]
    Malformed(&'static str),
    #[error("channel binding is not offered by the bastion (connect with channel_binding=disable or prefer)")]
    ChannelBinding,
    #[error("the client's final message does not continue the exchange")]
    Mismatch,
}

/// The server side of one exchange, between the client-first and client-final messages.
#[derive(Clone, Debug)]
pub struct ServerExchange {
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// A client's proof, with the message it signs, for the caller to check against verifiers.
#[derive(Clone, Debug)]
pub struct ClientProof {
    pub auth_message: String,
    pub proof: Vec<u8>,
}

impl ServerExchange {
    /// Reads the client-first message and answers with `salt` and `iterations`.
    pub fn start(
        client_first: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<ServerExchange, ClientScramError> {
        let text = std::str::from_utf8(client_first)
            .map_err(|_| ClientScramError::Malformed("not UTF-8"))?;
        // gs2-header: the channel-binding flag, an optional authzid, then the bare message.
        let mut parts = text.splitn(3, ',');
        let flag = parts.next().unwrap_or_default();
        let authzid = parts
            .next()
            .ok_or(ClientScramError::Malformed("no gs2 header"))?;
        let bare = parts
            .next()
            .ok_or(ClientScramError::Malformed("no client-first message"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(ClientScramError::ChannelBinding),
            _ => return Err(ClientScramError::Malformed("the channel-binding flag")),
        }
        let mut client_nonce = None;
        for part in bare.split(',') {
            match part.split_once('=') {
                Some(("r", v)) if !v.is_empty() => client_nonce = Some(v),
                Some(("m", _)) => return Err(ClientScramError::Malformed("a mandatory extension")),
                _ => {}
            }
        }
        let client_nonce = client_nonce.ok_or(ClientScramError::Malformed("no nonce"))?;
        if !client_nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err(ClientScramError::Malformed("the nonce"));
        }
        let mut raw = [0u8; 18];
        aws_lc_rs::rand::fill(&mut raw)
            .map_err(|_| ClientScramError::Malformed("no randomness"))?;
        let nonce = format!("{client_nonce}{}", B64.encode(raw));
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
        Ok(ServerExchange {
            gs2_header: format!("{flag},{authzid},"),
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
        })
    }

    /// The server-first message to send.
    pub fn server_first(&self) -> &str {
        &self.server_first
    }

    /// Reads the client-final message: the proof to check, and what it signs.
    pub fn finish(&self, client_final: &[u8]) -> Result<ClientProof, ClientScramError> {
        let text = std::str::from_utf8(client_final)
            .map_err(|_| ClientScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ClientScramError::Malformed("no proof"))?;
        let mut binding = None;
        let mut nonce = None;
        for part in without_proof.split(',') {
            match part.split_once('=') {
                Some(("c", v)) => binding = Some(v),
                Some(("r", v)) => nonce = Some(v),
                _ => {}
            }
        }
        if binding != Some(B64.encode(&self.gs2_header).as_str()) || nonce != Some(&self.nonce) {
            return Err(ClientScramError::Mismatch);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ClientScramError::Malformed("the proof is not base64"))?;
        Ok(ClientProof {
            auth_message: format!(
                "{},{},{without_proof}",
                self.client_first_bare, self.server_first
            ),
            proof,
        })
    }
}

impl ClientProof {
    /// Whether the proof was made with the password `verifier` was made from.
    pub fn matches(&self, verifier: &Verifier) -> bool {
        if self.proof.len() != 32 {
            return false;
        }
        let signature = sign(&verifier.stored_key, self.auth_message.as_bytes());
        let client_key: Vec<u8> = (self.proof.iter())
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let stored = digest::digest(&digest::SHA256, &client_key);
        aws_lc_rs::constant_time::verify_slices_are_equal(stored.as_ref(), &verifier.stored_key)
            .is_ok()
    }

    /// The server-final message proving the server holds `verifier`.
    pub fn server_final(&self, verifier: &Verifier) -> String {
        let signature = sign(&verifier.server_key, self.auth_message.as_bytes());
        format!("v={}", B64.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677's example, with the user name PostgreSQL leaves empty.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn the_proof_follows_the_rfc_and_the_server_signature_is_checked() {
        let mut c = Client::with_nonce("pencil", NONCE);
        assert_eq!(c.first(), "n,,n=,r=rOprNGfwEbeRWgbNEkqO");
        let last = c.last(SERVER_FIRST.as_bytes()).unwrap();
        assert!(last.starts_with("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="));
        // The signature over an auth message with "n=" (not "n=user") differs from the RFC's;
        // recompute it the long way to check `verify`.
        let good = c.server_signature.clone().unwrap();
        assert!(c
            .verify(format!("v={}", B64.encode(&good)).as_bytes())
            .is_ok());
        let mut bad = good;
        bad[0] ^= 1;
        assert_eq!(
            c.verify(format!("v={}", B64.encode(&bad)).as_bytes()),
            Err(ScramError::Signature)
        );
        assert_eq!(
            c.verify(b"e=invalid-proof"),
            Err(ScramError::Refused("invalid-proof".into()))
        );
    }

    #[test]
    fn our_client_logs_in_to_our_server_and_a_wrong_password_does_not() {
        let salt = b"sixteen byte slt";
        let iterations = NonZeroU32::new(64).unwrap();
        let stored = verifier(b"token", salt, iterations);
        for (password, ok) in [("token", true), ("tokem", false)] {
            let mut c = Client::new(password);
            let server = ServerExchange::start(c.first().as_bytes(), salt, 64).unwrap();
            let last = c.last(server.server_first().as_bytes()).unwrap();
            let proof = server.finish(last.as_bytes()).unwrap();
            assert_eq!(proof.matches(&stored), ok, "{password}");
            if ok {
                assert!(c.verify(proof.server_final(&stored).as_bytes()).is_ok());
            }
        }
    }

    #[test]
    fn the_server_refuses_bad_client_messages() {
        let salt = b"s";
        for bad in [
            &b"n,,"[..],
            b"n,,n=,r=",
            b"x,,n=,r=abc",
            b"n,,n=,r=a,m=1",
            b"\xff",
        ] {
            assert!(ServerExchange::start(bad, salt, 4096).is_err(), "{bad:?}");
        }
        assert_eq!(
            ServerExchange::start(b"p=tls-server-end-point,,n=,r=abc", salt, 4096).unwrap_err(),
            ClientScramError::ChannelBinding
        );
        let server = ServerExchange::start(b"n,,n=,r=abc", salt, 4096).unwrap();
        let nonce = server.server_first()[2..]
            .split(',')
            .next()
            .unwrap()
            .to_string();
        assert!(nonce.starts_with("abc") && nonce.len() > 3);
        for bad in [
            "c=biws,r=abc,p=AAAA".to_string(),
            format!("c=eSws,r={nonce},p=AAAA"),
            format!("c=biws,r={nonce}"),
            format!("c=biws,r={nonce},p=!!"),
        ] {
            assert!(server.finish(bad.as_bytes()).is_err(), "{bad}");
        }
        let proof = server
            .finish(format!("c=biws,r={nonce},p=AAAA").as_bytes())
            .unwrap();
        assert!(!proof.matches(&verifier(b"x", salt, NonZeroU32::new(1).unwrap())));
    }

    #[test]
    fn a_server_nonce_that_does_not_extend_ours_is_refused() {
        let mut c = Client::with_nonce("pencil", NONCE);
        let other = SERVER_FIRST.replace("r=rOpr", "r=xOpr");
        assert_eq!(c.last(other.as_bytes()), Err(ScramError::Nonce));
        let same = format!("r={NONCE},s=QQ==,i=1");
        assert_eq!(c.last(same.as_bytes()), Err(ScramError::Nonce));
    }

    #[test]
    fn garbage_and_hostile_iteration_counts_are_errors() {
        let mut c = Client::with_nonce("pencil", NONCE);
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"r=rOprNGfwEbeRWgbNEkqOx",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=!!,i=1",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=QQ==,i=0",
            b"r=rOprNGfwEbeRWgbNEkqOx,s=QQ==,i=many",
        ] {
            assert!(c.last(bad).is_err(), "{bad:?}");
        }
        let hostile = format!("r={NONCE}x,s=QQ==,i=4000000000");
        assert_eq!(
            c.last(hostile.as_bytes()),
            Err(ScramError::Iterations(4_000_000_000))
        );
        assert!(
            c.verify(b"v=AAAA").is_err(),
            "no signature before the proof"
        );
    }
}
