//! (temporary stub until the analytics branch lands)

use rusqlite::Transaction;

use super::{OrderStatus, PlacedOrder};
use crate::store::StoreError;

pub fn record_order(_tx: &Transaction, _order: &PlacedOrder) -> Result<(), StoreError> {
    Ok(())
}

pub fn record_status_change(
    _tx: &Transaction,
    _order: &PlacedOrder,
    _from: OrderStatus,
    _to: OrderStatus,
) -> Result<(), StoreError> {
    Ok(())
}
