//! Read-side tests on a real SQLite file: planted co-purchases, carts, history
//! and the cold-start fallback.

use super::*;
use crate::catalog::{Currency, ProductDraft, ProductInput};
use crate::store::recommendations::{HistoryLine, HistoryOrder, insert_history_order};
use crate::store::{Store, StoreOptions};
use time::OffsetDateTime;

struct Shop {
    _dir: tempfile::TempDir,
    store: Store,
    orders: usize,
}

impl Shop {
    fn new() -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("shop.db"), &StoreOptions::default()).unwrap();
        Shop {
            _dir: dir,
            store,
            orders: 0,
        }
    }

    fn product(&self, handle: &str, category: &str, stock: Option<i64>, active: bool) -> i64 {
        let input = ProductInput {
            handle: Some(handle.into()),
            name: Some(handle.into()),
            price: Some("2.50".into()),
            category: Some(category.into()),
            stock,
            active: Some(active),
            ..Default::default()
        };
        let draft = ProductDraft::parse(&input, &Currency::from_code("USD").unwrap()).unwrap();
        self.store
            .write(|tx| crate::store::products::insert(tx, &draft))
            .unwrap()
    }

    /// `times` orders of `products` by `session` (and `customer`), an hour ago.
    fn bought(&mut self, times: usize, products: &[i64], session: i64, customer: Option<i64>) {
        self.bought_as(times, products, session, customer, "paid");
    }

    fn bought_as(
        &mut self,
        times: usize,
        products: &[i64],
        session: i64,
        customer: Option<i64>,
        status: &str,
    ) {
        let at = OffsetDateTime::now_utc() - time::Duration::HOUR;
        let created_at = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        for _ in 0..times {
            self.orders += 1;
            let order = HistoryOrder {
                number: format!("T-{}", self.orders),
                customer_id: customer,
                session_id: Some(session),
                status: status.into(),
                currency: "USD".into(),
                created_at: created_at.clone(),
                lines: products
                    .iter()
                    .map(|&product_id| HistoryLine {
                        product_id,
                        name: "x".into(),
                        category: "x".into(),
                        quantity: 1,
                        unit_price_minor: 250,
                    })
                    .collect(),
            };
            self.store
                .write(|tx| insert_history_order(tx, &order))
                .unwrap();
        }
    }

    fn rebuild(&self) -> RebuildReport {
        rebuild(&self.store, OffsetDateTime::now_utc()).unwrap()
    }

    /// A session with a cart (the customer's when `customer` is given).
    fn cart(&self, session: i64, customer: Option<i64>, products: &[i64]) {
        self.store
            .write(|tx| {
                if let Some(customer) = customer {
                    tx.execute(
                        "INSERT OR IGNORE INTO customers (id, email, password_hash, created_at)
                         VALUES (?1, ?1 || '@example.com', 'x', 'now')",
                        [customer],
                    )?;
                }
                tx.execute(
                    "INSERT INTO sessions (id, token_hash, customer_id, created_at, last_seen_at, expires_at)
                     VALUES (?1, 'hash-' || ?1, ?2, 'now', 'now', 'later')",
                    rusqlite::params![session, customer],
                )?;
                let (by_session, by_customer) = match customer {
                    Some(c) => (None, Some(c)),
                    None => (Some(session), None),
                };
                tx.execute(
                    "INSERT INTO carts (session_id, customer_id, updated_at) VALUES (?1, ?2, 'now')",
                    rusqlite::params![by_session, by_customer],
                )?;
                let cart = tx.last_insert_rowid();
                for p in products {
                    tx.execute(
                        "INSERT INTO cart_items (cart_id, product_id, quantity, unit_price_minor, added_at)
                         VALUES (?1, ?2, 1, 250, 'now')",
                        [cart, *p],
                    )?;
                }
                Ok(())
            })
            .unwrap();
    }
}

fn picks(recs: &[Recommendation]) -> Vec<(i64, Reason)> {
    recs.iter().map(|r| (r.product.id, r.reason)).collect()
}

/// bread goes with butter (6×) and jam (3×); also with a sold-out spread
/// (8×); milk is in many baskets of its own. rye (same category as bread) and
/// a hidden product never sell.
struct Planted {
    bread: i64,
    butter: i64,
    jam: i64,
    sold_out: i64,
    milk: i64,
    rye: i64,
    hidden: i64,
}

fn planted(shop: &mut Shop) -> Planted {
    let p = Planted {
        bread: shop.product("bread", "Bakery > Bread", Some(10), true),
        butter: shop.product("butter", "Dairy > Butter", None, true),
        jam: shop.product("jam", "Pantry > Spreads", Some(5), true),
        sold_out: shop.product("spread", "Pantry > Spreads", Some(0), true),
        milk: shop.product("milk", "Dairy > Milk", None, true),
        rye: shop.product("rye", "Bakery > Bread", None, true),
        hidden: shop.product("hidden", "Bakery > Bread", None, false),
    };
    shop.bought(6, &[p.bread, p.butter], 100, None);
    shop.bought(3, &[p.bread, p.jam], 101, None);
    shop.bought(8, &[p.bread, p.sold_out], 102, None);
    shop.bought(12, &[p.milk], 103, None);
    shop.bought(2, &[p.milk, p.butter], 104, None);
    shop.bought(4, &[p.hidden, p.bread], 105, None);
    p
}

#[test]
fn a_product_gets_its_planted_partner_first_and_never_unavailable_ones() {
    let mut shop = Shop::new();
    let p = planted(&mut shop);
    let report = shop.rebuild();
    assert_eq!(report.orders_seen, 35);
    let recs = shop
        .store
        .read(|c| for_product(c, p.bread, 10))
        .unwrap()
        .unwrap();
    let got = picks(&recs);
    assert_eq!(got[0], (p.butter, Reason::BoughtTogether), "{got:?}");
    assert_eq!(got[1], (p.jam, Reason::BoughtTogether), "{got:?}");
    for unavailable in [p.sold_out, p.hidden, p.bread] {
        assert!(got.iter().all(|(id, _)| *id != unavailable), "{got:?}");
    }
    assert_eq!(
        got.last().map(|g| g.1),
        Some(Reason::Popular),
        "the list is filled with best sellers: {got:?}"
    );
    assert!(recs[0].score > recs[1].score);
}

#[test]
fn an_unsold_product_falls_back_to_its_category_then_the_shop() {
    let mut shop = Shop::new();
    let p = planted(&mut shop);
    shop.rebuild();
    let got = picks(
        &shop
            .store
            .read(|c| for_product(c, p.rye, 3))
            .unwrap()
            .unwrap(),
    );
    assert_eq!(
        got,
        [
            (p.bread, Reason::PopularInCategory),
            (p.milk, Reason::Popular),
            (p.butter, Reason::Popular),
        ]
    );
    let unknown = shop.store.read(|c| for_product(c, 999_999, 3)).unwrap();
    assert!(unknown.is_none());
    let inactive = shop.store.read(|c| for_product(c, p.hidden, 3)).unwrap();
    assert!(inactive.is_none(), "inactive products are not shown");
}

#[test]
fn a_guest_gets_partners_of_the_cart_without_the_cart_itself() {
    let mut shop = Shop::new();
    let p = planted(&mut shop);
    shop.rebuild();
    shop.cart(1, None, &[p.bread, p.butter]);
    let shopper = Shopper {
        session_id: 1,
        customer_id: None,
    };
    let got = picks(&shop.store.read(|c| for_shopper(c, shopper, 4)).unwrap());
    // Jam (bread's partner) and milk (butter's); the rest of the shop is in
    // the cart, sold out, hidden or never sold.
    assert_eq!(
        got,
        [
            (p.jam, Reason::BoughtTogether),
            (p.milk, Reason::BoughtTogether)
        ]
    );
}

#[test]
fn a_customer_is_served_from_their_own_cart_and_past_orders() {
    let mut shop = Shop::new();
    let p = planted(&mut shop);
    // Customer 5 bought milk before (on another session); their cart is empty
    // of partners, so history decides. Another guest's cart must not leak in.
    shop.cart(2, Some(5), &[]);
    shop.cart(3, None, &[p.bread]);
    shop.bought(1, &[p.milk], 99, Some(5));
    shop.bought_as(5, &[p.jam, p.milk], 99, Some(5), "cancelled");
    shop.rebuild();
    let shopper = Shopper {
        session_id: 2,
        customer_id: Some(5),
    };
    let got = picks(&shop.store.read(|c| for_shopper(c, shopper, 2)).unwrap());
    assert_eq!(
        got[0],
        (p.butter, Reason::BoughtTogether),
        "milk's partner, from the customer's own history: {got:?}"
    );
    let (seeds, in_cart) = shop.store.read(|c| shopper_seeds(c, shopper)).unwrap();
    assert!(in_cart.is_empty());
    assert_eq!(
        seeds,
        [Seed {
            product_id: p.milk,
            weight: HISTORY_WEIGHT
        }],
        "cancelled orders and other shoppers' carts are no seeds"
    );
}

#[test]
fn a_new_shopper_in_a_shop_without_orders_gets_an_empty_list() {
    let shop = Shop::new();
    shop.product("bread", "Bakery > Bread", None, true);
    let report = shop.rebuild();
    assert_eq!(report.orders_seen, 0);
    let shopper = Shopper {
        session_id: 1,
        customer_id: None,
    };
    assert!(
        shop.store
            .read(|c| for_shopper(c, shopper, 5))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_rebuild_replaces_what_the_last_one_stored() {
    let mut shop = Shop::new();
    let p = planted(&mut shop);
    let first = shop.rebuild();
    // Deactivating butter and rebuilding removes it from the stored neighbours.
    shop.store
        .write(|tx| {
            tx.execute("UPDATE products SET active = 0 WHERE id = ?1", [p.butter])?;
            Ok(())
        })
        .unwrap();
    let second = shop.rebuild();
    assert!(second.pairs_kept < first.pairs_kept);
    assert!(second.run_id > first.run_id);
    let stored: i64 = shop
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM product_neighbours WHERE neighbour_id = ?1 OR product_id = ?1",
                [p.butter],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(stored, 0);
    let last = shop
        .store
        .read(crate::store::recommendations::last_run)
        .unwrap()
        .unwrap();
    assert_eq!(last.pairs_kept as u64, second.pairs_kept);
}
