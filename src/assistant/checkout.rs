//! Checkout in the chat, and the rule that guards it: an order is placed only
//! when the shopper confirms, in a later message, a summary of exactly the
//! cart being ordered.
//!
//! The summary stores a fingerprint of the cart and the id of the message
//! that asked for it; a confirmation must be a later shopper message that the
//! pattern classifier (never a model, never product or FAQ text) reads as a
//! plain "yes", and the cart must still match. Anything else shows the
//! summary again. Owns that rule; the order itself is `commerce::checkout`'s.

use super::Turn;
use super::intent::Intent;
use super::state::{Awaiting, Contact, PendingCheckout, WorkingMemory};
use super::tools::{ToolError, Toolbox};
use crate::commerce::cart::CartView;
use crate::commerce::checkout::{
    self as commerce_checkout, CheckoutContext, CheckoutDetails, CheckoutError, CheckoutInput,
    ContactInput, DeliveryInput,
};
use crate::commerce::shopper;

/// Where the checkout conversation stands after a turn.
#[derive(Debug)]
pub enum CheckoutStep {
    EmptyCart,
    CartProblems(CartView),
    /// Name and email are needed; `invalid` says what was wrong with the last try.
    NeedContact {
        invalid: Option<String>,
    },
    /// The summary to confirm.
    Summary {
        view: CartView,
        contact: Contact,
    },
    NothingToConfirm,
    /// The cart is not what was summarised: here is the new summary.
    CartChanged(CartView),
    Placed {
        number: String,
        total: String,
    },
    Failed(String),
}

/// The shopper asked to check out: summary, or the details still missing.
pub fn start(
    tools: &Toolbox,
    memory: &mut WorkingMemory,
    turn: &Turn,
) -> Result<CheckoutStep, ToolError> {
    let view = tools.view_cart()?;
    if view.lines.is_empty() {
        return Ok(CheckoutStep::EmptyCart);
    }
    if !view.ready_for_checkout() {
        return Ok(CheckoutStep::CartProblems(view));
    }
    if memory.contact.is_none() {
        memory.contact = account_contact(tools)?.or_else(|| contact_in(turn).ok());
    }
    let Some(contact) = memory.contact.clone() else {
        memory.awaiting = Some(Awaiting::Contact);
        return Ok(CheckoutStep::NeedContact { invalid: None });
    };
    memory.awaiting = None;
    memory.pending_checkout = Some(PendingCheckout {
        fingerprint: fingerprint(&view),
        asked_in_message: turn.message_id,
    });
    Ok(CheckoutStep::Summary { view, contact })
}

/// The shopper answered the request for name and email.
pub fn give_contact(
    tools: &Toolbox,
    memory: &mut WorkingMemory,
    turn: &Turn,
) -> Result<CheckoutStep, ToolError> {
    match contact_in(turn) {
        Ok(contact) => {
            memory.contact = Some(contact);
            start(tools, memory, turn)
        }
        Err(reason) => Ok(CheckoutStep::NeedContact {
            invalid: Some(reason),
        }),
    }
}

/// The shopper said yes: place the order if a summary is waiting, this is a
/// later message, and the cart is still what was summarised.
pub fn confirm(
    tools: &Toolbox,
    memory: &mut WorkingMemory,
    turn: &Turn,
) -> Result<CheckoutStep, ToolError> {
    let (Some(pending), Some(contact)) = (memory.pending_checkout.clone(), memory.contact.clone())
    else {
        return Ok(CheckoutStep::NothingToConfirm);
    };
    if turn.intent != Intent::Confirm || turn.message_id <= pending.asked_in_message {
        return Ok(CheckoutStep::NothingToConfirm);
    }
    let view = tools.view_cart()?;
    if view.lines.is_empty() {
        memory.pending_checkout = None;
        return Ok(CheckoutStep::EmptyCart);
    }
    if fingerprint(&view) != pending.fingerprint {
        memory.pending_checkout = Some(PendingCheckout {
            fingerprint: fingerprint(&view),
            asked_in_message: turn.message_id,
        });
        return Ok(CheckoutStep::CartChanged(view));
    }
    memory.pending_checkout = None;
    Ok(place(tools, &contact, turn, &pending))
}

/// Drops a waiting summary or contact request; true when there was one.
pub fn cancel(memory: &mut WorkingMemory) -> bool {
    let had = memory.pending_checkout.is_some() || memory.awaiting.is_some();
    memory.pending_checkout = None;
    memory.awaiting = None;
    had
}

fn place(
    tools: &Toolbox,
    contact: &Contact,
    turn: &Turn,
    pending: &PendingCheckout,
) -> CheckoutStep {
    let input = CheckoutInput {
        contact: ContactInput {
            name: contact.name.clone(),
            email: contact.email.clone(),
            phone: None,
        },
        delivery: DeliveryInput {
            method: Some("pickup".into()),
            address: None,
        },
        payment_method: Some("manual".into()),
        note: None,
    };
    let details = match CheckoutDetails::parse(&input, tools.shop.payments) {
        Ok(details) => details,
        Err(errors) => {
            let reasons: Vec<String> = errors
                .iter()
                .map(|e| format!("{} {}", e.field, e.reason))
                .collect();
            return CheckoutStep::Failed(reasons.join("; "));
        }
    };
    // One key per confirmed summary: a retried confirmation cannot order twice.
    let key = format!("chat:{}:{}", turn.conversation_id, pending.asked_in_message);
    let context = CheckoutContext {
        settings: tools.shop.settings,
        currency: tools.shop.currency,
        payments: tools.shop.payments,
    };
    match commerce_checkout::checkout(
        tools.shop.store,
        tools.shopper,
        &details,
        Some(&key),
        &context,
    ) {
        Ok(placed) => CheckoutStep::Placed {
            number: placed.order.order.number.clone(),
            total: tools.money(placed.order.order.total_minor),
        },
        Err(CheckoutError::Store(error)) => {
            tracing::error!(%error, "chat checkout failed in the store");
            CheckoutStep::Failed("the shop could not save the order; please try again".into())
        }
        Err(other) => CheckoutStep::Failed(other.to_string()),
    }
}

/// `product:variant:quantity` of every line, and the total.
fn fingerprint(view: &CartView) -> String {
    let mut parts: Vec<String> = view
        .lines
        .iter()
        .map(|l| {
            format!(
                "{}:{}:{}",
                l.offer.product_id,
                l.offer.variant_id.unwrap_or(0),
                l.quantity
            )
        })
        .collect();
    parts.sort();
    parts.push(view.totals.total_minor.to_string());
    parts.join(",")
}

/// A signed-in customer orders under their account's name and email.
fn account_contact(tools: &Toolbox) -> Result<Option<Contact>, ToolError> {
    let Some(customer_id) = tools.shopper.customer_id else {
        return Ok(None);
    };
    let customer = shopper::customer(tools.shop.store, customer_id).map_err(|e| match e {
        shopper::ShopperError::Store(store) => ToolError::Store(store),
        other => ToolError::Refused(other.to_string()),
    })?;
    Ok(customer
        .filter(|c| !c.name.trim().is_empty())
        .map(|c| Contact {
            name: c.name,
            email: c.email,
        }))
}

/// Name and email from a message like "Sam Lee, sam@example.com" or "my
/// name is Sam and my email is sam@example.com".
fn contact_in(turn: &Turn) -> Result<Contact, String> {
    let email = turn
        .slots
        .email
        .clone()
        .ok_or_else(|| "I need an email address".to_string())?;
    shopper::check_email(&email).map_err(|reason| format!("the email {reason}"))?;
    let name = name_beside(turn.message, &email);
    if name.is_empty() {
        return Err("please include your name with the email".into());
    }
    Ok(Contact { name, email })
}

/// The words of `message` that are a name: those before the email (or, when
/// there are none, after it), without filler.
fn name_beside(message: &str, email: &str) -> String {
    let (before, after) = message.split_once(email).unwrap_or((message, ""));
    let before = name_words(before);
    if before.is_empty() {
        name_words(after)
    } else {
        before
    }
}

fn name_words(text: &str) -> String {
    const FILLER: &[&str] = &[
        "my", "name", "is", "i'm", "im", "i", "am", "it's", "its", "and", "email", "e-mail",
        "mail", "address", "the", "under", "put", "it", "please", "thanks", "use", "order", "for",
        "to", "at", "me", "call", "yes", "ok", "okay", "sure",
    ];
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '.' | '!' | '(' | ')'))
        .filter(|w| !FILLER.contains(&w.to_lowercase().as_str()))
        .filter(|w| w.chars().any(char::is_alphabetic))
        .filter(|w| {
            w.chars()
                .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        })
        .take(5)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_beside_the_email() {
        let cases = [
            ("Sam Lee, sam@example.com", "Sam Lee"),
            (
                "my name is Ana María and my email is ana@example.com",
                "Ana María",
            ),
            ("ana@example.com", ""),
            ("it's Jo O'Neil: jo@example.com.", "Jo O'Neil"),
            ("Sam Lee, sam@example.com -- yes place it", "Sam Lee"),
            ("sam@example.com, name Sam", "Sam"),
        ];
        for (message, name) in cases {
            let email = message
                .split_whitespace()
                .find(|w| w.contains('@'))
                .unwrap()
                .trim_end_matches('.');
            assert_eq!(name_beside(message, email), name, "{message}");
        }
    }
}
