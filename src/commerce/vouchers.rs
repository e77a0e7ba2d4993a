//! Vouchers: discount codes, what they take off a cart, and the reasons one
//! does not apply.
//!
//! Owns the voucher rules: `VoucherDraft::parse` turns an admin's untrusted
//! `VoucherInput` into a voucher that is valid by construction; `evaluate`
//! decides whether a code applies to a cart and what it is worth; `redeem` and
//! `release` record and free a use inside the checkout's (or the order
//! status change's) transaction; `create`, `revise`, `update` and `remove` are
//! the admin's operations. SQL lives in `store::vouchers`; this module must
//! not know about HTTP.

use rusqlite::{Connection, Transaction};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use utoipa::ToSchema;

use crate::catalog::product::DecimalInput;
use crate::catalog::{Currency, FieldError, Money};
use crate::store::StoreError;
use crate::store::vouchers::{self as rows, NewRedemption, StoredVoucher, Usage, VoucherRow};

const MIN_CODE_CHARS: usize = 3;
const MAX_CODE_CHARS: usize = 32;
const MAX_DESCRIPTION_CHARS: usize = 500;
/// 100% in basis points (hundredths of a percent).
const WHOLE_IN_BASIS_POINTS: i64 = 10_000;

/// A voucher as an admin sends it, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoucherInput {
    /// 3 to 32 characters of A–Z, 0–9, '-' and '_'; letter case is ignored.
    pub code: Option<String>,
    /// "percent" or "fixed".
    pub kind: Option<String>,
    /// For "percent", 0.01 to 100 ("15", "12.5"); for "fixed", an amount in
    /// the shop currency ("5.00").
    pub value: Option<DecimalInput>,
    /// The smallest cart subtotal the code applies to, in the shop currency; 0 when absent.
    pub minimum_spend: Option<DecimalInput>,
    /// RFC 3339; the code works from this instant on. Absent: at once.
    pub starts_at: Option<String>,
    /// RFC 3339; the code stops working at this instant. Absent: never.
    pub ends_at: Option<String>,
    /// How many orders may use the code in all; absent for no limit.
    pub usage_limit: Option<i64>,
    /// How many orders one customer (or one guest session) may use it on; absent for no limit.
    pub per_customer_limit: Option<i64>,
    /// Defaults to true.
    pub active: Option<bool>,
    pub description: Option<String>,
}

/// What a voucher takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// Hundredths of a percent: 1 (0.01%) to 10 000 (100%).
    Percent { basis_points: i64 },
    /// A fixed amount, more than zero.
    Fixed { amount: Money },
}

impl Discount {
    pub fn kind(&self) -> &'static str {
        match self {
            Discount::Percent { .. } => "percent",
            Discount::Fixed { .. } => "fixed",
        }
    }

    /// Basis points for a percentage, minor units for a fixed amount: the stored `value`.
    pub fn raw_value(&self) -> i64 {
        match self {
            Discount::Percent { basis_points } => *basis_points,
            Discount::Fixed { amount } => amount.minor(),
        }
    }

    /// The value the way an admin types it: "12.5" (percent) or "5.00" (fixed).
    pub fn value_text(&self, currency: &Currency) -> String {
        match self {
            Discount::Percent { basis_points } => format_percent(*basis_points),
            Discount::Fixed { amount } => currency.format_plain(*amount),
        }
    }

    /// What this discount takes off `subtotal_minor`: never more than the
    /// subtotal; a percentage rounds half up to the minor unit.
    pub fn amount_off(&self, subtotal_minor: i64) -> i64 {
        let subtotal = subtotal_minor.max(0);
        let off = match self {
            Discount::Percent { basis_points } => {
                // i128: a subtotal near Money::MAX_MINOR times 10 000 stays exact.
                let scaled = i128::from(subtotal) * i128::from(*basis_points);
                let whole = i128::from(WHOLE_IN_BASIS_POINTS);
                i64::try_from((scaled + whole / 2) / whole).unwrap_or(subtotal)
            }
            Discount::Fixed { amount } => amount.minor(),
        };
        off.min(subtotal)
    }
}

/// A voucher that passed validation. Fields are private so that outside code
/// can only get one through `parse` (or from the store, which holds only those).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoucherDraft {
    code: String,
    discount: Discount,
    minimum_spend: Money,
    currency: Currency,
    starts_at: Option<OffsetDateTime>,
    ends_at: Option<OffsetDateTime>,
    usage_limit: Option<i64>,
    per_customer_limit: Option<i64>,
    active: bool,
    description: String,
}

impl VoucherDraft {
    /// Checks every field and returns the voucher, or every field that is wrong.
    /// Amounts are read in `currency`, the shop currency.
    pub fn parse(
        input: &VoucherInput,
        currency: &Currency,
    ) -> Result<VoucherDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let code = field(
            &mut errors,
            "code",
            required(input.code.as_deref()).and_then(parse_code),
        );
        let kind = field(
            &mut errors,
            "kind",
            required(input.kind.as_deref()).and_then(parse_kind),
        );
        // Without a kind there is no telling what the value means: only the kind is reported.
        let discount = kind.and_then(|kind| {
            let discount = parse_discount(kind, input.value.as_ref(), currency);
            field(&mut errors, "value", discount)
        });
        let minimum_spend = input
            .minimum_spend
            .as_ref()
            .map_or(Ok(Money::ZERO), |amount| parse_money(amount, currency));
        let minimum_spend = field(&mut errors, "minimum_spend", minimum_spend);
        let starts_at = field(
            &mut errors,
            "starts_at",
            parse_instant(input.starts_at.as_deref()),
        );
        let ends_at = field(
            &mut errors,
            "ends_at",
            parse_instant(input.ends_at.as_deref()),
        );
        if let (Some(Some(starts)), Some(Some(ends))) = (starts_at, ends_at)
            && ends <= starts
        {
            errors.push(FieldError::new("ends_at", "must be after starts_at"));
        }
        let usage_limit = field(&mut errors, "usage_limit", parse_limit(input.usage_limit));
        let per_customer_limit = field(
            &mut errors,
            "per_customer_limit",
            parse_limit(input.per_customer_limit),
        );
        let description = field(
            &mut errors,
            "description",
            parse_description(input.description.as_deref()),
        );
        let (
            Some(code),
            Some(discount),
            Some(minimum_spend),
            Some(starts_at),
            Some(ends_at),
            Some(usage_limit),
            Some(per_customer_limit),
            Some(description),
            true,
        ) = (
            code,
            discount,
            minimum_spend,
            starts_at,
            ends_at,
            usage_limit,
            per_customer_limit,
            description,
            errors.is_empty(),
        )
        else {
            return Err(errors);
        };
        Ok(VoucherDraft {
            code,
            discount,
            minimum_spend,
            currency: *currency,
            starts_at,
            ends_at,
            usage_limit,
            per_customer_limit,
            active: input.active.unwrap_or(true),
            description,
        })
    }

    /// The code, upper-case.
    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn discount(&self) -> Discount {
        self.discount
    }

    pub fn minimum_spend(&self) -> Money {
        self.minimum_spend
    }

    /// The currency its amounts are in: the shop currency when it was saved.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn starts_at(&self) -> Option<OffsetDateTime> {
        self.starts_at
    }

    pub fn ends_at(&self) -> Option<OffsetDateTime> {
        self.ends_at
    }

    pub fn usage_limit(&self) -> Option<i64> {
        self.usage_limit
    }

    pub fn per_customer_limit(&self) -> Option<i64> {
        self.per_customer_limit
    }

    pub fn active(&self) -> bool {
        self.active
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// The input that parses back into this draft; the base a patch is laid over.
    pub fn to_input(&self) -> VoucherInput {
        VoucherInput {
            code: Some(self.code.clone()),
            kind: Some(self.discount.kind().into()),
            value: Some(DecimalInput::Text(self.discount.value_text(&self.currency))),
            minimum_spend: Some(DecimalInput::Text(
                self.currency.format_plain(self.minimum_spend),
            )),
            starts_at: self.starts_at.map(rfc3339),
            ends_at: self.ends_at.map(rfc3339),
            usage_limit: self.usage_limit,
            per_customer_limit: self.per_customer_limit,
            active: Some(self.active),
            description: Some(self.description.clone()),
        }
    }

    fn to_row(&self) -> VoucherRow {
        VoucherRow {
            code: self.code.clone(),
            kind: self.discount.kind().into(),
            value: self.discount.raw_value(),
            minimum_spend_minor: self.minimum_spend.minor(),
            currency: self.currency.code().into(),
            starts_at: self.starts_at.map(rfc3339),
            ends_at: self.ends_at.map(rfc3339),
            usage_limit: self.usage_limit,
            per_customer_limit: self.per_customer_limit,
            active: self.active,
            description: self.description.clone(),
        }
    }

    /// Reads a stored row back; the schema's checks make failure a sign of a
    /// damaged database, not of bad input.
    fn from_row(row: &VoucherRow) -> Result<VoucherDraft, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("voucher {}: {what}", row.code));
        let currency =
            Currency::from_code(&row.currency).ok_or_else(|| corrupt("unknown currency"))?;
        let money = |minor| Money::from_minor(minor).map_err(|_| corrupt("amount out of range"));
        let discount = match row.kind.as_str() {
            "percent" => Discount::Percent {
                basis_points: row.value,
            },
            "fixed" => Discount::Fixed {
                amount: money(row.value)?,
            },
            _ => return Err(corrupt("unknown kind")),
        };
        let instant = |text: &Option<String>| {
            text.as_deref()
                .map(|t| OffsetDateTime::parse(t, &Rfc3339).map_err(|_| corrupt("bad timestamp")))
                .transpose()
        };
        Ok(VoucherDraft {
            code: row.code.clone(),
            discount,
            minimum_spend: money(row.minimum_spend_minor)?,
            currency,
            starts_at: instant(&row.starts_at)?,
            ends_at: instant(&row.ends_at)?,
            usage_limit: row.usage_limit,
            per_customer_limit: row.per_customer_limit,
            active: row.active,
            description: row.description.clone(),
        })
    }
}

/// A stored voucher with how often it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub id: i64,
    pub draft: VoucherDraft,
    pub usage: Usage,
    pub created_at: String,
    pub updated_at: String,
}

impl Voucher {
    /// Uses left before the total limit; `None` when there is no limit.
    pub fn uses_left(&self) -> Option<i64> {
        self.draft
            .usage_limit
            .map(|limit| (limit - self.usage.live).max(0))
    }

    fn from_stored(stored: StoredVoucher, usage: Usage) -> Result<Voucher, StoreError> {
        Ok(Voucher {
            id: stored.id,
            draft: VoucherDraft::from_row(&stored.row)?,
            usage,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        })
    }
}

/// The cart a code is tried on, and who is trying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoucherContext {
    pub customer_id: Option<i64>,
    pub session_id: i64,
    pub subtotal_minor: i64,
    pub now: OffsetDateTime,
}

/// A code that applies, and what it takes off the subtotal it was evaluated on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AppliedVoucher {
    pub voucher_id: i64,
    pub code: String,
    pub discount_minor: i64,
    pub description: String,
}

/// Why a code does not apply, in words a shopper understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoucherRejection {
    #[error("there is no voucher with the code {code}; check the spelling")]
    Unknown { code: String },
    #[error("the code {code} is no longer active")]
    Inactive { code: String },
    #[error("the code {code} can be used from {}", when(.starts_at))]
    NotStarted {
        code: String,
        starts_at: OffsetDateTime,
    },
    #[error("the code {code} expired on {}", when(.ended_at))]
    Expired {
        code: String,
        ended_at: OffsetDateTime,
    },
    #[error(
        "the code {code} needs a minimum spend of {}; your cart is {} short",
        money(.currency, *.minimum_minor),
        money(.currency, .minimum_minor - .subtotal_minor)
    )]
    MinimumSpend {
        code: String,
        currency: Currency,
        minimum_minor: i64,
        subtotal_minor: i64,
    },
    #[error("the code {code} has been used as many times as it may be")]
    UsedUp { code: String },
    #[error("you have already used the code {code} {}, the most allowed per customer", times(*.limit))]
    CustomerLimit { code: String, limit: i64 },
}

impl VoucherRejection {
    /// A machine-readable name of the rule that refused the code.
    pub fn code(&self) -> &'static str {
        match self {
            VoucherRejection::Unknown { .. } => "unknown",
            VoucherRejection::Inactive { .. } => "inactive",
            VoucherRejection::NotStarted { .. } => "not_started",
            VoucherRejection::Expired { .. } => "expired",
            VoucherRejection::MinimumSpend { .. } => "minimum_spend",
            VoucherRejection::UsedUp { .. } => "used_up",
            VoucherRejection::CustomerLimit { .. } => "customer_limit",
        }
    }
}

/// Whether `code` applies to the cart in `ctx`, and what it takes off.
///
/// The checkout calls this and then `redeem` inside one write transaction, so
/// no other order can take the last use in between.
pub fn evaluate(
    conn: &Connection,
    code: &str,
    ctx: &VoucherContext,
) -> Result<Result<AppliedVoucher, VoucherRejection>, StoreError> {
    let code = normalise_code(code);
    let found = match parse_code(code.clone()) {
        Ok(code) => rows::find_by_code(conn, &code)?,
        // Not a code any voucher could have: no need to ask the database.
        Err(_) => None,
    };
    let Some(stored) = found else {
        return Ok(Err(VoucherRejection::Unknown {
            code: code.chars().take(MAX_CODE_CHARS).collect(),
        }));
    };
    let voucher = VoucherDraft::from_row(&stored.row)?;
    Ok(
        check_rules(conn, stored.id, &voucher, ctx)?.map(|()| AppliedVoucher {
            voucher_id: stored.id,
            code: voucher.code.clone(),
            discount_minor: voucher.discount.amount_off(ctx.subtotal_minor),
            description: voucher.description.clone(),
        }),
    )
}

/// Records that order `order_id` used `applied`, inside the checkout's transaction.
///
/// The rules are checked again here, so a limit holds even for a caller that
/// evaluated on another connection: a code that no longer applies, or an order
/// that already used one, is a `StoreError::Conflict` saying why.
pub fn redeem(
    tx: &Transaction,
    applied: &AppliedVoucher,
    order_id: i64,
    ctx: &VoucherContext,
) -> Result<(), StoreError> {
    let stored = rows::get(tx, applied.voucher_id)?.ok_or_else(|| {
        StoreError::Conflict(format!("the code {} no longer exists", applied.code))
    })?;
    let voucher = VoucherDraft::from_row(&stored.row)?;
    if let Err(rejection) = check_rules(tx, stored.id, &voucher, ctx)? {
        return Err(StoreError::Conflict(rejection.to_string()));
    }
    rows::insert_redemption(
        tx,
        &NewRedemption {
            voucher_id: stored.id,
            order_id,
            customer_id: ctx.customer_id,
            session_id: ctx.session_id,
            created_at: rfc3339(ctx.now),
        },
    )
}

/// Frees the use of order `order_id` (cancelled or refunded), so it no longer
/// counts toward any limit. Orders without a voucher, and repeated calls, are fine.
pub fn release(tx: &Transaction, order_id: i64) -> Result<(), StoreError> {
    rows::release_redemption(tx, order_id)?;
    Ok(())
}

/// The rules in the order a shopper should hear them: what they cannot change
/// first, the minimum spend (which more shopping fixes) last.
fn check_rules(
    conn: &Connection,
    voucher_id: i64,
    voucher: &VoucherDraft,
    ctx: &VoucherContext,
) -> Result<Result<(), VoucherRejection>, StoreError> {
    let code = voucher.code.clone();
    if !voucher.active {
        return Ok(Err(VoucherRejection::Inactive { code }));
    }
    if let Some(starts_at) = voucher.starts_at.filter(|starts| ctx.now < *starts) {
        return Ok(Err(VoucherRejection::NotStarted { code, starts_at }));
    }
    if let Some(ended_at) = voucher.ends_at.filter(|ends| ctx.now >= *ends) {
        return Ok(Err(VoucherRejection::Expired { code, ended_at }));
    }
    if let Some(limit) = voucher.usage_limit
        && rows::usage(conn, voucher_id)?.live >= limit
    {
        return Ok(Err(VoucherRejection::UsedUp { code }));
    }
    if let Some(limit) = voucher.per_customer_limit
        && uses_by_shopper(conn, voucher_id, ctx)? >= limit
    {
        return Ok(Err(VoucherRejection::CustomerLimit { code, limit }));
    }
    let minimum_minor = voucher.minimum_spend.minor();
    if ctx.subtotal_minor < minimum_minor {
        return Ok(Err(VoucherRejection::MinimumSpend {
            code,
            currency: voucher.currency,
            minimum_minor,
            subtotal_minor: ctx.subtotal_minor,
        }));
    }
    Ok(Ok(()))
}

/// A signed-in customer's uses (with the guest uses of this session), else the session's.
fn uses_by_shopper(
    conn: &Connection,
    voucher_id: i64,
    ctx: &VoucherContext,
) -> Result<i64, StoreError> {
    match ctx.customer_id {
        Some(customer_id) => {
            rows::live_uses_by_customer(conn, voucher_id, customer_id, ctx.session_id)
        }
        None => rows::live_uses_by_session(conn, voucher_id, ctx.session_id),
    }
}

/// Saves a new voucher; a code that is taken is a `StoreError::Conflict`.
pub fn create(tx: &Transaction, draft: &VoucherDraft) -> Result<Voucher, StoreError> {
    let id = rows::insert(tx, &draft.to_row())?;
    stored(tx, id)
}

/// The voucher with `code` (any letter case), with its usage.
pub fn find(conn: &Connection, code: &str) -> Result<Option<Voucher>, StoreError> {
    let Some(found) = rows::find_by_code(conn, &normalise_code(code))? else {
        return Ok(None);
    };
    let usage = rows::usage(conn, found.id)?;
    Voucher::from_stored(found, usage).map(Some)
}

/// Every voucher in code order, with its usage.
pub fn list(conn: &Connection) -> Result<Vec<Voucher>, StoreError> {
    rows::list(conn)?
        .into_iter()
        .map(|(found, usage)| Voucher::from_stored(found, usage))
        .collect()
}

/// Lays an admin's changes (a JSON merge patch, RFC 7396; vouchers are flat)
/// over `current` and checks the result. The code cannot change, since orders
/// keep it as text; changing the kind needs a new value, since "15" means
/// something else as a percentage than as an amount.
pub fn revise(
    current: &VoucherDraft,
    changes: &serde_json::Map<String, serde_json::Value>,
    currency: &Currency,
) -> Result<VoucherDraft, Vec<FieldError>> {
    let mut merged = match serde_json::to_value(current.to_input()) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    for (field, value) in changes {
        if value.is_null() {
            merged.remove(field);
        } else {
            merged.insert(field.clone(), value.clone());
        }
    }
    let input: VoucherInput = serde_path_to_error::deserialize(serde_json::Value::Object(merged))
        .map_err(|err| {
        vec![FieldError::new(
            err.path().to_string(),
            err.inner().to_string(),
        )]
    })?;
    let revised = VoucherDraft::parse(&input, currency)?;
    let mut errors = Vec::new();
    if revised.code != current.code {
        errors.push(FieldError::new(
            "code",
            "cannot be changed; create a new voucher and deactivate this one",
        ));
    }
    if revised.discount.kind() != current.discount.kind() && !changes.contains_key("value") {
        errors.push(FieldError::new("value", "is required when kind changes"));
    }
    if errors.is_empty() {
        Ok(revised)
    } else {
        Err(errors)
    }
}

/// Saves `draft` over the voucher with `code`; `None` when there is none.
pub fn update(
    tx: &Transaction,
    code: &str,
    draft: &VoucherDraft,
) -> Result<Option<Voucher>, StoreError> {
    let Some(found) = rows::find_by_code(tx, &normalise_code(code))? else {
        return Ok(None);
    };
    rows::update(tx, found.id, &draft.to_row())?;
    stored(tx, found.id).map(Some)
}

/// What removing a voucher did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// It was never used, so it is gone.
    Deleted,
    /// Orders used it, so it stays as their history but no longer applies.
    Deactivated,
}

/// Removes the voucher with `code`: deletes it when no order ever used it,
/// otherwise deactivates it. `None` when there is no such voucher.
pub fn remove(tx: &Transaction, code: &str) -> Result<Option<Removal>, StoreError> {
    let Some(found) = rows::find_by_code(tx, &normalise_code(code))? else {
        return Ok(None);
    };
    if rows::usage(tx, found.id)?.ever_used() {
        rows::deactivate(tx, found.id)?;
        Ok(Some(Removal::Deactivated))
    } else {
        rows::delete(tx, found.id)?;
        Ok(Some(Removal::Deleted))
    }
}

fn stored(conn: &Connection, id: i64) -> Result<Voucher, StoreError> {
    let found = rows::get(conn, id)?
        .ok_or_else(|| StoreError::Corrupt(format!("voucher {id} vanished while being saved")))?;
    let usage = rows::usage(conn, id)?;
    Voucher::from_stored(found, usage)
}

/// The value of a field that parsed; otherwise records why it did not.
fn field<T>(errors: &mut Vec<FieldError>, name: &str, parsed: Result<T, String>) -> Option<T> {
    parsed
        .map_err(|reason| errors.push(FieldError::new(name, reason)))
        .ok()
}

/// Codes are compared upper-case and without surrounding space.
pub fn normalise_code(text: &str) -> String {
    text.trim().to_ascii_uppercase()
}

fn required(text: Option<&str>) -> Result<String, String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "is required".to_string())
}

fn parse_code(text: String) -> Result<String, String> {
    let code = normalise_code(&text);
    let length = code.chars().count();
    if !(MIN_CODE_CHARS..=MAX_CODE_CHARS).contains(&length) {
        return Err(format!(
            "must be {MIN_CODE_CHARS} to {MAX_CODE_CHARS} characters long"
        ));
    }
    if !code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err("may only hold letters A–Z, digits, '-' and '_'".into());
    }
    Ok(code)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Percent,
    Fixed,
}

fn parse_kind(text: String) -> Result<Kind, String> {
    match text.to_ascii_lowercase().as_str() {
        "percent" => Ok(Kind::Percent),
        "fixed" => Ok(Kind::Fixed),
        _ => Err("must be \"percent\" or \"fixed\"".into()),
    }
}

fn parse_discount(
    kind: Kind,
    value: Option<&DecimalInput>,
    currency: &Currency,
) -> Result<Discount, String> {
    let value = value.ok_or_else(|| "is required".to_string())?;
    match kind {
        Kind::Percent => parse_basis_points(&decimal_text(value))
            .map(|basis_points| Discount::Percent { basis_points }),
        Kind::Fixed => {
            let amount = parse_money(value, currency)?;
            if amount == Money::ZERO {
                return Err("must be more than 0".into());
            }
            Ok(Discount::Fixed { amount })
        }
    }
}

fn parse_money(amount: &DecimalInput, currency: &Currency) -> Result<Money, String> {
    currency
        .parse_amount(&decimal_text(amount))
        .map_err(|err| err.to_string())
}

fn decimal_text(input: &DecimalInput) -> String {
    match input {
        DecimalInput::Text(text) => text.clone(),
        DecimalInput::Number(number) => number.to_string(),
    }
}

/// "15", "12.5", "0.01" or "15%" into basis points; exact, never rounded.
fn parse_basis_points(text: &str) -> Result<i64, String> {
    let refused = || "must be a percentage from 0.01 to 100, like 15 or 12.5".to_string();
    let text = text.trim();
    let text = text.strip_suffix('%').unwrap_or(text).trim_end();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_only(whole) || !digits_only(fraction) {
        return Err(refused());
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    // Over three whole digits is over 100% (and could overflow); over two
    // decimals is finer than a basis point and would have to be rounded.
    if whole.len() > 3 || fraction.len() > 2 {
        return Err(refused());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| refused())?
    };
    let hundredths: i64 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<2}").parse().map_err(|_| refused())?
    };
    let basis_points = whole * 100 + hundredths;
    if (1..=WHOLE_IN_BASIS_POINTS).contains(&basis_points) {
        Ok(basis_points)
    } else {
        Err(refused())
    }
}

/// Basis points as the shortest exact percentage: 1500 → "15", 1250 → "12.5".
fn format_percent(basis_points: i64) -> String {
    let text = format!("{}.{:02}", basis_points / 100, basis_points % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn parse_instant(text: Option<&str>) -> Result<Option<OffsetDateTime>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|instant| Some(instant.to_offset(UtcOffset::UTC)))
        .map_err(|_| "must be an RFC 3339 date and time, like 2025-06-01T00:00:00Z".into())
}

fn parse_limit(limit: Option<i64>) -> Result<Option<i64>, String> {
    match limit {
        Some(n) if n < 1 => Err("must be at least 1 (leave it out for no limit)".into()),
        other => Ok(other),
    }
}

fn parse_description(text: Option<&str>) -> Result<String, String> {
    let text = text.unwrap_or("").trim();
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(format!(
            "must be at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
    Ok(text.to_string())
}

/// RFC 3339 in UTC, the format of every timestamp column.
fn rfc3339(instant: OffsetDateTime) -> String {
    instant
        .to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// An instant as a shopper reads it: "2025-06-01 09:00 UTC".
fn when(instant: &OffsetDateTime) -> String {
    let utc = instant.to_offset(UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute()
    )
}

fn money(currency: &Currency, minor: i64) -> String {
    Money::from_minor(minor)
        .map(|amount| currency.format_display(amount))
        .unwrap_or_else(|_| minor.to_string())
}

fn times(count: i64) -> String {
    match count {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use rusqlite::params;
    use serde_json::json;
    use time::Duration;

    use super::*;
    use crate::store::{Store, StoreOptions};

    fn usd() -> Currency {
        Currency::from_code("USD").unwrap()
    }

    fn input(value: serde_json::Value) -> VoucherInput {
        serde_json::from_value(value).unwrap()
    }

    fn draft(value: serde_json::Value) -> VoucherDraft {
        VoucherDraft::parse(&input(value), &usd()).unwrap()
    }

    fn refused_fields(value: serde_json::Value) -> BTreeSet<String> {
        VoucherDraft::parse(&input(value), &usd())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    fn fields(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    /// Noon, 15 June 2025 UTC: the moment every rule test runs at.
    fn noon() -> OffsetDateTime {
        OffsetDateTime::parse("2025-06-15T12:00:00Z", &Rfc3339).unwrap()
    }

    fn guest(session_id: i64, subtotal_minor: i64) -> VoucherContext {
        VoucherContext {
            customer_id: None,
            session_id,
            subtotal_minor,
            now: noon(),
        }
    }

    fn customer(customer_id: i64, session_id: i64, subtotal_minor: i64) -> VoucherContext {
        VoucherContext {
            customer_id: Some(customer_id),
            ..guest(session_id, subtotal_minor)
        }
    }

    struct Shop {
        _dir: tempfile::TempDir,
        store: Store,
    }

    impl Shop {
        fn new() -> Shop {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).unwrap();
            Shop { _dir: dir, store }
        }

        fn add(&self, value: serde_json::Value) -> Voucher {
            let draft = draft(value);
            self.store.write(|tx| create(tx, &draft)).unwrap()
        }

        fn evaluate(
            &self,
            code: &str,
            ctx: &VoucherContext,
        ) -> Result<AppliedVoucher, VoucherRejection> {
            self.store.read(|c| evaluate(c, code, ctx)).unwrap()
        }

        fn rejection(&self, code: &str, ctx: &VoucherContext) -> VoucherRejection {
            self.evaluate(code, ctx)
                .expect_err("the code should not apply")
        }

        fn discount(&self, code: &str, ctx: &VoucherContext) -> i64 {
            self.evaluate(code, ctx).unwrap().discount_minor
        }

        fn new_customer(&self, email: &str) -> i64 {
            self.store
                .write(|tx| {
                    tx.execute(
                        "INSERT INTO customers (email, password_hash, created_at) VALUES (?1, 'x', '')",
                        [email],
                    )?;
                    Ok(tx.last_insert_rowid())
                })
                .unwrap()
        }

        /// What the checkout does: evaluate, write the order, redeem, in one transaction.
        fn checkout(&self, code: &str, ctx: &VoucherContext) -> Result<i64, StoreError> {
            self.store.write(|tx| {
                let applied = evaluate(tx, code, ctx)?
                    .map_err(|rejection| StoreError::Conflict(rejection.to_string()))?;
                let order_id = insert_order(tx, ctx)?;
                redeem(tx, &applied, order_id, ctx)?;
                Ok(order_id)
            })
        }

        fn release(&self, order_id: i64) {
            self.store.write(|tx| release(tx, order_id)).unwrap();
        }
    }

    /// Orders come from the lead's checkout; the tests write the row it would.
    fn insert_order(tx: &Transaction, ctx: &VoucherContext) -> Result<i64, StoreError> {
        let number = format!("T-{}", uuid::Uuid::new_v4());
        tx.execute(
            "INSERT INTO orders (number, customer_id, session_id, status, currency, subtotal_minor,
                 discount_minor, tax_minor, total_minor, tax_inclusive, payment_method, contact,
                 delivery, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'paid', 'USD', ?4, 0, 0, ?4, 0, 'manual', '{}', '{}', '', '')",
            params![number, ctx.customer_id, ctx.session_id, ctx.subtotal_minor],
        )?;
        Ok(tx.last_insert_rowid())
    }

    #[test]
    fn a_valid_voucher_is_normalised() {
        let percent = draft(
            json!({"code": " spring-10 ", "kind": "Percent", "value": "12.5",
            "minimum_spend": "20", "starts_at": "2025-06-01T02:00:00+02:00", "usage_limit": 5}),
        );
        assert_eq!(percent.code(), "SPRING-10");
        assert_eq!(percent.discount(), Discount::Percent { basis_points: 1250 });
        assert_eq!(percent.minimum_spend().minor(), 2000);
        assert_eq!(
            percent.starts_at().map(rfc3339).as_deref(),
            Some("2025-06-01T00:00:00Z")
        );
        assert!(percent.active());
        let fixed = draft(json!({"code": "FIVE_OFF", "kind": "fixed", "value": 5}));
        assert_eq!(
            fixed.discount(),
            Discount::Fixed {
                amount: usd().parse_amount("5").unwrap()
            }
        );
        assert_eq!(fixed.minimum_spend(), Money::ZERO);
        for parsed in [percent, fixed] {
            assert_eq!(
                VoucherDraft::parse(&parsed.to_input(), &usd()).unwrap(),
                parsed
            );
        }
    }

    #[test]
    fn every_bad_field_is_reported() {
        let bad = json!({"code": "ab", "kind": "percent", "value": "150", "minimum_spend": "-1",
            "starts_at": "tomorrow", "ends_at": "2025-13-01", "usage_limit": 0,
            "per_customer_limit": -2, "description": "x".repeat(501)});
        assert_eq!(
            refused_fields(bad),
            fields(&[
                "code",
                "value",
                "minimum_spend",
                "starts_at",
                "ends_at",
                "usage_limit",
                "per_customer_limit",
                "description"
            ])
        );
        assert_eq!(refused_fields(json!({})), fields(&["code", "kind"]));
        assert_eq!(
            refused_fields(json!({"code": "OK1", "kind": "half"})),
            fields(&["kind"])
        );
        assert_eq!(
            refused_fields(json!({"code": "OK1", "kind": "fixed"})),
            fields(&["value"])
        );
        assert_eq!(
            refused_fields(json!({"code": "NO SPACE", "kind": "fixed", "value": "1"})),
            fields(&["code"])
        );
        assert_eq!(
            refused_fields(json!({"code": "ÄPFEL", "kind": "fixed", "value": "1"})),
            fields(&["code"])
        );
        assert_eq!(
            refused_fields(json!({"code": "X".repeat(33), "kind": "fixed", "value": "1"})),
            fields(&["code"])
        );
        assert!(
            VoucherDraft::parse(
                &input(json!({"code": "X".repeat(32), "kind": "fixed", "value": "1"})),
                &usd()
            )
            .is_ok()
        );
        for bad_amount in ["0", "0.00", "1.234", "-5", "five"] {
            assert_eq!(
                refused_fields(json!({"code": "FIX", "kind": "fixed", "value": bad_amount})),
                fields(&["value"]),
                "{bad_amount}"
            );
        }
        let same_instant = json!({"code": "WIN", "kind": "fixed", "value": "1",
            "starts_at": "2025-06-01T00:00:00Z", "ends_at": "2025-06-01T02:00:00+02:00"});
        assert_eq!(refused_fields(same_instant), fields(&["ends_at"]));
    }

    #[test]
    fn percentages_are_read_exactly_from_0_01_to_100() {
        for (text, basis_points) in [
            ("15", 1500),
            ("12.5", 1250),
            ("0.01", 1),
            ("100", 10_000),
            ("100.00", 10_000),
            ("15%", 1500),
            (".5", 50),
            ("007", 700),
        ] {
            assert_eq!(parse_basis_points(text), Ok(basis_points), "{text}");
        }
        for text in [
            "0", "0.00", "100.01", "0.001", "101", "", ".", "-5", "1e2", "abc", "1,5", "5 %x",
        ] {
            assert!(parse_basis_points(text).is_err(), "{text}");
        }
        assert_eq!(
            draft(json!({"code": "NUM", "kind": "percent", "value": 12.5})).discount(),
            Discount::Percent { basis_points: 1250 }
        );
        for basis_points in [1, 50, 1250, 1205, 1500, 10_000] {
            assert_eq!(
                parse_basis_points(&format_percent(basis_points)),
                Ok(basis_points)
            );
        }
        assert_eq!(format_percent(1250), "12.5");
        assert_eq!(format_percent(1500), "15");
    }

    #[test]
    fn percentages_round_half_up_to_the_minor_unit() {
        let percent = |basis_points| Discount::Percent { basis_points };
        assert_eq!(percent(1250).amount_off(1999), 250, "249.875 rounds up");
        assert_eq!(percent(500).amount_off(30), 2, "1.5 rounds up");
        assert_eq!(percent(500).amount_off(29), 1, "1.45 rounds down");
        assert_eq!(percent(10_000).amount_off(1234), 1234);
        assert_eq!(
            percent(1).amount_off(Money::MAX_MINOR),
            Money::MAX_MINOR / 10_000
        );
        let shop = Shop::new();
        shop.add(json!({"code": "TWELVE", "kind": "percent", "value": "12.5"}));
        assert_eq!(shop.discount("TWELVE", &guest(1, 1999)), 250);
    }

    #[test]
    fn a_fixed_amount_never_exceeds_the_subtotal() {
        let shop = Shop::new();
        shop.add(json!({"code": "TENNER", "kind": "fixed", "value": "10.00"}));
        assert_eq!(shop.discount("TENNER", &guest(1, 2500)), 1000);
        assert_eq!(shop.discount("TENNER", &guest(1, 750)), 750);
        assert_eq!(shop.discount("TENNER", &guest(1, 0)), 0);
    }

    #[test]
    fn an_unknown_code_is_refused_and_codes_ignore_case() {
        let shop = Shop::new();
        shop.add(json!({"code": "SPRING", "kind": "percent", "value": "10"}));
        let rejection = shop.rejection("AUTUMN", &guest(1, 1000));
        assert_eq!(rejection.code(), "unknown");
        assert!(rejection.to_string().contains("AUTUMN"), "{rejection}");
        assert_eq!(
            shop.rejection("no such code!", &guest(1, 1000)).code(),
            "unknown"
        );
        let long = shop.rejection(&"Z".repeat(10_000), &guest(1, 1000));
        assert!(
            long.to_string().len() < 200,
            "a pasted essay is not echoed back"
        );
        let applied = shop.evaluate("  spring ", &guest(1, 1000)).unwrap();
        assert_eq!(
            (applied.code.as_str(), applied.discount_minor),
            ("SPRING", 100)
        );
    }

    #[test]
    fn an_inactive_code_is_refused() {
        let shop = Shop::new();
        shop.add(json!({"code": "PAUSED", "kind": "fixed", "value": "1", "active": false}));
        let rejection = shop.rejection("PAUSED", &guest(1, 1000));
        assert_eq!(rejection.code(), "inactive");
        assert_eq!(rejection.to_string(), "the code PAUSED is no longer active");
    }

    #[test]
    fn a_code_works_only_inside_its_window() {
        let shop = Shop::new();
        shop.add(json!({"code": "JUNE", "kind": "fixed", "value": "1",
            "starts_at": "2025-06-15T12:00:00Z", "ends_at": "2025-06-15T18:00:00Z"}));
        let at = |now| VoucherContext {
            now,
            ..guest(1, 1000)
        };
        let before = shop.rejection("JUNE", &at(noon() - Duration::seconds(1)));
        assert_eq!(before.code(), "not_started");
        assert_eq!(
            before.to_string(),
            "the code JUNE can be used from 2025-06-15 12:00 UTC"
        );
        assert!(
            shop.evaluate("JUNE", &at(noon())).is_ok(),
            "the start is inclusive"
        );
        let end = noon() + Duration::hours(6);
        assert!(
            shop.evaluate("JUNE", &at(end - Duration::seconds(1)))
                .is_ok()
        );
        let after = shop.rejection("JUNE", &at(end));
        assert_eq!(after.code(), "expired", "the end is exclusive");
        assert_eq!(
            after.to_string(),
            "the code JUNE expired on 2025-06-15 18:00 UTC"
        );
    }

    #[test]
    fn the_minimum_spend_is_inclusive_and_says_what_is_missing() {
        let shop = Shop::new();
        shop.add(
            json!({"code": "SPEND20", "kind": "fixed", "value": "5", "minimum_spend": "20.00"}),
        );
        let short = shop.rejection("SPEND20", &guest(1, 1999));
        assert_eq!(short.code(), "minimum_spend");
        assert_eq!(
            short.to_string(),
            "the code SPEND20 needs a minimum spend of $20.00; your cart is $0.01 short"
        );
        assert!(
            shop.rejection("SPEND20", &guest(1, 1250))
                .to_string()
                .ends_with("your cart is $7.50 short")
        );
        assert_eq!(shop.discount("SPEND20", &guest(1, 2000)), 500);
    }

    #[test]
    fn the_total_limit_counts_live_uses_and_release_frees_one() {
        let shop = Shop::new();
        shop.add(json!({"code": "TWICE", "kind": "fixed", "value": "1", "usage_limit": 2}));
        let first = shop.checkout("TWICE", &guest(1, 1000)).unwrap();
        shop.checkout("TWICE", &guest(2, 1000)).unwrap();
        let used_up = shop.rejection("TWICE", &guest(3, 1000));
        assert_eq!(used_up.code(), "used_up");
        assert!(matches!(
            shop.checkout("TWICE", &guest(3, 1000)),
            Err(StoreError::Conflict(_))
        ));
        shop.release(first);
        shop.release(first);
        assert!(
            shop.evaluate("TWICE", &guest(3, 1000)).is_ok(),
            "a released use no longer counts"
        );
        shop.checkout("TWICE", &guest(3, 1000)).unwrap();
        let listed = shop.store.read(list).unwrap();
        assert_eq!(
            listed[0].usage,
            Usage {
                live: 2,
                released: 1
            }
        );
        assert_eq!(listed[0].uses_left(), Some(0));
    }

    #[test]
    fn the_per_customer_limit_counts_a_signed_in_customer_across_sessions() {
        let shop = Shop::new();
        let ada = shop.new_customer("ada@example.com");
        let bob = shop.new_customer("bob@example.com");
        shop.add(json!({"code": "ONCE", "kind": "fixed", "value": "1", "per_customer_limit": 1}));
        let order = shop.checkout("ONCE", &customer(ada, 10, 1000)).unwrap();
        let again = shop.rejection("ONCE", &customer(ada, 11, 1000));
        assert_eq!(again.code(), "customer_limit");
        assert_eq!(
            again.to_string(),
            "you have already used the code ONCE once, the most allowed per customer"
        );
        assert!(shop.evaluate("ONCE", &customer(bob, 12, 1000)).is_ok());
        assert!(shop.evaluate("ONCE", &guest(13, 1000)).is_ok());
        shop.release(order);
        assert!(
            shop.evaluate("ONCE", &customer(ada, 11, 1000)).is_ok(),
            "release frees the customer's use"
        );
    }

    #[test]
    fn the_per_customer_limit_counts_a_guest_by_session() {
        let shop = Shop::new();
        let ada = shop.new_customer("ada@example.com");
        shop.add(json!({"code": "GUEST2", "kind": "fixed", "value": "1", "per_customer_limit": 2}));
        shop.checkout("GUEST2", &guest(20, 1000)).unwrap();
        shop.checkout("GUEST2", &guest(20, 1000)).unwrap();
        let again = shop.rejection("GUEST2", &guest(20, 1000));
        assert_eq!(again.code(), "customer_limit");
        assert!(again.to_string().contains("twice"), "{again}");
        assert!(
            shop.evaluate("GUEST2", &guest(21, 1000)).is_ok(),
            "another session is another shopper"
        );
        assert_eq!(
            shop.rejection("GUEST2", &customer(ada, 20, 1000)).code(),
            "customer_limit",
            "signing in does not reset what this session used as a guest"
        );
    }

    #[test]
    fn redeem_checks_the_rules_again_and_an_order_uses_one_code() {
        let shop = Shop::new();
        shop.add(json!({"code": "LAST", "kind": "fixed", "value": "1", "usage_limit": 1}));
        let ctx = guest(1, 1000);
        // Evaluated outside the write transaction: both shoppers see one use left.
        let applied = shop.evaluate("LAST", &ctx).unwrap();
        let redeem_new_order = || {
            shop.store.write(|tx| {
                let order_id = insert_order(tx, &ctx)?;
                redeem(tx, &applied, order_id, &ctx)
            })
        };
        redeem_new_order().unwrap();
        match redeem_new_order() {
            Err(StoreError::Conflict(reason)) => {
                assert!(reason.contains("used as many times"), "{reason}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        shop.add(json!({"code": "OTHER", "kind": "fixed", "value": "1"}));
        let other = shop.evaluate("OTHER", &ctx).unwrap();
        let twice = shop.store.write(|tx| {
            let order_id = insert_order(tx, &ctx)?;
            redeem(tx, &other, order_id, &ctx)?;
            redeem(tx, &other, order_id, &ctx)
        });
        assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    }

    #[test]
    fn the_total_limit_holds_under_concurrent_checkouts() {
        let shop = Shop::new();
        shop.add(json!({"code": "RUSH", "kind": "percent", "value": "10", "usage_limit": 3}));
        let placed = std::thread::scope(|scope| {
            let attempts: Vec<_> = (0..8)
                .map(|session| {
                    let shop = &shop;
                    scope.spawn(move || shop.checkout("RUSH", &guest(session, 1000)).is_ok())
                })
                .collect();
            attempts
                .into_iter()
                .map(|a| a.join().unwrap_or(false))
                .filter(|placed| *placed)
                .count()
        });
        assert_eq!(placed, 3);
        let voucher = shop.store.read(|c| find(c, "rush")).unwrap().unwrap();
        assert_eq!(voucher.usage.live, 3);
    }

    #[test]
    fn every_rejection_has_its_own_code() {
        let code = || "X".to_string();
        let rejections = [
            VoucherRejection::Unknown { code: code() },
            VoucherRejection::Inactive { code: code() },
            VoucherRejection::NotStarted {
                code: code(),
                starts_at: noon(),
            },
            VoucherRejection::Expired {
                code: code(),
                ended_at: noon(),
            },
            VoucherRejection::MinimumSpend {
                code: code(),
                currency: usd(),
                minimum_minor: 2,
                subtotal_minor: 1,
            },
            VoucherRejection::UsedUp { code: code() },
            VoucherRejection::CustomerLimit {
                code: code(),
                limit: 3,
            },
        ];
        let codes: Vec<&str> = rejections.iter().map(VoucherRejection::code).collect();
        assert_eq!(
            codes,
            [
                "unknown",
                "inactive",
                "not_started",
                "expired",
                "minimum_spend",
                "used_up",
                "customer_limit"
            ]
        );
        assert!(rejections[6].to_string().contains("3 times"));
    }

    #[test]
    fn removing_deletes_an_unused_code_and_deactivates_a_used_one() {
        let shop = Shop::new();
        shop.add(json!({"code": "UNUSED", "kind": "fixed", "value": "1"}));
        shop.add(json!({"code": "USED", "kind": "fixed", "value": "1"}));
        let order = shop.checkout("USED", &guest(1, 1000)).unwrap();
        shop.release(order);
        let remove_code = |code: &str| shop.store.write(|tx| remove(tx, code)).unwrap();
        assert_eq!(remove_code("unused"), Some(Removal::Deleted));
        assert_eq!(shop.store.read(|c| find(c, "UNUSED")).unwrap(), None);
        assert_eq!(
            remove_code("USED"),
            Some(Removal::Deactivated),
            "a released use is still history"
        );
        let kept = shop.store.read(|c| find(c, "USED")).unwrap().unwrap();
        assert!(!kept.draft.active());
        assert_eq!(shop.rejection("USED", &guest(2, 1000)).code(), "inactive");
        assert_eq!(remove_code("NEVER"), None);
    }

    #[test]
    fn revising_merges_changes_but_keeps_the_code_and_asks_for_a_value_with_a_new_kind() {
        let current = draft(json!({"code": "EDIT", "kind": "percent", "value": "15",
            "ends_at": "2025-07-01T00:00:00Z", "usage_limit": 10}));
        let revise_with = |changes: serde_json::Value| {
            let serde_json::Value::Object(changes) = changes else {
                unreachable!()
            };
            revise(&current, &changes, &usd())
        };
        let revised =
            revise_with(json!({"active": false, "ends_at": null, "usage_limit": 20})).unwrap();
        assert!(!revised.active());
        assert_eq!(revised.ends_at(), None);
        assert_eq!(revised.usage_limit(), Some(20));
        assert_eq!(revised.discount(), current.discount());
        assert!(
            revise_with(json!({"code": "edit"})).is_ok(),
            "the same code in another case"
        );
        let field_names = |result: Result<VoucherDraft, Vec<FieldError>>| {
            result
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            field_names(revise_with(json!({"code": "RENAMED"}))),
            fields(&["code"])
        );
        assert_eq!(
            field_names(revise_with(json!({"kind": "fixed"}))),
            fields(&["value"])
        );
        assert_eq!(
            field_names(revise_with(json!({"usage_limit": "many"}))),
            fields(&["usage_limit"])
        );
        assert_eq!(
            field_names(revise_with(json!({"colour": "red"}))),
            fields(&["colour"])
        );
        let fixed = revise_with(json!({"kind": "fixed", "value": "4.50"})).unwrap();
        assert_eq!(
            fixed.discount(),
            Discount::Fixed {
                amount: usd().parse_amount("4.50").unwrap()
            }
        );
    }

    #[test]
    fn a_duplicate_code_in_any_case_is_a_conflict() {
        let shop = Shop::new();
        shop.add(json!({"code": "TWIN", "kind": "fixed", "value": "1"}));
        let again = draft(json!({"code": "twin", "kind": "percent", "value": "5"}));
        assert!(matches!(
            shop.store.write(|tx| create(tx, &again)),
            Err(StoreError::Conflict(_))
        ));
    }
}
