//! Loopback ports for tests that must name a port before something binds it (a node's
//! `--peers` list, an `ssh -L` local end).
//!
//! A port bound on port 0 and released comes from the kernel's ephemeral range, where every
//! outgoing connection and every client QUIC endpoint of every test process running in parallel
//! also takes its port: one of them can take it before the test binds it ("address in use").
//! These ports come from below that range instead (20000..32000, which Linux never hands out
//! on its own), picked at random per process, checked free for both TCP and UDP, and not
//! handed out again by the same process for [`REUSE_AFTER`] (a long soak in one process, a
//! few hundred three-node runs, would otherwise use up the range).
//!
//! A test that stops a node and starts it again on the same ports leaves them unbound for a
//! moment; another test process must not take them then. So each port handed out is also
//! reserved for the whole machine by an exclusive lock on a file named after it in
//! `$TMPDIR/portunus-test-ports`, which the kernel releases when the taker's process ends.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FIRST: u16 = 20_000;
const COUNT: u16 = 12_000;
/// How long a port handed out stays out of this process's picks: far longer than any test
/// keeps a stopped node's ports for its restart.
pub const REUSE_AFTER: Duration = Duration::from_secs(600);

/// A loopback port free for TCP and UDP right now, chosen outside the ephemeral range.
pub fn free_port() -> u16 {
    pick(REUSE_AFTER)
}

/// [`free_port`], with ports handed out by this process more than `reuse_after` ago eligible.
fn pick(reuse_after: Duration) -> u16 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    // When each port was handed out by this process (which keeps its reservation).
    static GIVEN: Mutex<Option<HashMap<u16, Instant>>> = Mutex::new(None);
    let seed = u64::from(std::process::id()) << 32
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    let _ = STATE.compare_exchange(0, seed | 1, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..10 * usize::from(COUNT) {
        let port = FIRST
            + (splitmix(STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst))
                % u64::from(COUNT)) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        let given = given.get_or_insert_with(HashMap::new);
        let ours = match given.get(&port) {
            Some(at) if at.elapsed() < reuse_after => continue,
            Some(_) => true,
            None => false,
        };
        let free = TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok();
        // A port this process reserved before is still reserved by it (the lock is held).
        if free && (ours || reserve(port)) {
            given.insert(port, Instant::now());
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT)
}

/// [`free_port`] as a loopback address.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Reserves `port` for this process across the machine: false when a live process holds it.
///
/// The reservation is an exclusive `flock` on a file named after the port, held open for the
/// life of the process; the kernel drops it when the process ends, however it ends.
fn reserve(port: u16) -> bool {
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("portunus-test-ports");
    let file = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
    });
    let Ok(file) = file else {
        // No shared directory to reserve in: the bind check above is all there is.
        return true;
    };
    match file.try_lock() {
        Ok(()) => {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
            true
        }
        Err(_) => false,
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_takes_more_ports_than_the_range_holds_once_old_ones_may_return() {
        // Each pick may return any port this process took before (but not one bound now).
        let bound = TcpListener::bind(("127.0.0.1", pick(Duration::ZERO))).unwrap();
        let taken = bound.local_addr().unwrap().port();
        for _ in 0..usize::from(COUNT) + 500 {
            assert_ne!(pick(Duration::ZERO), taken);
        }
    }

    #[test]
    fn ports_are_below_the_ephemeral_range_bindable_and_distinct() {
        use std::collections::HashSet;
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        for p in &ports {
            assert!((FIRST..FIRST + COUNT).contains(p));
        }
        let p = free_port();
        TcpListener::bind(("127.0.0.1", p)).expect("tcp");
        UdpSocket::bind(("127.0.0.1", p)).expect("udp");
    }

    #[test]
    fn a_port_held_by_another_process_is_not_handed_out() {
        let held = free_port();
        let ask = |port: u16| {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "tests::reserve_in_a_child",
                    "--nocapture",
                    "--ignored",
                ])
                .env("PORTUNUS_TEST_PORT", port.to_string())
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            match text.lines().find_map(|l| l.strip_prefix("reserved ")) {
                Some("true") => true,
                Some("false") => false,
                _ => panic!("the child printed no answer: {text}"),
            }
        };
        assert!(!ask(held), "port {held} was handed to a second process");
        // A port nobody holds is reserved by the child, and released when the child ends.
        let other = (FIRST..FIRST + COUNT)
            .find(|p| *p != held && TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .unwrap();
        assert!(ask(other));
        assert!(ask(other), "the first child's reservation outlived it");
    }

    #[test]
    #[ignore = "run by a_port_held_by_another_process_is_not_handed_out"]
    fn reserve_in_a_child() {
        let port: u16 = std::env::var("PORTUNUS_TEST_PORT")
            .unwrap()
            .parse()
            .unwrap();
        println!("reserved {}", reserve(port));
    }
}
