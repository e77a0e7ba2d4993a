//! Checkout: turning the shopper's cart into an order, all or nothing.
//!
//! In one write transaction it checks every line's stock and price and the
//! voucher, takes the stock, writes the order with its lines and first status
//! event, redeems the voucher, empties the cart, records the idempotency key and
//! tells analytics, profiles and webhooks. Either all of that commits or none of
//! it does, so a crash can never leave half an order, and the single writer
//! means two shoppers can never both buy the last unit.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cart::{self, CartView, Totals};
use super::order::{self, OrderView};
use super::payment::{PaymentOutcome, PaymentRequest, Payments};
use super::vouchers::{self, VoucherRejection};
use super::webhooks::{self, EventType};
use super::{OrderLine, OrderStatus, PlacedOrder, Shopper, analytics, profile};
use crate::catalog::{Currency, FieldError};
use crate::config::CommerceSettings;
use crate::store::carts;
use crate::store::orders::{self, NewOrder};
use crate::store::{Store, StoreError, now_utc};

/// Order numbers read `SK-1001`, `SK-1002`, …
pub const ORDER_NUMBER_PREFIX: &str = "SK-";
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 200;

/// The checkout form as it arrives; `CheckoutDetails::parse` validates it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CheckoutInput {
    #[serde(default)]
    pub contact: ContactInput,
    #[serde(default)]
    pub delivery: DeliveryInput,
    #[serde(default)]
    pub payment_method: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct ContactInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct DeliveryInput {
    /// `delivery` (to the address) or `pickup` (at the shop).
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub address: Option<AddressInput>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AddressInput {
    #[serde(default)]
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: String,
    #[serde(default)]
    pub country: String,
}

/// Contact and delivery details that passed validation.
#[derive(Debug, Clone, Serialize)]
pub struct CheckoutDetails {
    contact: serde_json::Value,
    delivery: serde_json::Value,
    email: String,
    payment_method: String,
    /// SHA-256 of the whole request, to tell a replay from a different request.
    fingerprint: String,
}

impl CheckoutDetails {
    pub fn parse(input: &CheckoutInput, payments: &Payments) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut text = |field: &str, value: &str, max: usize, required: bool| {
            let value = value.trim();
            if required && value.is_empty() {
                errors.push(FieldError::new(field, "is required"));
            } else if value.chars().count() > max || value.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    field,
                    format!("must be at most {max} printable characters"),
                ));
            }
            value.to_string()
        };
        let name = text("contact.name", &input.contact.name, 200, true);
        let email = text("contact.email", &input.contact.email, 254, true);
        let phone = input
            .contact
            .phone
            .as_deref()
            .map(|p| text("contact.phone", p, 40, false))
            .filter(|p| !p.is_empty());
        let method = input
            .delivery
            .method
            .as_deref()
            .unwrap_or("delivery")
            .trim();
        let address = match (method, &input.delivery.address) {
            ("pickup", _) => serde_json::Value::Null,
            ("delivery", Some(a)) => serde_json::json!({
                "line1": text("delivery.address.line1", &a.line1, 200, true),
                "line2": a.line2.as_deref().map(|l| text("delivery.address.line2", l, 200, false)).filter(|l| !l.is_empty()),
                "city": text("delivery.address.city", &a.city, 100, true),
                "region": a.region.as_deref().map(|r| text("delivery.address.region", r, 100, false)).filter(|r| !r.is_empty()),
                "postal_code": text("delivery.address.postal_code", &a.postal_code, 20, true),
                "country": text("delivery.address.country", &a.country, 60, true),
            }),
            ("delivery", None) => {
                errors.push(FieldError::new(
                    "delivery.address",
                    "is required for delivery (or choose method \"pickup\")",
                ));
                serde_json::Value::Null
            }
            _ => {
                errors.push(FieldError::new(
                    "delivery.method",
                    "must be \"delivery\" or \"pickup\"",
                ));
                serde_json::Value::Null
            }
        };
        if !email.is_empty()
            && let Err(reason) = super::shopper::check_email(&email)
        {
            errors.push(FieldError::new("contact.email", reason));
        }
        let payment_method = input.payment_method.as_deref().unwrap_or("manual").trim();
        if payments.get(payment_method).is_none() {
            errors.push(FieldError::new(
                "payment_method",
                format!("must be one of {:?}", payments.ids()),
            ));
        }
        let note = input
            .note
            .as_deref()
            .map(|n| text_note(n, &mut errors))
            .filter(|n| !n.is_empty());
        if !errors.is_empty() {
            return Err(errors);
        }
        let canonical = serde_json::to_vec(input).unwrap_or_default();
        Ok(CheckoutDetails {
            contact: serde_json::json!({ "name": name, "email": email, "phone": phone }),
            delivery: serde_json::json!({ "method": method, "address": address, "note": note }),
            email,
            payment_method: payment_method.to_string(),
            fingerprint: hex::encode(Sha256::digest(canonical)),
        })
    }
}

fn text_note(note: &str, errors: &mut Vec<FieldError>) -> String {
    let note = note.trim();
    if note.chars().count() > 1000 {
        errors.push(FieldError::new("note", "must be at most 1000 characters"));
    }
    note.to_string()
}

/// A cart line that cannot be bought as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct LineProblem {
    pub item_id: i64,
    pub product_id: i64,
    pub name: String,
    /// Units on hand (0 when out of stock or not for sale); `None` when not tracked.
    pub available: Option<i64>,
    pub wanted: i64,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("the cart is empty")]
    EmptyCart,
    #[error("some items are not available in the quantity asked for")]
    Unavailable(Vec<LineProblem>),
    #[error("prices changed since the items were added; please review the cart")]
    PricesChanged(Vec<String>),
    #[error("{0}")]
    Voucher(VoucherRejection),
    #[error("this Idempotency-Key was already used for a different checkout request")]
    KeyReused,
    #[error(transparent)]
    Payment(#[from] super::payment::PaymentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A placed order, and whether it was placed by an earlier request with the same key.
#[derive(Debug)]
pub struct Placed {
    pub order: OrderView,
    pub replayed: bool,
}

/// What checkout runs with.
pub struct CheckoutContext<'a> {
    pub settings: &'a CommerceSettings,
    pub currency: &'a Currency,
    pub payments: &'a Payments,
}

enum Attempt {
    Placed(i64),
    Replayed(i64),
    PricesChanged(Vec<String>),
}

/// Places the shopper's cart as an order. With an idempotency key, a repeat
/// of the same request returns the order the first one placed.
pub fn checkout(
    store: &Store,
    shopper: Shopper,
    details: &CheckoutDetails,
    idempotency_key: Option<&str>,
    context: &CheckoutContext,
) -> Result<Placed, CheckoutError> {
    if let Some(key) = idempotency_key
        && (key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES)
    {
        return Err(CheckoutError::Invalid(vec![FieldError::new(
            "Idempotency-Key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} bytes"),
        )]));
    }
    let scope = idempotency_scope(shopper);
    let attempt = store.write_with(|tx| -> Result<Attempt, CheckoutError> {
        if let Some(key) = idempotency_key
            && let Some((order_id, fingerprint)) = orders::find_idempotent(tx, &scope, key)?
        {
            return if fingerprint == details.fingerprint {
                Ok(Attempt::Replayed(order_id))
            } else {
                Err(CheckoutError::KeyReused)
            };
        }
        let priced = cart::price_cart(tx, shopper, context.settings, context.currency)?;
        check_cart(&priced)?;
        let changed = price_changes(&priced, context.currency);
        if !changed.is_empty() {
            if let Some(cart) = carts::find(tx, cart::owner(shopper))? {
                carts::confirm_prices(tx, cart.id)?;
            }
            return Ok(Attempt::PricesChanged(changed));
        }
        if let Some((_, rejection)) = priced.voucher_problem {
            return Err(CheckoutError::Voucher(rejection));
        }
        let order_id = place(tx, shopper, details, &priced, context)?;
        if let Some(key) = idempotency_key {
            orders::remember_idempotent(
                tx,
                &scope,
                key,
                &details.fingerprint,
                order_id,
                &now_utc(),
            )?;
        }
        Ok(Attempt::Placed(order_id))
    })?;
    let (order_id, replayed) = match attempt {
        Attempt::Placed(id) => (id, false),
        Attempt::Replayed(id) => (id, true),
        Attempt::PricesChanged(notices) => return Err(CheckoutError::PricesChanged(notices)),
    };
    let order = order::load_by_id(store, order_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("order {order_id} vanished after checkout")))?;
    Ok(Placed { order, replayed })
}

fn idempotency_scope(shopper: Shopper) -> String {
    match shopper.customer_id {
        Some(id) => format!("customer:{id}"),
        None => format!("session:{}", shopper.session_id),
    }
}

/// The cart must hold something, and everything in it must be for sale in
/// the quantity asked for.
fn check_cart(priced: &CartView) -> Result<(), CheckoutError> {
    if priced.lines.is_empty() {
        return Err(CheckoutError::EmptyCart);
    }
    let problems: Vec<LineProblem> = priced
        .lines
        .iter()
        .filter_map(|line| {
            line.problem.as_ref().map(|reason| LineProblem {
                item_id: line.item_id,
                product_id: line.offer.product_id,
                name: line.offer.name.clone(),
                available: line
                    .offer
                    .stock
                    .map(|s| if line.offer.active { s.max(0) } else { 0 }),
                wanted: line.quantity,
                reason: reason.clone(),
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CheckoutError::Unavailable(problems))
    }
}

fn price_changes(priced: &CartView, currency: &Currency) -> Vec<String> {
    priced
        .lines
        .iter()
        .filter_map(|line| {
            let before = line.previous_unit_price_minor?;
            Some(format!(
                "{} now costs {} (was {} when added).",
                line.offer.name,
                cart::show(currency, line.unit_price_minor),
                cart::show(currency, before)
            ))
        })
        .collect()
}

/// Writes the order and everything that goes with it; returns its id.
fn place(
    tx: &rusqlite::Transaction,
    shopper: Shopper,
    details: &CheckoutDetails,
    priced: &CartView,
    context: &CheckoutContext,
) -> Result<i64, CheckoutError> {
    let totals: Totals = priced.totals;
    let provider = context
        .payments
        .get(&details.payment_method)
        .ok_or_else(|| {
            CheckoutError::Invalid(vec![FieldError::new("payment_method", "is not offered")])
        })?;
    let outcome = provider.start(&PaymentRequest {
        total_minor: totals.total_minor,
        currency: context.currency.code(),
        email: &details.email,
    })?;
    let (status, reference) = match outcome {
        PaymentOutcome::Awaiting { reference } => (OrderStatus::Pending, reference),
        PaymentOutcome::Paid { reference } => (OrderStatus::Paid, Some(reference)),
    };
    let lines = order_lines(priced);
    take_stock(tx, priced, context.settings)?;
    let now = now_utc();
    let contact = details.contact.to_string();
    let delivery = details.delivery.to_string();
    let (order_id, number) = orders::insert(
        tx,
        &NewOrder {
            number_prefix: ORDER_NUMBER_PREFIX,
            customer_id: shopper.customer_id,
            session_id: shopper.session_id,
            status,
            currency: context.currency.code(),
            subtotal_minor: totals.subtotal_minor,
            discount_minor: totals.discount_minor,
            tax_minor: totals.tax_minor,
            total_minor: totals.total_minor,
            tax_inclusive: totals.tax_inclusive,
            voucher_code: priced.voucher.as_ref().map(|v| v.code.as_str()),
            payment_method: &details.payment_method,
            payment_reference: reference.as_deref(),
            contact: &contact,
            delivery: &delivery,
            now: &now,
        },
        &lines,
    )?;
    orders::record_event(
        tx,
        order_id,
        None,
        status,
        &order::actor_for(shopper),
        None,
        &now,
    )?;
    if let Some(applied) = &priced.voucher {
        let context = cart::voucher_context(shopper, totals.subtotal_minor);
        vouchers::redeem(tx, applied, order_id, &context)?;
    }
    if let Some(cart) = carts::find(tx, cart::owner(shopper))? {
        carts::clear(tx, cart.id, &now)?;
    }
    let placed = PlacedOrder {
        id: order_id,
        number,
        customer_id: shopper.customer_id,
        session_id: Some(shopper.session_id),
        status,
        currency: context.currency.code().to_string(),
        subtotal_minor: totals.subtotal_minor,
        discount_minor: totals.discount_minor,
        tax_minor: totals.tax_minor,
        total_minor: totals.total_minor,
        voucher_code: priced.voucher.as_ref().map(|v| v.code.clone()),
        created_at: now,
        lines,
    };
    analytics::record_order(tx, &placed)?;
    profile::learn(tx, &placed)?;
    webhooks::enqueue(tx, EventType::OrderCreated, &order::event_payload(&placed))?;
    Ok(order_id)
}

fn order_lines(priced: &CartView) -> Vec<OrderLine> {
    priced
        .lines
        .iter()
        .map(|line| OrderLine {
            product_id: Some(line.offer.product_id),
            variant_id: line.offer.variant_id,
            sku: line.offer.sku.clone(),
            name: line.offer.name.clone(),
            variant_title: line.offer.variant_title.clone(),
            category: line.offer.category.clone(),
            brand: line.offer.brand.clone(),
            dietary: serde_json::from_str(&line.offer.dietary).unwrap_or_default(),
            quantity: line.quantity,
            unit_price_minor: line.unit_price_minor,
            line_total_minor: line.line_total_minor,
        })
        .collect()
}

/// Takes every line's units off the shelf, and says so when that leaves a
/// product at or under the low-stock threshold.
fn take_stock(
    tx: &rusqlite::Transaction,
    priced: &CartView,
    settings: &CommerceSettings,
) -> Result<(), CheckoutError> {
    for line in &priced.lines {
        let offer = &line.offer;
        if !orders::take_stock(tx, offer.product_id, offer.variant_id, line.quantity)? {
            // price_cart read the same transaction, so this is only reachable
            // if a line names the same units twice; refuse rather than oversell.
            return Err(CheckoutError::Unavailable(vec![LineProblem {
                item_id: line.item_id,
                product_id: offer.product_id,
                name: offer.name.clone(),
                available: orders::stock_left(tx, offer.product_id, offer.variant_id)?,
                wanted: line.quantity,
                reason: format!("{} sold out while checking out.", offer.name),
            }]));
        }
        let left = orders::stock_left(tx, offer.product_id, offer.variant_id)?;
        if let Some(left) = left
            && left <= settings.low_stock_threshold
            && left + line.quantity > settings.low_stock_threshold
        {
            let payload = serde_json::json!({
                "product_id": offer.product_id,
                "variant_id": offer.variant_id,
                "sku": offer.sku,
                "name": offer.name,
                "stock": left,
                "threshold": settings.low_stock_threshold,
            });
            webhooks::enqueue(tx, EventType::StockLow, &payload)?;
        }
    }
    Ok(())
}
