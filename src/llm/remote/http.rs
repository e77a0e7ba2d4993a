//! The HTTP exchange both providers share: POST a JSON body within a time
//! bound, and sort what comes back into a body to parse or a [`RemoteError`].
//!
//! It knows the status codes and rate-limit hints of model APIs, not their
//! payloads; the API key is only ever put in a header and scrubbed from any
//! message the server echoes back.

use std::io;
use std::time::Duration;

use serde_json::Value;

use super::RemoteError;
use crate::config::Secret;

/// Longest server message kept in a `Rejected` error.
const MAX_MESSAGE_CHARS: usize = 300;

/// One client per backend: it keeps connections to the provider alive between calls.
pub(super) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(format!("shopkeep/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// POSTs `body` to `url` and returns the response text of a 2xx answer. The
/// whole exchange, reading the body included, is bounded by `timeout`.
pub(super) fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &Value,
    timeout: Duration,
    secret: &Secret,
) -> Result<String, RemoteError> {
    let mut request = agent
        .post(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .header("content-type", "application/json")
        .header("accept", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .send(body.to_string())
        .map_err(|e| transport_error(e, secret))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| transport_error(e, secret))?;
    match status {
        200..=299 => Ok(text),
        _ => Err(status_error(status, retry_after, &text, secret)),
    }
}

fn transport_error(error: ureq::Error, secret: &Secret) -> RemoteError {
    match error {
        ureq::Error::Timeout(_) => RemoteError::Timeout,
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            RemoteError::Timeout
        }
        other => RemoteError::Transport(scrub(&other.to_string(), secret)),
    }
}

/// A non-2xx answer as an error. Both providers put a human message in
/// `error.message`; Gemini also puts the wait of a 429 in the body.
fn status_error(
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
    secret: &Secret,
) -> RemoteError {
    let json: Option<Value> = serde_json::from_str(body).ok();
    match status {
        429 => RemoteError::RateLimited {
            retry_after: retry_after.or_else(|| json.as_ref().and_then(body_retry_delay)),
        },
        408 => RemoteError::Timeout,
        500..=599 => RemoteError::Server { status },
        _ => RemoteError::Rejected {
            status,
            message: scrub(&error_message(json.as_ref(), body), secret),
        },
    }
}

fn error_message(json: Option<&Value>, body: &str) -> String {
    let from_json = json.and_then(|j| {
        j.pointer("/error/message")
            .or_else(|| j.get("error"))
            .or_else(|| j.get("message"))
            .and_then(Value::as_str)
    });
    let message = from_json.unwrap_or(body).trim();
    if message.is_empty() {
        return "no message".to_string();
    }
    let mut short: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    if short.len() < message.len() {
        short.push('…');
    }
    short
}

/// Replaces the API key wherever a server (or a URL in an error) echoed it.
pub(super) fn scrub(text: &str, secret: &Secret) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret.expose(), "<redacted>")
    }
}

/// `Retry-After: 30`, `Retry-After: 1.5` or an HTTP date.
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = at - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// Gemini's `RetryInfo` detail: `{"@type": "….RetryInfo", "retryDelay": "37s"}`.
fn body_retry_delay(json: &Value) -> Option<Duration> {
    json.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter_map(|detail| detail.get("retryDelay")?.as_str())
        .find_map(|delay| parse_retry_after(delay.strip_suffix('s')?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_fractions_and_dates() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        let future = time::OffsetDateTime::now_utc() + time::Duration::seconds(120);
        let date = future
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let wait = parse_retry_after(&date).unwrap();
        assert!(
            (Duration::from_secs(118)..=Duration::from_secs(120)).contains(&wait),
            "{date}: {wait:?}"
        );
    }

    #[test]
    fn statuses_sort_into_errors_and_messages_lose_the_key() {
        let key = Secret::new("sk-live-123");
        assert_eq!(
            status_error(503, None, "", &key),
            RemoteError::Server { status: 503 }
        );
        assert_eq!(status_error(408, None, "", &key), RemoteError::Timeout);
        let gemini_429 = r#"{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}"#;
        assert_eq!(
            status_error(429, None, gemini_429, &key),
            RemoteError::RateLimited {
                retry_after: Some(Duration::from_secs(37))
            }
        );
        assert_eq!(
            status_error(429, Some(Duration::from_secs(2)), gemini_429, &key),
            RemoteError::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            },
            "the header wins"
        );
        let echoed = r#"{"error":{"message":"Incorrect API key provided: sk-live-123."}}"#;
        assert_eq!(
            status_error(401, None, echoed, &key),
            RemoteError::Rejected {
                status: 401,
                message: "Incorrect API key provided: <redacted>.".into()
            }
        );
        let plain = status_error(404, None, &"x".repeat(1000), &key);
        let RemoteError::Rejected { message, .. } = plain else {
            panic!("{plain:?}")
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(matches!(
            status_error(400, None, " ", &key),
            RemoteError::Rejected { message, .. } if message == "no message"
        ));
    }
}
