//! One inference worker per loaded model: a thread that owns the engine and
//! takes requests from a bounded queue, so a busy model answers "try again"
//! at once instead of piling up work, and a request whose client left is
//! dropped or cancelled instead of run to the end.
//!
//! It owns the queue and the thread; what a request means is the caller's.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::local::{Completion, Engine, Frontend, GenerateError, GenerateRequest, TokenSink};

/// What a running request reports, in order: text pieces, then one `Done`.
#[derive(Debug)]
pub enum Event {
    Text(String),
    Done(Result<Completion, GenerateError>),
}

/// Why a request was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the model is busy with {queued} queued requests; retry in {retry_after_secs} s")]
    Busy {
        queued: usize,
        retry_after_secs: u64,
    },
    #[error("the model worker has stopped")]
    Stopped,
}

struct Job {
    request: GenerateRequest,
    events: UnboundedSender<Event>,
}

/// Counters shared between the handle and the thread.
#[derive(Default)]
struct Load {
    queued: AtomicUsize,
    /// Average job time in ms (exponentially weighted), for Retry-After.
    average_job_ms: AtomicU64,
}

/// The handle request handlers hold; cloning it is cheap.
#[derive(Clone)]
pub struct ModelWorker {
    frontend: Arc<Frontend>,
    jobs: SyncSender<Job>,
    load: Arc<Load>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl ModelWorker {
    /// Starts the worker thread with a queue of `capacity` waiting requests.
    pub fn start(engine: Engine, capacity: usize) -> std::io::Result<ModelWorker> {
        let frontend = engine.frontend();
        let (jobs, queue) = sync_channel(capacity.max(1));
        let load = Arc::new(Load::default());
        let thread_load = Arc::clone(&load);
        let thread = std::thread::Builder::new()
            .name(format!("llm-{}", frontend.info.id))
            .spawn(move || run(engine, queue, thread_load))?;
        Ok(ModelWorker {
            frontend,
            jobs,
            load,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    pub fn frontend(&self) -> &Arc<Frontend> {
        &self.frontend
    }

    pub fn queued(&self) -> usize {
        self.load.queued.load(Ordering::Relaxed)
    }

    /// Queues a request; its events arrive on the returned receiver. Dropping
    /// the receiver cancels the request.
    pub fn submit(
        &self,
        request: GenerateRequest,
    ) -> Result<UnboundedReceiver<Event>, SubmitError> {
        let (events, receiver) = unbounded_channel();
        self.load.queued.fetch_add(1, Ordering::Relaxed);
        match self.jobs.try_send(Job { request, events }) {
            Ok(()) => Ok(receiver),
            Err(error) => {
                let queued = self.load.queued.fetch_sub(1, Ordering::Relaxed) - 1;
                Err(match error {
                    TrySendError::Full(_) => SubmitError::Busy {
                        queued,
                        retry_after_secs: self.retry_after(queued).as_secs().max(1),
                    },
                    TrySendError::Disconnected(_) => SubmitError::Stopped,
                })
            }
        }
    }

    fn retry_after(&self, queued: usize) -> Duration {
        let average = self.load.average_job_ms.load(Ordering::Relaxed).max(1000);
        Duration::from_millis(average * queued.max(1) as u64 / 2)
    }

    /// Stops taking requests and waits for the running one to finish.
    pub fn stop(self) {
        let ModelWorker { jobs, thread, .. } = self;
        drop(jobs);
        let handle = thread.lock().ok().and_then(|mut t| t.take());
        if let Some(handle) = handle {
            // Other clones still hold the sender until they are dropped; the
            // thread ends when the last one goes.
            if Arc::strong_count(&thread) == 1 && handle.join().is_err() {
                tracing::error!("the model worker thread panicked");
            }
        }
    }
}

/// Sends text to the request's channel; a closed channel means the client left.
struct ChannelSink<'a>(&'a UnboundedSender<Event>);

impl TokenSink for ChannelSink<'_> {
    fn text(&mut self, text: &str) -> bool {
        self.0.send(Event::Text(text.to_string())).is_ok()
    }

    fn is_cancelled(&self) -> bool {
        self.0.is_closed()
    }
}

fn run(mut engine: Engine, queue: Receiver<Job>, load: Arc<Load>) {
    while let Ok(job) = queue.recv() {
        load.queued.fetch_sub(1, Ordering::Relaxed);
        if job.events.is_closed() {
            tracing::debug!("skipping a queued request whose client left");
            continue;
        }
        let started = std::time::Instant::now();
        let mut sink = ChannelSink(&job.events);
        let result = engine.generate(&job.request, &mut sink);
        if let Ok(done) = &result
            && done.finish == super::local::FinishReason::Cancelled
        {
            tracing::info!(
                tokens = done.completion_tokens,
                "generation cancelled: the client went away"
            );
        }
        let elapsed = started.elapsed().as_millis() as u64;
        let previous = load.average_job_ms.load(Ordering::Relaxed);
        let average = if previous == 0 {
            elapsed
        } else {
            (previous * 7 + elapsed) / 8
        };
        load.average_job_ms.store(average, Ordering::Relaxed);
        // The client may be gone; nothing to do about it then.
        let _ = job.events.send(Event::Done(result));
    }
}
