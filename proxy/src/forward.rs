//! Plain-TCP forwarding: the one place where the bytes of a raw TCP leg are moved.
//!
//! [`forward`] relays two connected [`TcpStream`]s until both directions end, either with the
//! zero-copy splice(2) path (Linux: socket -> pipe -> socket, no copy into user space) or with a
//! bounded user-space copy. Semantics are identical on both paths:
//!
//! - **Half-close.** When one side reaches EOF the relay shuts down writing on the other side
//!   and keeps the opposite direction flowing until it ends too.
//! - **Errors end both.** An I/O error in either direction (a reset, a broken pipe) ends the
//!   whole relay; both sockets are then closed with `SO_LINGER = 0` so that the peers see a
//!   reset rather than a clean EOF.
//! - **Backpressure.** Each direction holds at most one buffer (256 KiB for copy, one pipe of
//!   about 1 MiB for splice); nothing is read while that buffer is not drained.
//! - **No timeouts.** An idle leg stays open forever; idle limits belong to the caller.

mod copy;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // The only `unsafe` in Portunus; invariants in `forward/splice.rs`.
mod splice;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

/// The target-to-client direction of a database session on a native port, moved by splice(2)
/// with a tee(2) copy for the session to scan ([`portunus_db::passage`]); `client` and `target`
/// are the session's sockets (duplicated descriptors, registered here on their own), and
/// `delivered` counts the bytes the client got. Fails where splice cannot be used.
#[cfg(target_os = "linux")]
pub fn db_passage(
    target: std::os::fd::OwnedFd,
    client: std::os::fd::OwnedFd,
    delivered: &AtomicU64,
) -> io::Result<Box<dyn portunus_db::passage::Passage + '_>> {
    let adopt = |fd: std::os::fd::OwnedFd| {
        let std = std::net::TcpStream::from(fd);
        std.set_nonblocking(true)?;
        TcpStream::from_std(std)
    };
    let passage = splice::Passage::new(adopt(target)?, adopt(client)?, delivered)?;
    Ok(Box::new(passage))
}

/// Batched read wakeups in a database session's large answers, on the target's socket (a
/// duplicated descriptor); None where the socket option is not available.
pub fn db_gather(target: std::os::fd::OwnedFd) -> Option<Box<dyn portunus_db::gather::Gather>> {
    #[cfg(target_os = "linux")]
    {
        Some(Box::new(splice::LowWater(target)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        drop(target);
        None
    }
}

/// Without splice(2) there is no passage: the session copies.
#[cfg(not(target_os = "linux"))]
pub fn db_passage(
    _target: std::os::fd::OwnedFd,
    _client: std::os::fd::OwnedFd,
    _delivered: &AtomicU64,
) -> io::Result<Box<dyn portunus_db::passage::Passage + '_>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "splice(2) is only available on Linux",
    ))
}

/// Which path [`forward`] should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMode {
    /// splice(2) where supported; the copy path if splice is unavailable or refused at start
    /// (`EINVAL`/`ENOSYS` before any byte moved).
    #[default]
    Auto,
    /// splice(2) only; fails with [`io::ErrorKind::Unsupported`] where it cannot be used.
    Splice,
    /// User-space copy with 256 KiB buffers.
    Copy,
}

impl fmt::Display for ForwardMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Splice => "splice",
            Self::Copy => "copy",
        })
    }
}

impl FromStr for ForwardMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "splice" => Ok(Self::Splice),
            "copy" => Ok(Self::Copy),
            other => Err(format!(
                "unknown forward mode {other:?} (auto, splice, copy)"
            )),
        }
    }
}

/// The path a finished [`forward`] actually used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardPath {
    /// Zero-copy socket -> pipe -> socket.
    Splice,
    /// User-space copy.
    Copy,
}

/// Live byte counters, updated as data is delivered; share one via [`Arc`] with metrics.
///
/// Several forwards may share one `Counters` (for example every connection of a relay).
#[derive(Debug, Default)]
pub struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

impl Counters {
    /// Fresh zeroed counters, ready to share.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Bytes delivered client -> server so far.
    pub fn up(&self) -> u64 {
        self.up.load(Ordering::Relaxed)
    }

    /// Bytes delivered server -> client so far.
    pub fn down(&self) -> u64 {
        self.down.load(Ordering::Relaxed)
    }

    fn counter(&self, dir: Direction) -> &AtomicU64 {
        match dir {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        }
    }
}

/// What one finished [`forward`] moved, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardStats {
    /// Bytes delivered client -> server.
    pub up: u64,
    /// Bytes delivered server -> client.
    pub down: u64,
    /// The path that carried them.
    pub path: ForwardPath,
}

/// One direction of a leg, named from the client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client -> server.
    Up,
    /// Server -> client.
    Down,
}

/// Relays `client` <-> `server` until both directions have ended (see the module docs).
///
/// Bytes are added to `counters` as they are delivered. On success returns the bytes moved each
/// way and the path used; on error both sockets are reset and the first error is returned.
pub async fn forward(
    client: TcpStream,
    server: TcpStream,
    mode: ForwardMode,
    counters: Arc<Counters>,
) -> io::Result<ForwardStats> {
    let result = run(&client, &server, mode, &counters).await;
    if let Err(err) = &result {
        tracing::debug!(error = %err, "forward ended with an error; resetting both sides");
        reset_on_close(&client);
        reset_on_close(&server);
    }
    result
}

async fn run(
    client: &TcpStream,
    server: &TcpStream,
    mode: ForwardMode,
    counters: &Counters,
) -> io::Result<ForwardStats> {
    match mode {
        ForwardMode::Copy => copy::forward(client, server, counters).await,
        ForwardMode::Splice => splice_forward(client, server, counters).await,
        ForwardMode::Auto => match splice_forward(client, server, counters).await {
            Err(err) if err.kind() == io::ErrorKind::Unsupported => {
                tracing::debug!(error = %err, "splice unavailable; falling back to copy");
                copy::forward(client, server, counters).await
            }
            other => other,
        },
    }
}

/// The splice path; an [`io::ErrorKind::Unsupported`] error means nothing was moved yet.
#[cfg(target_os = "linux")]
async fn splice_forward(
    client: &TcpStream,
    server: &TcpStream,
    counters: &Counters,
) -> io::Result<ForwardStats> {
    splice::forward(client, server, counters).await
}

#[cfg(not(target_os = "linux"))]
async fn splice_forward(
    _client: &TcpStream,
    _server: &TcpStream,
    _counters: &Counters,
) -> io::Result<ForwardStats> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "splice(2) is only available on Linux",
    ))
}

/// Shuts down the write side of `dst` after its direction hit EOF.
///
/// A peer that is already gone (`ENOTCONN`) is not an error: the other direction reports it.
fn shutdown_write(dst: &TcpStream) -> io::Result<()> {
    match socket2::SockRef::from(dst).shutdown(std::net::Shutdown::Write) {
        Err(err) if err.kind() != io::ErrorKind::NotConnected => Err(err),
        _ => Ok(()),
    }
}

/// Makes the coming close of `stream` send a reset, so the peer learns the leg failed.
fn reset_on_close(stream: &TcpStream) {
    if let Err(err) = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        tracing::debug!(error = %err, "could not set SO_LINGER=0");
    }
}
