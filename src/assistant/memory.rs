//! What of a conversation a turn remembers: the recent messages up to a token
//! budget, and older ones folded into a running summary.
//!
//! The fold is extractive: the shopper's own words (shortened) and what the
//! assistant did (its tool actions), newest kept when the summary grows too
//! long; where a remote model runs, it rewrites those notes into a summary. Owns the folding rule; rows are
//! `store::conversations`'.

use crate::store::conversations::{self, ConversationRow, MessageRow};
use crate::store::{Store, StoreError};

/// Tokens of recent messages a prompt carries before older ones are folded.
pub const HISTORY_TOKENS: usize = 1500;
/// The summary's length limit, in characters.
const SUMMARY_CHARS: usize = 1200;
/// How much of one shopper message the summary keeps.
const QUOTE_CHARS: usize = 100;
/// Most messages read back for one turn.
const MAX_RECENT: usize = 200;

/// A rough token count (about four characters per token for English).
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// The conversation's summary and the messages after it.
pub struct History {
    pub summary: String,
    pub recent: Vec<MessageRow>,
}

/// Reads the history, folding into the summary whatever no longer fits the
/// budget. `summarize` may rewrite the extractive fold (a model's summary);
/// `None` keeps the extractive one.
pub fn history(
    store: &Store,
    conversation: &ConversationRow,
    summarize: &dyn Fn(&str) -> Option<String>,
) -> Result<History, StoreError> {
    let recent = store.read(|c| {
        conversations::messages(
            c,
            &conversation.id,
            conversation.summarized_through,
            MAX_RECENT,
        )
    })?;
    let keep_from = first_within_budget(&recent, HISTORY_TOKENS);
    if keep_from == 0 {
        return Ok(History {
            summary: conversation.summary.clone(),
            recent,
        });
    }
    let (old, kept) = recent.split_at(keep_from);
    let extractive = fold(&conversation.summary, old);
    let summary = summarize(&extractive)
        .map(|s| s.trim().chars().take(SUMMARY_CHARS).collect::<String>())
        .filter(|s| !s.is_empty())
        .unwrap_or(extractive);
    let through = old.last().map_or(conversation.summarized_through, |m| m.id);
    store.write(|tx| conversations::set_summary(tx, &conversation.id, &summary, through))?;
    Ok(History {
        summary,
        recent: kept.to_vec(),
    })
}

/// Index of the oldest message such that it and all after fit `budget` tokens.
fn first_within_budget(messages: &[MessageRow], budget: usize) -> usize {
    let mut used = 0;
    for (i, message) in messages.iter().enumerate().rev() {
        used += estimate_tokens(&message.content) + 4;
        if used > budget {
            return i + 1;
        }
    }
    0
}

/// The summary with `messages` folded in, trimmed from the front to the limit.
pub fn fold(summary: &str, messages: &[MessageRow]) -> String {
    let mut lines: Vec<String> = summary
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    for message in messages {
        match message.role.as_str() {
            "shopper" => lines.push(format!("Shopper: {}", shorten(&message.content))),
            "admin" => lines.push(format!("Staff: {}", shorten(&message.content))),
            _ => lines.extend(action_lines(&message.actions)),
        }
    }
    while lines.iter().map(|l| l.len() + 1).sum::<usize>() > SUMMARY_CHARS && lines.len() > 1 {
        lines.remove(0);
    }
    lines.join("\n")
}

fn action_lines(actions: &str) -> Vec<String> {
    let parsed: Vec<serde_json::Value> = serde_json::from_str(actions).unwrap_or_default();
    parsed
        .iter()
        .filter(|a| a["ok"].as_bool() == Some(true))
        .filter_map(|a| {
            let tool = a["tool"].as_str()?;
            let summary = a["summary"].as_str().unwrap_or_default();
            Some(format!("Assistant {tool}: {}", shorten(summary)))
        })
        .collect()
}

fn shorten(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= QUOTE_CHARS {
        flat
    } else {
        let cut: String = flat.chars().take(QUOTE_CHARS).collect();
        format!("{cut}…")
    }
}

/// A stored message, for tests of the modules that read history.
#[cfg(test)]
pub(crate) fn test_message(id: i64, role: &str, content: &str, actions: &str) -> MessageRow {
    MessageRow {
        id,
        conversation_id: "c".into(),
        role: role.into(),
        content: content.into(),
        intent: None,
        confidence: None,
        mood: None,
        tier: None,
        model: None,
        actions: actions.into(),
        created_at: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_messages_that_fit_are_kept() {
        let long = "x".repeat(400); // 100 tokens + 4
        let messages: Vec<MessageRow> = (1..=5)
            .map(|i| test_message(i, "shopper", &long, "[]"))
            .collect();
        assert_eq!(first_within_budget(&messages, 1000), 0);
        assert_eq!(first_within_budget(&messages, 210), 3);
        assert_eq!(first_within_budget(&messages, 50), 5);
    }

    #[test]
    fn folding_keeps_shopper_words_and_successful_actions() {
        let messages = [
            test_message(1, "shopper", "I need   gluten free pasta", "[]"),
            test_message(
                2,
                "assistant",
                "Here is what I found…",
                r#"[{"tool":"search_products","ok":true,"summary":"3 products"},
                    {"tool":"add_to_cart","ok":false,"summary":"out of stock"}]"#,
            ),
        ];
        let summary = fold("Shopper: hello", &messages);
        assert_eq!(
            summary,
            "Shopper: hello\nShopper: I need gluten free pasta\nAssistant search_products: 3 products"
        );
    }

    #[test]
    fn the_summary_drops_its_oldest_lines_past_the_limit() {
        let messages: Vec<MessageRow> = (1..=40)
            .map(|i| {
                test_message(
                    i,
                    "shopper",
                    &format!("message number {i} {}", "y".repeat(60)),
                    "[]",
                )
            })
            .collect();
        let summary = fold("", &messages);
        assert!(summary.len() <= SUMMARY_CHARS);
        assert!(summary.contains("message number 40"));
        assert!(!summary.contains("message number 1 "));
    }
}
