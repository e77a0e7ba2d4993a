//! Preference profiles: what a signed-in customer tends to buy, learned from
//! their orders, for search boosts and (later) the assistant.
//!
//! Owns the rules: which facts of an order line are learned (brand, every level
//! of the category path, dietary labels, price band), how much a line counts,
//! how weights fade (exponential decay with a 90-day half-life, applied when a
//! weight is updated and again when it is read) and how they are normalised.
//! Rows are read and written through `store::profiles`; this module must not
//! hold SQL or know about HTTP. Guests (orders without a customer) teach nothing.
//!
//! A weight is "units bought, decayed", and the profile keeps the decayed
//! total of all units it learned from. A preference's normalised weight is its
//! share of that total: 0.6 for a brand means six in ten units bought (lately)
//! were that brand. While the evidence is thin (few units, or only old ones)
//! the total is floored at [`MIN_EVIDENCE_UNITS`], so a single purchase, or a
//! profile nobody has added to for a year, gives only weak preferences.
//!
//! Price bands compare a line's unit price with the active products of its
//! category: the cheapest third is `budget`, the dearest third `premium`, the
//! rest `mid`. A category with fewer than three products says nothing about a
//! band, so such lines teach no band. Bands are relative to a category because
//! "cheap" bread and "cheap" gift hampers are different amounts.

use std::collections::HashMap;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use super::PlacedOrder;
use crate::search::personal::Affinities;
use crate::store::profiles::{self, SummaryRow, WeightRow};
use crate::store::{Store, StoreError};

/// After this long, a purchase counts half as much as a new one.
pub const HALF_LIFE: Duration = Duration::days(90);
/// Units a profile needs before its preferences can reach full strength.
pub const MIN_EVIDENCE_UNITS: f64 = 3.0;
/// One line counts for at most this many units, so one bulk buy does not
/// drown out everything else the customer chose.
const MAX_LINE_UNITS: i64 = 10;
/// Weights that faded below this many units are forgotten (about a year for one unit).
const FORGET_BELOW_UNITS: f64 = 0.05;
/// Preferences listed per kind.
const TOP_PER_KIND: usize = 10;
/// Products a category needs before a price can be placed in a band within it.
const MIN_PRICE_PEERS: i64 = 3;

/// What a preference is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FacetKind {
    Brand,
    Category,
    Dietary,
    PriceBand,
}

impl FacetKind {
    pub const ALL: [FacetKind; 4] = [
        FacetKind::Brand,
        FacetKind::Category,
        FacetKind::Dietary,
        FacetKind::PriceBand,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FacetKind::Brand => "brand",
            FacetKind::Category => "category",
            FacetKind::Dietary => "dietary",
            FacetKind::PriceBand => "price_band",
        }
    }

    pub fn parse(text: &str) -> Option<FacetKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Where a price sits within its category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PriceBand {
    Budget,
    Mid,
    Premium,
}

impl PriceBand {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceBand::Budget => "budget",
            PriceBand::Mid => "mid",
            PriceBand::Premium => "premium",
        }
    }
}

/// One learned preference; `weight` is 0..1 (see the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Preference {
    pub value: String,
    pub weight: f64,
}

/// A customer's preferences, strongest first within each kind.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Profile {
    pub customer_id: i64,
    /// Orders learned from since the profile was last reset.
    pub orders: i64,
    /// When the latest of those orders was placed (RFC 3339 UTC).
    pub learned_at: Option<String>,
    pub brands: Vec<Preference>,
    /// Category paths; every level of a path is its own preference.
    pub categories: Vec<Preference>,
    pub dietary: Vec<Preference>,
    /// `budget`, `mid` or `premium` within the category of what was bought.
    pub price_bands: Vec<Preference>,
}

impl Profile {
    fn empty(customer_id: i64) -> Profile {
        Profile {
            customer_id,
            orders: 0,
            learned_at: None,
            brands: Vec::new(),
            categories: Vec::new(),
            dietary: Vec::new(),
            price_bands: Vec::new(),
        }
    }

    pub fn preferences(&self, kind: FacetKind) -> &[Preference] {
        match kind {
            FacetKind::Brand => &self.brands,
            FacetKind::Category => &self.categories,
            FacetKind::Dietary => &self.dietary,
            FacetKind::PriceBand => &self.price_bands,
        }
    }

    fn preferences_mut(&mut self, kind: FacetKind) -> &mut Vec<Preference> {
        match kind {
            FacetKind::Brand => &mut self.brands,
            FacetKind::Category => &mut self.categories,
            FacetKind::Dietary => &mut self.dietary,
            FacetKind::PriceBand => &mut self.price_bands,
        }
    }

    pub fn is_empty(&self) -> bool {
        FacetKind::ALL
            .iter()
            .all(|kind| self.preferences(*kind).is_empty())
    }
}

/// Learns from a placed order inside the checkout's transaction; guest orders teach nothing.
pub fn learn(tx: &rusqlite::Transaction, order: &PlacedOrder) -> Result<(), StoreError> {
    let Some(customer_id) = order.customer_id else {
        return Ok(());
    };
    let placed_at = parse_time(&order.created_at)?;
    let evidence = evidence_of(tx, order)?;
    if evidence.units <= 0.0 {
        return Ok(());
    }
    add_weights(tx, customer_id, evidence.facets, placed_at)?;
    add_to_summary(tx, customer_id, evidence.units, placed_at)
}

/// Adds what an order taught to the customer's weights, and forgets the
/// untouched weights that have faded away.
fn add_weights(
    tx: &rusqlite::Transaction,
    customer_id: i64,
    learned: HashMap<(FacetKind, String), f64>,
    placed_at: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut untouched: HashMap<(String, String), WeightRow> = profiles::weights(tx, customer_id)?
        .into_iter()
        .map(|row| ((row.kind.clone(), row.value.clone()), row))
        .collect();
    for ((kind, value), units) in learned {
        let key = (kind.as_str().to_string(), value);
        let merged = match untouched.remove(&key) {
            Some(row) => Decaying::stored(row.weight, &row.updated_at)?.plus(units, placed_at),
            None => Decaying::new(units, placed_at),
        };
        let (kind, value) = key;
        profiles::save_weight(tx, customer_id, &merged.row(kind, value)?)?;
    }
    forget_faded(tx, customer_id, untouched.values(), placed_at)
}

/// Adds an order's units to the evidence behind the profile and counts the order.
fn add_to_summary(
    tx: &rusqlite::Transaction,
    customer_id: i64,
    units: f64,
    placed_at: OffsetDateTime,
) -> Result<(), StoreError> {
    let (total, orders) = match profiles::summary(tx, customer_id)? {
        Some(row) => (
            Decaying::stored(row.units, &row.updated_at)?.plus(units, placed_at),
            row.orders + 1,
        ),
        None => (Decaying::new(units, placed_at), 1),
    };
    let summary = SummaryRow {
        units: total.amount,
        orders,
        updated_at: format_time(total.at)?,
    };
    profiles::save_summary(tx, customer_id, &summary)
}

/// The customer's profile as of `now`: weights decayed to `now` and normalised.
pub fn for_customer(
    conn: &rusqlite::Connection,
    customer_id: i64,
    now: OffsetDateTime,
) -> Result<Profile, StoreError> {
    let mut profile = Profile::empty(customer_id);
    let Some(summary) = profiles::summary(conn, customer_id)? else {
        return Ok(profile);
    };
    let evidence = Decaying::stored(summary.units, &summary.updated_at)?
        .at(now)
        .max(MIN_EVIDENCE_UNITS);
    profile.orders = summary.orders;
    profile.learned_at = Some(summary.updated_at);
    for row in profiles::weights(conn, customer_id)? {
        let kind = FacetKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("profile facet kind {:?}", row.kind)))?;
        let share = Decaying::stored(row.weight, &row.updated_at)?.at(now) / evidence;
        let weight = (share.min(1.0) * 1000.0).round() / 1000.0;
        if weight > 0.0 {
            profile.preferences_mut(kind).push(Preference {
                value: row.value,
                weight,
            });
        }
    }
    for kind in FacetKind::ALL {
        let list = profile.preferences_mut(kind);
        list.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.value.cmp(&b.value)));
        list.truncate(TOP_PER_KIND);
    }
    Ok(profile)
}

/// Forgets everything learned about the customer; true when there was something.
pub fn reset(tx: &rusqlite::Transaction, customer_id: i64) -> Result<bool, StoreError> {
    profiles::delete_all(tx, customer_id)
}

/// The band of `price_minor` among the active products of `category`, when
/// the category has enough products to tell.
pub fn price_band(
    conn: &rusqlite::Connection,
    category: &str,
    price_minor: i64,
) -> Result<Option<PriceBand>, StoreError> {
    if category.is_empty() {
        return Ok(None);
    }
    let position = profiles::price_position(conn, category, price_minor)?;
    if position.peers < MIN_PRICE_PEERS {
        return Ok(None);
    }
    // Mid-rank percentile, so a price shared by many products sits in their middle.
    let percentile = (position.cheaper as f64 + position.same as f64 / 2.0) / position.peers as f64;
    Ok(Some(if percentile < 1.0 / 3.0 {
        PriceBand::Budget
    } else if percentile > 2.0 / 3.0 {
        PriceBand::Premium
    } else {
        PriceBand::Mid
    }))
}

/// What one order teaches: units per (kind, value), and all units it had.
struct Evidence {
    facets: HashMap<(FacetKind, String), f64>,
    units: f64,
}

fn evidence_of(conn: &rusqlite::Connection, order: &PlacedOrder) -> Result<Evidence, StoreError> {
    let mut evidence = Evidence {
        facets: HashMap::new(),
        units: 0.0,
    };
    for line in &order.lines {
        if line.quantity <= 0 {
            continue;
        }
        let units = line.quantity.min(MAX_LINE_UNITS) as f64;
        evidence.units += units;
        let mut facts: Vec<(FacetKind, String)> = Vec::new();
        if let Some(brand) = line
            .brand
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            facts.push((FacetKind::Brand, brand.to_string()));
        }
        facts.extend(category_levels(&line.category).map(|level| (FacetKind::Category, level)));
        facts.extend(
            line.dietary
                .iter()
                .map(|label| label.trim().to_lowercase())
                .filter(|label| !label.is_empty())
                .map(|label| (FacetKind::Dietary, label)),
        );
        if let Some(band) = price_band(conn, &line.category, line.unit_price_minor)? {
            facts.push((FacetKind::PriceBand, band.as_str().to_string()));
        }
        facts.sort();
        facts.dedup();
        for fact in facts {
            *evidence.facets.entry(fact).or_default() += units;
        }
    }
    Ok(evidence)
}

/// "Pantry > Pasta > Dried" → "Pantry", "Pantry > Pasta", "Pantry > Pasta > Dried".
fn category_levels(category: &str) -> impl Iterator<Item = String> + '_ {
    let levels: Vec<&str> = category
        .split('>')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    (1..=levels.len()).map(move |depth| levels[..depth].join(" > "))
}

/// Deletes the customer's weights that faded below what is worth keeping, so a
/// profile stays small however long the customer shops.
fn forget_faded<'a>(
    tx: &rusqlite::Transaction,
    customer_id: i64,
    rows: impl Iterator<Item = &'a WeightRow>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    for row in rows {
        if Decaying::stored(row.weight, &row.updated_at)?.at(now) < FORGET_BELOW_UNITS {
            profiles::delete_weight(tx, customer_id, &row.kind, &row.value)?;
        }
    }
    Ok(())
}

/// An amount that halves every [`HALF_LIFE`], as it stood at `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decaying {
    amount: f64,
    at: OffsetDateTime,
}

impl Decaying {
    fn new(amount: f64, at: OffsetDateTime) -> Decaying {
        Decaying { amount, at }
    }

    fn stored(amount: f64, at: &str) -> Result<Decaying, StoreError> {
        Ok(Decaying::new(amount, parse_time(at)?))
    }

    /// The amount at `when`; never more than it was, even for an earlier `when`.
    fn at(self, when: OffsetDateTime) -> f64 {
        self.amount * decay_factor(when - self.at)
    }

    /// Adds `amount` learned at `when`. Both are taken to the later of the two
    /// times, so learning an older order after a newer one adds what the
    /// older order is worth now, never more.
    fn plus(self, amount: f64, when: OffsetDateTime) -> Decaying {
        let latest = self.at.max(when);
        Decaying::new(
            self.at(latest) + Decaying::new(amount, when).at(latest),
            latest,
        )
    }

    fn row(self, kind: String, value: String) -> Result<WeightRow, StoreError> {
        Ok(WeightRow {
            kind,
            value,
            weight: self.amount,
            updated_at: format_time(self.at)?,
        })
    }
}

/// 0.5 per half-life elapsed; 1 for no (or negative) time.
fn decay_factor(elapsed: Duration) -> f64 {
    let half_lives = elapsed.as_seconds_f64() / HALF_LIFE.as_seconds_f64();
    0.5f64.powf(half_lives.max(0.0))
}

fn parse_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

fn format_time(at: OffsetDateTime) -> Result<String, StoreError> {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {at}: {e}")))
}

/// A preference at least this strong (a share of what the customer bought)
/// becomes a search boost.
const STRONG_PREFERENCE: f64 = 0.2;
/// Boosts per kind, so a long history does not drown the query.
const MAX_BOOSTS_PER_KIND: usize = 5;

/// The customer's strong preferences as search boosts. A profile that cannot
/// be read costs the shopper their boosts, never their search.
pub fn search_affinities(store: &Store, customer_id: i64, now: OffsetDateTime) -> Affinities {
    match store.read(|c| for_customer(c, customer_id, now)) {
        Ok(profile) => affinities(&profile),
        Err(err) => {
            tracing::warn!(error = %err, customer_id, "profile unreadable; searching without it");
            Affinities::default()
        }
    }
}

fn affinities(profile: &Profile) -> Affinities {
    let strong = |kind: FacetKind| -> Vec<(String, f32)> {
        profile
            .preferences(kind)
            .iter()
            .filter(|p| p.weight >= STRONG_PREFERENCE)
            .take(MAX_BOOSTS_PER_KIND)
            .map(|p| (p.value.clone(), p.weight as f32))
            .collect()
    };
    Affinities {
        brands: strong(FacetKind::Brand),
        categories: strong(FacetKind::Category),
        dietary: strong(FacetKind::Dietary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Currency, ProductDraft, ProductInput};
    use crate::commerce::{OrderLine, OrderStatus};
    use crate::store::{Store, products};

    const T0: &str = "2025-03-01T12:00:00Z";

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::scratch()
    }

    fn customer(store: &Store, email: &str) -> i64 {
        store
            .write(|tx| {
                tx.execute(
                    "INSERT INTO customers (email, password_hash, created_at) VALUES (?1, 'x', ?2)",
                    [email, T0],
                )?;
                Ok(tx.last_insert_rowid())
            })
            .unwrap()
    }

    fn product(store: &Store, handle: &str, category: &str, price: &str) {
        let input = ProductInput {
            handle: Some(handle.into()),
            name: Some(handle.into()),
            price: Some(price.into()),
            category: Some(category.into()),
            ..Default::default()
        };
        let draft = ProductDraft::parse(&input, &Currency::from_code("USD").unwrap()).unwrap();
        store.write(|tx| products::insert(tx, &draft)).unwrap();
    }

    fn line(brand: &str, category: &str, dietary: &[&str], quantity: i64) -> OrderLine {
        OrderLine {
            product_id: Some(1),
            variant_id: None,
            sku: None,
            name: format!("{brand} thing"),
            variant_title: None,
            category: category.into(),
            brand: Some(brand.into()),
            dietary: dietary.iter().map(|d| d.to_string()).collect(),
            quantity,
            unit_price_minor: 300,
            line_total_minor: 300 * quantity,
        }
    }

    fn order(id: i64, customer_id: Option<i64>, at: &str, lines: Vec<OrderLine>) -> PlacedOrder {
        let total = lines.iter().map(|l| l.line_total_minor).sum();
        PlacedOrder {
            id,
            number: format!("SK-{id}"),
            customer_id,
            session_id: None,
            status: OrderStatus::Pending,
            currency: "USD".into(),
            subtotal_minor: total,
            discount_minor: 0,
            tax_minor: 0,
            total_minor: total,
            voucher_code: None,
            created_at: at.into(),
            lines,
        }
    }

    fn learn_all(store: &Store, orders: &[PlacedOrder]) {
        store
            .write(|tx| orders.iter().try_for_each(|o| learn(tx, o)))
            .unwrap();
    }

    fn profile_at(store: &Store, customer_id: i64, at: &str) -> Profile {
        let now = OffsetDateTime::parse(at, &Rfc3339).unwrap();
        store.read(|c| for_customer(c, customer_id, now)).unwrap()
    }

    fn weight(profile: &Profile, kind: FacetKind, value: &str) -> Option<f64> {
        profile
            .preferences(kind)
            .iter()
            .find(|p| p.value == value)
            .map(|p| p.weight)
    }

    #[test]
    fn a_weight_halves_after_one_half_life() {
        let (_dir, store) = store();
        let ada = customer(&store, "ada@example.com");
        learn_all(
            &store,
            &[order(
                1,
                Some(ada),
                T0,
                vec![line("Acme", "Pantry", &[], 4)],
            )],
        );
        // Four units are past the evidence floor, so the share starts at 1.
        let fresh = profile_at(&store, ada, T0);
        assert_eq!(weight(&fresh, FacetKind::Brand, "Acme"), Some(1.0));
        // 90 days on the 4 units are worth 2, below the floor of 3: 2/3.
        let later = profile_at(&store, ada, "2025-05-30T12:00:00Z");
        assert_eq!(weight(&later, FacetKind::Brand, "Acme"), Some(0.667));
        // An order one half-life older counts half as much as a new one.
        learn_all(
            &store,
            &[order(
                2,
                Some(ada),
                "2025-05-30T12:00:00Z",
                vec![line("Bolt", "Pantry", &[], 4)],
            )],
        );
        let both = profile_at(&store, ada, "2025-05-30T12:00:00Z");
        let acme = weight(&both, FacetKind::Brand, "Acme").unwrap();
        let bolt = weight(&both, FacetKind::Brand, "Bolt").unwrap();
        assert_eq!((acme, bolt), (0.333, 0.667));
        assert_eq!(weight(&both, FacetKind::Category, "Pantry"), Some(1.0));
        assert_eq!(both.orders, 2);
    }

    #[test]
    fn learning_an_older_order_late_counts_it_at_its_age() {
        let (_dir, store) = store();
        let ada = customer(&store, "ada@example.com");
        let new = order(
            1,
            Some(ada),
            "2025-05-30T12:00:00Z",
            vec![line("Bolt", "Pantry", &[], 4)],
        );
        let old = order(2, Some(ada), T0, vec![line("Acme", "Pantry", &[], 4)]);
        learn_all(&store, &[new, old]);
        let profile = profile_at(&store, ada, "2025-05-30T12:00:00Z");
        assert_eq!(weight(&profile, FacetKind::Brand, "Acme"), Some(0.333));
        assert_eq!(weight(&profile, FacetKind::Brand, "Bolt"), Some(0.667));
    }

    #[test]
    fn lines_teach_brand_every_category_level_dietary_and_price_band() {
        let (_dir, store) = store();
        for (handle, price) in [("a", "1.00"), ("b", "2.00"), ("c", "3.00"), ("d", "9.00")] {
            product(&store, handle, "Pantry > Pasta", price);
        }
        let ada = customer(&store, "ada@example.com");
        let mut dear = line("Acme", "Pantry > Pasta", &["Vegan", "gluten-free"], 2);
        dear.unit_price_minor = 900;
        dear.line_total_minor = 1800;
        let mut cheap = line("Bolt", "Pantry > Pasta", &["vegan"], 1);
        cheap.unit_price_minor = 100;
        cheap.line_total_minor = 100;
        let lonely = line("Acme", "Deli", &[], 1);
        learn_all(
            &store,
            &[order(1, Some(ada), T0, vec![dear, cheap, lonely])],
        );
        let p = profile_at(&store, ada, T0);
        assert_eq!(weight(&p, FacetKind::Brand, "Acme"), Some(0.75));
        assert_eq!(weight(&p, FacetKind::Brand, "Bolt"), Some(0.25));
        assert_eq!(weight(&p, FacetKind::Category, "Pantry"), Some(0.75));
        assert_eq!(
            weight(&p, FacetKind::Category, "Pantry > Pasta"),
            Some(0.75)
        );
        assert_eq!(weight(&p, FacetKind::Category, "Deli"), Some(0.25));
        assert_eq!(weight(&p, FacetKind::Dietary, "vegan"), Some(0.75));
        assert_eq!(weight(&p, FacetKind::Dietary, "gluten-free"), Some(0.5));
        assert_eq!(weight(&p, FacetKind::PriceBand, "premium"), Some(0.5));
        assert_eq!(weight(&p, FacetKind::PriceBand, "budget"), Some(0.25));
        assert_eq!(
            p.price_bands.len(),
            2,
            "Deli has too few products to place a price in a band"
        );
        assert_eq!(p.brands[0].value, "Acme", "strongest first");
    }

    #[test]
    fn one_bulk_line_counts_for_at_most_ten_units() {
        let (_dir, store) = store();
        let ada = customer(&store, "ada@example.com");
        let lines = vec![
            line("Water", "Drinks", &[], 90),
            line("Acme", "Pantry", &[], 10),
        ];
        learn_all(&store, &[order(1, Some(ada), T0, lines)]);
        let p = profile_at(&store, ada, T0);
        assert_eq!(weight(&p, FacetKind::Brand, "Water"), Some(0.5));
        assert_eq!(weight(&p, FacetKind::Brand, "Acme"), Some(0.5));
    }

    #[test]
    fn reset_empties_the_profile() {
        let (_dir, store) = store();
        let ada = customer(&store, "ada@example.com");
        learn_all(
            &store,
            &[order(
                1,
                Some(ada),
                T0,
                vec![line("Acme", "Pantry", &["vegan"], 3)],
            )],
        );
        assert!(!profile_at(&store, ada, T0).is_empty());
        assert!(store.write(|tx| reset(tx, ada)).unwrap());
        let after = profile_at(&store, ada, T0);
        assert!(after.is_empty());
        assert_eq!((after.orders, after.learned_at), (0, None));
        assert!(
            !store.write(|tx| reset(tx, ada)).unwrap(),
            "nothing left to reset"
        );
    }

    #[test]
    fn guests_teach_nothing_and_customers_do_not_share() {
        let (_dir, store) = store();
        let ada = customer(&store, "ada@example.com");
        let bob = customer(&store, "bob@example.com");
        learn_all(
            &store,
            &[
                order(1, None, T0, vec![line("Acme", "Pantry", &["vegan"], 3)]),
                order(2, Some(bob), T0, vec![line("Bolt", "Deli", &[], 3)]),
            ],
        );
        let rows: i64 = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM profile_weights WHERE value IN ('Acme', 'Pantry', 'vegan')",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(rows, 0, "the guest order left no weights");
        assert!(profile_at(&store, ada, T0).is_empty());
        assert_eq!(profile_at(&store, bob, T0).brands[0].value, "Bolt");
    }

    #[test]
    fn faded_weights_are_forgotten_when_the_customer_orders_again() {
        let (_dir, store) = store();
        let ada = customer(&store, "ada@example.com");
        learn_all(
            &store,
            &[
                order(1, Some(ada), T0, vec![line("Acme", "Pantry", &[], 1)]),
                order(
                    2,
                    Some(ada),
                    "2027-03-01T12:00:00Z",
                    vec![line("Bolt", "Deli", &[], 1)],
                ),
            ],
        );
        let kept: Vec<String> = store
            .read(|c| {
                let mut stmt = c.prepare("SELECT value FROM profile_weights ORDER BY value")?;
                let values = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(values)
            })
            .unwrap();
        assert_eq!(kept, vec!["Bolt".to_string(), "Deli".to_string()]);
    }

    #[test]
    fn decay_never_grows_a_weight() {
        let at = OffsetDateTime::parse(T0, &Rfc3339).unwrap();
        let weight = Decaying::new(8.0, at);
        assert_eq!(weight.at(at - Duration::days(30)), 8.0);
        assert_eq!(weight.at(at + HALF_LIFE), 4.0);
        assert_eq!(weight.at(at + HALF_LIFE * 2), 2.0);
    }
}
