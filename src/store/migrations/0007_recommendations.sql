-- Recommendations: what the nightly batch learned from order baskets. Every
-- table here is derived data, replaced wholesale by one rebuild transaction,
-- so readers always see one complete run and never half of two.

-- "Frequently bought together": the top neighbours of each active product,
-- by damped co-purchase similarity. Directional (the score of B for A may
-- differ from A for B) because the damping penalises the recommended item's
-- popularity, not the seed's. WITHOUT ROWID: rows are read by product_id.
CREATE TABLE product_neighbours (
    product_id   INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    neighbour_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    score        REAL    NOT NULL CHECK (score > 0),
    -- Baskets holding both, kept so a reader can tell strong evidence from weak.
    co_count     INTEGER NOT NULL CHECK (co_count > 0),
    PRIMARY KEY (product_id, neighbour_id),
    CHECK (product_id <> neighbour_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX product_neighbours_neighbour ON product_neighbours (neighbour_id);

-- Cold start: how well each product sells, recent orders weighted more. The
-- category is not copied here: readers join `products`, so a product moved to
-- another category is ranked there at once, not after the next rebuild.
CREATE TABLE product_popularity (
    product_id INTEGER PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
    score      REAL    NOT NULL CHECK (score >= 0),
    -- Units sold in the batch window, unweighted, for people reading the table.
    units      INTEGER NOT NULL CHECK (units >= 0)
) STRICT;

CREATE INDEX product_popularity_score ON product_popularity (score DESC);

-- One row per batch run, so an operator can see when recommendations were
-- last refreshed and from how much data. Old runs are pruned by the batch.
CREATE TABLE recommendation_runs (
    id              INTEGER PRIMARY KEY,
    started_at      TEXT    NOT NULL,
    finished_at     TEXT    NOT NULL,
    window_days     INTEGER NOT NULL CHECK (window_days > 0),
    orders_seen     INTEGER NOT NULL CHECK (orders_seen >= 0),
    baskets_paired  INTEGER NOT NULL CHECK (baskets_paired >= 0),
    pairs_counted   INTEGER NOT NULL CHECK (pairs_counted >= 0),
    pairs_kept      INTEGER NOT NULL CHECK (pairs_kept >= 0),
    products_ranked INTEGER NOT NULL CHECK (products_ranked >= 0)
) STRICT;
