//! The target-to-client direction of a session after the login, when the caller can move its
//! bytes without copying them through the session (the native ports with plain TCP on both
//! legs: splice(2) into a pipe, tee(2) for the copy the session scans, splice(2) out). The
//! session still sees every byte, to find where answers end and what they said, and decides
//! how far the client gets them; it writes its own packets (refusals) to the client itself,
//! only between answers it has passed in full.
//!
//! Without a passage the session reads the target and writes the client in user space; both
//! ways give the client the same bytes.

use std::future::Future;
use std::io;
use std::pin::Pin;

/// A future a passage returns.
pub type PassageFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// The target's bytes on their way to the client, outside the session.
pub trait Passage: Send {
    /// Waits for the target's next bytes and appends a copy of them to `buf`; `Ok(0)` at the
    /// end of the target's stream. Called only when every byte it appended before has been
    /// passed. Cancel-safe: a cancelled fill takes nothing from the target.
    fn fill<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> PassageFuture<'a, usize>;

    /// Delivers to the client the next `n` bytes the target sent (in the order `fill` copied
    /// them), waiting while the client does not take them.
    fn pass(&mut self, n: usize) -> PassageFuture<'_, ()>;
}
