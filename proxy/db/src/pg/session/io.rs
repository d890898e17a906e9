//! The reading side of a connection: a stream with a read buffer, read message by message
//! during the login and for client requests, and as buffered bytes for the target's answers.

use super::super::wire::{header, WireError, MAX_STARTUP};
use super::SessionError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes asked for per read. Large: when the node is scheduled less often than the database
/// sends (a big result), one read takes everything waiting; at 64 KiB the PostgreSQL bulk
/// transfer cost 0.70 CPU-s/GiB against 0.46 at 256 KiB (`portunus-bench db`). Untouched
/// capacity costs idle sessions no resident memory.
const READ: usize = 256 * 1024;

pub(super) struct Side<R> {
    io: R,
    buf: Vec<u8>,
    start: usize,
}

impl<R: AsyncRead + Unpin> Side<R> {
    pub(super) fn new(io: R) -> Self {
        Side {
            io,
            buf: Vec::with_capacity(READ),
            start: 0,
        }
    }

    /// A side whose first bytes were already read (`buffered`).
    pub(super) fn with_buffered(io: R, buffered: Vec<u8>) -> Self {
        let mut side = Side::new(io);
        side.buf.extend_from_slice(&buffered);
        side
    }

    /// The stream, for writing to it.
    pub(super) fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// The stream and the bytes read from it and not yet consumed.
    pub(super) fn into_parts(self) -> (R, Vec<u8>) {
        let rest = self.buffered().to_vec();
        (self.io, rest)
    }

    pub(super) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes; 0 at end of stream. Cancel-safe (the relay selects on it): nothing
    /// is added to the buffer unless the read completes.
    pub(super) async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start > 0 && self.buf.len() + READ > self.buf.capacity() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(READ);
        self.io.read_buf(&mut self.buf).await
    }

    /// Whether `n` bytes are buffered (reading as needed); false at a clean end of stream.
    async fn need(&mut self, n: usize) -> Result<bool, SessionError> {
        while self.buffered().len() < n {
            if self.fill().await? == 0 {
                if self.buffered().is_empty() {
                    return Ok(false);
                }
                return Err(WireError::Truncated("the connection ended inside a message").into());
            }
        }
        Ok(true)
    }

    /// The client's first message (no type byte): its body after the length.
    pub(super) async fn read_startup(&mut self) -> Result<Option<Vec<u8>>, SessionError> {
        if !self.need(4).await? {
            return Ok(None);
        }
        let h = self.buffered();
        let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if !(8..=MAX_STARTUP).contains(&len) {
            return Err(WireError::Malformed("a startup packet length").into());
        }
        if !self.need(len).await? {
            return Err(WireError::Truncated("the startup packet").into());
        }
        let body = self.buffered()[4..len].to_vec();
        self.consume(len);
        Ok(Some(body))
    }

    /// Whether a whole typed message is buffered (reading it would not wait).
    pub(super) fn has_message(&self) -> bool {
        match header(self.buffered()) {
            Some(Ok((_, len))) => self.buffered().len() >= 5 + len,
            Some(Err(_)) => true,
            None => false,
        }
    }

    /// One typed message: its tag and body; None at a clean end of stream.
    pub(super) async fn read_message(
        &mut self,
        max: usize,
    ) -> Result<Option<(u8, Vec<u8>)>, SessionError> {
        if !self.need(5).await? {
            return Ok(None);
        }
        let Some(h) = header(self.buffered()) else {
            return Err(WireError::Truncated("a message header").into());
        };
        let (tag, len) = h?;
        if len > max {
            return Err(SessionError::Client(format!(
                "sent a message over the bastion's limit of {max} bytes"
            )));
        }
        if !self.need(5 + len).await? {
            return Err(WireError::Truncated("a message").into());
        }
        let body = self.buffered()[5..5 + len].to_vec();
        self.consume(5 + len);
        Ok(Some((tag, body)))
    }
}

/// Writes `bytes` and flushes them.
pub(super) async fn send<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}
