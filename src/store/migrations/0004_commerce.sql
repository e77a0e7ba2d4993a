-- Shoppers, carts, orders. Money is in integer minor units of the shop
-- currency; timestamps are RFC 3339 UTC.

-- Registered customers. Only an argon2id hash of the password is kept.
CREATE TABLE customers (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    name          TEXT    NOT NULL DEFAULT '',
    class         TEXT    NOT NULL DEFAULT 'registered',
    created_at    TEXT    NOT NULL
) STRICT;

-- Shopper sessions, guest or signed in. The token is a bearer secret: only its
-- SHA-256 is stored.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    customer_id  INTEGER REFERENCES customers (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    last_seen_at TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL
) STRICT;

CREATE INDEX sessions_expires ON sessions (expires_at);

-- One cart per guest session or per customer.
CREATE TABLE carts (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER UNIQUE REFERENCES sessions (id) ON DELETE CASCADE,
    customer_id  INTEGER UNIQUE REFERENCES customers (id) ON DELETE CASCADE,
    voucher_code TEXT,
    updated_at   TEXT    NOT NULL,
    CHECK ((session_id IS NULL) <> (customer_id IS NULL))
) STRICT;

-- A line of a cart. `unit_price_minor` is the price when the shopper added it,
-- so a later price change can be shown to them instead of silently applied.
CREATE TABLE cart_items (
    id               INTEGER PRIMARY KEY,
    cart_id          INTEGER NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    product_id       INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    variant_id       INTEGER REFERENCES product_variants (id) ON DELETE CASCADE,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    added_at         TEXT    NOT NULL
) STRICT;

CREATE UNIQUE INDEX cart_items_line ON cart_items (cart_id, product_id, coalesce(variant_id, 0));

-- Orders and their lines. Lines keep a copy of what was bought, so a product
-- changed or deleted later does not rewrite history.
CREATE TABLE orders (
    id                INTEGER PRIMARY KEY,
    number            TEXT    NOT NULL UNIQUE,
    customer_id       INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    session_id        INTEGER,
    status            TEXT    NOT NULL
                      CHECK (status IN ('pending', 'paid', 'fulfilled', 'cancelled', 'refunded')),
    currency          TEXT    NOT NULL,
    subtotal_minor    INTEGER NOT NULL CHECK (subtotal_minor >= 0),
    discount_minor    INTEGER NOT NULL CHECK (discount_minor >= 0),
    tax_minor         INTEGER NOT NULL CHECK (tax_minor >= 0),
    total_minor       INTEGER NOT NULL CHECK (total_minor >= 0),
    tax_inclusive     INTEGER NOT NULL CHECK (tax_inclusive IN (0, 1)),
    voucher_code      TEXT,
    payment_method    TEXT    NOT NULL,
    payment_reference TEXT,
    contact           TEXT    NOT NULL CHECK (json_valid(contact)),
    delivery          TEXT    NOT NULL CHECK (json_valid(delivery)),
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
) STRICT;

CREATE INDEX orders_customer ON orders (customer_id, id) WHERE customer_id IS NOT NULL;
CREATE INDEX orders_session ON orders (session_id, id);
CREATE INDEX orders_status ON orders (status, id);
CREATE INDEX orders_created ON orders (created_at);

CREATE TABLE order_lines (
    id               INTEGER PRIMARY KEY,
    order_id         INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id       INTEGER REFERENCES products (id) ON DELETE SET NULL,
    variant_id       INTEGER REFERENCES product_variants (id) ON DELETE SET NULL,
    sku              TEXT,
    name             TEXT    NOT NULL,
    variant_title    TEXT,
    category         TEXT    NOT NULL DEFAULT '',
    brand            TEXT,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    line_total_minor INTEGER NOT NULL CHECK (line_total_minor >= 0)
) STRICT;

CREATE INDEX order_lines_order ON order_lines (order_id);
CREATE INDEX order_lines_product ON order_lines (product_id);

-- Every status change of an order: when, from what, to what, and who did it.
CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    note        TEXT,
    at          TEXT    NOT NULL
) STRICT;

CREATE INDEX order_events_order ON order_events (order_id, id);

-- Checkout replays: the same key from the same shopper returns the same order.
CREATE TABLE idempotency_keys (
    scope        TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    order_id     INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;

-- Stock look-ups for the low-stock list and alerts.
CREATE INDEX products_stock ON products (stock) WHERE stock IS NOT NULL;
CREATE INDEX product_variants_stock ON product_variants (stock) WHERE stock IS NOT NULL;
