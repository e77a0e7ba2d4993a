//! Orders: the status lifecycle and the facts of a placed order.
//!
//! `OrderStatus` says which change may follow which. `PlacedOrder` is what the
//! checkout hands to analytics, profiles and webhooks inside its transaction.
//! Reading and writing order rows is `store::orders`' job, not this module's.

use serde::Serialize;

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

    /// Whether the goods of an order in this status are back on the shelf.
    pub fn returns_stock(self) -> bool {
        matches!(self, OrderStatus::Cancelled | OrderStatus::Refunded)
    }

    /// Whether an order in this status counts as a sale.
    pub fn is_sale(self) -> bool {
        !self.returns_stock()
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
