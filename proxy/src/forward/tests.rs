//! Tests of [`forward`] on real loopback sockets, on both paths.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::{forward, Counters, ForwardMode, ForwardPath, ForwardStats};

const MIB: u64 = 1024 * 1024;

/// The two ends a test drives: the user's socket and the target's socket.
struct Leg {
    user: TcpStream,
    target: TcpStream,
    relay: JoinHandle<io::Result<ForwardStats>>,
    counters: Arc<Counters>,
}

/// user <-> [client | forward | server] <-> target, all on 127.0.0.1 with free ports.
async fn leg(mode: ForwardMode) -> Leg {
    let front = TcpListener::bind("127.0.0.1:0").await.expect("bind front");
    let back = TcpListener::bind("127.0.0.1:0").await.expect("bind back");
    let (user, client) = tokio::join!(
        TcpStream::connect(front.local_addr().expect("front addr")),
        front.accept()
    );
    let (server, target) = tokio::join!(
        TcpStream::connect(back.local_addr().expect("back addr")),
        back.accept()
    );
    let counters = Counters::new();
    let relay = tokio::spawn(forward(
        client.expect("accept client").0,
        server.expect("connect server"),
        mode,
        Arc::clone(&counters),
    ));
    Leg {
        user: user.expect("connect user"),
        target: target.expect("accept target").0,
        relay,
        counters,
    }
}

/// Byte `pos` of the test stream `seed`.
fn pattern(seed: u64, pos: u64) -> u8 {
    ((pos ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Writes `len` bytes of stream `seed`, then shuts down writing.
async fn send(mut w: impl AsyncWriteExt + Unpin, seed: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pos = 0u64;
    while pos < len {
        let n = (len - pos).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(seed, pos + i as u64);
        }
        w.write_all(&buf[..n]).await?;
        pos += n as u64;
    }
    w.shutdown().await
}

/// Reads to EOF in `chunk`-byte reads, checking every byte against stream `seed`.
async fn receive(mut r: impl AsyncReadExt + Unpin, seed: u64, chunk: usize) -> io::Result<u64> {
    let mut buf = vec![0u8; chunk];
    let mut pos = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(pos);
        }
        for (i, b) in buf[..n].iter().enumerate() {
            let at = pos + i as u64;
            if *b != pattern(seed, at) {
                return Err(io::Error::other(format!("corrupt byte at offset {at}")));
            }
        }
        pos += n as u64;
        if chunk < 64 * 1024 {
            // A slow reader: give the relay every chance to run ahead of us.
            tokio::task::yield_now().await;
        }
    }
}

async fn both_ways(mode: ForwardMode, len: u64) -> ForwardStats {
    let leg = leg(mode).await;
    let (user_r, user_w) = leg.user.into_split();
    let (target_r, target_w) = leg.target.into_split();
    let (sent_up, sent_down, got_up, got_down) = tokio::join!(
        send(user_w, 1, len),
        send(target_w, 2, len),
        receive(target_r, 1, 256 * 1024),
        receive(user_r, 2, 256 * 1024),
    );
    sent_up.expect("send up");
    sent_down.expect("send down");
    assert_eq!(got_up.expect("receive up"), len);
    assert_eq!(got_down.expect("receive down"), len);
    let stats = leg.relay.await.expect("join").expect("forward");
    assert_eq!((stats.up, stats.down), (len, len));
    assert_eq!((leg.counters.up(), leg.counters.down()), (len, len));
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_64_mib_each_way_intact() {
    let stats = both_ways(ForwardMode::Copy, 64 * MIB).await;
    assert_eq!(stats.path, ForwardPath::Copy);
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splice_moves_64_mib_each_way_intact() {
    let stats = both_ways(ForwardMode::Splice, 64 * MIB).await;
    assert_eq!(stats.path, ForwardPath::Splice);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_picks_splice_on_linux() {
    let stats = both_ways(ForwardMode::Auto, MIB).await;
    let expected = if cfg!(target_os = "linux") {
        ForwardPath::Splice
    } else {
        ForwardPath::Copy
    };
    assert_eq!(stats.path, expected);
}

async fn half_close(mode: ForwardMode) {
    let mut leg = leg(mode).await;
    leg.user.write_all(b"request").await.expect("write request");
    leg.user.shutdown().await.expect("user shuts write");

    let mut request = Vec::new();
    leg.target
        .read_to_end(&mut request)
        .await
        .expect("target reads to EOF");
    assert_eq!(request, b"request");
    // The user has stopped writing; the reply must still reach it.
    leg.target.write_all(b"late reply").await.expect("reply");
    leg.target.shutdown().await.expect("target shuts write");

    let mut reply = Vec::new();
    leg.user
        .read_to_end(&mut reply)
        .await
        .expect("user reads reply");
    assert_eq!(reply, b"late reply");
    let stats = leg.relay.await.expect("join").expect("forward");
    assert_eq!((stats.up, stats.down), (7, 10));
    assert_eq!((leg.counters.up(), leg.counters.down()), (7, 10));
}

#[tokio::test]
async fn copy_half_close_keeps_other_direction() {
    half_close(ForwardMode::Copy).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn splice_half_close_keeps_other_direction() {
    half_close(ForwardMode::Splice).await;
}

/// The user reads 4 KiB at a time: the relay must hold back, not buffer, and lose nothing.
async fn slow_reader(mode: ForwardMode) {
    let len = 16 * MIB;
    let leg = leg(mode).await;
    let (user_r, user_w) = leg.user.into_split();
    let (_target_r, target_w) = leg.target.into_split();
    let (sent, got) = tokio::join!(send(target_w, 3, len), receive(user_r, 3, 4096));
    sent.expect("send");
    assert_eq!(got.expect("slow receive"), len);
    drop(user_w);
    let stats = leg.relay.await.expect("join").expect("forward");
    assert_eq!((stats.up, stats.down), (0, len));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_slow_reader_gets_everything() {
    slow_reader(ForwardMode::Copy).await;
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splice_slow_reader_gets_everything() {
    slow_reader(ForwardMode::Splice).await;
}

/// The target resets its connection: the user sees a reset and `forward` reports an error.
async fn server_reset(mode: ForwardMode) {
    let mut leg = leg(mode).await;
    leg.user.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    leg.target.read_exact(&mut buf).await.expect("target reads");
    socket2::SockRef::from(&leg.target)
        .set_linger(Some(std::time::Duration::ZERO))
        .expect("linger 0");
    drop(leg.target);

    let err = leg
        .relay
        .await
        .expect("join")
        .expect_err("forward must fail");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    let mut rest = Vec::new();
    let err = leg
        .user
        .read_to_end(&mut rest)
        .await
        .expect_err("user must see a reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}

#[tokio::test]
async fn copy_server_reset_propagates() {
    server_reset(ForwardMode::Copy).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn splice_server_reset_propagates() {
    server_reset(ForwardMode::Splice).await;
}

#[test]
fn mode_parses_and_prints() {
    for mode in [ForwardMode::Auto, ForwardMode::Splice, ForwardMode::Copy] {
        assert_eq!(mode.to_string().parse::<ForwardMode>(), Ok(mode));
    }
    assert!("zero".parse::<ForwardMode>().is_err());
}

/// The database sessions' batched wakeups ([`super::db_gather`]): with a low-water mark the
/// kernel reports the socket readable only once that many bytes are queued, and setting it
/// back to one byte wakes a reader for what is already there.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_low_water_mark_holds_back_the_wakeup_until_a_batch_is_queued() {
    use std::os::fd::AsFd;
    use std::time::Duration;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (writer, reader) = tokio::join!(
        TcpStream::connect(listener.local_addr().expect("addr")),
        listener.accept()
    );
    let (mut writer, mut reader) = (writer.expect("connect"), reader.expect("accept").0);
    // As in a large answer, bytes have flowed already: the receive window has grown past one
    // segment (below that the kernel wakes the reader whatever the mark).
    let sending = async {
        for _ in 0..128 {
            writer.write_all(&[0; 64 * 1024]).await?;
        }
        io::Result::Ok(())
    };
    let (sent, got) = tokio::join!(sending, async {
        let mut buf = vec![0; 256 * 1024];
        let mut got = 0;
        while got < 8 * MIB {
            got += reader.read(&mut buf).await.expect("read") as u64;
        }
        got
    });
    sent.expect("send");
    assert_eq!(got, 8 * MIB);
    // A last read that filled its buffer leaves the reader's readiness set: read up to "would
    // block", which clears it, before asking for a batch.
    let mut rest = [0u8; 4096];
    match reader.try_read(&mut rest) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        other => panic!("nothing is left of the 8 MiB sent, yet: {other:?}"),
    }
    let owned = reader.as_fd().try_clone_to_owned().expect("dup");
    let gather = super::db_gather(owned).expect("a gather on Linux");
    gather.low_water(64 * 1024).expect("set the mark");
    writer.write_all(&[1; 1000]).await.expect("write");
    let quiet = tokio::time::timeout(Duration::from_millis(200), reader.readable()).await;
    assert!(
        quiet.is_err(),
        "1,000 bytes woke a reader waiting for 64 KiB"
    );
    writer.write_all(&[2; 70_000]).await.expect("write");
    tokio::time::timeout(Duration::from_secs(10), reader.readable())
        .await
        .expect("a whole batch wakes the reader")
        .expect("readable");
    let mut got = vec![0; 80_000];
    let mut n = 0;
    // Up to "would block", which is what clears the reader's readiness.
    loop {
        match reader.try_read(&mut got[n..]) {
            Ok(0) => panic!("the writer is still open"),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(n, 71_000);
    // Below the mark again; set back to one byte, the reader wakes for what is queued.
    writer.write_all(&[3; 10]).await.expect("write");
    let quiet = tokio::time::timeout(Duration::from_millis(200), reader.readable()).await;
    assert!(quiet.is_err(), "10 bytes woke a reader waiting for 64 KiB");
    gather.low_water(1).expect("set back");
    tokio::time::timeout(Duration::from_secs(10), reader.readable())
        .await
        .expect("setting the mark back wakes the reader")
        .expect("readable");
    assert_eq!(reader.try_read(&mut got).expect("read"), 10);
}
