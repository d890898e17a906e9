//! Brute-force protection at the door: failed logins per source address in a sliding minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Counts failures per source; a source over the limit is refused until its window passes.
pub(crate) struct Limiter {
    max_failures: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    pub(crate) fn new(max_failures: u32) -> Self {
        Limiter {
            max_failures,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may try again now.
    pub(crate) fn allowed(&self, ip: IpAddr) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(&ip) {
            Some((start, _)) if start.elapsed() > WINDOW => {
                seen.remove(&ip);
                true
            }
            Some((_, n)) => *n < self.max_failures,
            None => true,
        }
    }

    /// Count one failure from `ip`.
    pub(crate) fn failed(&self, ip: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| start.elapsed() <= WINDOW);
        }
        let e = seen.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() > WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_the_limit_is_refused_others_are_not() {
        let l = Limiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.allowed(a));
            l.failed(a);
        }
        assert!(!l.allowed(a));
        assert!(l.allowed(b));
    }
}
