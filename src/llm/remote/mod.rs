//! Remote language models: an OpenAI-compatible chat endpoint and Google
//! Gemini, each behind a circuit breaker and our own RPM/TPM buckets
//! ([`Guarded`], what the router calls).
//!
//! This module owns the providers' wire formats and the failure policy of a
//! single backend. It must not touch the store, the web layer or commerce, and
//! it never chooses between backends (that is the router's job). API keys never
//! appear in logs, errors or `Debug` output.

mod breaker;
mod gemini;
mod http;
mod limiter;
mod openai;
pub mod probe;

use std::time::{Duration, Instant};

pub use breaker::{Admission, Breaker, BreakerSettings, BreakerState};
pub use gemini::{GEMINI_BASE_URL, Gemini};
pub use limiter::{Limiter, Limits};
pub use openai::OpenAiCompatible;

use super::template::{ChatMessage, ToolCall, ToolSpec};

/// One chat completion to ask for.
#[derive(Debug, Clone, Copy)]
pub struct RemoteRequest<'a> {
    pub messages: &'a [ChatMessage],
    pub tools: &'a [ToolSpec],
    pub max_tokens: usize,
    pub temperature: f32,
}

/// Tokens one call used, as the provider counted them. `cached` is the part
/// of `input` served from the provider's prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub cached: u64,
}

/// What the model answered: text, tool calls (arguments parsed to JSON), or both.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteReply {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: TokenUsage,
    /// The model that answered, as the provider names it.
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("the model API did not answer in time")]
    Timeout,
    #[error("the model API is rate limiting us{}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("the model API failed with HTTP {status}")]
    Server { status: u16 },
    /// 400/401/403/404 and other refusals of our request.
    #[error("the model API refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// The provider answered properly but gave nothing usable: a blocked
    /// prompt, a safety stop, or the output budget spent before any text.
    #[error("the model gave no answer: {reason}")]
    NoAnswer { reason: String },
    #[error("the model API sent a reply we cannot read: {0}")]
    Malformed(String),
    #[error("could not reach the model API: {0}")]
    Transport(String),
    #[error("the model API is failing; calls resume in {}s", .retry_in.as_secs_f32().ceil())]
    CircuitOpen { retry_in: Duration },
    #[error("our own rate limit for this model API is reached; room again in {}s", .retry_in.as_secs_f32().ceil())]
    LimitReached { retry_in: Duration },
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" (retry after {}s)", wait.as_secs_f32().ceil()),
        None => String::new(),
    }
}

impl RemoteError {
    /// Whether this outcome says the backend is unwell (and counts towards
    /// opening its circuit). Refusals of one particular request do not, except
    /// a bad key (401/403), which every later call would hit too; a blocked
    /// prompt does not, or one shopper could switch the backend off for all.
    pub fn trips_breaker(&self) -> bool {
        match self {
            RemoteError::Timeout
            | RemoteError::RateLimited { .. }
            | RemoteError::Server { .. }
            | RemoteError::Malformed(_)
            | RemoteError::Transport(_) => true,
            RemoteError::Rejected { status, .. } => matches!(status, 401 | 403),
            RemoteError::NoAnswer { .. }
            | RemoteError::CircuitOpen { .. }
            | RemoteError::LimitReached { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            RemoteError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// One remote provider speaking its own wire format. Blocking: callers run it
/// on a blocking thread.
pub trait RemoteBackend: Send + Sync {
    /// "openai" or "gemini".
    fn provider(&self) -> &'static str;
    /// One chat completion, bounded as a whole by `timeout`.
    fn chat(
        &self,
        model: &str,
        request: &RemoteRequest,
        timeout: Duration,
    ) -> Result<RemoteReply, RemoteError>;
}

/// A backend with its circuit breaker and RPM/TPM token buckets; what the router calls.
pub struct Guarded {
    backend: Box<dyn RemoteBackend>,
    limiter: Limiter,
    breaker: Breaker,
    /// How the latest call ended: `None` before any, then Ok or the error's text.
    last_outcome: std::sync::Mutex<Option<Result<(), String>>>,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("provider", &self.backend.provider())
            .field("limiter", &self.limiter)
            .field("breaker", &self.breaker)
            .finish()
    }
}

impl Guarded {
    pub fn new(
        backend: Box<dyn RemoteBackend>,
        limits: Limits,
        breaker: BreakerSettings,
    ) -> Guarded {
        Guarded {
            backend,
            limiter: Limiter::new(limits, Instant::now()),
            breaker: Breaker::new(breaker),
            last_outcome: std::sync::Mutex::new(None),
        }
    }

    /// Calls the backend unless its circuit is open or our own limit is
    /// reached (both refused at once, without network). Returns the reply and
    /// how long the call took.
    pub fn call(
        &self,
        model: &str,
        request: &RemoteRequest,
        timeout: Duration,
    ) -> Result<(RemoteReply, Duration), RemoteError> {
        let started = Instant::now();
        let admission = self
            .breaker
            .admit(started, timeout)
            .map_err(|retry_in| RemoteError::CircuitOpen { retry_in })?;
        let reserved = estimate_tokens(request);
        if let Err(retry_in) = self.limiter.try_acquire(reserved, started) {
            self.breaker.withdraw(admission, started);
            return Err(RemoteError::LimitReached { retry_in });
        }
        let outcome = self.backend.chat(model, request, timeout);
        let finished = Instant::now();
        match outcome {
            Ok(reply) => {
                self.breaker.record_success();
                self.note_outcome(Ok(()));
                let used = reply.usage.input.saturating_add(reply.usage.output);
                self.limiter.settle(reserved, used, finished);
                Ok((reply, finished - started))
            }
            Err(error) => {
                self.record_failure(model, &error, finished);
                Err(error)
            }
        }
    }

    fn record_failure(&self, model: &str, error: &RemoteError, now: Instant) {
        self.note_outcome(Err(error.to_string()));
        if error.trips_breaker() {
            self.breaker.record_failure(now, error.retry_after());
        } else {
            // The backend answered sensibly; only this request was refused.
            self.breaker.record_success();
        }
        tracing::warn!(
            provider = self.backend.provider(),
            model,
            %error,
            breaker = ?self.breaker.state(now),
            "remote model call failed"
        );
    }

    fn note_outcome(&self, outcome: Result<(), String>) {
        let mut last = self
            .last_outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *last = Some(outcome);
    }

    /// How the latest call that reached the API ended (`None` before any),
    /// for `/readyz` and the dashboard.
    pub fn last_outcome(&self) -> Option<Result<(), String>> {
        self.last_outcome
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Closed, Open or HalfOpen, for `/readyz` and the dashboard.
    pub fn state(&self) -> BreakerState {
        self.breaker.state(Instant::now())
    }

    pub fn provider(&self) -> &'static str {
        self.backend.provider()
    }
}

/// Input tokens guessed as characters / 4 (all text sent: messages, tool
/// calls, tool definitions) plus the most the reply may use.
pub fn estimate_tokens(request: &RemoteRequest) -> u64 {
    let message_chars: usize = request
        .messages
        .iter()
        .map(|m| {
            m.content.chars().count()
                + m.tool_calls
                    .iter()
                    .map(|c| c.function.name.len() + c.function.arguments.to_string().len())
                    .sum::<usize>()
        })
        .sum();
    let tool_chars: usize = request
        .tools
        .iter()
        .map(|t| serde_json::to_string(t).map_or(0, |s| s.len()))
        .sum();
    let input = (message_chars + tool_chars).div_ceil(4);
    u64::try_from(input.saturating_add(request.max_tokens)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::template::{FunctionCall, FunctionSpec, Role};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A backend that answers from a script, without network, counting calls.
    struct Scripted {
        outcomes: Mutex<Vec<Result<RemoteReply, RemoteError>>>,
        calls: AtomicUsize,
    }

    impl RemoteBackend for Scripted {
        fn provider(&self) -> &'static str {
            "scripted"
        }

        fn chat(
            &self,
            _: &str,
            _: &RemoteRequest,
            _: Duration,
        ) -> Result<RemoteReply, RemoteError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.outcomes
                .lock()
                .unwrap()
                .pop()
                .unwrap_or(Err(RemoteError::Server { status: 599 }))
        }
    }

    fn reply(input: u64, output: u64) -> RemoteReply {
        RemoteReply {
            text: "hi".into(),
            tool_calls: Vec::new(),
            usage: TokenUsage {
                input,
                output,
                cached: 0,
            },
            model: "m".into(),
        }
    }

    fn request<'a>(messages: &'a [ChatMessage], tools: &'a [ToolSpec]) -> RemoteRequest<'a> {
        RemoteRequest {
            messages,
            tools,
            max_tokens: 100,
            temperature: 0.0,
        }
    }

    fn guarded(outcomes: Vec<Result<RemoteReply, RemoteError>>, limits: Limits) -> Guarded {
        let mut outcomes = outcomes;
        outcomes.reverse();
        Guarded::new(
            Box::new(Scripted {
                outcomes: Mutex::new(outcomes),
                calls: AtomicUsize::new(0),
            }),
            limits,
            BreakerSettings {
                failures: 2,
                cooldown: Duration::from_secs(3600),
            },
        )
    }

    #[test]
    fn the_estimate_counts_every_character_sent_plus_the_reply_budget() {
        let mut assistant = ChatMessage::new(Role::Assistant, "");
        assistant.tool_calls.push(ToolCall {
            id: "c1".into(),
            kind: "function",
            function: FunctionCall {
                name: "abcd".into(),
                arguments: serde_json::json!({"q": "x"}),
            },
        });
        let messages = [ChatMessage::new(Role::User, "héllo wörld!"), assistant];
        // 12 chars + 4 + 9 ({"q":"x"}) = 25 → 7 tokens, + 100.
        assert_eq!(estimate_tokens(&request(&messages, &[])), 107);
        let tools = [ToolSpec {
            kind: "function",
            function: FunctionSpec {
                name: "t".into(),
                description: String::new(),
                parameters: serde_json::json!({}),
            },
        }];
        let with_tools = estimate_tokens(&request(&messages, &tools));
        assert!(with_tools > 107, "{with_tools}");
    }

    #[test]
    fn refusals_of_one_request_leave_the_breaker_closed() {
        let rejected = || {
            Err(RemoteError::Rejected {
                status: 400,
                message: "too long".into(),
            })
        };
        let g = guarded(vec![rejected(), rejected(), rejected()], Limits::UNLIMITED);
        let messages = [ChatMessage::new(Role::User, "hi")];
        for _ in 0..3 {
            assert!(matches!(
                g.call("m", &request(&messages, &[]), Duration::from_secs(1)),
                Err(RemoteError::Rejected { status: 400, .. })
            ));
        }
        assert_eq!(g.state(), BreakerState::Closed);
    }

    #[test]
    fn a_bad_key_opens_the_breaker_and_later_calls_fail_fast() {
        let unauthorized = || {
            Err(RemoteError::Rejected {
                status: 401,
                message: "bad key".into(),
            })
        };
        let g = guarded(
            vec![unauthorized(), unauthorized(), Ok(reply(1, 1))],
            Limits::UNLIMITED,
        );
        let messages = [ChatMessage::new(Role::User, "hi")];
        let call = || g.call("m", &request(&messages, &[]), Duration::from_secs(1));
        assert!(call().is_err());
        assert!(call().is_err());
        assert!(matches!(call(), Err(RemoteError::CircuitOpen { .. })));
        assert!(matches!(g.state(), BreakerState::Open { .. }));
    }

    #[test]
    fn our_limit_refuses_before_the_backend_is_called_and_settles_on_usage() {
        let limits = Limits {
            requests_per_minute: 0,
            tokens_per_minute: 250,
        };
        let g = guarded(
            vec![Ok(reply(10, 10)), Ok(reply(10, 10)), Ok(reply(100, 100))],
            limits,
        );
        let messages = [ChatMessage::new(Role::User, "hi")];
        // Each call reserves 101 tokens; the replies used 20, so 81 came back each time.
        for _ in 0..2 {
            assert!(
                g.call("m", &request(&messages, &[]), Duration::from_secs(1))
                    .is_ok()
            );
        }
        // 210 left (48 without the settling): a third fits, and its 200 tokens leave 10.
        assert!(
            g.call("m", &request(&messages, &[]), Duration::from_secs(1))
                .is_ok()
        );
        let refused = g.call("m", &request(&messages, &[]), Duration::from_secs(1));
        assert!(
            matches!(refused, Err(RemoteError::LimitReached { retry_in }) if retry_in > Duration::ZERO),
            "{refused:?}"
        );
    }

    #[test]
    fn errors_read_well() {
        let text = RemoteError::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        }
        .to_string();
        assert_eq!(text, "the model API is rate limiting us (retry after 2s)");
        let open = RemoteError::CircuitOpen {
            retry_in: Duration::from_secs(29),
        };
        assert_eq!(
            open.to_string(),
            "the model API is failing; calls resume in 29s"
        );
    }
}
