//! Google Gemini's native `generateContent` wire format.
//!
//! It owns the request and response JSON of
//! `POST {base}/v1beta/models/{model}:generateContent` only: system
//! instruction, `user`/`model` contents, function declarations and
//! `functionCall`/`functionResponse` parts. Failure policy lives in
//! [`super::Guarded`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::http;
use super::{RemoteBackend, RemoteError, RemoteReply, RemoteRequest, TokenUsage};
use crate::config::Secret;
use crate::llm::template::{ChatMessage, FunctionCall, Role, ToolCall, ToolSpec};

pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The Gemini API; the key travels in the `x-goog-api-key` header, never in the URL.
#[derive(Debug)]
pub struct Gemini {
    base_url: String,
    api_key: Secret,
    agent: ureq::Agent,
}

impl Gemini {
    pub fn new(base_url: &str, api_key: Secret) -> Gemini {
        Gemini {
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            api_key,
            agent: http::agent(),
        }
    }
}

impl RemoteBackend for Gemini {
    fn provider(&self) -> &'static str {
        "gemini"
    }

    fn chat(
        &self,
        model: &str,
        request: &RemoteRequest,
        timeout: Duration,
    ) -> Result<RemoteReply, RemoteError> {
        let url = format!(
            "{}/v1beta/models/{}:generateContent",
            self.base_url,
            model.trim_start_matches("models/")
        );
        let headers = [("x-goog-api-key", self.api_key.expose())];
        let body = request_body(request);
        let text = http::post_json(&self.agent, &url, &headers, &body, timeout, &self.api_key)?;
        parse_reply(&text, model)
    }
}

fn request_body(request: &RemoteRequest) -> Value {
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut body = json!({
        "contents": contents(request.messages),
        "generationConfig": {
            "maxOutputTokens": request.max_tokens,
            "temperature": request.temperature,
        },
    });
    if !system.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": system.join("\n\n")}]});
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request.tools.iter().map(declaration).collect();
        body["tools"] = json!([{"functionDeclarations": declarations}]);
    }
    body
}

/// The conversation as `contents`. Tool results go back as `functionResponse`
/// parts of a user turn, and neighbouring turns of one role are merged, since
/// Gemini wants all responses to one model turn's calls together.
fn contents(messages: &[ChatMessage]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (role, parts) = match message.role {
            Role::System => continue,
            Role::User => ("user", text_parts(&message.content)),
            Role::Assistant => ("model", model_parts(message)),
            Role::Tool => ("user", vec![function_response(message, &messages[..index])]),
        };
        match turns.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect()
}

fn text_parts(text: &str) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"text": text})]
    }
}

fn model_parts(message: &ChatMessage) -> Vec<Value> {
    let mut parts = text_parts(&message.content);
    parts.extend(message.tool_calls.iter().map(|call| {
        json!({"functionCall": {"name": call.function.name, "args": call.function.arguments}})
    }));
    parts
}

/// A tool result names its function (Gemini matches by name); the name comes
/// from the message or from the earlier call with the same id. The response
/// must be an object: a JSON object result is sent as is, anything else is
/// wrapped as `{"result": …}`.
fn function_response(message: &ChatMessage, earlier: &[ChatMessage]) -> Value {
    let name = message.name.clone().or_else(|| {
        let id = message.tool_call_id.as_deref()?;
        earlier
            .iter()
            .rev()
            .flat_map(|m| &m.tool_calls)
            .find(|call| call.id == id)
            .map(|call| call.function.name.clone())
    });
    let response = match serde_json::from_str::<Value>(&message.content) {
        Ok(Value::Object(object)) => Value::Object(object),
        Ok(other) => json!({"result": other}),
        Err(_) => json!({"result": message.content}),
    };
    json!({"functionResponse": {"name": name.unwrap_or_default(), "response": response}})
}

fn declaration(tool: &ToolSpec) -> Value {
    let mut declaration = json!({"name": tool.function.name});
    if !tool.function.description.is_empty() {
        declaration["description"] = json!(tool.function.description);
    }
    let has_properties = tool
        .function
        .parameters
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    // Gemini refuses an OBJECT schema with no properties: leave it out instead.
    if has_properties {
        declaration["parameters"] = gemini_schema(&tool.function.parameters);
    }
    declaration
}

/// The keywords of Gemini's Schema object; the rest of JSON Schema
/// (`additionalProperties`, `$schema`, …) is refused by the API, so it is dropped.
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// A JSON Schema rewritten into the subset Gemini accepts; `"type": ["string",
/// "null"]` becomes `"type": "string", "nullable": true`.
fn gemini_schema(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        if !SCHEMA_KEYWORDS.contains(&key.as_str()) {
            continue;
        }
        let converted = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(name, sub)| (name.clone(), gemini_schema(sub)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" => gemini_schema(value),
            "anyOf" => Value::Array(
                value
                    .as_array()
                    .map(|all| all.iter().map(gemini_schema).collect())
                    .unwrap_or_default(),
            ),
            "type" => match value.as_array() {
                Some(types) => {
                    if types.iter().any(|t| t == "null") {
                        out.insert("nullable".into(), json!(true));
                    }
                    types
                        .iter()
                        .find(|t| *t != "null")
                        .cloned()
                        .unwrap_or(json!("string"))
                }
                None => value.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Generated {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    /// Thought summaries, sent only when asked for; never the answer.
    #[serde(default)]
    thought: bool,
    function_call: Option<WireFunctionCall>,
}

#[derive(Deserialize)]
struct WireFunctionCall {
    id: Option<String>,
    name: String,
    #[serde(default)]
    args: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    /// Thinking is billed as output.
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
}

fn parse_reply(text: &str, asked_model: &str) -> Result<RemoteReply, RemoteError> {
    let generated: Generated = serde_json::from_str(text)
        .map_err(|e| RemoteError::Malformed(format!("not a generateContent reply: {e}")))?;
    let blocked = generated.prompt_feedback.and_then(|f| f.block_reason);
    let Some(candidate) = generated.candidates.into_iter().next() else {
        return Err(match blocked {
            Some(reason) => RemoteError::NoAnswer {
                reason: format!("the prompt was blocked ({reason})"),
            },
            None => RemoteError::Malformed("the reply has no candidates".into()),
        });
    };
    let parts = candidate.content.map(|c| c.parts).unwrap_or_default();
    let mut answer = String::new();
    let mut tool_calls = Vec::new();
    for part in parts.into_iter().filter(|p| !p.thought) {
        if let Some(text) = part.text {
            answer.push_str(&text);
        }
        if let Some(call) = part.function_call {
            tool_calls.push(tool_call(tool_calls.len(), call));
        }
    }
    if answer.is_empty() && tool_calls.is_empty() {
        let finish = candidate.finish_reason.unwrap_or_default();
        return Err(RemoteError::NoAnswer {
            reason: format!("empty reply (finish reason {finish:?})"),
        });
    }
    let usage = generated
        .usage_metadata
        .map_or_else(TokenUsage::default, |u| TokenUsage {
            input: u.prompt_token_count,
            output: u.candidates_token_count + u.thoughts_token_count,
            cached: u.cached_content_token_count,
        });
    Ok(RemoteReply {
        text: answer,
        tool_calls,
        usage,
        model: generated
            .model_version
            .unwrap_or_else(|| asked_model.to_string()),
    })
}

fn tool_call(index: usize, call: WireFunctionCall) -> ToolCall {
    let arguments = match call.args {
        Value::Null => json!({}),
        args => args,
    };
    ToolCall {
        id: call.id.unwrap_or_else(|| format!("call_{index}")),
        kind: "function",
        function: FunctionCall {
            name: call.name,
            arguments,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::template::FunctionSpec;

    #[test]
    fn json_schema_becomes_the_subset_gemini_takes() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "query": {"type": "string", "description": "words"},
                "max_price": {"type": ["number", "null"]},
                "tags": {"type": "array", "items": {"type": "string", "additionalProperties": false}},
            },
            "required": ["query"],
        });
        assert_eq!(
            gemini_schema(&schema),
            json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "words"},
                    "max_price": {"type": "number", "nullable": true},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["query"],
            })
        );
    }

    #[test]
    fn a_tool_without_parameters_declares_none() {
        let tool = ToolSpec {
            kind: "function",
            function: FunctionSpec {
                name: "view_cart".into(),
                description: String::new(),
                parameters: json!({"type": "object", "properties": {}}),
            },
        };
        assert_eq!(declaration(&tool), json!({"name": "view_cart"}));
    }

    #[test]
    fn tool_results_find_their_function_name_and_are_objects() {
        let mut call = ChatMessage::new(Role::Assistant, "Looking.");
        call.tool_calls.push(ToolCall {
            id: "c7".into(),
            kind: "function",
            function: FunctionCall {
                name: "order_status".into(),
                arguments: json!({"order": 12}),
            },
        });
        let mut result = ChatMessage::new(Role::Tool, "shipped");
        result.tool_call_id = Some("c7".into());
        let mut list = ChatMessage::new(Role::Tool, "[1,2]");
        list.name = Some("search_products".into());
        let messages = [
            ChatMessage::new(Role::System, "be brief"),
            ChatMessage::new(Role::User, "where is order 12?"),
            call,
            result,
            list,
        ];
        assert_eq!(
            contents(&messages),
            json!([
                {"role": "user", "parts": [{"text": "where is order 12?"}]},
                {"role": "model", "parts": [
                    {"text": "Looking."},
                    {"functionCall": {"name": "order_status", "args": {"order": 12}}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "order_status", "response": {"result": "shipped"}}},
                    {"functionResponse": {"name": "search_products", "response": {"result": [1, 2]}}},
                ]},
            ])
            .as_array()
            .unwrap()
            .clone()
        );
    }

    #[test]
    fn thoughts_are_skipped_blocks_are_no_answer_and_thinking_is_output() {
        let reply = parse_reply(
            r#"{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"Yes."}]}}],
                "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2,"thoughtsTokenCount":30}}"#,
            "gemini-2.5-flash",
        )
        .unwrap();
        assert_eq!(reply.text, "Yes.");
        assert_eq!(
            reply.usage,
            TokenUsage {
                input: 10,
                output: 32,
                cached: 0
            }
        );
        assert_eq!(reply.model, "gemini-2.5-flash");
        assert!(matches!(
            parse_reply(r#"{"promptFeedback":{"blockReason":"SAFETY"}}"#, "m"),
            Err(RemoteError::NoAnswer { reason }) if reason.contains("SAFETY")
        ));
        assert!(matches!(
            parse_reply(r#"{"candidates":[{"finishReason":"MAX_TOKENS"}]}"#, "m"),
            Err(RemoteError::NoAnswer { reason }) if reason.contains("MAX_TOKENS")
        ));
    }
}
