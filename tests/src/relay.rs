//! A fault-injecting UDP relay for the nodes' cluster (QUIC) traffic: every node is reached at
//! a "front" address of the relay instead of its own socket, so the relay can cut a node off
//! from every other node (both directions) and heal it, with no root rights and no namespaces.
//!
//! Addressing: node `i` listens on its real socket `S_i`; peers dial its front `F_i`. A datagram
//! from any source `X` arriving at `F_i` leaves through a pair socket `P(i, X)` (made on first
//! use) towards `S_i`, so node `i` sees one stable address per remote; what `S_i` sends back to
//! `P(i, X)` leaves through `F_i` towards `X`, so the remote sees answers from the address it
//! dialed. A node's outgoing datagrams come from its listening socket, so `X == S_j` identifies
//! node `j`; other sources (a CLI, say) are relayed and never cut.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const POLL: Duration = Duration::from_millis(50);

struct Shared {
    stop: AtomicBool,
    cut: Mutex<BTreeSet<u64>>,
    /// Nodes that hear nothing from the other nodes but still reach them (one-way cuts).
    deaf: Mutex<BTreeSet<u64>>,
    /// Nodes whose datagrams to and from the other nodes are lost at random, in percent.
    lossy: Mutex<BTreeMap<u64, u64>>,
    /// State of the generator that picks the lost datagrams.
    dice: AtomicU64,
    /// Real listening address of each node.
    reals: BTreeMap<u64, SocketAddr>,
    /// Which node owns a real address.
    owners: HashMap<SocketAddr, u64>,
    fronts: BTreeMap<u64, Arc<UdpSocket>>,
    pairs: Mutex<HashMap<(u64, SocketAddr), Arc<UdpSocket>>>,
    dropped: AtomicU64,
}

impl Shared {
    /// Whether a datagram from the source owned by `from` (None: not a node) to node `to` is
    /// dropped.
    fn blocked(&self, to: Option<u64>, from: Option<u64>) -> bool {
        let cut = self.cut.lock().expect("lock");
        let deaf = self.deaf.lock().expect("lock");
        let between_nodes = to.is_some() && from.is_some();
        let lossy = self.lossy.lock().expect("lock");
        let loss = [to, from]
            .iter()
            .flatten()
            .filter_map(|n| lossy.get(n))
            .max()
            .copied()
            .unwrap_or(0);
        let blocked = between_nodes
            && (to.is_some_and(|t| cut.contains(&t) || deaf.contains(&t))
                || from.is_some_and(|f| cut.contains(&f))
                || (loss > 0 && self.roll() < loss));
        if blocked {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        blocked
    }

    /// A number in 0..100 (SplitMix64 over a shared counter).
    fn roll(&self) -> u64 {
        let mut z = self
            .dice
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % 100
    }

    fn pair(self: &Arc<Self>, node: u64, remote: SocketAddr) -> Result<Arc<UdpSocket>> {
        let mut pairs = self.pairs.lock().expect("lock");
        if let Some(p) = pairs.get(&(node, remote)) {
            return Ok(p.clone());
        }
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        sock.set_read_timeout(Some(POLL))?;
        pairs.insert((node, remote), sock.clone());
        let shared = self.clone();
        let back = sock.clone();
        std::thread::spawn(move || shared.run_pair(node, remote, &back));
        Ok(sock)
    }

    /// Front of `node`: datagrams from anyone towards the node.
    fn run_front(self: Arc<Self>, node: u64) {
        let front = self.fronts[&node].clone();
        let real = self.reals[&node];
        let mut buf = vec![0u8; 65_536];
        while !self.stop.load(Ordering::Relaxed) {
            let Ok((len, src)) = front.recv_from(&mut buf) else {
                continue;
            };
            if self.blocked(Some(node), self.owners.get(&src).copied()) {
                continue;
            }
            if let Ok(pair) = self.pair(node, src) {
                let _ = pair.send_to(&buf[..len], real);
            }
        }
    }

    /// Pair socket standing for `remote` before `node`: the node's answers go back to `remote`.
    fn run_pair(self: Arc<Self>, node: u64, remote: SocketAddr, sock: &UdpSocket) {
        let front = self.fronts[&node].clone();
        let real = self.reals[&node];
        let mut buf = vec![0u8; 65_536];
        while !self.stop.load(Ordering::Relaxed) {
            let Ok((len, src)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if src != real || self.blocked(self.owners.get(&remote).copied(), Some(node)) {
                continue;
            }
            let _ = front.send_to(&buf[..len], remote);
        }
    }
}

/// The relay; its threads stop when it is dropped.
pub struct Relay {
    shared: Arc<Shared>,
}

impl Relay {
    /// Relay for nodes listening on `reals` (node id -> real cluster address).
    pub fn new(reals: &BTreeMap<u64, SocketAddr>) -> Result<Relay> {
        let mut fronts = BTreeMap::new();
        for id in reals.keys() {
            let sock = UdpSocket::bind("127.0.0.1:0").context("binding a relay front")?;
            sock.set_read_timeout(Some(POLL))?;
            fronts.insert(*id, Arc::new(sock));
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            cut: Mutex::default(),
            deaf: Mutex::default(),
            lossy: Mutex::default(),
            dice: AtomicU64::new(0),
            owners: reals.iter().map(|(id, a)| (*a, *id)).collect(),
            reals: reals.clone(),
            fronts,
            pairs: Mutex::default(),
            dropped: AtomicU64::new(0),
        });
        for id in reals.keys() {
            let s = shared.clone();
            let id = *id;
            std::thread::spawn(move || s.run_front(id));
        }
        Ok(Relay { shared })
    }

    /// The address peers use to reach node `id`.
    pub fn front(&self, id: u64) -> SocketAddr {
        self.shared.fronts[&id]
            .local_addr()
            .expect("bound socket has an address")
    }

    /// Cut node `id` off from every other node, both directions.
    pub fn isolate(&self, id: u64) {
        self.shared.cut.lock().expect("lock").insert(id);
    }

    /// Let node `id` talk to the others again (both directions).
    pub fn heal(&self, id: u64) {
        self.shared.cut.lock().expect("lock").remove(&id);
        self.shared.deaf.lock().expect("lock").remove(&id);
        self.shared.lossy.lock().expect("lock").remove(&id);
    }

    /// Lose `percent` of the datagrams between node `id` and the other nodes, both ways, at
    /// random. Undone by [`Relay::heal`].
    pub fn lose(&self, id: u64, percent: u64) {
        self.shared.lossy.lock().expect("lock").insert(id, percent);
    }

    /// Cut one way: node `id` hears nothing from the other nodes, while what it sends still
    /// reaches them. Undone by [`Relay::heal`].
    pub fn deafen(&self, id: u64) {
        self.shared.deaf.lock().expect("lock").insert(id);
    }

    /// Datagrams dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_once(sock: &UdpSocket) -> Option<SocketAddr> {
        let mut buf = [0u8; 64];
        let (len, src) = sock.recv_from(&mut buf).ok()?;
        sock.send_to(&buf[..len], src).ok()?;
        Some(src)
    }

    #[test]
    fn relays_both_ways_and_cuts_an_isolated_node() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
        }
        let reals = BTreeMap::from([(1, a.local_addr().unwrap()), (2, b.local_addr().unwrap())]);
        let relay = Relay::new(&reals).unwrap();
        let roundtrip = |msg: &[u8]| {
            a.send_to(msg, relay.front(2)).unwrap();
            let seen = echo_once(&b)?;
            let mut buf = [0u8; 64];
            let (len, from) = a.recv_from(&mut buf).ok()?;
            assert_eq!(from, relay.front(2), "answers come from the dialed address");
            assert_ne!(seen, reals[&1], "the relay stands between the nodes");
            Some(buf[..len].to_vec())
        };
        assert_eq!(roundtrip(b"ping").as_deref(), Some(&b"ping"[..]));
        relay.isolate(1);
        assert_eq!(roundtrip(b"lost"), None);
        assert!(relay.dropped() > 0);
        relay.heal(1);
        assert_eq!(roundtrip(b"back").as_deref(), Some(&b"back"[..]));
        // One way: node 2 deaf hears nothing from node 1; node 1 still hears node 2.
        relay.deafen(2);
        a.send_to(b"unheard", relay.front(2)).unwrap();
        assert_eq!(echo_once(&b), None, "a deaf node hears nothing");
        relay.heal(2);
        relay.deafen(1);
        a.send_to(b"heard", relay.front(2)).unwrap();
        assert!(echo_once(&b).is_some(), "a deaf node is still heard");
        let mut buf = [0u8; 64];
        assert!(
            a.recv_from(&mut buf).is_err(),
            "the answer to a deaf node is lost"
        );
        relay.heal(1);
        assert_eq!(roundtrip(b"whole").as_deref(), Some(&b"whole"[..]));
        // Loss: of 40 datagrams to a node losing half, some arrive and some do not.
        relay.lose(2, 50);
        for _ in 0..40 {
            a.send_to(b"maybe", relay.front(2)).unwrap();
        }
        b.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut arrived = 0;
        let mut buf = [0u8; 64];
        while b.recv_from(&mut buf).is_ok() {
            arrived += 1;
        }
        assert!(arrived > 0 && arrived < 40, "{arrived} of 40 arrived");
        relay.heal(2);
    }
}
