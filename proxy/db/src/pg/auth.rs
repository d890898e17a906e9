//! The target login with a hosted password: the authentication requests a PostgreSQL server
//! sends (`R` messages) and the answers to them, as a state machine over whole messages.
//! Trust (an immediate `AuthenticationOk`), cleartext, MD5 and SCRAM-SHA-256 are answered;
//! Kerberos, GSS, SSPI and SCRAM with channel binding only are not (the target must offer a
//! password method to an account the bastion logs in to).

use super::scram::{self, ScramError};
use super::wire::{message, Fields, Reader, WireError};
use crate::Secret;

/// An authentication request from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Ok,
    Cleartext,
    Md5 {
        salt: [u8; 4],
    },
    Sasl {
        mechanisms: Vec<String>,
    },
    SaslContinue(Vec<u8>),
    SaslFinal(Vec<u8>),
    /// Another method, by its code (2 Kerberos, 7 GSS, 9 SSPI...).
    Other(i32),
}

impl Request {
    /// Parses an `R` message's body.
    pub fn parse(body: &[u8]) -> Result<Request, WireError> {
        let mut r = Reader::new(body);
        Ok(match r.i32("the authentication code")? {
            0 => Request::Ok,
            3 => Request::Cleartext,
            5 => {
                let s = r.bytes(4, "the MD5 salt")?;
                Request::Md5 {
                    salt: [s[0], s[1], s[2], s[3]],
                }
            }
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let m = r.string("a SASL mechanism")?;
                    if m.is_empty() {
                        break;
                    }
                    mechanisms.push(m);
                }
                Request::Sasl { mechanisms }
            }
            11 => Request::SaslContinue(r.rest().to_vec()),
            12 => Request::SaslFinal(r.rest().to_vec()),
            other => Request::Other(other),
        })
    }
}

/// Why the target login failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("SCRAM: {0}")]
    Scram(#[from] ScramError),
    #[error("the database asks for an authentication method the bastion cannot answer ({0})")]
    Unsupported(String),
    #[error("the database sent an unexpected message during the login ('{0}')")]
    Unexpected(char),
    #[error("the database refused the login: {} {}", .0.code, .0.message)]
    Refused(Fields),
}

/// What to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Send these bytes (a whole message) to the target, then read its next message.
    Send(Vec<u8>),
    /// Nothing to send: read the target's next message.
    Read,
    /// Authenticated: what follows (parameters, key, ready) is the session's start.
    Done,
}

/// The login's state.
pub struct TargetAuth {
    account: String,
    password: Secret,
    scram: Option<scram::Client>,
}

impl TargetAuth {
    pub fn new(account: &str, password: Secret) -> TargetAuth {
        TargetAuth {
            account: account.into(),
            password,
            scram: None,
        }
    }

    /// The answer to one message of the target (`tag`, `body`).
    pub fn on_message(&mut self, tag: u8, body: &[u8]) -> Result<Next, AuthError> {
        match tag {
            b'R' => {}
            b'E' => return Err(AuthError::Refused(Fields::parse(body)?)),
            other => return Err(AuthError::Unexpected(other as char)),
        }
        let password = &self.password.0;
        match Request::parse(body)? {
            Request::Ok => Ok(Next::Done),
            Request::Cleartext => Ok(Next::Send(password_message(password.as_bytes()))),
            Request::Md5 { salt } => {
                let inner = format!("{:x}", md5::compute(format!("{password}{}", self.account)));
                let mut outer = inner.into_bytes();
                outer.extend_from_slice(&salt);
                let answer = format!("md5{:x}", md5::compute(outer));
                Ok(Next::Send(password_message(answer.as_bytes())))
            }
            Request::Sasl { mechanisms } => {
                if !mechanisms.iter().any(|m| m == "SCRAM-SHA-256") {
                    return Err(AuthError::Unsupported(format!(
                        "SASL {}",
                        mechanisms.join(", ")
                    )));
                }
                let client = scram::Client::new(password);
                let first = client.first();
                self.scram = Some(client);
                let mut body = b"SCRAM-SHA-256\0".to_vec();
                body.extend_from_slice(&(first.len() as i32).to_be_bytes());
                body.extend_from_slice(first.as_bytes());
                Ok(Next::Send(message(b'p', &body)))
            }
            Request::SaslContinue(data) => {
                let client = self.scram.as_mut().ok_or(AuthError::Unexpected('R'))?;
                let last = client.last(&data)?;
                Ok(Next::Send(message(b'p', last.as_bytes())))
            }
            Request::SaslFinal(data) => {
                let client = self.scram.take().ok_or(AuthError::Unexpected('R'))?;
                client.verify(&data)?;
                // AuthenticationOk follows.
                Ok(Next::Read)
            }
            Request::Other(code) => Err(AuthError::Unsupported(format!("code {code}"))),
        }
    }
}

/// A `PasswordMessage` carrying `text`.
fn password_message(text: &[u8]) -> Vec<u8> {
    let mut body = text.to_vec();
    body.push(0);
    message(b'p', &body)
}

#[cfg(test)]
mod tests;
