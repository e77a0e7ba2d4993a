-- Counters of the content that shared assistant answers are built from. Each
-- change to the catalog (any product or variant row: text, price, stock) or
-- to the FAQ bumps its counter through triggers, so no write path can forget;
-- an answer cached under older counters is stale. Only ever one row.
CREATE TABLE content_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    catalog INTEGER NOT NULL DEFAULT 0,
    faq     INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO content_version (id) VALUES (1);

CREATE TRIGGER products_version_insert AFTER INSERT ON products BEGIN
    UPDATE content_version SET catalog = catalog + 1 WHERE id = 1;
END;

CREATE TRIGGER products_version_update AFTER UPDATE ON products BEGIN
    UPDATE content_version SET catalog = catalog + 1 WHERE id = 1;
END;

CREATE TRIGGER products_version_delete AFTER DELETE ON products BEGIN
    UPDATE content_version SET catalog = catalog + 1 WHERE id = 1;
END;

CREATE TRIGGER product_variants_version_insert AFTER INSERT ON product_variants BEGIN
    UPDATE content_version SET catalog = catalog + 1 WHERE id = 1;
END;

CREATE TRIGGER product_variants_version_update AFTER UPDATE ON product_variants BEGIN
    UPDATE content_version SET catalog = catalog + 1 WHERE id = 1;
END;

CREATE TRIGGER product_variants_version_delete AFTER DELETE ON product_variants BEGIN
    UPDATE content_version SET catalog = catalog + 1 WHERE id = 1;
END;

CREATE TRIGGER faq_version_insert AFTER INSERT ON faq BEGIN
    UPDATE content_version SET faq = faq + 1 WHERE id = 1;
END;

CREATE TRIGGER faq_version_update AFTER UPDATE ON faq BEGIN
    UPDATE content_version SET faq = faq + 1 WHERE id = 1;
END;

CREATE TRIGGER faq_version_delete AFTER DELETE ON faq BEGIN
    UPDATE content_version SET faq = faq + 1 WHERE id = 1;
END;
