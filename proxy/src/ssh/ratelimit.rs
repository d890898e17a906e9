//! Per-client-IP limit on failed logins, checked before the gate is asked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failed logins per IP in a fixed window.
#[derive(Debug)]
pub struct AuthLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AuthLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// True if this IP may try to log in now.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&ip) {
            Some((start, _)) if now.duration_since(*start) >= self.window => {
                map.remove(&ip);
                true
            }
            Some((_, count)) => *count < self.max_failures,
            None => true,
        }
    }

    /// Records one failed login from this IP.
    pub fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_too_many_failures() {
        let limiter = AuthLimiter::new(2, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(limiter.allows(ip));
        limiter.failed(ip);
        assert!(limiter.allows(ip));
        limiter.failed(ip);
        assert!(!limiter.allows(ip));
        assert!(limiter.allows("10.0.0.2".parse().unwrap()));
    }
}
