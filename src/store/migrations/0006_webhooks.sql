-- Webhooks: the endpoints an owner registered, an outbox of deliveries and a
-- log of every attempt. A delivery row is written in the same transaction as
-- the change it announces, so an event exists if and only if its change
-- committed; the dispatcher sends it afterwards, outside any transaction.
--
-- next_attempt_at is fixed-width RFC 3339 UTC with milliseconds
-- (2025-01-31T12:00:00.000Z) so that text order is time order and the due
-- index can answer "what is due now" with a plain comparison.

-- The secret is kept as is, not hashed: signing each delivery with HMAC needs
-- the key itself. It is shown to the owner once, at creation.
-- events is a JSON array of the event types the endpoint subscribes to.
CREATE TABLE webhook_endpoints (
    id         INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    events     TEXT    NOT NULL CHECK (json_valid(events) AND json_type(events) = 'array'),
    active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at TEXT    NOT NULL
) STRICT;

-- The outbox: one row per (endpoint, event). payload is the exact envelope
-- sent, so every retry carries the same bytes and the same event id.
-- Deleting an endpoint deletes its deliveries: there is nobody left to send to.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    payload          TEXT    NOT NULL CHECK (json_valid(payload)),
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a pending delivery is due; NULL once it is delivered or failed.
    next_attempt_at  TEXT    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       TEXT    NOT NULL,
    delivered_at     TEXT,
    UNIQUE (endpoint_id, event_id)
) STRICT;

-- The dispatcher's question, asked every poll: the earliest due pending row.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- The admin delivery log, filtered by status or event type, newest first.
CREATE INDEX webhook_deliveries_status ON webhook_deliveries (status, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_type, id);

-- Every attempt of a delivery, so an owner can see why one is late or failed.
-- status_code is NULL when no HTTP answer came (refused, timeout); error then
-- says what happened instead.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    at          TEXT    NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
    UNIQUE (delivery_id, attempt)
) STRICT;
