//! A persistent pool of worker threads for the mat-mul kernels.
//!
//! Decoding one token runs a few hundred small mat-muls, each a few tens of
//! microseconds long, so waking sleeping threads for each (a futex round
//! trip, often 20–50 µs) would cost as much as the work. Workers therefore
//! spin for a short while after each job, catching the next one at once,
//! and only then sleep on a condition variable, so an idle server burns no
//! CPU.
//!
//! The pool runs one job at a time: a job is a closure called once on every
//! thread with that thread's index. It owns the threads and nothing else.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps. Long enough to bridge the
/// gaps between the mat-muls of one token, short enough to go quiet at once
/// when generation stops.
const SPIN: Duration = Duration::from_millis(2);

type Job<'a> = &'a (dyn Fn(usize) + Sync);

struct Shared {
    /// Bumped once per job; workers run the job when they see it change.
    epoch: AtomicUsize,
    /// The current job; written before `epoch` is bumped, read after.
    job: UnsafeCell<Option<Job<'static>>>,
    /// Workers still running the current job.
    running: AtomicUsize,
    panicked: AtomicBool,
    shutdown: AtomicBool,
    sleepers: Mutex<usize>,
    wake: Condvar,
}

// SAFETY: `job` is written only by the dispatcher while no worker reads it
// (between jobs, under the dispatch lock) and read by workers only after
// they observe the epoch bump that publishes it.
unsafe impl Sync for Shared {}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    dispatch: Mutex<()>,
}

impl Pool {
    /// A pool of `threads` threads in all: the caller of [`Pool::run`] is
    /// thread 0, so `threads - 1` workers are started.
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            job: UnsafeCell::new(None),
            running: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: Mutex::new(0),
            wake: Condvar::new(),
        });
        let mut workers = Vec::with_capacity(threads.saturating_sub(1));
        for index in 1..threads.max(1) {
            let worker_shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("shopkeep-matmul-{index}"))
                .spawn(move || work(&worker_shared, index));
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(error) => {
                    // Jobs split work by thread index, so the indices must
                    // stay contiguous: run on the threads we have.
                    tracing::warn!(%error, threads = index, "could not start every mat-mul thread");
                    break;
                }
            }
        }
        Pool {
            shared,
            workers,
            dispatch: Mutex::new(()),
        }
    }

    /// Threads a job runs on, the caller's included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Calls `job(i)` once on each thread `i` in `0..threads()` and returns
    /// when all calls have returned.
    pub fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            job(0);
            return;
        }
        let _one_job_at_a_time = self.dispatch.lock().unwrap_or_else(|e| e.into_inner());
        let shared = &*self.shared;
        // SAFETY: the reference is only used by workers until `running`
        // drops to zero, which this function waits for before returning, so
        // it never outlives `job`.
        let job_static: Job<'static> = unsafe { std::mem::transmute(job) };
        // SAFETY: no worker reads `job` now: the previous job is finished and
        // the new epoch is not published yet.
        unsafe { *shared.job.get() = Some(job_static) };
        shared.running.store(self.workers.len(), Ordering::Relaxed);
        shared.epoch.fetch_add(1, Ordering::Release);
        if *shared.sleepers.lock().unwrap_or_else(|e| e.into_inner()) > 0 {
            shared.wake.notify_all();
        }
        let own = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(0)));
        let mut spins = 0u32;
        while shared.running.load(Ordering::Acquire) != 0 {
            backoff(&mut spins);
        }
        // SAFETY: every worker is done with the job.
        unsafe { *shared.job.get() = None };
        if let Err(panic) = own {
            std::panic::resume_unwind(panic);
        }
        if shared.panicked.swap(false, Ordering::Relaxed) {
            panic!("a mat-mul worker thread panicked");
        }
    }
}

fn work(shared: &Shared, index: usize) {
    let mut seen = 0;
    loop {
        seen = next_epoch(shared, seen);
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: the epoch bump we acquired published the job, and it stays
        // valid until we decrement `running`.
        let job = unsafe { *shared.job.get() };
        if let Some(job) = job
            && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(index))).is_err()
        {
            shared.panicked.store(true, Ordering::Relaxed);
        }
        shared.running.fetch_sub(1, Ordering::Release);
    }
}

/// One step of a busy wait: a CPU pause, and every 64th step a yield. The
/// thread waited on may have been descheduled on a busy machine, and other
/// threads (candle's own pool runs attention) may need this core more than
/// a waiting one does.
fn backoff(spins: &mut u32) {
    *spins = spins.wrapping_add(1);
    if spins.is_multiple_of(64) {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Waits until the epoch moves past `seen` (spinning, then sleeping) and
/// returns the new one.
fn next_epoch(shared: &Shared, seen: usize) -> usize {
    let started = Instant::now();
    let mut spins = 0u32;
    loop {
        let epoch = shared.epoch.load(Ordering::Acquire);
        if epoch != seen || shared.shutdown.load(Ordering::Acquire) {
            return epoch;
        }
        backoff(&mut spins);
        if spins.is_multiple_of(1024) && started.elapsed() > SPIN {
            break;
        }
    }
    let mut sleepers = shared.sleepers.lock().unwrap_or_else(|e| e.into_inner());
    *sleepers += 1;
    while shared.epoch.load(Ordering::Acquire) == seen && !shared.shutdown.load(Ordering::Acquire) {
        sleepers = shared
            .wake
            .wait(sleepers)
            .unwrap_or_else(|e| e.into_inner());
    }
    *sleepers -= 1;
    shared.epoch.load(Ordering::Acquire)
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        drop(
            self.shared
                .sleepers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        self.shared.wake.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

static GLOBAL: OnceLock<Pool> = OnceLock::new();
static CONFIGURED: AtomicUsize = AtomicUsize::new(0);

/// Sets the thread count of the shared pool; 0 means one per physical core.
/// Only a call before the pool's first use has an effect.
pub fn configure(threads: usize) {
    CONFIGURED.store(threads, Ordering::Relaxed);
}

/// The process-wide pool the models share.
pub fn global() -> &'static Pool {
    GLOBAL.get_or_init(|| {
        let threads = match CONFIGURED.load(Ordering::Relaxed) {
            0 => physical_cores(),
            n => n,
        };
        Pool::new(threads)
    })
}

/// Physical cores this process may use: hyper-threads share one core's
/// vector units, so a second thread per core only adds contention.
pub fn physical_cores() -> usize {
    let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cores = std::collections::BTreeSet::new();
    for cpu in 0..allowed.max(1) * 4 {
        let topology = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let read = |name: &str| std::fs::read_to_string(format!("{topology}/{name}")).ok();
        if let (Some(package), Some(core)) = (read("physical_package_id"), read("core_id")) {
            cores.insert((package.trim().to_string(), core.trim().to_string()));
        }
    }
    match cores.len() {
        0 => allowed,
        n => n.min(allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_runs_each_job_once_and_jobs_see_fresh_data() {
        let pool = Pool::new(3);
        assert_eq!(pool.threads(), 3);
        for round in 0..2000usize {
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            pool.run(&|i| {
                hits[i].fetch_add(round + 1, Ordering::Relaxed);
            });
            for hit in &hits {
                assert_eq!(hit.load(Ordering::Relaxed), round + 1);
            }
            if round == 1000 {
                // Let the workers fall asleep, then wake them with the next job.
                std::thread::sleep(SPIN * 3);
            }
        }
    }

    #[test]
    fn a_panicking_job_is_reported_and_the_pool_keeps_working() {
        let pool = Pool::new(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(&|i| assert!(i == 0, "worker fails"));
        }));
        assert!(result.is_err());
        let count = AtomicUsize::new(0);
        pool.run(&|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 2);
    }
}
