//! Large answers read in batches. A relay that is faster than the database producing an answer
//! wakes for every few kilobytes the database writes, and pays for the wakeup (the scheduler,
//! the poll, a context switch) more than for the bytes. Once an answer has grown past
//! [`BULK`], the session asks the kernel to wake it only when [`BATCH`] bytes are queued on the
//! target's socket (`SO_RCVLOWAT`), and waits at most [`WAIT`] for that before it reads what is
//! there: the end of the answer waits at most that long (tokio's timer rounds it up to about
//! 2 ms), and a database producing less than a batch per [`WAIT`] is read once per wait,
//! whatever came in it. Small answers (every OLTP statement) never wait. The setting is back at
//! one byte whenever the session reads anything but the middle of a large answer. A socket
//! that refuses the setting is read without batching.

use std::io;
use std::time::Duration;

/// Bytes of one answer after which its reads are batched.
pub const BULK: usize = 1 << 20;

/// Bytes queued on the target's socket before the session is woken, in a large answer.
pub const BATCH: usize = 256 << 10;

/// The longest a batched read waits for a whole batch.
pub const WAIT: Duration = Duration::from_millis(1);

/// The target's connection as a socket whose wakeups can be batched.
pub trait Gather: Send {
    /// Wakes the reader only once `bytes` are queued (1: as soon as any are).
    fn low_water(&self, bytes: usize) -> io::Result<()>;
}

/// Reads more of an answer `$answered` bytes long so far with the (cancel-safe) read `$fill`,
/// an expression made again if the first wait times out: in a large answer the read waits for
/// a batch, at most [`WAIT`] (counted from the first of its attempts: a read cancelled by a
/// `select!` and made again keeps its deadline), then takes what is there. Propagates a failed
/// socket option with `?`.
macro_rules! batched {
    ($batching:expr, $answered:expr, $fill:expr) => {{
        if $batching.before_read($answered)? {
            match tokio::time::timeout_at($batching.deadline(), $fill).await {
                Ok(read) => {
                    $batching.read();
                    read
                }
                Err(_) => {
                    $batching.off()?;
                    $fill.await
                }
            }
        } else {
            $fill.await
        }
    }};
}
pub(crate) use batched;

/// A session's batching state over its target socket (none when the target is not one).
#[derive(Default)]
pub(crate) struct Batching {
    gather: Option<Box<dyn Gather>>,
    armed: bool,
    /// When the batched read under way stops waiting for a whole batch.
    until: Option<tokio::time::Instant>,
}

impl Batching {
    pub(crate) fn new(gather: Option<Box<dyn Gather>>) -> Self {
        Batching {
            gather,
            armed: false,
            until: None,
        }
    }

    /// The deadline of the batched read under way (set by its first attempt).
    pub(crate) fn deadline(&mut self) -> tokio::time::Instant {
        *self
            .until
            .get_or_insert_with(|| tokio::time::Instant::now() + WAIT)
    }

    /// A batched read completed: the next one waits afresh.
    pub(crate) fn read(&mut self) {
        self.until = None;
    }

    /// Whether the next read should wait at most [`WAIT`] (the socket holds back wakeups until
    /// a batch is queued), arming or disarming the socket for it.
    pub(crate) fn before_read(&mut self, answered: usize) -> io::Result<bool> {
        let Some(gather) = &self.gather else {
            return Ok(false);
        };
        if answered < BULK {
            self.off()?;
            return Ok(false);
        }
        if !self.armed {
            if let Err(e) = gather.low_water(BATCH) {
                // Only an optimisation: the session goes on reading as bytes come.
                tracing::debug!(error = %e, "database answers read without batching");
                self.gather = None;
                return Ok(false);
            }
            self.armed = true;
        }
        Ok(true)
    }

    /// Wakes on any byte again (a batched read timed out, or the answer ended).
    pub(crate) fn off(&mut self) -> io::Result<()> {
        self.until = None;
        if let (true, Some(gather)) = (self.armed, &self.gather) {
            gather.low_water(1)?;
            self.armed = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Records the low-water marks asked for.
    #[derive(Clone, Default)]
    struct Marks(Arc<Mutex<Vec<usize>>>);

    impl Gather for Marks {
        fn low_water(&self, bytes: usize) -> io::Result<()> {
            self.0.lock().unwrap().push(bytes);
            Ok(())
        }
    }

    impl Marks {
        fn taken(&self) -> Vec<usize> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    #[test]
    fn only_large_answers_are_batched_and_the_socket_is_set_back_after() {
        let marks = Marks::default();
        let mut batching = Batching::new(Some(Box::new(marks.clone())));
        assert!(!batching.before_read(0).unwrap());
        assert!(!batching.before_read(BULK - 1).unwrap());
        assert_eq!(
            marks.taken(),
            Vec::<usize>::new(),
            "small answers never touch the socket"
        );
        assert!(batching.before_read(BULK).unwrap());
        assert!(batching.before_read(BULK * 3).unwrap());
        assert_eq!(marks.taken(), vec![BATCH], "armed once per large answer");
        // The next answer starts small: the socket wakes on any byte again before it is read.
        assert!(!batching.before_read(10).unwrap());
        assert_eq!(marks.taken(), vec![1]);
        batching.off().unwrap();
        assert_eq!(marks.taken(), Vec::<usize>::new(), "already off");
        // Without a socket to set, nothing is batched.
        let mut plain = Batching::new(None);
        assert!(!plain.before_read(BULK * 10).unwrap());
    }

    /// A socket that refuses the low-water mark.
    struct Refusing(Marks);

    impl Gather for Refusing {
        fn low_water(&self, bytes: usize) -> io::Result<()> {
            self.0 .0.lock().unwrap().push(bytes);
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        }
    }

    #[test]
    fn a_socket_that_refuses_the_mark_is_read_without_batching() {
        let marks = Marks::default();
        let mut batching = Batching::new(Some(Box::new(Refusing(marks.clone()))));
        assert!(!batching.before_read(BULK).unwrap(), "no batch wait");
        assert_eq!(marks.taken(), vec![BATCH]);
        assert!(!batching.before_read(BULK * 2).unwrap());
        batching.off().unwrap();
        assert_eq!(marks.taken(), Vec::<usize>::new(), "not asked again");
    }

    /// Polls `f` once (with a waker that does nothing); its output if it was ready.
    fn now_or_never<F: std::future::Future>(f: F) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(f).poll(&mut cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn a_read_made_again_after_a_cancel_keeps_its_deadline() {
        let marks = Marks::default();
        let mut batching = Batching::new(Some(Box::new(marks.clone())));
        let (mut from, mut to) = tokio::io::duplex(64);
        let mut buf = Vec::new();
        // A first attempt polled once and dropped, as a `select!` branch that lost.
        assert!(now_or_never(read_batched(&mut batching, BULK, &mut from, &mut buf)).is_none());
        assert_eq!(marks.taken(), vec![BATCH]);
        tokio::time::sleep(WAIT * 20).await;
        // Made again past the first attempt's deadline: it stops waiting for the batch at once
        // (a fresh wait would still be armed here), then waits for any byte.
        let n = {
            let again = read_batched(&mut batching, BULK, &mut from, &mut buf);
            tokio::pin!(again);
            assert!(now_or_never(again.as_mut()).is_none());
            assert_eq!(marks.taken(), vec![1], "the wait had run out");
            to.write_all(b"late").await.unwrap();
            again.await.unwrap()
        };
        assert_eq!(n, 4);
        assert_eq!(buf, b"late");
    }

    async fn read_batched(
        batching: &mut Batching,
        answered: usize,
        from: &mut tokio::io::DuplexStream,
        buf: &mut Vec<u8>,
    ) -> io::Result<usize> {
        batched!(batching, answered, from.read_buf(buf))
    }

    #[tokio::test]
    async fn a_batched_read_takes_what_came_once_the_wait_is_over() {
        let marks = Marks::default();
        let mut batching = Batching::new(Some(Box::new(marks.clone())));
        let (mut from, mut to) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            tokio::time::sleep(WAIT * 20).await;
            to.write_all(b"the tail of a large answer").await.unwrap();
            to
        });
        let mut buf = Vec::new();
        let n = read_batched(&mut batching, BULK, &mut from, &mut buf)
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"the tail of a large answer");
        // Armed for the batch, set back when the wait ran out: the read then took what came.
        assert_eq!(marks.taken(), vec![BATCH, 1]);
        drop(writer.await.unwrap());
        assert_eq!(
            read_batched(&mut batching, 0, &mut from, &mut buf)
                .await
                .unwrap(),
            0
        );
    }
}
