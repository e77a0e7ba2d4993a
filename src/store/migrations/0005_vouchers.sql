-- Vouchers: discount codes and the orders that used them. Money is in integer
-- minor units; timestamps are RFC 3339 UTC.

-- A discount code. `value` is basis points for a percentage (1500 is 15%) or
-- minor units for a fixed amount. The currency is kept because a fixed value
-- and a minimum spend mean nothing without it, and the reasons a code does not
-- apply quote those amounts to the shopper. A redeemed voucher is deactivated,
-- never deleted (see voucher_redemptions), so past orders keep their code.
CREATE TABLE vouchers (
    id                  INTEGER PRIMARY KEY,
    -- Shoppers type codes in any case; NOCASE keeps SAVE10 and save10 one code.
    code                TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    kind                TEXT    NOT NULL CHECK (kind IN ('percent', 'fixed')),
    value               INTEGER NOT NULL CHECK (value > 0),
    minimum_spend_minor INTEGER NOT NULL DEFAULT 0 CHECK (minimum_spend_minor >= 0),
    currency            TEXT    NOT NULL,
    -- Both ends optional: no start means valid at once, no end means forever.
    -- The end is exclusive.
    starts_at           TEXT,
    ends_at             TEXT,
    -- NULL means unlimited.
    usage_limit         INTEGER CHECK (usage_limit IS NULL OR usage_limit >= 1),
    per_customer_limit  INTEGER CHECK (per_customer_limit IS NULL OR per_customer_limit >= 1),
    active              INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    description         TEXT    NOT NULL DEFAULT '',
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    -- A percentage above 100% would pay the shopper to buy.
    CHECK (kind <> 'percent' OR value <= 10000),
    CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at)
) STRICT;

-- One use of a voucher by one order. A released use (the order was cancelled
-- or refunded) stays as history but no longer counts toward any limit.
-- `session_id` has no foreign key: sessions expire and are purged, while a
-- guest's uses must still be countable for as long as the session lives.
-- RESTRICT on the voucher: a code that was ever used cannot be deleted.
CREATE TABLE voucher_redemptions (
    id          INTEGER PRIMARY KEY,
    voucher_id  INTEGER NOT NULL REFERENCES vouchers (id) ON DELETE RESTRICT,
    order_id    INTEGER NOT NULL UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
    customer_id INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    session_id  INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    released_at TEXT
) STRICT;

-- The limit checks count live uses per voucher, per customer and per session.
CREATE INDEX voucher_redemptions_live ON voucher_redemptions (voucher_id)
    WHERE released_at IS NULL;
CREATE INDEX voucher_redemptions_customer ON voucher_redemptions (voucher_id, customer_id)
    WHERE released_at IS NULL AND customer_id IS NOT NULL;
CREATE INDEX voucher_redemptions_session ON voucher_redemptions (voucher_id, session_id)
    WHERE released_at IS NULL;
