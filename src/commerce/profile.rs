//! (temporary stub until the profile branch lands)

use rusqlite::Transaction;

use super::PlacedOrder;
use crate::store::StoreError;

pub fn learn(_tx: &Transaction, _order: &PlacedOrder) -> Result<(), StoreError> {
    Ok(())
}
