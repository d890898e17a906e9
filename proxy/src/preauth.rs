//! Connections that have not logged in yet. They cost the bastion memory and, with a password,
//! an argon2 check, while proving nothing: they are capped per client address and in total (as
//! OpenSSH's `MaxStartups` and `PerSourceMaxStartups`), and each gets a login grace time (as
//! OpenSSH's `LoginGraceTime`) after which it is disconnected. The SSH gateway keeps one set of
//! places, the native database ports (MySQL and PostgreSQL together) another.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Why a connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreAuthRefusal {
    /// `max_unauthenticated` connections are already waiting to log in.
    Total,
    /// `max_unauthenticated_per_ip` connections from this address are already waiting.
    PerAddress,
}

/// Counters for metrics: what the caps and the grace time cut off.
#[derive(Debug, Default)]
pub struct PreAuthCounters {
    pub refused_total: AtomicU64,
    pub refused_per_address: AtomicU64,
    pub grace_expired: AtomicU64,
}

/// A snapshot of [`PreAuth`] for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreAuthStats {
    /// Connections open now that have not logged in.
    pub unauthenticated: u64,
    /// Connections refused because the total cap was reached.
    pub refused_total: u64,
    /// Connections refused because their address's cap was reached.
    pub refused_per_address: u64,
    /// Connections cut because they did not log in within the grace time.
    pub grace_expired: u64,
}

/// The caps and their bookkeeping, shared by every connection of a gateway.
#[derive(Debug)]
pub struct PreAuth {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    pub counters: PreAuthCounters,
}

impl PreAuth {
    /// Caps of 0 mean "no cap".
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            max_total,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
            counters: PreAuthCounters::default(),
        }
    }

    /// Takes a place for a new connection from `ip`, held until it logs in or ends.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<PreAuthSlot, PreAuthRefusal> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let total = self.total.load(Ordering::SeqCst);
        if self.max_total > 0 && total >= self.max_total {
            self.counters.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err(PreAuthRefusal::Total);
        }
        let mine = per_ip.entry(ip).or_insert(0);
        if self.max_per_ip > 0 && *mine >= self.max_per_ip {
            self.counters
                .refused_per_address
                .fetch_add(1, Ordering::Relaxed);
            return Err(PreAuthRefusal::PerAddress);
        }
        *mine += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Ok(PreAuthSlot {
            owner: Arc::clone(self),
            ip,
        })
    }

    fn release(&self, ip: IpAddr) {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
        self.total.fetch_sub(1, Ordering::SeqCst);
    }

    pub fn stats(&self) -> PreAuthStats {
        let c = &self.counters;
        PreAuthStats {
            unauthenticated: self.total.load(Ordering::SeqCst) as u64,
            refused_total: c.refused_total.load(Ordering::Relaxed),
            refused_per_address: c.refused_per_address.load(Ordering::Relaxed),
            grace_expired: c.grace_expired.load(Ordering::Relaxed),
        }
    }
}

/// A connection's place among those not logged in; given back when dropped.
#[derive(Debug)]
pub struct PreAuthSlot {
    owner: Arc<PreAuth>,
    ip: IpAddr,
}

impl Drop for PreAuthSlot {
    fn drop(&mut self) {
        self.owner.release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total_and_gives_places_back() {
        let caps = Arc::new(PreAuth::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = caps.admit(a).unwrap();
        let _a2 = caps.admit(a).unwrap();
        assert_eq!(caps.admit(a).unwrap_err(), PreAuthRefusal::PerAddress);
        let _b1 = caps.admit(b).unwrap();
        assert_eq!(caps.admit(b).unwrap_err(), PreAuthRefusal::Total);
        drop(a1);
        let _a3 = caps.admit(a).unwrap();
        let s = caps.stats();
        assert_eq!(
            (s.unauthenticated, s.refused_total, s.refused_per_address),
            (3, 1, 1)
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let caps = Arc::new(PreAuth::new(0, 0));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..1000).map(|_| caps.admit(ip).unwrap()).collect();
        assert_eq!(caps.stats().unauthenticated, 1000);
        drop(held);
        assert_eq!(caps.stats().unauthenticated, 0);
    }
}
