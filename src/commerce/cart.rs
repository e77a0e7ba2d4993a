//! Carts: what a shopper means to buy, checked against the catalog as it is now.
//!
//! Owns the cart rules: quantities from 1 to `max_line_quantity` per line, no
//! more than the stock on hand, a variant chosen when a product has several,
//! the price seen when a line was added kept as a snapshot so a later change is
//! shown instead of silently applied, and the totals (voucher discount, tax
//! inclusive or added). SQL is `store::carts`'; HTTP is `web::cart`'s.

use rusqlite::{Connection, Transaction};
use time::OffsetDateTime;

use super::Shopper;
use super::vouchers::{self, AppliedVoucher, VoucherContext, VoucherRejection};
use crate::catalog::{Currency, FieldError, Money};
use crate::config::CommerceSettings;
use crate::store::carts::{self, CartOwner, ItemRow, Offer};
use crate::store::{Store, StoreError, now_utc};

#[derive(Debug, thiserror::Error)]
pub enum CartError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("there is no product {0}")]
    UnknownProduct(i64),
    #[error("there is no line {0} in this cart")]
    UnknownItem(i64),
    #[error("{name} is not for sale at the moment")]
    NotForSale { name: String },
    #[error("only {available} of {name} in stock; the cart would need {wanted}")]
    OutOfStock {
        name: String,
        available: i64,
        wanted: i64,
    },
    #[error("{0}")]
    Voucher(VoucherRejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to put in the cart.
#[derive(Debug, Clone, Copy)]
pub struct NewLine {
    pub product_id: i64,
    pub variant_id: Option<i64>,
    pub quantity: i64,
}

/// A cart line as the shopper sees it, priced now.
#[derive(Debug, Clone)]
pub struct CartLine {
    pub item_id: i64,
    pub quantity: i64,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
    /// The price when the shopper added the line, when it has changed since.
    pub previous_unit_price_minor: Option<i64>,
    pub offer: Offer,
    /// Why this line cannot be bought as it is, if it cannot.
    pub problem: Option<String>,
}

/// Subtotal, discount, tax and total of a cart or order, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    pub tax_inclusive: bool,
    pub tax_rate_basis_points: u32,
}

impl Totals {
    /// Tax on `subtotal - discount`: added on top, or the share already inside
    /// the prices when they include tax. Rounded half up to the minor unit.
    pub fn compute(
        subtotal_minor: i64,
        discount_minor: i64,
        settings: &CommerceSettings,
    ) -> Totals {
        let discount_minor = discount_minor.clamp(0, subtotal_minor);
        let taxable = i128::from(subtotal_minor - discount_minor);
        let rate = i128::from(settings.tax_rate_basis_points);
        let (tax, total) = if settings.tax_inclusive {
            let tax = divide_half_up(taxable * rate, 10_000 + rate);
            (tax, taxable)
        } else {
            let tax = divide_half_up(taxable * rate, 10_000);
            (tax, taxable + tax)
        };
        Totals {
            subtotal_minor,
            discount_minor,
            tax_minor: tax as i64,
            total_minor: total as i64,
            tax_inclusive: settings.tax_inclusive,
            tax_rate_basis_points: settings.tax_rate_basis_points,
        }
    }
}

fn divide_half_up(numerator: i128, denominator: i128) -> i128 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// A priced cart: its lines, voucher, totals and what the shopper should know.
#[derive(Debug, Clone)]
pub struct CartView {
    pub lines: Vec<CartLine>,
    pub voucher: Option<AppliedVoucher>,
    /// A voucher on the cart that does not apply right now, and why.
    pub voucher_problem: Option<(String, VoucherRejection)>,
    pub totals: Totals,
    /// Plain-language notes: price changes, stock problems.
    pub notices: Vec<String>,
}

impl CartView {
    pub fn item_count(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    /// Whether checkout can go ahead as the cart stands.
    pub fn ready_for_checkout(&self) -> bool {
        !self.lines.is_empty() && self.lines.iter().all(|l| l.problem.is_none())
    }
}

/// The cart a shopper fills: their account's once signed in, else their session's.
pub fn owner(shopper: Shopper) -> CartOwner {
    match shopper.customer_id {
        Some(id) => CartOwner::Customer(id),
        None => CartOwner::Session(shopper.session_id),
    }
}

/// The shopper's cart, priced now.
pub fn view(
    store: &Store,
    shopper: Shopper,
    settings: &CommerceSettings,
    currency: &Currency,
) -> Result<CartView, CartError> {
    Ok(store.read(|conn| price_cart(conn, shopper, settings, currency))?)
}

/// Adds units of a product (variant) to the cart, on top of any already there.
pub fn add(
    store: &Store,
    shopper: Shopper,
    line: NewLine,
    settings: &CommerceSettings,
    currency: &Currency,
) -> Result<CartView, CartError> {
    check_quantity(line.quantity, settings)?;
    store.write_with(|tx| -> Result<(), CartError> {
        let offer = sellable_offer(tx, line.product_id, line.variant_id)?;
        let cart = carts::ensure(tx, owner(shopper), &now_utc())?;
        let already = carts::quantity_of(tx, cart.id, offer.product_id, offer.variant_id)?;
        let wanted = already + line.quantity;
        if wanted > settings.max_line_quantity {
            return Err(too_many(settings, already));
        }
        check_stock(&offer, wanted)?;
        carts::put(tx, cart.id, &offer, wanted, &now_utc())?;
        Ok(())
    })?;
    view(store, shopper, settings, currency)
}

/// Sets a line's quantity; 0 removes it.
pub fn set_quantity(
    store: &Store,
    shopper: Shopper,
    item_id: i64,
    quantity: i64,
    settings: &CommerceSettings,
    currency: &Currency,
) -> Result<CartView, CartError> {
    if quantity == 0 {
        return remove(store, shopper, item_id, settings, currency);
    }
    check_quantity(quantity, settings)?;
    store.write_with(|tx| -> Result<(), CartError> {
        let cart = carts::find(tx, owner(shopper))?.ok_or(CartError::UnknownItem(item_id))?;
        let item = carts::item(tx, cart.id, item_id)?.ok_or(CartError::UnknownItem(item_id))?;
        if !item.offer.active {
            return Err(CartError::NotForSale {
                name: item.offer.name,
            });
        }
        check_stock(&item.offer, quantity)?;
        carts::put(tx, cart.id, &item.offer, quantity, &now_utc())?;
        Ok(())
    })?;
    view(store, shopper, settings, currency)
}

pub fn remove(
    store: &Store,
    shopper: Shopper,
    item_id: i64,
    settings: &CommerceSettings,
    currency: &Currency,
) -> Result<CartView, CartError> {
    store.write_with(|tx| -> Result<(), CartError> {
        let cart = carts::find(tx, owner(shopper))?;
        let removed = match cart {
            Some(cart) => carts::remove(tx, cart.id, item_id)?,
            None => false,
        };
        if removed {
            Ok(())
        } else {
            Err(CartError::UnknownItem(item_id))
        }
    })?;
    view(store, shopper, settings, currency)
}

/// Puts a voucher code on the cart after checking that it applies now.
pub fn apply_voucher(
    store: &Store,
    shopper: Shopper,
    code: &str,
    settings: &CommerceSettings,
    currency: &Currency,
) -> Result<CartView, CartError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(CartError::Invalid(vec![FieldError::new(
            "code",
            "must not be empty",
        )]));
    }
    store.write_with(|tx| -> Result<(), CartError> {
        let cart = carts::ensure(tx, owner(shopper), &now_utc())?;
        let subtotal = subtotal(&carts::items(tx, cart.id)?);
        let context = voucher_context(shopper, subtotal);
        match vouchers::evaluate(tx, code, &context)? {
            Ok(applied) => Ok(carts::set_voucher(
                tx,
                cart.id,
                Some(&applied.code),
                &now_utc(),
            )?),
            Err(rejection) => Err(CartError::Voucher(rejection)),
        }
    })?;
    view(store, shopper, settings, currency)
}

pub fn remove_voucher(
    store: &Store,
    shopper: Shopper,
    settings: &CommerceSettings,
    currency: &Currency,
) -> Result<CartView, CartError> {
    store.write(|tx| match carts::find(tx, owner(shopper))? {
        Some(cart) => carts::set_voucher(tx, cart.id, None, &now_utc()),
        None => Ok(()),
    })?;
    view(store, shopper, settings, currency)
}

/// Moves a guest session's cart into the customer's at sign-in: lines for the
/// same product add up (capped at the line limit), the guest's voucher is kept
/// when the customer's cart has none, and the guest cart is gone afterwards.
pub fn merge_guest_cart(
    tx: &Transaction,
    session_id: i64,
    customer_id: i64,
    settings: &CommerceSettings,
) -> Result<(), StoreError> {
    let Some(guest) = carts::find(tx, CartOwner::Session(session_id))? else {
        return Ok(());
    };
    let now = now_utc();
    let account = carts::ensure(tx, CartOwner::Customer(customer_id), &now)?;
    for item in carts::items(tx, guest.id)? {
        let offer = &item.offer;
        let held = carts::quantity_of(tx, account.id, offer.product_id, offer.variant_id)?;
        let quantity = (held + item.quantity).min(settings.max_line_quantity);
        // The guest's snapshot is what the shopper saw; keep it so a price
        // change since is still pointed out after signing in.
        let seen = Offer {
            price_minor: item.snapshot_price_minor,
            ..offer.clone()
        };
        carts::put(tx, account.id, &seen, quantity, &now)?;
    }
    if account.voucher_code.is_none()
        && let Some(code) = guest.voucher_code.as_deref()
    {
        carts::set_voucher(tx, account.id, Some(code), &now)?;
    }
    carts::delete(tx, guest.id)
}

/// Prices the shopper's cart on `conn` (also used inside the checkout transaction).
pub fn price_cart(
    conn: &Connection,
    shopper: Shopper,
    settings: &CommerceSettings,
    currency: &Currency,
) -> Result<CartView, StoreError> {
    let Some(cart) = carts::find(conn, owner(shopper))? else {
        return Ok(CartView {
            lines: Vec::new(),
            voucher: None,
            voucher_problem: None,
            totals: Totals::compute(0, 0, settings),
            notices: Vec::new(),
        });
    };
    let items = carts::items(conn, cart.id)?;
    let mut notices = Vec::new();
    let lines: Vec<CartLine> = items
        .into_iter()
        .map(|item| price_line(item, currency, &mut notices))
        .collect();
    let subtotal: i64 = lines.iter().map(|l| l.line_total_minor).sum();
    let (voucher, voucher_problem) = match cart.voucher_code {
        Some(code) => match vouchers::evaluate(conn, &code, &voucher_context(shopper, subtotal))? {
            Ok(applied) => (Some(applied), None),
            Err(rejection) => {
                notices.push(format!("Voucher {code} does not apply: {rejection}"));
                (None, Some((code, rejection)))
            }
        },
        None => (None, None),
    };
    let discount = voucher.as_ref().map_or(0, |v| v.discount_minor);
    Ok(CartView {
        lines,
        voucher,
        voucher_problem,
        totals: Totals::compute(subtotal, discount, settings),
        notices,
    })
}

fn price_line(item: ItemRow, currency: &Currency, notices: &mut Vec<String>) -> CartLine {
    let offer = item.offer;
    let price = offer.price_minor;
    let previous = (item.snapshot_price_minor != price).then_some(item.snapshot_price_minor);
    if let Some(before) = previous {
        notices.push(format!(
            "The price of {} changed from {} to {} since you added it.",
            offer.name,
            show(currency, before),
            show(currency, price)
        ));
    }
    let problem = if !offer.active {
        Some(format!("{} is not for sale at the moment.", offer.name))
    } else {
        match offer.stock {
            Some(left) if left <= 0 => Some(format!("{} is out of stock.", offer.name)),
            Some(left) if left < item.quantity => Some(format!(
                "Only {left} of {} left; please lower the quantity.",
                offer.name
            )),
            _ => None,
        }
    };
    if let Some(problem) = &problem {
        notices.push(problem.clone());
    }
    CartLine {
        item_id: item.id,
        quantity: item.quantity,
        unit_price_minor: price,
        line_total_minor: price.saturating_mul(item.quantity),
        previous_unit_price_minor: previous,
        offer,
        problem,
    }
}

pub fn voucher_context(shopper: Shopper, subtotal_minor: i64) -> VoucherContext {
    VoucherContext {
        customer_id: shopper.customer_id,
        session_id: shopper.session_id,
        subtotal_minor,
        now: OffsetDateTime::now_utc(),
    }
}

/// Formats minor units for people ("$4.99").
pub fn show(currency: &Currency, minor: i64) -> String {
    match Money::from_minor(minor) {
        Ok(money) => currency.format_display(money),
        Err(_) => minor.to_string(),
    }
}

fn subtotal(items: &[ItemRow]) -> i64 {
    items
        .iter()
        .map(|i| i.offer.price_minor.saturating_mul(i.quantity))
        .sum()
}

fn check_quantity(quantity: i64, settings: &CommerceSettings) -> Result<(), CartError> {
    if (1..=settings.max_line_quantity).contains(&quantity) {
        return Ok(());
    }
    Err(CartError::Invalid(vec![FieldError::new(
        "quantity",
        format!(
            "must be a whole number from 1 to {}",
            settings.max_line_quantity
        ),
    )]))
}

fn too_many(settings: &CommerceSettings, already: i64) -> CartError {
    CartError::Invalid(vec![FieldError::new(
        "quantity",
        format!(
            "a cart holds at most {} of one item and this cart already has {already}",
            settings.max_line_quantity
        ),
    )])
}

/// The offer a new line would buy: the product must exist and be active, and
/// a product with several variants needs one named.
fn sellable_offer(
    conn: &Connection,
    product_id: i64,
    variant_id: Option<i64>,
) -> Result<Offer, CartError> {
    let variants = carts::variant_ids(conn, product_id)?;
    let variant_id = match (variant_id, variants.as_slice()) {
        (Some(id), _) => Some(id),
        (None, [only]) => Some(*only),
        (None, []) => None,
        (None, many) => {
            return Err(CartError::Invalid(vec![FieldError::new(
                "variant_id",
                format!(
                    "this product comes in {} variants; choose one of {:?}",
                    many.len(),
                    many
                ),
            )]));
        }
    };
    let offer = carts::offer(conn, product_id, variant_id)?.ok_or_else(|| match variant_id {
        Some(id)
            if carts::offer(conn, product_id, None)
                .ok()
                .flatten()
                .is_some() =>
        {
            CartError::Invalid(vec![FieldError::new(
                "variant_id",
                format!("product {product_id} has no variant {id}"),
            )])
        }
        _ => CartError::UnknownProduct(product_id),
    })?;
    if !offer.active {
        return Err(CartError::NotForSale { name: offer.name });
    }
    Ok(offer)
}

fn check_stock(offer: &Offer, wanted: i64) -> Result<(), CartError> {
    match offer.stock {
        Some(available) if available < wanted => Err(CartError::OutOfStock {
            name: offer.name.clone(),
            available: available.max(0),
            wanted,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: &str, inclusive: bool) -> CommerceSettings {
        let env = vec![
            (
                "SHOPKEEP_COMMERCE_TAX_RATE_PERCENT".to_string(),
                rate.to_string(),
            ),
            (
                "SHOPKEEP_COMMERCE_TAX_INCLUSIVE".to_string(),
                inclusive.to_string(),
            ),
        ];
        crate::config::Config::from_sources(&Default::default(), &env)
            .unwrap()
            .commerce
    }

    #[test]
    fn tax_is_added_or_carved_out_and_rounds_half_up() {
        let added = Totals::compute(1550, 0, &settings("8.25", false));
        assert_eq!((added.tax_minor, added.total_minor), (128, 1678));
        let discounted = Totals::compute(1000, 200, &settings("10", false));
        assert_eq!((discounted.tax_minor, discounted.total_minor), (80, 880));
        // 20% inside 12.00: 12.00 × 20 / 120 = 2.00; the total stays the price.
        let inclusive = Totals::compute(1200, 0, &settings("20", true));
        assert_eq!((inclusive.tax_minor, inclusive.total_minor), (200, 1200));
        // 0.5 of a cent rounds up: 5% of 0.10 is 0.005.
        assert_eq!(Totals::compute(10, 0, &settings("5", false)).tax_minor, 1);
        let capped = Totals::compute(500, 900, &settings("0", false));
        assert_eq!((capped.discount_minor, capped.total_minor), (500, 0));
    }

    #[test]
    fn tax_rates_parse_with_two_decimals_at_most() {
        let refused = crate::config::Config::from_sources(
            &Default::default(),
            &[("SHOPKEEP_COMMERCE_TAX_RATE_PERCENT".into(), "8.125".into())],
        );
        assert!(refused.is_err(), "three decimals are refused");
        assert_eq!(settings("8.25", false).tax_rate_basis_points, 825);
        assert_eq!(settings("7%", false).tax_rate_basis_points, 700);
    }
}
