//! Chat templates: turning a conversation (and the tools on offer) into the
//! exact prompt text a model was trained on.
//!
//! The template comes from the GGUF file's `tokenizer.chat_template` and is
//! rendered with minijinja, as the model's authors wrote it. A file without
//! one (base models such as Gemma 3 270M) gets a built-in template for its
//! family. This module owns prompt text only; it never tokenizes.

use minijinja::{Environment, ErrorKind, context};
use serde::Serialize;

use super::Family;

/// One message of a conversation, in the shape chat templates expect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A call the assistant made, as templates render it (`function.name`,
/// `function.arguments` as a JSON object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: serde_json::Value,
}

/// A tool the model may call, in the OpenAI shape templates were written for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSpec {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub parameters: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the model's chat template does not compile: {0}")]
    Compile(String),
    #[error("the chat template refused this conversation: {0}")]
    Render(String),
}

/// How a model writes a tool call: the JSON object `{"name": …, "arguments": …}`
/// between these markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSyntax {
    pub open: &'static str,
    pub close: &'static str,
}

pub const TOOL_CALL_TAGS: ToolSyntax = ToolSyntax {
    open: "<tool_call>\n",
    close: "\n</tool_call>",
};

/// A compiled chat template plus the special tokens it refers to.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Whether the template renders `tools` itself; when not, tools are
    /// described in the system message by `describe_tools`.
    knows_tools: bool,
    bos_token: String,
    eos_token: String,
    /// True when the template came from the model file, not our fallback.
    from_model: bool,
}

impl ChatTemplate {
    /// The model's own template when it has one that compiles, else the
    /// family's built-in one. The second value says why the fallback was used.
    pub fn for_model(
        source: Option<&str>,
        family: Family,
        bos_token: &str,
        eos_token: &str,
    ) -> (ChatTemplate, Option<String>) {
        if let Some(source) = source {
            match ChatTemplate::compile(source, bos_token, eos_token) {
                Ok(template) => return (template, None),
                Err(error) => {
                    let fallback = ChatTemplate::builtin(family, bos_token, eos_token);
                    return (fallback, Some(error.to_string()));
                }
            }
        }
        (
            ChatTemplate::builtin(family, bos_token, eos_token),
            Some("the model file has no chat template".into()),
        )
    }

    pub fn compile(
        source: &str,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<ChatTemplate, TemplateError> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        // Templates call Python string methods (`.strip()`, `.startswith()`).
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("raise_exception", |message: String| -> Result<String, _> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_function("strftime_now", |format: String| {
            let now = time::OffsetDateTime::now_utc();
            let day = now.day();
            let month = now.month().to_string();
            let year = now.year();
            // The only formats chat templates use are date lines like "%d %b %Y".
            format
                .replace("%d", &format!("{day:02}"))
                .replace("%b", &month[..3.min(month.len())])
                .replace("%B", &month)
                .replace("%Y", &year.to_string())
        });
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| TemplateError::Compile(e.to_string()))?;
        Ok(ChatTemplate {
            env,
            knows_tools: source.contains("tools"),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
            from_model: true,
        })
    }

    /// The built-in template of a family, for files that carry none.
    pub fn builtin(family: Family, bos_token: &str, eos_token: &str) -> ChatTemplate {
        let source = match family {
            Family::Qwen2 => CHATML,
            Family::Gemma3 => GEMMA,
            Family::Llama => LLAMA3,
        };
        match ChatTemplate::compile(source, bos_token, eos_token) {
            Ok(mut template) => {
                template.from_model = false;
                template.knows_tools = false;
                template
            }
            // The built-in sources are tested to compile; this arm is unreachable in practice.
            Err(_) => ChatTemplate {
                env: Environment::new(),
                knows_tools: false,
                bos_token: bos_token.to_string(),
                eos_token: eos_token.to_string(),
                from_model: false,
            },
        }
    }

    pub fn from_model(&self) -> bool {
        self.from_model
    }

    /// Renders the conversation. With `add_generation_prompt` the text ends
    /// where the assistant's reply begins.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| TemplateError::Compile(e.to_string()))?;
        let described;
        let (messages, tools) = if !tools.is_empty() && !self.knows_tools {
            described = describe_tools(messages, tools);
            (described.as_slice(), &[][..])
        } else {
            (messages, tools)
        };
        let tools = (!tools.is_empty()).then_some(tools);
        template
            .render(context! {
                messages => messages,
                tools => tools,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| TemplateError::Render(e.to_string()))
    }
}

/// The schema of `{"name": …, "arguments": …}` for any of `tools`.
pub fn tool_call_schema(tools: &[&ToolSpec]) -> serde_json::Value {
    let envelopes: Vec<serde_json::Value> = tools
        .iter()
        .map(|tool| {
            serde_json::json!({
                "type": "object",
                "properties": {
                    "name": {"const": tool.function.name},
                    "arguments": tool.function.parameters,
                },
                "required": ["name", "arguments"],
            })
        })
        .collect();
    serde_json::json!({"anyOf": envelopes})
}

/// Tokens at the start of the prompt that other requests with the same system
/// messages and tools share: the rendering of those alone, compared token by
/// token with the full prompt.
pub fn shared_prefix_len(
    messages: &[ChatMessage],
    tools: &[ToolSpec],
    prompt: &[u32],
    render: impl Fn(&[ChatMessage], &[ToolSpec]) -> Option<Vec<u32>>,
) -> usize {
    let leading_system = messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    if leading_system == 0 && tools.is_empty() {
        return 0;
    }
    let Some(prefix) = render(&messages[..leading_system], tools) else {
        return 0;
    };
    prefix
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count()
}

/// For templates that do not render tools: the tools and how to call them go
/// into the system message, in the same `<tool_call>` syntax we parse.
fn describe_tools(messages: &[ChatMessage], tools: &[ToolSpec]) -> Vec<ChatMessage> {
    let mut text =
        String::from("You can call these functions. Each is described as JSON:\n<tools>\n");
    for tool in tools {
        text.push_str(&serde_json::to_string(tool).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(
        "</tools>\nTo call one, answer with a JSON object with the function's name and \
         arguments between tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": \
         <args-json-object>}\n</tool_call>",
    );
    let mut out = messages.to_vec();
    match out.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content = format!("{}\n\n{text}", first.content);
        }
        _ => out.insert(0, ChatMessage::new(Role::System, text)),
    }
    out
}

/// ChatML, as Qwen models use it, for Qwen-family files without a template.
const CHATML: &str = r#"{% for message in messages %}<|im_start|>{{ message.role }}
{% if message.content %}{{ message.content }}{% endif %}{% for call in message.tool_calls %}<tool_call>
{{ {"name": call.function.name, "arguments": call.function.arguments} | tojson }}
</tool_call>{% endfor %}<|im_end|>
{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}"#;

/// Gemma's turns: no system role, so the system text opens the first user turn.
const GEMMA: &str = r#"{{ bos_token }}{% set system = namespace(text="") %}{% for message in messages %}{% if message.role == "system" %}{% set system.text = message.content + "\n\n" %}{% else %}<start_of_turn>{{ "model" if message.role == "assistant" else "user" }}
{% if message.role != "assistant" %}{{ system.text }}{% set system.text = "" %}{% endif %}{% if message.role == "tool" %}<tool_response>
{{ message.content }}
</tool_response>{% else %}{{ message.content }}{% endif %}{% for call in message.tool_calls %}<tool_call>
{{ {"name": call.function.name, "arguments": call.function.arguments} | tojson }}
</tool_call>{% endfor %}<end_of_turn>
{% endif %}{% endfor %}{% if add_generation_prompt %}<start_of_turn>model
{% endif %}"#;

/// Llama 3's header format.
const LLAMA3: &str = r#"{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ "ipython" if message.role == "tool" else message.role }}<|end_header_id|>

{{ message.content }}{% for call in message.tool_calls %}<tool_call>
{{ {"name": call.function.name, "arguments": call.function.arguments} | tojson }}
</tool_call>{% endfor %}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>

{% endif %}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix_is_the_common_start_of_the_system_rendering() {
        let messages = vec![
            ChatMessage::new(Role::System, "s"),
            ChatMessage::new(Role::User, "u"),
        ];
        let len = shared_prefix_len(&messages, &[], &[1, 2, 3, 9], |m, _| {
            assert_eq!(m.len(), 1);
            Some(vec![1, 2, 3, 4])
        });
        assert_eq!(len, 3);
        let no_system = vec![ChatMessage::new(Role::User, "u")];
        assert_eq!(shared_prefix_len(&no_system, &[], &[1], |_, _| None), 0);
    }

    fn tool() -> ToolSpec {
        ToolSpec {
            kind: "function",
            function: FunctionSpec {
                name: "search_products".into(),
                description: "Search the catalog".into(),
                parameters: serde_json::json!({"type": "object", "properties": {"query": {"type": "string"}}}),
            },
        }
    }

    #[test]
    fn builtin_templates_render_each_family() {
        let messages = [
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Hi"),
        ];
        let chatml = ChatTemplate::builtin(Family::Qwen2, "", "<|im_end|>");
        assert_eq!(
            chatml.render(&messages, &[], true).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let gemma = ChatTemplate::builtin(Family::Gemma3, "<bos>", "<eos>");
        assert_eq!(
            gemma.render(&messages, &[], true).unwrap(),
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
        let llama = ChatTemplate::builtin(Family::Llama, "<|begin_of_text|>", "<|eot_id|>");
        assert_eq!(
            llama.render(&messages, &[], true).unwrap(),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

    #[test]
    fn tools_go_into_the_system_message_when_the_template_has_no_place_for_them() {
        let gemma = ChatTemplate::builtin(Family::Gemma3, "<bos>", "<eos>");
        let text = gemma
            .render(&[ChatMessage::new(Role::User, "find tea")], &[tool()], true)
            .unwrap();
        assert!(text.contains("\"name\":\"search_products\""), "{text}");
        assert!(text.contains("<tool_call>"), "{text}");
        assert!(
            text.ends_with("find tea<end_of_turn>\n<start_of_turn>model\n"),
            "{text}"
        );
    }

    #[test]
    fn assistant_tool_calls_and_tool_results_render() {
        let chatml = ChatTemplate::builtin(Family::Qwen2, "", "<|im_end|>");
        let mut call = ChatMessage::new(Role::Assistant, "");
        call.tool_calls.push(ToolCall {
            id: "call_1".into(),
            kind: "function",
            function: FunctionCall {
                name: "search_products".into(),
                arguments: serde_json::json!({"query": "tea"}),
            },
        });
        let text = chatml
            .render(&[call, ChatMessage::new(Role::Tool, "[]")], &[], false)
            .unwrap();
        assert!(
            text.contains(
                "<tool_call>\n{\"arguments\":{\"query\":\"tea\"},\"name\":\"search_products\"}\n</tool_call>"
            ) || text.contains("{\"name\":\"search_products\""),
            "{text}"
        );
        assert!(text.contains("<|im_start|>tool\n[]<|im_end|>"), "{text}");
    }

    #[test]
    fn a_template_that_raises_reports_its_message_and_a_broken_one_falls_back() {
        let strict = ChatTemplate::compile(
            "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}",
            "",
            "",
        )
        .unwrap();
        let err = strict
            .render(&[ChatMessage::new(Role::System, "x")], &[], true)
            .unwrap_err();
        assert!(err.to_string().contains("first must be user"), "{err}");

        let (template, why) =
            ChatTemplate::for_model(Some("{% if %}"), Family::Qwen2, "", "<|im_end|>");
        assert!(!template.from_model());
        assert!(why.unwrap().contains("does not compile"));
    }

    #[test]
    fn python_string_methods_work_in_model_templates() {
        let template = ChatTemplate::compile(
            "{% for m in messages %}{{ m.content.strip() }}{% if m.content.strip().startswith('a') %}!{% endif %}{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let text = template
            .render(&[ChatMessage::new(Role::User, "  abc  ")], &[], false)
            .unwrap();
        assert_eq!(text, "abc!");
    }
}
