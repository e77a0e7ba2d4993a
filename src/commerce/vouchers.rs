//! (temporary stub until the vouchers branch lands)

use rusqlite::{Connection, Transaction};

use crate::store::StoreError;

pub struct VoucherContext {
    pub customer_id: Option<i64>,
    pub session_id: i64,
    pub subtotal_minor: i64,
    pub now: time::OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct AppliedVoucher {
    pub voucher_id: i64,
    pub code: String,
    pub discount_minor: i64,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VoucherRejection {
    #[error("unknown")]
    Unknown,
}

impl VoucherRejection {
    pub fn code(&self) -> &'static str {
        "unknown"
    }
}

pub fn evaluate(
    _conn: &Connection,
    _code: &str,
    _ctx: &VoucherContext,
) -> Result<Result<AppliedVoucher, VoucherRejection>, StoreError> {
    Ok(Err(VoucherRejection::Unknown))
}

pub fn redeem(
    _tx: &Transaction,
    _applied: &AppliedVoucher,
    _order_id: i64,
    _ctx: &VoucherContext,
) -> Result<(), StoreError> {
    Ok(())
}

pub fn release(_tx: &Transaction, _order_id: i64) -> Result<(), StoreError> {
    Ok(())
}
