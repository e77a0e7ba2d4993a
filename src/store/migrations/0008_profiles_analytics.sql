-- Preference profiles and sales analytics. Both are derived data: the
-- checkout's hooks keep them up to date inside its own transaction, so they
-- are never rebuilt from a scan of the orders.

-- One learned preference of a customer: how much of what they bought had this
-- brand, category (each level of the path), dietary label or price band.
-- `weight` is in units bought, already decayed to `updated_at`; readers decay
-- it further to their own "now" (exponential decay is memoryless, so storing
-- the weight with its time is all that is needed). REAL because a decayed
-- weight is a fraction; this is not money.
CREATE TABLE profile_weights (
    customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN ('brand', 'category', 'dietary', 'price_band')),
    value       TEXT    NOT NULL,
    weight      REAL    NOT NULL CHECK (weight >= 0),
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (customer_id, kind, value)
) STRICT, WITHOUT ROWID;

-- The evidence behind a customer's profile: all units learned from (decayed
-- like the weights, it is what the weights are shares of) and how many orders.
CREATE TABLE profile_summaries (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    units       REAL    NOT NULL CHECK (units >= 0),
    orders      INTEGER NOT NULL CHECK (orders >= 0),
    updated_at  TEXT    NOT NULL
) STRICT;

-- Which orders the aggregates below already hold, on which UTC day, and
-- whether they count there as a sale. It makes the hooks exactly-once (a
-- replayed hook changes nothing) and lets a status change find the day the
-- order was placed on. No foreign key: the figures outlive the order rows.
CREATE TABLE sales_ledger (
    order_id INTEGER PRIMARY KEY,
    day      TEXT    NOT NULL,
    is_sale  INTEGER NOT NULL CHECK (is_sale IN (0, 1))
) STRICT;

-- Per UTC day (YYYY-MM-DD): the orders placed that day that still count as
-- sales, and what they came to. An order cancelled or refunded later leaves
-- its day's sale figures and is counted in `cancelled` / `refunded` instead.
CREATE TABLE daily_sales (
    day            TEXT    PRIMARY KEY,
    orders         INTEGER NOT NULL DEFAULT 0 CHECK (orders >= 0),
    revenue_minor  INTEGER NOT NULL DEFAULT 0 CHECK (revenue_minor >= 0),
    discount_minor INTEGER NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    tax_minor      INTEGER NOT NULL DEFAULT 0 CHECK (tax_minor >= 0),
    units          INTEGER NOT NULL DEFAULT 0 CHECK (units >= 0),
    cancelled      INTEGER NOT NULL DEFAULT 0 CHECK (cancelled >= 0),
    refunded       INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    refunded_minor INTEGER NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0)
) STRICT, WITHOUT ROWID;

-- Per UTC day and product: units and line revenue (before order-level
-- discounts, which belong to no single line). The name is the one on the
-- latest order line, so a deleted product still has a label; no foreign key
-- for the same reason.
CREATE TABLE daily_product_sales (
    day           TEXT    NOT NULL,
    product_id    INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    units         INTEGER NOT NULL CHECK (units >= 0),
    revenue_minor INTEGER NOT NULL CHECK (revenue_minor >= 0),
    PRIMARY KEY (day, product_id)
) STRICT, WITHOUT ROWID;

-- Per UTC day and category path as it was on the order line.
CREATE TABLE daily_category_sales (
    day           TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    units         INTEGER NOT NULL CHECK (units >= 0),
    revenue_minor INTEGER NOT NULL CHECK (revenue_minor >= 0),
    PRIMARY KEY (day, category)
) STRICT, WITHOUT ROWID;
