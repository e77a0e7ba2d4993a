-- Products and their variants. Money is in integer minor units of the shop
-- currency; lists and maps are JSON text; timestamps are RFC 3339 UTC.
CREATE TABLE products (
    id               INTEGER PRIMARY KEY,
    handle           TEXT    NOT NULL UNIQUE,
    sku              TEXT,
    name             TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    brand            TEXT,
    category         TEXT    NOT NULL DEFAULT '',
    tags             TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    dietary          TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(dietary)),
    attributes       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
    price_minor      INTEGER NOT NULL CHECK (price_minor >= 0),
    compare_at_minor INTEGER CHECK (compare_at_minor >= 0),
    stock            INTEGER,
    images           TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(images)),
    active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    content_hash     TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
) STRICT;

CREATE INDEX products_sku ON products (sku) WHERE sku IS NOT NULL;
CREATE INDEX products_category ON products (category);
CREATE INDEX products_active_id ON products (active, id);

CREATE TABLE product_variants (
    id               INTEGER PRIMARY KEY,
    product_id       INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    sku              TEXT,
    title            TEXT    NOT NULL,
    options          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(options)),
    price_minor      INTEGER NOT NULL CHECK (price_minor >= 0),
    compare_at_minor INTEGER CHECK (compare_at_minor >= 0),
    stock            INTEGER,
    image            TEXT,
    UNIQUE (product_id, position)
) STRICT;

CREATE INDEX product_variants_sku ON product_variants (sku) WHERE sku IS NOT NULL;
