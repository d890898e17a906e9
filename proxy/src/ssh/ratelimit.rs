//! Limits on login attempts, per client address and per user name, checked before the gate is
//! asked. An attempt counts from the moment it starts (attempts in flight are counted, so
//! parallel guesses cannot all reach the password check before the first failure is noted)
//! until it ends; a failed one keeps counting for the window.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures in the current window and attempts in flight, for one key.
#[derive(Debug)]
struct Count {
    since: Instant,
    failures: u32,
    in_flight: u32,
}

/// One table of counts (per address, or per user name).
#[derive(Debug)]
struct Table<K> {
    max: u32,
    map: HashMap<K, Count>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(max: u32) -> Self {
        Self {
            max,
            map: HashMap::new(),
        }
    }

    /// Would one more attempt for `key` stay within the limit? 0 = no limit.
    fn allows(&mut self, key: &K, now: Instant, window: Duration) -> bool {
        if self.max == 0 {
            return true;
        }
        match self.map.get_mut(key) {
            Some(c) => {
                if now.duration_since(c.since) >= window {
                    c.since = now;
                    c.failures = 0;
                }
                c.failures.saturating_add(c.in_flight) < self.max
            }
            None => true,
        }
    }

    fn begin(&mut self, key: &K, now: Instant, window: Duration) {
        if self.map.len() > 100_000 {
            self.map
                .retain(|_, c| c.in_flight > 0 || now.duration_since(c.since) < window);
        }
        let c = self.map.entry(key.clone()).or_insert(Count {
            since: now,
            failures: 0,
            in_flight: 0,
        });
        c.in_flight = c.in_flight.saturating_add(1);
    }

    fn end(&mut self, key: &K, failed: bool, now: Instant, window: Duration) {
        let Some(c) = self.map.get_mut(key) else {
            return;
        };
        c.in_flight = c.in_flight.saturating_sub(1);
        if failed {
            if now.duration_since(c.since) >= window {
                c.since = now;
                c.failures = 0;
            }
            c.failures = c.failures.saturating_add(1);
        }
        if c.in_flight == 0 && c.failures == 0 {
            self.map.remove(key);
        }
    }
}

#[derive(Debug)]
struct Tables {
    ips: Table<IpAddr>,
    users: Table<String>,
}

/// Counts login attempts per client address and per user name in a fixed window.
#[derive(Debug)]
pub struct AuthLimiter {
    window: Duration,
    tables: Mutex<Tables>,
}

/// Which limit refused an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    Address,
    User,
}

impl AuthLimiter {
    /// `per_ip` and `per_user` attempts (failed, or in flight) per `window`; 0 = no limit.
    pub fn new(per_ip: u32, per_user: u32, window: Duration) -> Self {
        Self {
            window,
            tables: Mutex::new(Tables {
                ips: Table::new(per_ip),
                users: Table::new(per_user),
            }),
        }
    }

    /// Starts an attempt by `user` from `ip`, or says which limit it would exceed.
    pub fn begin(self: &Arc<Self>, ip: IpAddr, user: &str) -> Result<Attempt, Limited> {
        let now = Instant::now();
        let mut t = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let user = user.to_string();
        if !t.ips.allows(&ip, now, self.window) {
            return Err(Limited::Address);
        }
        if !t.users.allows(&user, now, self.window) {
            return Err(Limited::User);
        }
        t.ips.begin(&ip, now, self.window);
        t.users.begin(&user, now, self.window);
        Ok(Attempt {
            limiter: Arc::clone(self),
            ip,
            user,
            failed: false,
        })
    }

    fn end(&self, a: &Attempt) {
        let now = Instant::now();
        let mut t = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        t.ips.end(&a.ip, a.failed, now, self.window);
        t.users.end(&a.user, a.failed, now, self.window);
    }
}

/// An attempt in flight; when dropped it ends, as a failure if [`Attempt::failed`] was called.
#[derive(Debug)]
pub struct Attempt {
    limiter: Arc<AuthLimiter>,
    ip: IpAddr,
    user: String,
    failed: bool,
}

impl Attempt {
    /// The credentials were wrong: the attempt keeps counting for the window.
    pub fn failed(mut self) {
        self.failed = true;
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.limiter.end(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn failures_count_for_the_window_successes_do_not() {
        let l = Arc::new(AuthLimiter::new(2, 0, Duration::from_secs(60)));
        l.begin(ip("10.0.0.1"), "a").unwrap().failed();
        drop(l.begin(ip("10.0.0.1"), "a").unwrap());
        l.begin(ip("10.0.0.1"), "a").unwrap().failed();
        assert_eq!(l.begin(ip("10.0.0.1"), "b").unwrap_err(), Limited::Address);
        assert!(l.begin(ip("10.0.0.2"), "a").is_ok());
    }

    #[test]
    fn attempts_in_flight_count() {
        let l = Arc::new(AuthLimiter::new(3, 0, Duration::from_secs(60)));
        let held: Vec<_> = (0..3)
            .map(|_| l.begin(ip("10.0.0.1"), "a").unwrap())
            .collect();
        assert_eq!(
            l.begin(ip("10.0.0.1"), "a").unwrap_err(),
            Limited::Address,
            "three attempts in flight fill the limit"
        );
        drop(held);
        assert!(l.begin(ip("10.0.0.1"), "a").is_ok(), "they ended well");
    }

    #[test]
    fn one_user_is_limited_from_every_address() {
        let l = Arc::new(AuthLimiter::new(0, 2, Duration::from_secs(60)));
        l.begin(ip("10.0.0.1"), "admin").unwrap().failed();
        l.begin(ip("10.0.0.2"), "admin").unwrap().failed();
        assert_eq!(l.begin(ip("10.0.0.3"), "admin").unwrap_err(), Limited::User);
        assert!(l.begin(ip("10.0.0.3"), "alice").is_ok());
    }

    #[test]
    fn the_window_forgets() {
        let l = Arc::new(AuthLimiter::new(1, 1, Duration::from_millis(1)));
        l.begin(ip("10.0.0.1"), "a").unwrap().failed();
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.begin(ip("10.0.0.1"), "a").is_ok());
    }
}
