//! The assistant's working memory of one conversation: the products it last
//! showed (so "the second one" and "those" mean something), the product in
//! focus, the contact details given for checkout, and a checkout waiting for
//! the shopper's confirmation.
//!
//! Stored as JSON on the conversation row; an unreadable state starts afresh
//! rather than failing the turn. Owns no rules beyond resolving references.

use serde::{Deserialize, Serialize};

use super::slots::Reference;

/// A product the conversation has talked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRef {
    pub id: i64,
    pub name: String,
}

/// Name and email for an order placed in the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub email: String,
}

/// A checkout summary shown to the shopper and not yet confirmed. The cart
/// must still match it when the confirmation comes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCheckout {
    /// `product:variant:quantity` of every line, and the total.
    pub fingerprint: String,
    /// The shopper message that asked for it; the confirmation must come later.
    pub asked_in_message: i64,
}

/// What the assistant is waiting for from the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Awaiting {
    /// Name and email to place an order under.
    Contact,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingMemory {
    #[serde(default)]
    pub last_results: Vec<ProductRef>,
    #[serde(default)]
    pub focus: Option<ProductRef>,
    #[serde(default)]
    pub contact: Option<Contact>,
    #[serde(default)]
    pub awaiting: Option<Awaiting>,
    #[serde(default)]
    pub pending_checkout: Option<PendingCheckout>,
}

impl WorkingMemory {
    pub fn from_json(text: &str) -> WorkingMemory {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Remembers a list of products shown; a single one also becomes the focus.
    pub fn showed(&mut self, products: Vec<ProductRef>) {
        if let [only] = products.as_slice() {
            self.focus = Some(only.clone());
        }
        self.last_results = products;
    }

    /// The product a reference points at: "the second one" in the last
    /// results, "it"/"those" at the focus (or the only result shown).
    pub fn resolve(&self, reference: &Reference) -> Option<ProductRef> {
        match reference {
            Reference::Ordinal(n) => n
                .checked_sub(1)
                .and_then(|i| self.last_results.get(i))
                .cloned(),
            Reference::Last => self.last_results.last().cloned(),
            Reference::Those => self.focus.clone().or_else(|| match &self.last_results[..] {
                [only] => Some(only.clone()),
                _ => None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64) -> ProductRef {
        ProductRef {
            id,
            name: format!("product {id}"),
        }
    }

    #[test]
    fn references_resolve_against_what_was_shown() {
        let mut memory = WorkingMemory::default();
        memory.showed(vec![product(1), product(2), product(3)]);
        assert_eq!(memory.resolve(&Reference::Ordinal(2)), Some(product(2)));
        assert_eq!(memory.resolve(&Reference::Ordinal(4)), None);
        assert_eq!(memory.resolve(&Reference::Ordinal(0)), None);
        assert_eq!(memory.resolve(&Reference::Last), Some(product(3)));
        assert_eq!(
            memory.resolve(&Reference::Those),
            None,
            "three shown: ambiguous"
        );
        memory.focus = Some(product(2));
        assert_eq!(memory.resolve(&Reference::Those), Some(product(2)));
        memory.showed(vec![product(9)]);
        assert_eq!(memory.resolve(&Reference::Those), Some(product(9)));
    }

    #[test]
    fn unreadable_state_starts_afresh() {
        assert_eq!(
            WorkingMemory::from_json("{not json"),
            WorkingMemory::default()
        );
        let memory = WorkingMemory {
            awaiting: Some(Awaiting::Contact),
            ..WorkingMemory::default()
        };
        assert_eq!(WorkingMemory::from_json(&memory.to_json()), memory);
    }
}
