//! TLS to the database: when a target offers it (MySQL's `CLIENT_SSL` in the greeting,
//! PostgreSQL's `S` to an SSLRequest) the gateway switches its connection to TLS before the
//! login, so the hosted password and every statement travel encrypted on that leg too. The
//! handshake itself is the caller's (`Connector`): this crate only says when to make it.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A byte stream the session can own behind a box.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + ?Sized> Io for T {}

/// A boxed stream living at most as long as `'a`.
pub type BoxIo<'a> = Box<dyn Io + 'a>;

/// The TLS handshake in progress.
pub type Handshake<'a> = Pin<Box<dyn Future<Output = io::Result<BoxIo<'a>>> + Send + 'a>>;

/// Makes the client side of a TLS handshake over a connection to the target (the future owns
/// what it needs: it does not borrow the connector).
pub trait Connector: Send + Sync {
    fn connect<'a>(&self, io: BoxIo<'a>) -> Handshake<'a>;
}

/// How a session treats TLS to its target.
#[derive(Clone)]
pub struct TargetTls {
    /// Makes the handshake (and checks the certificate as configured).
    pub connector: Arc<dyn Connector>,
    /// Whether a target that does not offer TLS is refused instead of used in the clear.
    pub required: bool,
}

impl fmt::Debug for TargetTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TargetTls")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

/// What the engineer reads when the target offers no TLS and TLS is required.
pub const NOT_OFFERED: &str =
    "the database does not offer TLS, and the bastion is set to require it for database targets";

/// The connection to the target: as connected, or switched to TLS.
pub enum Target<'a, T> {
    Plain(T),
    Tls(BoxIo<'a>),
    /// Between the two (a failed handshake leaves it so): every operation fails.
    Switching,
}

impl<'a, T: Io + 'a> Target<'a, T> {
    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Target::Tls(_))
    }

    /// Switches a plain connection to TLS with `connector`.
    pub async fn switch(&mut self, connector: &dyn Connector) -> io::Result<()> {
        let Target::Plain(io) = std::mem::replace(self, Target::Switching) else {
            return Err(io::Error::other(
                "the connection to the database is not plain",
            ));
        };
        *self = Target::Tls(connector.connect(Box::new(io)).await?);
        Ok(())
    }
}

fn switching() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the TLS handshake with the database failed",
    )
}

impl<'a, T: AsyncRead + Unpin> AsyncRead for Target<'a, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Target::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Target::Tls(io) => Pin::new(io).poll_read(cx, buf),
            Target::Switching => Poll::Ready(Err(switching())),
        }
    }
}

impl<'a, T: AsyncWrite + Unpin> AsyncWrite for Target<'a, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Target::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Target::Tls(io) => Pin::new(io).poll_write(cx, buf),
            Target::Switching => Poll::Ready(Err(switching())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Target::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Target::Tls(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Target::Switching => Poll::Ready(Err(switching())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Target::Plain(io) => io.is_write_vectored(),
            Target::Tls(io) => io.is_write_vectored(),
            Target::Switching => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Target::Plain(io) => Pin::new(io).poll_flush(cx),
            Target::Tls(io) => Pin::new(io).poll_flush(cx),
            Target::Switching => Poll::Ready(Err(switching())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Target::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Target::Tls(io) => Pin::new(io).poll_shutdown(cx),
            Target::Switching => Poll::Ready(Ok(())),
        }
    }
}
