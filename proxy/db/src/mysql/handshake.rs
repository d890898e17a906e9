//! The login phase's messages: the server greeting (HandshakeV10), the client's login
//! (HandshakeResponse41) and the capability flags the gateway lets through.

use super::wire::{put_lenenc, put_lenenc_bytes, put_nul, Reader, WireError};

pub const CLIENT_LONG_PASSWORD: u32 = 1;
pub const CLIENT_CONNECT_WITH_DB: u32 = 1 << 3;
pub const CLIENT_COMPRESS: u32 = 1 << 5;
pub const CLIENT_LOCAL_FILES: u32 = 1 << 7;
pub const CLIENT_PROTOCOL_41: u32 = 1 << 9;
pub const CLIENT_SSL: u32 = 1 << 11;
pub const CLIENT_SECURE_CONNECTION: u32 = 1 << 15;
pub const CLIENT_MULTI_STATEMENTS: u32 = 1 << 16;
pub const CLIENT_MULTI_RESULTS: u32 = 1 << 17;
pub const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
pub const CLIENT_CONNECT_ATTRS: u32 = 1 << 20;
pub const CLIENT_PLUGIN_AUTH_LENENC: u32 = 1 << 21;
pub const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;

/// Capabilities the gateway lets through: everything whose wire format it follows. Left out:
/// compression and TLS (the gateway terminates both sides itself), optional result metadata,
/// zstd, query attributes (they change `COM_QUERY`'s layout), multi-factor login and the
/// capability extension. MariaDB's extended capabilities (bulk execution, metadata caching,
/// progress reports) are all withheld for the same reason.
pub const PASSED_CAPABILITIES: u32 = 0x0001 // LONG_PASSWORD (MariaDB: "CLIENT_MYSQL")
    | 0x0002 // FOUND_ROWS
    | 0x0004 // LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | 0x0010 // NO_SCHEMA
    | 0x0040 // ODBC
    | CLIENT_LOCAL_FILES
    | 0x0100 // IGNORE_SPACE
    | CLIENT_PROTOCOL_41
    | 0x0400 // INTERACTIVE
    | 0x1000 // IGNORE_SIGPIPE
    | 0x2000 // TRANSACTIONS
    | 0x4000 // RESERVED
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | 1 << 18 // PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC
    | 1 << 22 // CAN_HANDLE_EXPIRED_PASSWORDS
    | 1 << 23 // SESSION_TRACK
    | CLIENT_DEPRECATE_EOF
    | 1 << 31; // REMEMBER_OPTIONS

/// Capabilities the gateway cannot do without.
pub const REQUIRED_CAPABILITIES: u32 = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION;

/// The server greeting (protocol version 10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    pub server_version: Vec<u8>,
    pub connection_id: u32,
    /// The scramble (auth plugin data), without the trailing NUL.
    pub scramble: Vec<u8>,
    pub capabilities: u32,
    pub charset: u8,
    pub status: u16,
    pub auth_plugin: Vec<u8>,
}

impl Greeting {
    /// Parses a greeting; an ERR packet (the server refusing the connection, e.g. "too many
    /// connections" or a blocked host) is an error carrying its text.
    pub fn parse(p: &[u8]) -> Result<Greeting, GreetingError> {
        if p.first() == Some(&0xff) {
            let (code, message) = super::wire::parse_err(p);
            return Err(GreetingError::Refused { code, message });
        }
        let mut r = Reader::new(p);
        let version = r.u8("protocol version")?;
        if version != 10 {
            return Err(GreetingError::Version(version));
        }
        let server_version = r.nul("server version")?.to_vec();
        let connection_id = r.u32("connection id")?;
        let mut scramble = r.bytes(8, "scramble")?.to_vec();
        r.u8("filler")?;
        let low = r.u16("capabilities")?;
        let charset = r.u8("charset")?;
        let status = r.u16("status")?;
        let high = r.u16("capabilities")?;
        let capabilities = u32::from(low) | u32::from(high) << 16;
        let data_len = r.u8("auth data length")?;
        r.bytes(10, "reserved")?;
        if capabilities & CLIENT_SECURE_CONNECTION != 0 {
            let n = usize::from(data_len).saturating_sub(8).max(13);
            let part = r.bytes(n.min(r.remaining()), "scramble")?;
            scramble.extend_from_slice(part);
            if scramble.last() == Some(&0) {
                scramble.pop();
            }
        }
        let auth_plugin = if capabilities & CLIENT_PLUGIN_AUTH != 0 {
            r.nul_or_rest().to_vec()
        } else {
            b"mysql_native_password".to_vec()
        };
        Ok(Greeting {
            server_version,
            connection_id,
            scramble,
            capabilities,
            charset,
            status,
            auth_plugin,
        })
    }

    /// The greeting's payload. MariaDB's extended capabilities are sent as none.
    pub fn build(&self) -> Vec<u8> {
        let mut p = vec![10];
        put_nul(&mut p, &self.server_version);
        p.extend_from_slice(&self.connection_id.to_le_bytes());
        let first: Vec<u8> = self
            .scramble
            .iter()
            .copied()
            .chain([0; 8])
            .take(8)
            .collect();
        p.extend_from_slice(&first);
        p.push(0);
        p.extend_from_slice(&(self.capabilities as u16).to_le_bytes());
        p.push(self.charset);
        p.extend_from_slice(&self.status.to_le_bytes());
        p.extend_from_slice(&((self.capabilities >> 16) as u16).to_le_bytes());
        p.push((self.scramble.len() + 1) as u8);
        p.extend_from_slice(&[0; 10]);
        let mut rest: Vec<u8> = self.scramble.iter().copied().skip(8).collect();
        while rest.len() < 12 {
            rest.push(0);
        }
        rest.push(0);
        p.extend_from_slice(&rest);
        put_nul(&mut p, &self.auth_plugin);
        p
    }
}

/// Why a greeting is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GreetingError {
    #[error("the database refused the connection: {message} (error {code})")]
    Refused { code: u16, message: String },
    #[error("the database speaks protocol version {0}, not 10")]
    Version(u8),
    #[error("the database's greeting is malformed: {0}")]
    Wire(#[from] WireError),
}

/// The client's login (HandshakeResponse41), or the first 32 bytes of it that ask for TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    pub user: Vec<u8>,
    pub auth: Vec<u8>,
    pub database: Option<Vec<u8>>,
    pub auth_plugin: Option<Vec<u8>>,
    /// Connection attributes, raw (length-encoded key/value strings).
    pub attributes: Option<Vec<u8>>,
}

impl Response {
    /// Whether a login payload is only a TLS request (32 bytes with `CLIENT_SSL`).
    pub fn is_ssl_request(p: &[u8]) -> bool {
        p.len() == 32 && u32::from_le_bytes([p[0], p[1], p[2], p[3]]) & CLIENT_SSL != 0
    }

    pub fn parse(p: &[u8]) -> Result<Response, WireError> {
        let mut r = Reader::new(p);
        let capabilities = r.u32("client capabilities")?;
        if capabilities & CLIENT_PROTOCOL_41 == 0 {
            return Err(WireError::Malformed("a pre-4.1 client login"));
        }
        let max_packet = r.u32("max packet")?;
        let charset = r.u8("charset")?;
        r.bytes(23, "filler")?;
        let user = r.nul("user name")?.to_vec();
        let auth = if capabilities & CLIENT_PLUGIN_AUTH_LENENC != 0 {
            r.lenenc_bytes("auth response")?.to_vec()
        } else if capabilities & CLIENT_SECURE_CONNECTION != 0 {
            let n = r.u8("auth response length")?;
            r.bytes(usize::from(n), "auth response")?.to_vec()
        } else {
            r.nul("auth response")?.to_vec()
        };
        let database = if capabilities & CLIENT_CONNECT_WITH_DB != 0 && r.remaining() > 0 {
            Some(r.nul_or_rest().to_vec())
        } else {
            None
        };
        let auth_plugin = if capabilities & CLIENT_PLUGIN_AUTH != 0 && r.remaining() > 0 {
            Some(r.nul_or_rest().to_vec())
        } else {
            None
        };
        let attributes = if capabilities & CLIENT_CONNECT_ATTRS != 0 && r.remaining() > 0 {
            Some(r.lenenc_bytes("connection attributes")?.to_vec())
        } else {
            None
        };
        Ok(Response {
            capabilities,
            max_packet,
            charset,
            user,
            auth,
            database: database.filter(|d| !d.is_empty()),
            auth_plugin,
            attributes,
        })
    }

    /// The 32-byte request to switch to TLS that precedes this login (with `CLIENT_SSL`).
    pub fn ssl_request(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(32);
        p.extend_from_slice(&(self.capabilities | CLIENT_SSL).to_le_bytes());
        p.extend_from_slice(&self.max_packet.to_le_bytes());
        p.push(self.charset);
        p.extend_from_slice(&[0; 23]);
        p
    }

    /// The login's payload, with the fields its capabilities call for.
    pub fn build(&self) -> Vec<u8> {
        let mut caps = self.capabilities;
        if self.database.is_some() {
            caps |= CLIENT_CONNECT_WITH_DB;
        } else {
            caps &= !CLIENT_CONNECT_WITH_DB;
        }
        let mut p = Vec::with_capacity(128);
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&self.max_packet.to_le_bytes());
        p.push(self.charset);
        p.extend_from_slice(&[0; 23]);
        put_nul(&mut p, &self.user);
        if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
            put_lenenc_bytes(&mut p, &self.auth);
        } else {
            p.push(self.auth.len() as u8);
            p.extend_from_slice(&self.auth);
        }
        if let Some(db) = &self.database {
            put_nul(&mut p, db);
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            put_nul(&mut p, self.auth_plugin.as_deref().unwrap_or_default());
        }
        if caps & CLIENT_CONNECT_ATTRS != 0 {
            match &self.attributes {
                Some(a) => put_lenenc_bytes(&mut p, a),
                None => put_lenenc(&mut p, 0),
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting() -> Greeting {
        Greeting {
            server_version: b"10.11.19-MariaDB".to_vec(),
            connection_id: 42,
            scramble: (1..=20).collect(),
            capabilities: PASSED_CAPABILITIES,
            charset: 45,
            status: 2,
            auth_plugin: b"mysql_native_password".to_vec(),
        }
    }

    #[test]
    fn a_greeting_round_trips() {
        let g = greeting();
        assert_eq!(Greeting::parse(&g.build()), Ok(g));
    }

    #[test]
    fn a_refusing_server_is_an_error_with_its_words() {
        let p = super::super::wire::err_payload(1040, "08004", "Too many connections");
        let e = Greeting::parse(&p).unwrap_err();
        assert!(e.to_string().contains("Too many connections"), "{e}");
        assert_eq!(Greeting::parse(&[9, 0]), Err(GreetingError::Version(9)));
        assert!(matches!(
            Greeting::parse(&[10, b'x']),
            Err(GreetingError::Wire(_))
        ));
    }

    #[test]
    fn a_login_round_trips_with_and_without_a_database() {
        let mut r = Response {
            capabilities: PASSED_CAPABILITIES,
            max_packet: 1 << 24,
            charset: 45,
            user: b"app".to_vec(),
            auth: vec![7; 20],
            database: Some(b"shop".to_vec()),
            auth_plugin: Some(b"mysql_native_password".to_vec()),
            attributes: Some(vec![3, b'_', b'o', b's', 1, b'x']),
        };
        let parsed = Response::parse(&r.build()).unwrap();
        r.capabilities |= CLIENT_CONNECT_WITH_DB;
        assert_eq!(parsed, r);
        r.database = None;
        let parsed = Response::parse(&r.build()).unwrap();
        r.capabilities &= !CLIENT_CONNECT_WITH_DB;
        assert_eq!(parsed, r);
    }

    #[test]
    fn truncated_logins_are_errors_not_panics() {
        let full = Response {
            capabilities: PASSED_CAPABILITIES,
            user: b"app".to_vec(),
            auth: vec![1; 20],
            ..Response::default()
        }
        .build();
        for n in 0..full.len() {
            let _ = Response::parse(&full[..n]);
        }
        assert!(Response::parse(&full[..10]).is_err());
    }
}
