//! The zero-copy forwarding path (Linux): socket -> non-blocking pipe -> socket with splice(2),
//! driven by tokio readiness. This is the only module of Portunus allowed to use `unsafe`.
//!
//! # Safety
//!
//! The `unsafe` here is confined to a few libc calls (`pipe2`, `fcntl`, `splice`, `tee`, `read`
//! into a vector's spare capacity, `setsockopt(SO_RCVLOWAT)`, and adopting the fds `pipe2`
//! returns), each wrapped in a safe function of this file. The invariants:
//!
//! - **Ownership.** The two fds returned by a successful `pipe2` are wrapped at once in
//!   [`OwnedFd`]s held by a [`Pipe`]; nothing else ever holds them, so they are closed exactly
//!   once, when the `Pipe` is dropped (also on error and cancellation paths). A failed `pipe2`
//!   returns no fds and nothing is adopted. A [`LowWater`] owns its socket's duplicated fd
//!   the same way.
//! - **Lifetimes.** Every fd passed to `splice`/`fcntl` comes from a [`BorrowedFd`] (a borrowed
//!   `TcpStream` or a borrowed `Pipe`), so it stays open for the whole call; no raw fd is stored.
//! - **No aliasing, little memory.** `splice` is called with null offsets (required for pipes
//!   and sockets) and, like `tee`, touches no user memory; `fcntl(F_SETPIPE_SZ/F_GETPIPE_SZ)`
//!   and `setsockopt(SO_RCVLOWAT)` take an integer (the latter by pointer to a local the call
//!   only reads). The kernel writes user memory only into `pipe2`'s two-int array (a local
//!   owned by the call) and, for `read`, into a vector's reserved spare capacity, borrowed
//!   mutably for the call; the vector's length then grows by exactly what `read` returned.
//! - **Concurrency.** Each direction owns its own `Pipe`; sockets are only shared as `&TcpStream`,
//!   whose reads and writes the kernel serialises. Readiness bookkeeping is tokio's.
//!
//! # EAGAIN
//!
//! `EAGAIN` from splice means "no data" *or* "pipe full". Each direction therefore only splices
//! *into* its pipe when the pipe is empty, where `EAGAIN` can only mean the socket has no data
//! and clearing its read readiness is correct; and only splices *out* while the pipe holds data,
//! where `EAGAIN` can only mean the destination's send buffer is full. The pipe is drained to
//! the destination before the destination's write side is shut down.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::{shutdown_write, Counters, Direction, ForwardPath, ForwardStats};

/// Pipe size asked of `F_SETPIPE_SZ`; the default `fs.pipe-max-size` allows it unprivileged.
pub(super) const PIPE_SIZE: usize = 1024 * 1024;

/// Relays both directions with splice; see the parent module for the semantics.
///
/// Fails with [`io::ErrorKind::Unsupported`] only if splice is refused before any byte moved.
pub(super) async fn forward(
    client: &TcpStream,
    server: &TcpStream,
    counters: &Counters,
) -> io::Result<ForwardStats> {
    let started = AtomicBool::new(false);
    let up = Pump::new(client, server, counters, Direction::Up, &started)?;
    let down = Pump::new(server, client, counters, Direction::Down, &started)?;
    let (up, down) = tokio::try_join!(up.run(), down.run())?;
    Ok(ForwardStats {
        up,
        down,
        path: ForwardPath::Splice,
    })
}

/// One direction: `src` -> `pipe` -> `dst`.
struct Pump<'a> {
    src: &'a TcpStream,
    dst: &'a TcpStream,
    pipe: Pipe,
    /// Bytes spliced into the pipe and not yet out of it.
    in_pipe: usize,
    /// Bytes delivered to `dst`.
    moved: u64,
    counters: &'a Counters,
    dir: Direction,
    /// Set once either direction has spliced a byte: from then on, no fallback to copy.
    started: &'a AtomicBool,
}

impl<'a> Pump<'a> {
    fn new(
        src: &'a TcpStream,
        dst: &'a TcpStream,
        counters: &'a Counters,
        dir: Direction,
        started: &'a AtomicBool,
    ) -> io::Result<Self> {
        let pipe = Pipe::new(PIPE_SIZE).map_err(unsupported_if_refused)?;
        Ok(Self {
            src,
            dst,
            pipe,
            in_pipe: 0,
            moved: 0,
            counters,
            dir,
            started,
        })
    }

    /// Moves data until `src` reaches EOF and the pipe is empty, then shuts `dst` for writing.
    async fn run(mut self) -> io::Result<u64> {
        loop {
            if self.fill().await? == 0 {
                shutdown_write(self.dst)?;
                return Ok(self.moved);
            }
            self.drain().await?;
        }
    }

    /// Waits for data and splices one batch into the (empty) pipe; `Ok(0)` is EOF.
    async fn fill(&mut self) -> io::Result<usize> {
        debug_assert_eq!(self.in_pipe, 0, "fill only runs on an empty pipe");
        let (src, pipe) = (self.src, &self.pipe);
        loop {
            src.readable().await?;
            // The pipe is empty, so EAGAIN means "no data": clearing read readiness is right.
            match src.try_io(Interest::READABLE, || {
                splice(src.as_fd(), pipe.write.as_fd(), pipe.capacity)
            }) {
                Ok(n) => {
                    self.in_pipe = n;
                    self.started.store(true, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) if !self.started.load(Ordering::Relaxed) => {
                    return Err(unsupported_if_refused(err))
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Splices everything in the pipe out to `dst`, waiting whenever `dst` is full.
    async fn drain(&mut self) -> io::Result<()> {
        let (dst, pipe) = (self.dst, &self.pipe);
        let counter = self.counters.counter(self.dir);
        while self.in_pipe > 0 {
            dst.writable().await?;
            // The pipe holds data, so EAGAIN means "dst full": clearing write readiness is right.
            match dst.try_io(Interest::WRITABLE, || {
                splice(pipe.read.as_fd(), dst.as_fd(), self.in_pipe)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.in_pipe -= n;
                    self.moved += n as u64;
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

/// Maps "this kernel or these fds do not do splice" to [`io::ErrorKind::Unsupported`].
fn unsupported_if_refused(err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => {
            io::Error::new(io::ErrorKind::Unsupported, err)
        }
        _ => err,
    }
}

/// A non-blocking pipe whose two ends are closed when it is dropped.
struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    /// Bytes the pipe holds at most (as reported by the kernel).
    capacity: usize,
}

impl Pipe {
    /// Creates a pipe and tries to size it to `want` bytes, keeping the default size silently
    /// if the kernel refuses (for example past `fs.pipe-user-pages-soft`).
    fn new(want: usize) -> io::Result<Self> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a writable array of two c_ints, exactly what pipe2 fills in.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both fds are open and owned by no one else; each is
        // adopted exactly once and will be closed exactly once by its OwnedFd.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let capacity = set_pipe_size(write.as_fd(), want);
        Ok(Self {
            read,
            write,
            capacity,
        })
    }
}

/// Asks for a `want`-byte pipe; returns the size the pipe actually has.
fn set_pipe_size(fd: BorrowedFd<'_>, want: usize) -> usize {
    let want = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
    // SAFETY: fcntl on a borrowed (open) fd; F_SETPIPE_SZ takes an int and touches no memory.
    let set = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
    if set > 0 {
        return set as usize;
    }
    // SAFETY: as above; F_GETPIPE_SZ takes no argument.
    let got = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    if got > 0 {
        got as usize
    } else {
        4096
    }
}

/// One non-blocking splice(2) of at most `len` bytes from `from` to `to`.
fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: both fds are borrowed and so open for the call; null offsets are required for
    // pipes and sockets; splice reads and writes no user memory.
    let n = unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Pipe size of a database passage (each of its two pipes): a quarter of a forward's, as a
/// session keeps its pipes for its whole life, and the size the session reads at once.
const PASSAGE_PIPE_SIZE: usize = 256 * 1024;

/// Below this a passage is not worth its system calls: the session copies.
const MIN_PASSAGE_PIPE: usize = 64 * 1024;

/// The target-to-client direction of a database session on a native port (see
/// [`portunus_db::passage`]): target -> `data` pipe -> client by splice(2), with tee(2)
/// duplicating each batch into `peek`, from which the session reads the copy it scans. The
/// client gets the bytes from `data`, never through user space.
///
/// Each batch is spliced into an empty `data` pipe (so `EAGAIN` there means "no data") and
/// teed whole into an empty `peek` pipe of the same size, which then holds exactly the batch
/// and is read empty at once: tee never consumes, so a partial tee could not be completed,
/// and two pipes of equal size make it whole.
pub(super) struct Passage<'a> {
    from: TcpStream,
    to: TcpStream,
    data: Pipe,
    peek: Pipe,
    /// Bytes in `data` not yet delivered to `to`.
    in_pipe: usize,
    /// Bytes delivered to `to`, added as they go.
    delivered: &'a std::sync::atomic::AtomicU64,
}

impl<'a> Passage<'a> {
    /// A passage from `target` to `client` (each its own registration of the session's
    /// sockets: duplicated descriptors).
    pub(super) fn new(
        target: TcpStream,
        client: TcpStream,
        delivered: &'a std::sync::atomic::AtomicU64,
    ) -> io::Result<Self> {
        let data = Pipe::new(PASSAGE_PIPE_SIZE)?;
        let peek = Pipe::new(PASSAGE_PIPE_SIZE)?;
        if data.capacity != peek.capacity {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel sized the passage's two pipes differently",
            ));
        }
        // Past `fs.pipe-user-pages-soft` an unprivileged user's new pipes get two pages: four
        // system calls per 8 KiB would cost more than the copy they save.
        if data.capacity < MIN_PASSAGE_PIPE {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "pipes of {} bytes only (fs.pipe-user-pages-soft reached?)",
                    data.capacity
                ),
            ));
        }
        Ok(Passage {
            from: target,
            to: client,
            data,
            peek,
            in_pipe: 0,
            delivered,
        })
    }

    async fn fill(&mut self, copy: &mut Vec<u8>) -> io::Result<usize> {
        if self.in_pipe != 0 {
            return Err(io::Error::other(
                "the session read more before passing what it had",
            ));
        }
        let (src, data) = (&self.from, &self.data);
        let n = loop {
            src.readable().await?;
            // `data` is empty, so EAGAIN means "no data": clearing read readiness is right.
            match src.try_io(Interest::READABLE, || {
                splice(src.as_fd(), data.write.as_fd(), data.capacity)
            }) {
                Ok(n) => break n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        };
        if n == 0 {
            return Ok(0);
        }
        self.in_pipe = n;
        // From here on nothing awaits: a cancelled fill never took a batch half-way.
        let teed = tee(self.data.read.as_fd(), self.peek.write.as_fd(), n)?;
        if teed != n {
            return Err(io::Error::other(format!(
                "tee(2) duplicated {teed} of {n} bytes"
            )));
        }
        let mut got = 0;
        while got < n {
            match read_into(self.peek.read.as_fd(), copy, n - got)? {
                0 => return Err(io::Error::other("the passage's copy ended early")),
                k => got += k,
            }
        }
        Ok(n)
    }

    async fn pass(&mut self, n: usize) -> io::Result<()> {
        if n > self.in_pipe {
            return Err(io::Error::other(
                "the session passed more than the passage holds",
            ));
        }
        let (dst, data) = (&self.to, &self.data);
        let mut left = n;
        while left > 0 {
            dst.writable().await?;
            // `data` holds bytes, so EAGAIN means "dst full": clearing write readiness is right.
            match dst.try_io(Interest::WRITABLE, || {
                splice(data.read.as_fd(), dst.as_fd(), left)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    left -= k;
                    self.in_pipe -= k;
                    self.delivered.fetch_add(k as u64, Ordering::Relaxed);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

impl portunus_db::passage::Passage for Passage<'_> {
    fn fill<'b>(
        &'b mut self,
        copy: &'b mut Vec<u8>,
    ) -> portunus_db::passage::PassageFuture<'b, usize> {
        Box::pin(Passage::fill(self, copy))
    }

    fn pass(&mut self, n: usize) -> portunus_db::passage::PassageFuture<'_, ()> {
        Box::pin(Passage::pass(self, n))
    }
}

/// One non-blocking tee(2): duplicates up to `len` bytes at the head of pipe `from` into pipe
/// `to` without consuming them.
fn tee(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: both fds are borrowed pipe ends, open for the call; tee touches no user memory.
    let n = unsafe {
        libc::tee(
            from.as_raw_fd(),
            to.as_raw_fd(),
            len,
            libc::SPLICE_F_NONBLOCK,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// One read(2) of at most `len` bytes from `fd` appended to `buf` (into its spare capacity,
/// which is not zeroed first); the bytes read.
fn read_into(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, len: usize) -> io::Result<usize> {
    buf.reserve(len);
    let spare = buf.spare_capacity_mut();
    // SAFETY: `spare` is writable memory of at least `len` bytes owned by `buf` (reserved
    // above), borrowed mutably for the call; the fd is borrowed and open.
    let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), len) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: read(2) initialised the first `n` bytes of the spare capacity (n <= len).
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// A database target's socket (its own duplicated descriptor) whose read wakeups a session
/// batches in large answers ([`portunus_db::gather`]).
pub(super) struct LowWater(pub(super) OwnedFd);

impl portunus_db::gather::Gather for LowWater {
    fn low_water(&self, bytes: usize) -> io::Result<()> {
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt on an owned (open) fd; the option value is a local int the kernel
        // only reads, its size passed alongside.
        let rc = unsafe {
            libc::setsockopt(
                self.0.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                std::ptr::from_ref(&bytes).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}
