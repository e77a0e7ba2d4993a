-- Search bookkeeping. Every change to a product queues its id here (through
-- triggers, so no write path can forget); the indexer removes a row only after
-- the index holding that change is committed, so a crash at any point replays.
CREATE TABLE search_outbox (
    product_id INTEGER PRIMARY KEY,
    seq        INTEGER NOT NULL
) STRICT;

CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
    INSERT OR REPLACE INTO search_outbox (product_id, seq)
    VALUES (NEW.id, (SELECT coalesce(max(seq), 0) + 1 FROM search_outbox));
END;

CREATE TRIGGER products_search_update AFTER UPDATE ON products BEGIN
    INSERT OR REPLACE INTO search_outbox (product_id, seq)
    VALUES (NEW.id, (SELECT coalesce(max(seq), 0) + 1 FROM search_outbox));
END;

CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
    INSERT OR REPLACE INTO search_outbox (product_id, seq)
    VALUES (OLD.id, (SELECT coalesce(max(seq), 0) + 1 FROM search_outbox));
END;

-- Sentence embeddings of products, with a hash of the text they were made from
-- so that a changed product is embedded again and an unchanged one is not.
CREATE TABLE product_embeddings (
    product_id INTEGER PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    model      TEXT    NOT NULL,
    text_hash  TEXT    NOT NULL,
    vector     BLOB    NOT NULL
) STRICT;
