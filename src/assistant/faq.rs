//! The shop's FAQ: finding the entry that answers a shopper's question, and
//! the demo shop's starting entries.
//!
//! Matching is by meaningful words shared with the entry's question (and,
//! weaker, its answer), with a few shop synonyms ("shipping" finds
//! "delivery"). FAQ text is data the admin wrote: it is shown or quoted, never
//! followed as instructions. Rows are `store::faq`'s.

use serde::Serialize;

use crate::store::{Store, StoreError, faq};

/// An entry that answers a question, and how well it matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub question: String,
    pub answer: String,
    pub score: f32,
}

/// A match must share at least this much with an entry's question.
const MIN_SCORE: f32 = 1.0;

/// Words that carry no meaning for matching.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "do", "does", "did", "you", "your", "i", "me", "my", "we",
    "our", "can", "could", "how", "what", "whats", "when", "where", "which", "who", "why", "to",
    "of", "in", "on", "at", "for", "and", "or", "it", "its", "be", "there", "any", "have", "has",
    "with", "about", "much", "many", "will", "would", "please", "tell", "know", "want", "if",
    "this", "that", "get", "s",
];

/// Words shoppers use for the same thing; each maps to the first of its group.
const SYNONYMS: &[&[&str]] = &[
    &[
        "deliver", "delivery", "shipping", "ship", "shipped", "post", "postage", "courier",
        "dispatch",
    ],
    &[
        "return",
        "returns",
        "refund",
        "refunds",
        "exchange",
        "money back",
        "send back",
    ],
    &[
        "pay", "payment", "payments", "cash", "card", "cards", "paypal", "invoice",
    ],
    &[
        "open", "opening", "hours", "close", "closing", "closed", "time", "times",
    ],
    &["pickup", "collect", "collection", "pick"],
    &["cost", "price", "fee", "fees", "charge", "free"],
    &["allergy", "allergen", "allergens", "allergies"],
];

/// The entry answering `question`, if any matches well enough.
pub fn answer(store: &Store, question: &str) -> Result<Option<Answer>, StoreError> {
    let entries = store.read(faq::list)?;
    Ok(best_match(
        entries
            .iter()
            .map(|e| (e.question.as_str(), e.answer.as_str())),
        question,
    ))
}

/// The best of `entries` (question, answer) for `question`.
pub fn best_match<'a>(
    entries: impl Iterator<Item = (&'a str, &'a str)>,
    question: &str,
) -> Option<Answer> {
    let asked = words(question);
    if asked.is_empty() {
        return None;
    }
    entries
        .map(|(q, a)| {
            let in_question = words(q);
            let in_answer = words(a);
            let score = asked
                .iter()
                .map(|w| {
                    if in_question.contains(w) {
                        1.0
                    } else if in_answer.contains(w) {
                        0.25
                    } else {
                        0.0
                    }
                })
                .sum::<f32>();
            Answer {
                question: q.to_string(),
                answer: a.to_string(),
                score,
            }
        })
        .filter(|a| a.score >= MIN_SCORE)
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

/// Meaningful words, lower-cased, synonyms folded, a plural `s` dropped.
fn words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut folded = lower.clone();
    for group in SYNONYMS {
        for phrase in group.iter().filter(|p| p.contains(' ')) {
            folded = folded.replace(phrase, group[0]);
        }
    }
    let mut out: Vec<String> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(canonical_word)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn canonical_word(word: &str) -> String {
    if let Some(group) = SYNONYMS.iter().find(|g| g.contains(&word)) {
        return group[0].to_string();
    }
    match word.strip_suffix('s') {
        Some(stem) if stem.len() > 3 && !word.ends_with("ss") => stem.to_string(),
        _ => word.to_string(),
    }
}

/// Loads [`DEMO_FAQ`] into a shop whose FAQ is empty (the demo shop's first start).
pub fn seed_demo(store: &Store) -> Result<bool, StoreError> {
    if !store.read(faq::is_empty)? {
        return Ok(false);
    }
    let entries: Vec<(String, String)> = DEMO_FAQ
        .iter()
        .map(|(q, a)| (q.to_string(), a.to_string()))
        .collect();
    store.write(|tx| faq::replace(tx, &entries, &crate::store::now_utc()))?;
    Ok(true)
}

/// The demo shop's FAQ, loaded with the demo catalog. An owner edits it in
/// the dashboard (or `PUT /api/v1/admin/faq`).
pub const DEMO_FAQ: &[(&str, &str)] = &[
    (
        "How much is delivery and how long does it take?",
        "We deliver within the city in 1–2 working days. Delivery is free on orders over $40, otherwise $4.95.",
    ),
    (
        "Can I pick up my order at the shop?",
        "Yes: choose pickup at checkout and collect it at the counter the same day after 2 pm.",
    ),
    (
        "What is your return policy?",
        "Unopened items can be returned within 14 days for a full refund. Fresh produce and bakery items cannot be returned, but tell us if anything arrives damaged and we will replace it.",
    ),
    (
        "How can I pay?",
        "Pay on delivery or at pickup, by card or cash.",
    ),
    (
        "What are your opening hours?",
        "Monday to Saturday 8 am – 7 pm, Sunday 9 am – 2 pm.",
    ),
    (
        "Do you list allergens?",
        "Each product page lists its dietary labels (vegan, gluten-free, nut-free…). For severe allergies, please check the packaging or ask us before ordering.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(question: &str) -> Option<String> {
        best_match(DEMO_FAQ.iter().copied(), question).map(|a| a.question)
    }

    #[test]
    fn questions_find_their_entry_through_synonyms() {
        assert_eq!(
            demo("how much is shipping?").as_deref(),
            Some(DEMO_FAQ[0].0)
        );
        assert_eq!(demo("can I get a refund").as_deref(), Some(DEMO_FAQ[2].0));
        assert_eq!(demo("do you take cash").as_deref(), Some(DEMO_FAQ[3].0));
        assert_eq!(
            demo("when do you open on sunday").as_deref(),
            Some(DEMO_FAQ[4].0)
        );
        assert_eq!(
            demo("can I collect it myself").as_deref(),
            Some(DEMO_FAQ[1].0)
        );
    }

    #[test]
    fn unrelated_or_empty_questions_find_nothing() {
        assert_eq!(demo("what is the meaning of life"), None);
        assert_eq!(demo(""), None);
        assert_eq!(demo("?!"), None);
    }
}
