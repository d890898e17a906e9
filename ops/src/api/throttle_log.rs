//! Warnings about refused API traffic (throttled calls, clients cut off by a limit), at most
//! one line per interval per kind so that a flood cannot flood the log too: each line says how
//! many more were refused since the previous one. Lines name the AccessKeyId and the action or
//! the reason, never a secret or a signature.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Least time between two lines of one kind.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// One kind of refusal.
#[derive(Default)]
pub struct ThrottleLog {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last: Option<Instant>,
    unlogged: u64,
}

impl ThrottleLog {
    /// A log that has logged nothing yet.
    pub const fn new() -> Self {
        ThrottleLog {
            state: Mutex::new(State {
                last: None,
                unlogged: 0,
            }),
        }
    }

    /// Counts a refusal; returns how many went unlogged before it when this one should be
    /// logged now, None when it should not.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.last {
            Some(t) if now.saturating_duration_since(t) < INTERVAL => {
                s.unlogged += 1;
                None
            }
            _ => {
                s.last = Some(now);
                Some(std::mem::take(&mut s.unlogged))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_the_others() {
        let log = ThrottleLog::default();
        let t0 = Instant::now();
        assert_eq!(log.admit(t0), Some(0));
        assert_eq!(log.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(log.admit(t0 + Duration::from_secs(2)), None);
        assert_eq!(log.admit(t0 + INTERVAL), Some(2));
        assert_eq!(log.admit(t0 + INTERVAL), None);
    }
}
