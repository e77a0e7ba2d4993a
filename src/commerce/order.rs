//! Orders after checkout: the status lifecycle, who may see which order, and
//! status changes with their side effects.
//!
//! `OrderStatus` says which change may follow which. `PlacedOrder` is what the
//! checkout and status changes hand to analytics, profiles and webhooks inside
//! their transaction. A change is recorded with its time and actor; cancelling
//! puts the stock back and frees the voucher. SQL is `store::orders`'.

use serde::Serialize;

use super::{Shopper, analytics, vouchers, webhooks};
use crate::store::orders::{self, AdminFilter, EventRow, LineRow, OrderRow, Viewer};
use crate::store::{Store, StoreError, now_utc};

/// Where an order stands. pending → paid → fulfilled, or cancelled / refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Paid,
    Fulfilled,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Fulfilled,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The statuses an order in this status may move to.
    pub fn next(self) -> &'static [OrderStatus] {
        match self {
            OrderStatus::Pending => &[OrderStatus::Paid, OrderStatus::Cancelled],
            OrderStatus::Paid => &[OrderStatus::Fulfilled, OrderStatus::Refunded],
            OrderStatus::Fulfilled => &[OrderStatus::Refunded],
            OrderStatus::Cancelled | OrderStatus::Refunded => &[],
        }
    }

    pub fn can_become(self, to: OrderStatus) -> bool {
        self.next().contains(&to)
    }

    /// Whether an order in this status counts as a sale.
    pub fn is_sale(self) -> bool {
        !matches!(self, OrderStatus::Cancelled | OrderStatus::Refunded)
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a placed order, with the product facts that analytics and
/// profiles learn from.
#[derive(Debug, Clone, Serialize)]
pub struct OrderLine {
    pub product_id: Option<i64>,
    pub variant_id: Option<i64>,
    pub sku: Option<String>,
    pub name: String,
    pub variant_title: Option<String>,
    pub category: String,
    pub brand: Option<String>,
    pub dietary: Vec<String>,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

/// An order as placed, with its lines and totals.
#[derive(Debug, Clone, Serialize)]
pub struct PlacedOrder {
    pub id: i64,
    pub number: String,
    pub customer_id: Option<i64>,
    pub session_id: Option<i64>,
    pub status: OrderStatus,
    pub currency: String,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub voucher_code: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    pub lines: Vec<OrderLine>,
}

/// An order with its lines and status history, as shoppers and admins see it.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub order: OrderRow,
    pub lines: Vec<LineRow>,
    pub events: Vec<EventRow>,
}

impl OrderView {
    /// The order as the facts the hooks learn from (dietary tags are not kept on lines).
    pub fn facts(&self) -> PlacedOrder {
        let o = &self.order;
        PlacedOrder {
            id: o.id,
            number: o.number.clone(),
            customer_id: o.customer_id,
            session_id: o.session_id,
            status: o.status,
            currency: o.currency.clone(),
            subtotal_minor: o.subtotal_minor,
            discount_minor: o.discount_minor,
            tax_minor: o.tax_minor,
            total_minor: o.total_minor,
            voucher_code: o.voucher_code.clone(),
            created_at: o.created_at.clone(),
            lines: self
                .lines
                .iter()
                .map(|l| OrderLine {
                    product_id: l.product_id,
                    variant_id: l.variant_id,
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    variant_title: l.variant_title.clone(),
                    category: l.category.clone(),
                    brand: l.brand.clone(),
                    dietary: Vec::new(),
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_minor,
                    line_total_minor: l.line_total_minor,
                })
                .collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("there is no order {0}")]
    NotFound(String),
    #[error("an order that is {from} cannot become {to}; it can become: {allowed}")]
    Transition {
        from: OrderStatus,
        to: OrderStatus,
        allowed: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who changed an order, as the history records it.
pub fn actor_for(shopper: Shopper) -> String {
    match shopper.customer_id {
        Some(id) => format!("customer:{id}"),
        None => format!("guest:{}", shopper.session_id),
    }
}

/// The `data` of order webhooks.
pub fn event_payload(order: &PlacedOrder) -> serde_json::Value {
    serde_json::to_value(order).unwrap_or(serde_json::Value::Null)
}

fn view(conn: &rusqlite::Connection, order: OrderRow) -> Result<OrderView, StoreError> {
    Ok(OrderView {
        lines: orders::lines(conn, order.id)?,
        events: orders::events(conn, order.id)?,
        order,
    })
}

pub fn load_by_id(store: &Store, id: i64) -> Result<Option<OrderView>, StoreError> {
    store.read(|conn| {
        orders::find(conn, &id.to_string())?
            .map(|o| view(conn, o))
            .transpose()
    })
}

/// Any order, by number or id (admins).
pub fn find(store: &Store, key: &str) -> Result<Option<OrderView>, StoreError> {
    store.read(|conn| orders::find(conn, key)?.map(|o| view(conn, o)).transpose())
}

fn belongs_to(order: &OrderRow, shopper: Shopper) -> bool {
    order.session_id == Some(shopper.session_id)
        || (shopper.customer_id.is_some() && order.customer_id == shopper.customer_id)
}

/// One of the shopper's own orders; someone else's is as good as missing.
pub fn find_for_shopper(
    store: &Store,
    shopper: Shopper,
    key: &str,
) -> Result<Option<OrderView>, StoreError> {
    Ok(find(store, key)?.filter(|v| belongs_to(&v.order, shopper)))
}

pub fn list_for_shopper(
    store: &Store,
    shopper: Shopper,
    limit: usize,
) -> Result<Vec<OrderView>, StoreError> {
    let viewer = Viewer {
        session_id: shopper.session_id,
        customer_id: shopper.customer_id,
    };
    store.read(|conn| {
        orders::for_viewer(conn, viewer, limit)?
            .into_iter()
            .map(|o| view(conn, o))
            .collect()
    })
}

pub fn list(store: &Store, filter: &AdminFilter) -> Result<Vec<OrderView>, StoreError> {
    store.read(|conn| {
        orders::list(conn, filter)?
            .into_iter()
            .map(|o| view(conn, o))
            .collect()
    })
}

/// A status change someone asked for.
#[derive(Debug, Clone)]
pub struct StatusChange<'a> {
    pub to: OrderStatus,
    pub actor: &'a str,
    pub note: Option<&'a str>,
    /// Put a refunded order's goods back on the shelf (a cancelled one's always go back).
    pub restock: bool,
}

/// Moves an order to a new status, if the lifecycle allows it, with
/// everything that follows in the same transaction: stock back on cancel
/// (or a restocking refund), the voucher use freed when the sale is undone,
/// analytics, the history entry and the `order.status_changed` webhook.
pub fn change_status(
    store: &Store,
    key: &str,
    change: &StatusChange,
    allowed_for: Option<Shopper>,
) -> Result<OrderView, OrderError> {
    let order_id = store.write_with(|tx| -> Result<i64, OrderError> {
        let order = orders::find(tx, key)?
            .filter(|o| allowed_for.is_none_or(|s| belongs_to(o, s)))
            .ok_or_else(|| OrderError::NotFound(key.to_string()))?;
        let from = order.status;
        if !from.can_become(change.to) {
            let allowed: Vec<&str> = from.next().iter().map(|s| s.as_str()).collect();
            return Err(OrderError::Transition {
                from,
                to: change.to,
                allowed: if allowed.is_empty() {
                    "nothing (it is final)".into()
                } else {
                    allowed.join(", ")
                },
            });
        }
        let before = view(tx, order)?;
        let restock = change.to == OrderStatus::Cancelled
            || (change.to == OrderStatus::Refunded && change.restock);
        if restock {
            for line in &before.lines {
                if let Some(product_id) = line.product_id {
                    orders::return_stock(tx, product_id, line.variant_id, line.quantity)?;
                }
            }
        }
        let now = now_utc();
        orders::set_status(tx, before.order.id, change.to, &now)?;
        orders::record_event(
            tx,
            before.order.id,
            Some(from),
            change.to,
            change.actor,
            change.note,
            &now,
        )?;
        if !change.to.is_sale() {
            vouchers::release(tx, before.order.id)?;
        }
        let mut facts = before.facts();
        analytics::record_status_change(tx, &facts, from, change.to)?;
        facts.status = change.to;
        let mut payload = event_payload(&facts);
        payload["previous_status"] = serde_json::Value::from(from.as_str());
        payload["restocked"] = serde_json::Value::from(restock);
        webhooks::enqueue(tx, webhooks::EventType::OrderStatusChanged, &payload)?;
        Ok(before.order.id)
    })?;
    load_by_id(store, order_id)?.ok_or_else(|| OrderError::NotFound(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_allows_only_forward_moves() {
        use OrderStatus::*;
        let allowed = [
            (Pending, Paid),
            (Pending, Cancelled),
            (Paid, Fulfilled),
            (Paid, Refunded),
            (Fulfilled, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
            assert_eq!(OrderStatus::parse(from.as_str()), Some(from));
        }
    }
}
