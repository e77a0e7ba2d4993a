//! Our own requests-per-minute and tokens-per-minute budget for one remote
//! backend: two token buckets refilled continuously. A call either fits now
//! or is refused at once with the wait it would need; the limiter never
//! sleeps, because the caller would rather fall back to a cheaper tier.
//!
//! It only does arithmetic on counts and instants passed in by the caller (so
//! tests drive the clock); it never touches the network.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Per-minute allowances; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
}

impl Limits {
    pub const UNLIMITED: Limits = Limits {
        requests_per_minute: 0,
        tokens_per_minute: 0,
    };
}

/// Fixed-point scale: one token is worth this many units, and a bucket of
/// capacity C gains C units per nanosecond, so a full refill takes exactly a
/// minute with no rounding.
const UNITS_PER_TOKEN: u128 = 60_000_000_000;

/// One bucket; `level` is in units (tokens × `UNITS_PER_TOKEN`).
#[derive(Debug)]
struct Bucket {
    capacity: u64,
    level: u128,
    updated: Instant,
}

impl Bucket {
    fn full(capacity: u64, now: Instant) -> Bucket {
        Bucket {
            capacity,
            level: u128::from(capacity) * UNITS_PER_TOKEN,
            updated: now,
        }
    }

    fn unlimited(&self) -> bool {
        self.capacity == 0
    }

    fn max_level(&self) -> u128 {
        u128::from(self.capacity) * UNITS_PER_TOKEN
    }

    fn refill(&mut self, now: Instant) {
        // An instant older than the last update (callers racing) adds nothing.
        let elapsed = now.saturating_duration_since(self.updated).as_nanos();
        self.level = (self.level + elapsed * u128::from(self.capacity)).min(self.max_level());
        self.updated = self.updated.max(now);
    }

    /// What taking `amount` costs in units; a request larger than the whole
    /// bucket costs the whole bucket, so it can pass when the bucket is full.
    fn cost(&self, amount: u64) -> u128 {
        (u128::from(amount) * UNITS_PER_TOKEN).min(self.max_level())
    }

    /// How long until `amount` fits (zero when it fits now).
    fn wait_for(&self, amount: u64) -> Duration {
        if self.unlimited() {
            return Duration::ZERO;
        }
        let missing = self.cost(amount).saturating_sub(self.level);
        let nanos = missing.div_ceil(u128::from(self.capacity));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn take(&mut self, amount: u64) {
        if !self.unlimited() {
            self.level = self.level.saturating_sub(self.cost(amount));
        }
    }

    fn give_back(&mut self, amount: u64) {
        if !self.unlimited() {
            self.level = (self.level + u128::from(amount) * UNITS_PER_TOKEN).min(self.max_level());
        }
    }
}

#[derive(Debug)]
struct Buckets {
    requests: Bucket,
    tokens: Bucket,
}

#[derive(Debug)]
pub struct Limiter {
    buckets: Mutex<Buckets>,
}

impl Limiter {
    /// Both buckets start full.
    pub fn new(limits: Limits, now: Instant) -> Limiter {
        Limiter {
            buckets: Mutex::new(Buckets {
                requests: Bucket::full(limits.requests_per_minute, now),
                tokens: Bucket::full(limits.tokens_per_minute, now),
            }),
        }
    }

    /// Takes one request and `tokens` tokens, or neither and says how long
    /// until both would fit.
    pub fn try_acquire(&self, tokens: u64, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets();
        buckets.requests.refill(now);
        buckets.tokens.refill(now);
        let wait = buckets
            .requests
            .wait_for(1)
            .max(buckets.tokens.wait_for(tokens));
        if !wait.is_zero() {
            return Err(wait);
        }
        buckets.requests.take(1);
        buckets.tokens.take(tokens);
        Ok(())
    }

    /// Corrects a reservation once the reply says what was really used:
    /// an overestimate is given back, an underestimate taken (down to empty).
    pub fn settle(&self, reserved: u64, used: u64, now: Instant) {
        let mut buckets = self.buckets();
        buckets.tokens.refill(now);
        if used < reserved {
            buckets.tokens.give_back(reserved - used);
        } else {
            buckets.tokens.take(used - reserved);
        }
    }

    fn buckets(&self) -> MutexGuard<'_, Buckets> {
        // Plain numbers, always whole: a panic elsewhere cannot corrupt them.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rpm: u64, tpm: u64, now: Instant) -> Limiter {
        Limiter::new(
            Limits {
                requests_per_minute: rpm,
                tokens_per_minute: tpm,
            },
            now,
        )
    }

    #[test]
    fn requests_per_minute_refill_continuously() {
        let t0 = Instant::now();
        let l = limiter(60, 0, t0);
        for _ in 0..60 {
            assert_eq!(l.try_acquire(1, t0), Ok(()));
        }
        assert_eq!(
            l.try_acquire(1, t0),
            Err(Duration::from_secs(1)),
            "60 per minute is one a second"
        );
        assert_eq!(
            l.try_acquire(1, t0 + Duration::from_millis(400)),
            Err(Duration::from_millis(600))
        );
        assert_eq!(l.try_acquire(1, t0 + Duration::from_secs(1)), Ok(()));
        assert!(l.try_acquire(1, t0 + Duration::from_secs(1)).is_err());
        // A long idle spell refills to the cap, not beyond.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..60 {
            assert_eq!(l.try_acquire(1, later), Ok(()));
        }
        assert!(l.try_acquire(1, later).is_err());
    }

    #[test]
    fn tokens_per_minute_refuse_without_taking_a_request() {
        let t0 = Instant::now();
        let l = limiter(1000, 6000, t0);
        assert_eq!(l.try_acquire(5000, t0), Ok(()));
        // 1000 left; 3000 more need 2000 at 100 per second.
        assert_eq!(l.try_acquire(3000, t0), Err(Duration::from_secs(20)));
        assert_eq!(l.try_acquire(1000, t0), Ok(()), "the refusal took nothing");
        assert!(l.try_acquire(1, t0).is_err());
    }

    #[test]
    fn the_longer_wait_of_the_two_buckets_is_reported() {
        let t0 = Instant::now();
        let l = limiter(1, 600, t0);
        assert_eq!(l.try_acquire(600, t0), Ok(()));
        // Requests need 60 s, tokens 100/10 s = 10 s.
        assert_eq!(l.try_acquire(100, t0), Err(Duration::from_secs(60)));
    }

    #[test]
    fn a_request_larger_than_the_bucket_passes_only_when_it_is_full() {
        let t0 = Instant::now();
        let l = limiter(0, 600, t0);
        assert_eq!(l.try_acquire(10_000, t0), Ok(()));
        assert_eq!(l.try_acquire(10_000, t0), Err(Duration::from_secs(60)));
        assert_eq!(l.try_acquire(10_000, t0 + Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn settling_gives_back_an_overestimate_and_takes_an_underestimate() {
        let t0 = Instant::now();
        let l = limiter(0, 1000, t0);
        assert_eq!(l.try_acquire(800, t0), Ok(()));
        l.settle(800, 300, t0);
        assert_eq!(l.try_acquire(700, t0), Ok(()), "500 came back");
        assert!(l.try_acquire(1, t0).is_err());
        l.settle(0, 0, t0);
        let t1 = t0 + Duration::from_secs(6); // +100
        l.settle(0, 60, t1);
        assert_eq!(l.try_acquire(41, t1), Err(Duration::from_millis(60)));
        assert_eq!(l.try_acquire(40, t1), Ok(()));
    }

    #[test]
    fn unlimited_never_refuses_and_a_stale_clock_adds_nothing() {
        let t0 = Instant::now();
        let free = Limiter::new(Limits::UNLIMITED, t0);
        for _ in 0..10_000 {
            assert_eq!(free.try_acquire(u64::MAX, t0), Ok(()));
        }
        let l = limiter(1, 0, t0 + Duration::from_secs(5));
        assert_eq!(l.try_acquire(1, t0 + Duration::from_secs(5)), Ok(()));
        assert!(l.try_acquire(1, t0).is_err());
    }
}
