//! The circuit breaker of one remote backend: after a run of failures it stops
//! sending requests for a cooldown, then lets a single probe through and
//! closes again when the probe succeeds.
//!
//! It only counts outcomes and keeps time; it never touches the network. The
//! current instant is passed in by the caller so tests can drive the clock.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit (at least 1).
    pub failures: u32,
    /// How long the circuit stays open before a probe is let through.
    pub cooldown: Duration,
}

/// What `/readyz` and the dashboard show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open {
        #[serde(skip)]
        until: Instant,
    },
    /// The cooldown is over: the next call (or the one in flight) is the probe.
    HalfOpen,
}

/// Whether a call was let through as an ordinary call or as the one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Normal,
    Probe,
}

#[derive(Debug)]
enum Phase {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is out; it is presumed lost after `deadline` and another may go.
    Probing {
        deadline: Instant,
    },
}

#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    phase: Mutex<Phase>,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Breaker {
        Breaker {
            settings: BreakerSettings {
                failures: settings.failures.max(1),
                ..settings
            },
            phase: Mutex::new(Phase::Closed {
                consecutive_failures: 0,
            }),
        }
    }

    /// Lets a call through, or says how long until one may go. A call let
    /// through after the cooldown is the probe; `probe_timeout` bounds how
    /// long other callers wait for its verdict.
    pub fn admit(&self, now: Instant, probe_timeout: Duration) -> Result<Admission, Duration> {
        let mut phase = self.phase();
        match *phase {
            Phase::Closed { .. } => Ok(Admission::Normal),
            Phase::Open { until } | Phase::Probing { deadline: until } if now < until => {
                Err(until - now)
            }
            Phase::Open { .. } | Phase::Probing { .. } => {
                *phase = Phase::Probing {
                    deadline: now + probe_timeout,
                };
                Ok(Admission::Probe)
            }
        }
    }

    /// A probe that was admitted but never sent (our own rate limit stopped
    /// it) gives its turn back.
    pub fn withdraw(&self, admission: Admission, now: Instant) {
        if admission == Admission::Probe {
            let mut phase = self.phase();
            if matches!(*phase, Phase::Probing { .. }) {
                *phase = Phase::Open { until: now };
            }
        }
    }

    /// The backend answered: the run of failures is over.
    pub fn record_success(&self) {
        *self.phase() = Phase::Closed {
            consecutive_failures: 0,
        };
    }

    /// The backend failed. `retry_after` (a 429's Retry-After) lengthens the
    /// cooldown when the circuit opens.
    pub fn record_failure(&self, now: Instant, retry_after: Option<Duration>) {
        let cooldown = self.settings.cooldown.max(retry_after.unwrap_or_default());
        let mut phase = self.phase();
        let next = match *phase {
            Phase::Closed {
                consecutive_failures,
            } if consecutive_failures + 1 < self.settings.failures => Phase::Closed {
                consecutive_failures: consecutive_failures + 1,
            },
            // A failure while open came from a call admitted before it opened:
            // it may lengthen the cooldown, never shorten it.
            Phase::Open { until } => Phase::Open {
                until: until.max(now + cooldown),
            },
            Phase::Closed { .. } | Phase::Probing { .. } => Phase::Open {
                until: now + cooldown,
            },
        };
        *phase = next;
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match *self.phase() {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { until } if now < until => BreakerState::Open { until },
            Phase::Open { .. } | Phase::Probing { .. } => BreakerState::HalfOpen,
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // The phase is a plain value, always whole: a panic elsewhere cannot corrupt it.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(30);
    const PROBE: Duration = Duration::from_secs(8);

    fn breaker(failures: u32) -> Breaker {
        Breaker::new(BreakerSettings {
            failures,
            cooldown: COOLDOWN,
        })
    }

    #[test]
    fn opens_after_the_configured_run_of_failures_only() {
        let b = breaker(3);
        let t0 = Instant::now();
        b.record_failure(t0, None);
        b.record_failure(t0, None);
        assert_eq!(b.admit(t0, PROBE), Ok(Admission::Normal));
        b.record_success();
        b.record_failure(t0, None);
        b.record_failure(t0, None);
        assert_eq!(b.state(t0), BreakerState::Closed, "a success broke the run");
        b.record_failure(t0, None);
        assert_eq!(
            b.state(t0),
            BreakerState::Open {
                until: t0 + COOLDOWN
            }
        );
        assert_eq!(
            b.admit(t0 + Duration::from_secs(10), PROBE),
            Err(Duration::from_secs(20))
        );
    }

    #[test]
    fn one_probe_after_the_cooldown_and_its_verdict_decides() {
        let b = breaker(1);
        let t0 = Instant::now();
        b.record_failure(t0, None);
        let after = t0 + COOLDOWN;
        assert_eq!(b.state(after), BreakerState::HalfOpen);
        assert_eq!(b.admit(after, PROBE), Ok(Admission::Probe));
        assert_eq!(
            b.admit(after + Duration::from_secs(1), PROBE),
            Err(Duration::from_secs(7)),
            "only one probe at a time"
        );
        b.record_failure(after + Duration::from_secs(2), None);
        assert_eq!(
            b.state(after + Duration::from_secs(3)),
            BreakerState::Open {
                until: after + Duration::from_secs(2) + COOLDOWN
            },
            "a failed probe opens it again"
        );
        let later = after + Duration::from_secs(2) + COOLDOWN;
        assert_eq!(b.admit(later, PROBE), Ok(Admission::Probe));
        b.record_success();
        assert_eq!(b.state(later), BreakerState::Closed);
        assert_eq!(b.admit(later, PROBE), Ok(Admission::Normal));
    }

    #[test]
    fn a_lost_probe_lets_another_go_after_its_timeout() {
        let b = breaker(1);
        let t0 = Instant::now();
        b.record_failure(t0, None);
        assert_eq!(b.admit(t0 + COOLDOWN, PROBE), Ok(Admission::Probe));
        assert_eq!(b.admit(t0 + COOLDOWN + PROBE, PROBE), Ok(Admission::Probe));
    }

    #[test]
    fn a_withdrawn_probe_gives_its_turn_back() {
        let b = breaker(1);
        let t0 = Instant::now();
        b.record_failure(t0, None);
        let after = t0 + COOLDOWN;
        assert_eq!(b.admit(after, PROBE), Ok(Admission::Probe));
        b.withdraw(Admission::Probe, after);
        assert_eq!(b.admit(after, PROBE), Ok(Admission::Probe));
        b.withdraw(Admission::Normal, after);
        assert!(
            b.admit(after, PROBE).is_err(),
            "a normal withdrawal changes nothing"
        );
    }

    #[test]
    fn retry_after_lengthens_the_cooldown_but_never_shortens_it() {
        let b = breaker(1);
        let t0 = Instant::now();
        b.record_failure(t0, Some(Duration::from_secs(90)));
        assert_eq!(
            b.state(t0),
            BreakerState::Open {
                until: t0 + Duration::from_secs(90)
            }
        );
        let short = breaker(1);
        short.record_failure(t0, Some(Duration::from_secs(1)));
        assert_eq!(
            short.state(t0),
            BreakerState::Open {
                until: t0 + COOLDOWN
            }
        );
        short.record_failure(t0, Some(Duration::from_secs(120)));
        assert_eq!(
            short.state(t0),
            BreakerState::Open {
                until: t0 + Duration::from_secs(120)
            },
            "a late 429 from a call already in flight lengthens an open circuit"
        );
    }

    #[test]
    fn zero_failures_is_read_as_one() {
        let b = breaker(0);
        let t0 = Instant::now();
        assert_eq!(b.state(t0), BreakerState::Closed);
        b.record_failure(t0, None);
        assert!(matches!(b.state(t0), BreakerState::Open { .. }));
    }
}
