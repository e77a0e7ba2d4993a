//! Whether a remote provider answers and accepts its key, without spending
//! tokens: a GET of the provider's model list (`{base}/models` for an
//! OpenAI-compatible API, `{base}/v1beta/models` for Gemini).
//!
//! Used by `shopkeep doctor`. Like the chat calls, it sends the key only in a
//! header and scrubs it from anything it reports; it must not call a model.

use std::time::Duration;

use super::http;
use crate::config::{ProviderSettings, Secret};

/// What the model list said about the provider and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The list came back: the key works (or none is needed).
    Accepted { models: usize },
    /// 401 or 403: the provider refused the key.
    KeyRefused { status: u16 },
    /// Any other answer than success or a refused key.
    Unexpected { status: u16 },
    /// No answer at all: DNS, connection, TLS or timeout.
    Unreachable(String),
}

/// Lists the models of an OpenAI-compatible API with its key.
pub fn openai_models(provider: &ProviderSettings, timeout: Duration) -> Probe {
    let url = format!("{}/models", provider.base_url.trim_end_matches('/'));
    let bearer = format!("Bearer {}", provider.api_key.expose());
    let headers: &[(&str, &str)] = if provider.api_key.is_empty() {
        &[]
    } else {
        &[("authorization", &bearer)]
    };
    list(&url, headers, "data", timeout, &provider.api_key)
}

/// Lists the models of the Gemini API with its key.
pub fn gemini_models(provider: &ProviderSettings, timeout: Duration) -> Probe {
    let url = format!("{}/v1beta/models", provider.base_url.trim_end_matches('/'));
    let headers = [("x-goog-api-key", provider.api_key.expose())];
    list(&url, &headers, "models", timeout, &provider.api_key)
}

fn list(
    url: &str,
    headers: &[(&str, &str)],
    member: &str,
    timeout: Duration,
    secret: &Secret,
) -> Probe {
    let mut request = http::agent()
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .header("accept", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = match request.call() {
        Ok(response) => response,
        Err(error) => return Probe::Unreachable(http::scrub(&error.to_string(), secret)),
    };
    let status = response.status().as_u16();
    match status {
        200..=299 => {
            let models = response
                .body_mut()
                .read_to_string()
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|body| body[member].as_array().map(Vec::len))
                .unwrap_or(0);
            Probe::Accepted { models }
        }
        401 | 403 => Probe::KeyRefused { status },
        _ => Probe::Unexpected { status },
    }
}
