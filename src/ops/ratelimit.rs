//! Per-client request budgets: a GCRA (generic cell rate algorithm) limiter
//! keyed by client IP address, in memory, with bounded size.
//!
//! Owns only the arithmetic of "may this address do this now, and if not, how
//! long must it wait". It knows nothing of HTTP, routes or configuration
//! keys (the web layer decides which requests spend which budget) and it
//! must not touch the store: budgets reset on restart, by design.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most addresses one budget remembers. Past it, addresses whose budget has
/// fully refilled are forgotten first; if every one is still spending, the
/// oldest is dropped (an attacker with that many addresses is not stopped by
/// a per-address limit anyway, and memory must stay bounded).
const MAX_TRACKED: usize = 50_000;

/// A request budget: `per_minute` requests a minute per address, of which all
/// may come at once (the burst), refilling evenly over the minute.
pub struct RateLimiter {
    /// Time between two requests at the sustained rate; `None` disables the budget.
    interval: Option<Duration>,
    /// How far ahead of now an address's schedule may run: the burst.
    tolerance: Duration,
    capacity: usize,
    /// When each address's next request would be on schedule (GCRA's TAT).
    schedule: Mutex<HashMap<IpAddr, Instant>>,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the budget: try again after this long.
    Limited {
        retry_after: Duration,
    },
}

impl RateLimiter {
    /// A budget of `per_minute` requests a minute per address; 0 allows everything.
    pub fn per_minute(per_minute: u32) -> RateLimiter {
        Self::with_capacity(per_minute, MAX_TRACKED)
    }

    fn with_capacity(per_minute: u32, capacity: usize) -> RateLimiter {
        let interval = (per_minute > 0).then(|| Duration::from_secs(60) / per_minute);
        RateLimiter {
            tolerance: interval.map_or(Duration::ZERO, |i| i * per_minute.saturating_sub(1)),
            interval,
            capacity: capacity.max(1),
            schedule: Mutex::new(HashMap::new()),
        }
    }

    /// Spends one request of `address`'s budget at `now`, if there is one left.
    pub fn check(&self, address: IpAddr, now: Instant) -> Decision {
        let Some(interval) = self.interval else {
            return Decision::Allowed;
        };
        // A poisoned lock only means another thread panicked mid-update of a
        // plain map of instants; the data is still usable.
        let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
        let due = schedule.get(&address).copied().unwrap_or(now).max(now);
        let earliest = due.checked_sub(self.tolerance).unwrap_or(now);
        if earliest > now {
            return Decision::Limited {
                retry_after: earliest - now,
            };
        }
        if !schedule.contains_key(&address) && schedule.len() >= self.capacity {
            make_room(&mut schedule, now, self.capacity);
        }
        schedule.insert(address, due + interval);
        Decision::Allowed
    }

    /// How many addresses are remembered now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

/// Forgets every address whose budget is full again; if that frees nothing,
/// the one whose budget is closest to full.
fn make_room(schedule: &mut HashMap<IpAddr, Instant>, now: Instant, capacity: usize) {
    schedule.retain(|_, due| *due > now);
    if schedule.len() < capacity {
        return;
    }
    let nearest_full = schedule
        .iter()
        .min_by_key(|(_, due)| **due)
        .map(|(address, _)| *address);
    if let Some(address) = nearest_full {
        schedule.remove(&address);
    }
}

/// Whole seconds to announce in `Retry-After`: rounded up, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let nanos = wait.as_nanos().div_ceil(1_000_000_000).max(1);
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn allows_the_burst_then_refuses_until_one_interval_passed() {
        let limiter = RateLimiter::per_minute(3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(ip(1), start), Decision::Allowed);
        }
        let Decision::Limited { retry_after } = limiter.check(ip(1), start) else {
            panic!("the fourth request at once must be limited");
        };
        assert_eq!(retry_after, Duration::from_secs(20));
        assert_eq!(
            limiter.check(ip(1), start + Duration::from_secs(19)),
            Decision::Limited {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            limiter.check(ip(1), start + Duration::from_secs(20)),
            Decision::Allowed
        );
    }

    #[test]
    fn addresses_have_their_own_budgets() {
        let limiter = RateLimiter::per_minute(1);
        let now = Instant::now();
        assert_eq!(limiter.check(ip(1), now), Decision::Allowed);
        assert!(matches!(
            limiter.check(ip(1), now),
            Decision::Limited { .. }
        ));
        assert_eq!(limiter.check(ip(2), now), Decision::Allowed);
    }

    #[test]
    fn zero_disables_the_budget() {
        let limiter = RateLimiter::per_minute(0);
        let now = Instant::now();
        for _ in 0..1000 {
            assert_eq!(limiter.check(ip(1), now), Decision::Allowed);
        }
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn a_refused_request_does_not_push_the_schedule_further() {
        let limiter = RateLimiter::per_minute(1);
        let now = Instant::now();
        limiter.check(ip(1), now);
        for _ in 0..50 {
            limiter.check(ip(1), now);
        }
        assert_eq!(
            limiter.check(ip(1), now + Duration::from_secs(60)),
            Decision::Allowed
        );
    }

    #[test]
    fn memory_stays_bounded_and_idle_addresses_go_first() {
        let limiter = RateLimiter::with_capacity(2, 3);
        let now = Instant::now();
        // Address 1 spent its whole burst; 2 and 3 one request each.
        limiter.check(ip(1), now);
        limiter.check(ip(1), now);
        limiter.check(ip(2), now);
        limiter.check(ip(3), now);
        // A minute on, 2 and 3 are full again and are forgotten; 1 is not yet.
        let later = now + Duration::from_secs(31);
        for last in 4..=200 {
            limiter.check(ip(last), later);
            assert!(limiter.tracked() <= 3);
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(20)), 20);
        assert_eq!(retry_after_secs(Duration::from_millis(20_001)), 21);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
