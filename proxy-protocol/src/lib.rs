//! The PROXY protocol (version 2, binary) that load balancers such as HAProxy (`send-proxy-v2`)
//! put in front of a forwarded connection to say who the client really is. Only connections
//! from configured trusted sources are read this way: from anyone else the header would be a
//! forged address.
//!
//! [`decode`] is a pure function over the bytes received so far; [`read_header`] reads a
//! header from a socket with it. A crate of its own so that the SSH gateway (`proxy`) and the
//! API listener (`ops`), which never depend on each other, share one parser.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;

const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family, length.
const FIXED: usize = 16;
/// Longest address block (with TLVs) accepted.
const MAX_BLOCK: usize = 1024;

/// What a PROXY header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A forwarded connection from `client` (to `server`, the balancer's front address).
    Proxied {
        client: SocketAddr,
        server: SocketAddr,
    },
    /// The balancer's own connection (a health check): use the socket's addresses.
    Local,
}

/// Why a PROXY header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// Not a PROXY v2 header (the source is trusted, so it must send one).
    NotProxy,
    /// A version or command other than v2 PROXY/LOCAL.
    Version(u8),
    /// An address family other than TCP over IPv4/IPv6 (or unspecified with LOCAL).
    Family(u8),
    /// The address block is shorter than its family needs, or longer than accepted.
    Length(usize),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotProxy => write!(
                f,
                "a trusted load balancer's connection did not start with a PROXY v2 header \
                 (configure send-proxy-v2)"
            ),
            Self::Version(v) => write!(f, "unsupported PROXY version/command byte {v:#04x}"),
            Self::Family(v) => write!(f, "unsupported PROXY address family {v:#04x}"),
            Self::Length(n) => write!(f, "PROXY address block of {n} bytes is not acceptable"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Decodes a header from the start of `buf`: `Ok(None)` when more bytes are needed, else the
/// header and how many bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    let sig = buf.len().min(SIGNATURE.len());
    if buf[..sig] != SIGNATURE[..sig] {
        return Err(ProxyError::NotProxy);
    }
    if buf.len() < FIXED {
        return Ok(None);
    }
    let (ver_cmd, family) = (buf[12], buf[13]);
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if len > MAX_BLOCK {
        return Err(ProxyError::Length(len));
    }
    let local = match ver_cmd {
        0x20 => true,
        0x21 => false,
        other => return Err(ProxyError::Version(other)),
    };
    if buf.len() < FIXED + len {
        return Ok(None);
    }
    let block = &buf[FIXED..FIXED + len];
    let taken = FIXED + len;
    if local {
        return Ok(Some((Header::Local, taken)));
    }
    let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    let (client, server) = match family {
        0x11 => {
            if block.len() < 12 {
                return Err(ProxyError::Length(block.len()));
            }
            let ip = |b: &[u8]| IpAddr::from([b[0], b[1], b[2], b[3]]);
            (
                SocketAddr::new(ip(&block[0..4]), port(&block[8..10])),
                SocketAddr::new(ip(&block[4..8]), port(&block[10..12])),
            )
        }
        0x21 => {
            if block.len() < 36 {
                return Err(ProxyError::Length(block.len()));
            }
            let ip = |b: &[u8]| {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                IpAddr::from(a)
            };
            (
                SocketAddr::new(ip(&block[0..16]), port(&block[32..34])),
                SocketAddr::new(ip(&block[16..32]), port(&block[34..36])),
            )
        }
        other => return Err(ProxyError::Family(other)),
    };
    Ok(Some((Header::Proxied { client, server }, taken)))
}

/// Reads a PROXY v2 header from `stream` (exactly its bytes, nothing after it) within
/// `within`, and returns the client's address (`peer` for a LOCAL header).
pub async fn read_header<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    peer: SocketAddr,
    within: Duration,
) -> Result<SocketAddr, ReadError> {
    let read = async {
        let mut buf = vec![0u8; FIXED];
        stream.read_exact(&mut buf).await?;
        let len = match decode(&buf)? {
            Some((h, _)) => return Ok(client_of(h, peer)),
            None => u16::from_be_bytes([buf[14], buf[15]]) as usize,
        };
        buf.resize(FIXED + len, 0);
        stream.read_exact(&mut buf[FIXED..]).await?;
        match decode(&buf)? {
            Some((h, _)) => Ok(client_of(h, peer)),
            None => Err(ReadError::Proxy(ProxyError::Length(len))),
        }
    };
    tokio::time::timeout(within, read)
        .await
        .unwrap_or(Err(ReadError::TimedOut))
}

fn client_of(h: Header, peer: SocketAddr) -> SocketAddr {
    match h {
        Header::Proxied { client, .. } => client,
        Header::Local => peer,
    }
}

/// Why no client address could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    #[error("no PROXY header in time")]
    TimedOut,
}

/// An address range such as `10.0.0.0/8`, `192.0.2.7` or `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parses `ADDRESS[/BITS]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR range"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("'{text}': prefix length must be 0..={max}"))?,
        };
        Ok(Self { net, bits })
    }

    /// Parses a comma-separated list.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Self::parse)
            .collect()
    }

    /// Is `ip` inside the range? (An IPv4-mapped IPv6 address counts as its IPv4 address.)
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                prefix_eq(&n.octets(), &a.octets(), self.bits as usize)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(&n.octets(), &a.octets(), self.bits as usize)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: usize) -> bool {
    let (whole, rest) = (bits / 8, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_header(client: [u8; 4], cport: u16, server: [u8; 4], sport: u16) -> Vec<u8> {
        let mut h = SIGNATURE.to_vec();
        h.extend([0x21, 0x11, 0, 12]);
        h.extend(client);
        h.extend(server);
        h.extend(cport.to_be_bytes());
        h.extend(sport.to_be_bytes());
        h
    }

    #[test]
    fn decodes_ipv4_ipv6_and_local_headers_and_leaves_what_follows() {
        let mut bytes = v4_header([203, 0, 113, 9], 50123, [10, 0, 0, 1], 60022);
        let header_len = bytes.len();
        bytes.extend(b"SSH-2.0-OpenSSH_9.2\r\n");
        let (h, n) = decode(&bytes).unwrap().unwrap();
        assert_eq!(n, header_len);
        assert_eq!(
            h,
            Header::Proxied {
                client: "203.0.113.9:50123".parse().unwrap(),
                server: "10.0.0.1:60022".parse().unwrap(),
            }
        );

        let mut v6 = SIGNATURE.to_vec();
        v6.extend([0x21, 0x21, 0, 36]);
        let c: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
        let s: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        v6.extend(c.octets());
        v6.extend(s.octets());
        v6.extend(4000u16.to_be_bytes());
        v6.extend(22u16.to_be_bytes());
        let (h, _) = decode(&v6).unwrap().unwrap();
        assert!(
            matches!(h, Header::Proxied { client, .. } if client == "[2001:db8::7]:4000".parse().unwrap())
        );

        let mut local = SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(decode(&local).unwrap(), Some((Header::Local, 16)));
    }

    #[test]
    fn asks_for_more_bytes_until_the_header_is_complete() {
        let bytes = v4_header([1, 2, 3, 4], 1, [5, 6, 7, 8], 2);
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(decode(&bytes).unwrap().is_some());
    }

    #[test]
    fn refuses_what_is_not_a_v2_proxy_header() {
        assert_eq!(decode(b"SSH-2.0-OpenSSH"), Err(ProxyError::NotProxy));
        assert_eq!(decode(b"PROXY TCP4 1.2.3.4"), Err(ProxyError::NotProxy));
        let mut h = v4_header([1, 2, 3, 4], 1, [5, 6, 7, 8], 2);
        h[12] = 0x11;
        assert_eq!(decode(&h), Err(ProxyError::Version(0x11)));
        let mut h = v4_header([1, 2, 3, 4], 1, [5, 6, 7, 8], 2);
        h[13] = 0x31;
        assert_eq!(decode(&h), Err(ProxyError::Family(0x31)));
        let mut h = v4_header([1, 2, 3, 4], 1, [5, 6, 7, 8], 2);
        h[15] = 4;
        h.truncate(20);
        assert_eq!(decode(&h), Err(ProxyError::Length(4)));
        let mut h = SIGNATURE.to_vec();
        h.extend([0x21, 0x11, 0xff, 0xff]);
        assert_eq!(decode(&h), Err(ProxyError::Length(0xffff)));
    }

    #[tokio::test]
    async fn reads_exactly_the_header_from_a_stream() {
        let mut bytes = v4_header([198, 51, 100, 4], 7, [10, 0, 0, 1], 22);
        bytes.extend(b"rest");
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut r = &bytes[..];
        let client = read_header(&mut r, peer, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(client, "198.51.100.4:7".parse().unwrap());
        assert_eq!(r, b"rest");
    }

    #[test]
    fn cidr_ranges() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let odd = Cidr::parse("192.168.4.0/22").unwrap();
        assert!(odd.contains("192.168.7.255".parse().unwrap()));
        assert!(!odd.contains("192.168.8.0".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("ten").is_err());
        assert_eq!(Cidr::parse_list("10.0.0.0/8, 127.0.0.1").unwrap().len(), 2);
    }
}
