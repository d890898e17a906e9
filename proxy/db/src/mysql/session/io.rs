//! One side of a session: a stream with a read buffer, read packet by packet during the login
//! and for requests, and byte by byte (as buffered) for answers.

use super::super::wire::{frame, header, WireError, MAX_PAYLOAD};
use super::SessionError;
use crate::gather::{batched, Batching, Gather};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const READ: usize = 64 * 1024;

pub(super) struct Side<S> {
    io: S,
    buf: Vec<u8>,
    start: usize,
    /// Batched wakeups in large answers (the target side, when it is a socket).
    batching: Batching,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Side<S> {
    pub(super) fn new(io: S) -> Self {
        Side {
            io,
            buf: Vec::with_capacity(READ),
            start: 0,
            batching: Batching::default(),
        }
    }

    /// A side whose reads in large answers are batched through `gather`.
    pub(super) fn gathered(io: S, gather: Option<Box<dyn Gather>>) -> Self {
        Side {
            batching: Batching::new(gather),
            ..Side::new(io)
        }
    }

    /// The stream itself (to switch it to TLS: only with nothing buffered).
    pub(super) fn io_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// The stream and the bytes read from it and not consumed.
    pub(super) fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buffered().to_vec();
        (self.io, rest)
    }

    /// Bytes read and not yet consumed.
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

    /// Reads more bytes; 0 at end of stream. Reads into the buffer's spare capacity, as the
    /// PostgreSQL side does: zeroing 64 KiB before every read cost the relay about a tenth of
    /// its CPU (`portunus-bench db`), and touched memory that idle sessions then kept.
    pub(super) async fn fill(&mut self) -> std::io::Result<usize> {
        fill(&mut self.io, &mut self.buf, &mut self.start).await
    }

    /// Reads more of an answer `answered` bytes long so far; 0 at end of stream. In a large
    /// answer the read waits for a batch ([`crate::gather`]).
    pub(super) async fn fill_answer(&mut self, answered: usize) -> std::io::Result<usize> {
        let Side {
            io,
            buf,
            start,
            batching,
        } = self;
        batched!(batching, answered, fill(io, buf, start))
    }

    /// The target side's batching, for reads that do not go through this side (a passage).
    pub(super) fn batching(&mut self) -> &mut Batching {
        &mut self.batching
    }

    async fn need(&mut self, n: usize) -> Result<bool, SessionError> {
        while self.buffered().len() < n {
            if self.fill().await? == 0 {
                if self.buffered().is_empty() {
                    return Ok(false);
                }
                return Err(WireError::Truncated("the connection ended inside a packet").into());
            }
        }
        Ok(true)
    }

    /// One logical packet (continuations joined): its first sequence number and payload;
    /// None at a clean end of stream. A payload over `max` is an error.
    pub(super) async fn read_packet(
        &mut self,
        max: usize,
    ) -> Result<Option<(u8, Vec<u8>)>, SessionError> {
        let mut payload = Vec::new();
        let mut first_seq = None;
        loop {
            if !self.need(4).await? {
                if first_seq.is_none() {
                    return Ok(None);
                }
                return Err(WireError::Truncated("the connection ended inside a packet").into());
            }
            let h = self.buffered();
            let (len, seq) = header([h[0], h[1], h[2], h[3]]);
            if payload.len() + len > max {
                return Err(SessionError::Client(format!(
                    "sent a packet over the bastion's limit of {max} bytes"
                )));
            }
            if !self.need(4 + len).await? {
                return Err(WireError::Truncated("the connection ended inside a packet").into());
            }
            payload.extend_from_slice(&self.buffered()[4..4 + len]);
            self.consume(4 + len);
            first_seq.get_or_insert(seq);
            if len < MAX_PAYLOAD {
                return Ok(first_seq.map(|s| (s, payload)));
            }
        }
    }

    /// Writes `payload` framed from sequence `seq`; returns the next sequence number.
    pub(super) async fn write_packet(&mut self, payload: &[u8], seq: u8) -> std::io::Result<u8> {
        let (bytes, next) = frame(payload, seq);
        self.io.write_all(&bytes).await?;
        self.io.flush().await?;
        Ok(next)
    }

    pub(super) async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }
}

/// [`Side::fill`] on a side's parts.
async fn fill<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    start: &mut usize,
) -> std::io::Result<usize> {
    if *start > 0 && buf.len() + READ > buf.capacity() {
        buf.drain(..*start);
        *start = 0;
    }
    buf.reserve(READ);
    io.read_buf(buf).await
}
