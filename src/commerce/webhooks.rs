//! (temporary stub until the webhooks branch lands)

use rusqlite::Transaction;

use crate::store::StoreError;

pub enum EventType {
    OrderCreated,
    OrderStatusChanged,
    StockLow,
}

pub fn enqueue(
    _tx: &Transaction,
    _event: EventType,
    _data: &serde_json::Value,
) -> Result<(), StoreError> {
    Ok(())
}
