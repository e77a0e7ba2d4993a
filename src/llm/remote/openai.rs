//! The OpenAI chat-completions wire format, spoken to OpenAI itself or to any
//! compatible server (vLLM, llama.cpp's server, our own `/v1`).
//!
//! It owns the request and response JSON of `POST {base}/chat/completions`
//! only; failure policy lives in [`super::Guarded`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::http;
use super::{RemoteBackend, RemoteError, RemoteReply, RemoteRequest, TokenUsage};
use crate::config::Secret;
use crate::llm::template::{ChatMessage, FunctionCall, Role, ToolCall, ToolSpec};

/// An OpenAI-compatible endpoint: `base_url` up to and including the version
/// (`https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`). An empty key
/// sends no `Authorization` header, for local servers that need none.
#[derive(Debug)]
pub struct OpenAiCompatible {
    base_url: String,
    api_key: Secret,
    agent: ureq::Agent,
}

impl OpenAiCompatible {
    pub fn new(base_url: &str, api_key: Secret) -> OpenAiCompatible {
        OpenAiCompatible {
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            api_key,
            agent: http::agent(),
        }
    }
}

impl RemoteBackend for OpenAiCompatible {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn chat(
        &self,
        model: &str,
        request: &RemoteRequest,
        timeout: Duration,
    ) -> Result<RemoteReply, RemoteError> {
        let url = format!("{}/chat/completions", self.base_url);
        let authorization = format!("Bearer {}", self.api_key.expose());
        let headers: &[(&str, &str)] = if self.api_key.is_empty() {
            &[]
        } else {
            &[("authorization", &authorization)]
        };
        let body = request_body(model, request);
        let text = http::post_json(&self.agent, &url, headers, &body, timeout, &self.api_key)?;
        parse_reply(&text, model)
    }
}

fn request_body(model: &str, request: &RemoteRequest) -> Value {
    let mut body = json!({
        "model": model,
        "messages": request.messages.iter().map(wire_message).collect::<Vec<_>>(),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": false,
    });
    if !request.tools.is_empty() {
        body["tools"] = request.tools.iter().map(wire_tool).collect();
    }
    body
}

fn wire_message(message: &ChatMessage) -> Value {
    match message.role {
        Role::System => json!({"role": "system", "content": message.content}),
        Role::User => json!({"role": "user", "content": message.content}),
        Role::Assistant if message.tool_calls.is_empty() => {
            json!({"role": "assistant", "content": message.content})
        }
        Role::Assistant => json!({
            "role": "assistant",
            // Servers refuse "" beside tool calls; null is the documented form.
            "content": (!message.content.is_empty()).then_some(&message.content),
            "tool_calls": message.tool_calls.iter().map(wire_tool_call).collect::<Vec<_>>(),
        }),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": message.tool_call_id.as_deref().unwrap_or_default(),
            "content": message.content,
        }),
    }
}

/// On the wire the arguments are a JSON *string*, not an object.
fn wire_tool_call(call: &ToolCall) -> Value {
    json!({
        "id": call.id,
        "type": "function",
        "function": {"name": call.function.name, "arguments": call.function.arguments.to_string()},
    })
}

fn wire_tool(tool: &ToolSpec) -> Value {
    let mut function = json!({
        "name": tool.function.name,
        "parameters": tool.function.parameters,
    });
    if !tool.function.description.is_empty() {
        function["description"] = json!(tool.function.description);
    }
    json!({"type": "function", "function": function})
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    model: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Option<WireMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    /// A JSON string per the spec; some compatible servers send the object.
    #[serde(default)]
    arguments: Value,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

fn parse_reply(text: &str, asked_model: &str) -> Result<RemoteReply, RemoteError> {
    let completion: Completion = serde_json::from_str(text)
        .map_err(|e| RemoteError::Malformed(format!("not a chat completion: {e}")))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| RemoteError::Malformed("the completion has no choices".into()))?;
    let finish_reason = choice.finish_reason.unwrap_or_default();
    let message = choice
        .message
        .ok_or_else(|| RemoteError::Malformed("the completion's choice has no message".into()))?;
    let tool_calls = message
        .tool_calls
        .into_iter()
        .enumerate()
        .map(|(index, call)| tool_call(index, call))
        .collect::<Result<Vec<_>, _>>()?;
    let text = message.content.unwrap_or_default();
    if text.is_empty() && tool_calls.is_empty() {
        let reason = message
            .refusal
            .map(|r| format!("refused: {r}"))
            .unwrap_or_else(|| format!("empty reply (finish reason {finish_reason:?})"));
        return Err(RemoteError::NoAnswer { reason });
    }
    let usage = completion
        .usage
        .map_or_else(TokenUsage::default, |u| TokenUsage {
            input: u.prompt_tokens,
            output: u.completion_tokens,
            cached: u.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
        });
    Ok(RemoteReply {
        text,
        tool_calls,
        usage,
        model: completion.model.unwrap_or_else(|| asked_model.to_string()),
    })
}

fn tool_call(index: usize, call: WireToolCall) -> Result<ToolCall, RemoteError> {
    let arguments = match call.function.arguments {
        Value::String(text) if text.trim().is_empty() => json!({}),
        Value::String(text) => serde_json::from_str(&text).map_err(|e| {
            RemoteError::Malformed(format!(
                "the arguments of tool call {:?} are not JSON: {e}",
                call.function.name
            ))
        })?,
        Value::Null => json!({}),
        object => object,
    };
    Ok(ToolCall {
        id: call.id.unwrap_or_else(|| format!("call_{index}")),
        kind: "function",
        function: FunctionCall {
            name: call.function.name,
            arguments,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_and_results_take_the_wire_shape() {
        let mut assistant = ChatMessage::new(Role::Assistant, "");
        assistant.tool_calls.push(ToolCall {
            id: "call_1".into(),
            kind: "function",
            function: FunctionCall {
                name: "search_products".into(),
                arguments: json!({"query": "pasta"}),
            },
        });
        let mut result = ChatMessage::new(Role::Tool, r#"[{"id":1}]"#);
        result.tool_call_id = Some("call_1".into());
        let assistant_wire = wire_message(&assistant);
        assert_eq!(assistant_wire["content"], Value::Null);
        assert_eq!(
            assistant_wire["tool_calls"][0]["function"]["arguments"],
            json!(r#"{"query":"pasta"}"#)
        );
        assert_eq!(
            wire_message(&result),
            json!({"role": "tool", "tool_call_id": "call_1", "content": "[{\"id\":1}]"})
        );
    }

    #[test]
    fn replies_without_text_or_calls_are_no_answer_and_odd_arguments_are_read() {
        let filtered =
            r#"{"choices":[{"message":{"content":null},"finish_reason":"content_filter"}]}"#;
        assert!(matches!(
            parse_reply(filtered, "m"),
            Err(RemoteError::NoAnswer { reason }) if reason.contains("content_filter")
        ));
        let object_args = r#"{"choices":[{"message":{"tool_calls":[{"function":{"name":"view_cart","arguments":{"a":1}}},{"function":{"name":"x","arguments":""}}]}}]}"#;
        let reply = parse_reply(object_args, "m").unwrap();
        assert_eq!(reply.tool_calls[0].function.arguments, json!({"a": 1}));
        assert_eq!(reply.tool_calls[1].id, "call_1");
        assert_eq!(reply.tool_calls[1].function.arguments, json!({}));
        assert_eq!(reply.model, "m", "the asked model when none is named");
        assert_eq!(reply.usage, TokenUsage::default());
    }
}
