//! A small scheduler: runs a job once a day at a fixed UTC time of day, or
//! at a fixed interval, on its own thread, until stopped.
//!
//! Owns only the timing. The job is the caller's closure (the nightly
//! recommendation rebuild, the intent refinement, the certificate check), so this module neither reads nor writes the store
//! itself. It wakes at least once a minute to re-read the clock, so a clock
//! step or a suspended VM delays a run by a minute at most, and a stop is
//! answered at once, or as soon as a running job returns.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use time::{OffsetDateTime, Time};

/// The longest the thread sleeps before looking at the clock again.
const MAX_NAP: Duration = Duration::from_secs(60);

/// A running schedule. Dropping it also stops the thread, without waiting.
pub struct Scheduler {
    name: &'static str,
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Scheduler {
    /// Runs `job` every day at `at` (hour, minute) UTC, first at the next such time.
    pub fn daily(
        name: &'static str,
        at: (u8, u8),
        job: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Scheduler> {
        Self::start(name, move |now| next_daily(now, at), job)
    }

    /// Runs `job` every `interval`, first one interval after the start.
    pub fn every(
        name: &'static str,
        interval: Duration,
        job: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Scheduler> {
        let step = time::Duration::try_from(interval).unwrap_or(time::Duration::HOUR);
        Self::start(name, move |now| now + step, job)
    }

    /// Runs `job` at once, then again after the wait each run returns (a
    /// day after a certificate check that found nothing to do, seconds after
    /// one that failed).
    pub fn paced(
        name: &'static str,
        mut job: impl FnMut() -> Duration + Send + 'static,
    ) -> std::io::Result<Scheduler> {
        let wait = Arc::new(AtomicU64::new(0));
        let after = Arc::clone(&wait);
        Self::start(
            name,
            move |now| now + time::Duration::milliseconds(after.load(Ordering::Relaxed) as i64),
            move || wait.store(job().as_millis() as u64, Ordering::Relaxed),
        )
    }

    /// Runs `job` at each time `next` gives after the previous run (or the start).
    fn start(
        name: &'static str,
        mut next: impl FnMut(OffsetDateTime) -> OffsetDateTime + Send + 'static,
        mut job: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Scheduler> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("schedule-{name}"))
            .spawn(move || {
                let mut due = next(OffsetDateTime::now_utc());
                tracing::info!(job = name, next_run = %due, "scheduled");
                loop {
                    let now = OffsetDateTime::now_utc();
                    if now >= due {
                        run_guarded(name, &mut job);
                        due = next(OffsetDateTime::now_utc());
                        continue;
                    }
                    let nap = (due - now).try_into().unwrap_or(MAX_NAP).min(MAX_NAP);
                    match stopped.recv_timeout(nap) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Scheduler { name, stop, thread })
    }

    /// Stops the schedule and waits for a job in progress to finish.
    pub fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::warn!(job = self.name, "scheduler thread ended abnormally");
        }
    }
}

/// A panicking job is logged and tried again at its next time, not fatal to the schedule.
fn run_guarded(name: &'static str, job: &mut impl FnMut()) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        tracing::error!(
            job = name,
            "scheduled job panicked; it runs again at its next time"
        );
    }
}

/// The first moment strictly after `now` whose UTC time of day is `at`.
pub fn next_daily(now: OffsetDateTime, (hour, minute): (u8, u8)) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    let at = Time::from_hms(hour.min(23), minute.min(59), 0).unwrap_or(Time::MIDNIGHT);
    let today = now.replace_time(at);
    if today > now {
        today
    } else {
        today + time::Duration::DAY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;
    use time::format_description::well_known::Rfc3339;

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &Rfc3339).unwrap()
    }

    #[test]
    fn the_next_run_is_later_today_or_tomorrow() {
        let three = (3, 0);
        assert_eq!(
            next_daily(at("2026-03-10T02:59:59Z"), three),
            at("2026-03-10T03:00:00Z")
        );
        assert_eq!(
            next_daily(at("2026-03-10T03:00:00Z"), three),
            at("2026-03-11T03:00:00Z"),
            "a run that just happened is not repeated"
        );
        assert_eq!(
            next_daily(at("2026-12-31T23:30:00Z"), (0, 15)),
            at("2027-01-01T00:15:00Z")
        );
        assert_eq!(
            next_daily(at("2026-03-10T02:00:00+04:00"), three),
            at("2026-03-10T03:00:00Z"),
            "times of day are UTC whatever the offset given"
        );
    }

    #[test]
    fn jobs_run_when_due_survive_a_panic_and_stop_promptly() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let scheduler = Scheduler::start(
            "test",
            |now| now + time::Duration::milliseconds(20),
            move || {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("the first run fails");
                }
            },
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "the job did not run again");
            std::thread::sleep(Duration::from_millis(5));
        }
        let stopping = Instant::now();
        scheduler.stop();
        let after_stop = runs.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(runs.load(Ordering::SeqCst), after_stop, "no run after stop");
        assert!(stopping.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_paced_job_runs_at_once_and_sets_its_next_wait() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let scheduler = Scheduler::paced("paced-test", move || {
            // Two quick retries, then a long wait.
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                Duration::from_millis(10)
            } else {
                Duration::from_secs(3600)
            }
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "the retries did not run");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(runs.load(Ordering::SeqCst), 3, "the long wait is kept");
        scheduler.stop();
    }

    #[test]
    fn a_daily_schedule_waits_and_stops_at_once() {
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&runs);
        let far = ((OffsetDateTime::now_utc().hour() + 12) % 24, 0);
        let scheduler = Scheduler::daily("daily-test", far, move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let stopping = Instant::now();
        scheduler.stop();
        assert!(
            stopping.elapsed() < Duration::from_secs(1),
            "stop is prompt"
        );
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }
}
