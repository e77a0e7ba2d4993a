-- The shop assistant: conversations, their messages, the intent cache and the
-- shop's FAQ. Timestamps are RFC 3339 UTC.

-- A conversation belongs to the session that started it; once the shopper
-- signs in it also belongs to their account, so it follows them across
-- devices and outlives the session (signing out ends the session, not the
-- conversation). `state` is the assistant's working memory as JSON (the last
-- products shown, a checkout waiting for confirmation); `summary` folds the
-- turns older than `summarized_through` so prompts stay within budget.
CREATE TABLE conversations (
    id                 TEXT    PRIMARY KEY,
    session_id         INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    customer_id        INTEGER REFERENCES customers (id) ON DELETE SET NULL,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    summary            TEXT    NOT NULL DEFAULT '',
    summarized_through INTEGER NOT NULL DEFAULT 0,
    state              TEXT    NOT NULL DEFAULT '{}',
    -- Why the admin should look: 'frustrated' or 'asked_for_human'.
    flag               TEXT,
    flagged_at         TEXT,
    -- The admin answering instead of the assistant, while they are.
    taken_over_by      TEXT,
    mood               REAL    NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX conversations_session ON conversations (session_id);
CREATE INDEX conversations_customer ON conversations (customer_id);
CREATE INDEX conversations_updated ON conversations (updated_at);

-- One message. `actions` lists the tool calls an assistant turn made, as
-- JSON; `tier` and `model` say what answered.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('shopper', 'assistant', 'admin')),
    content         TEXT    NOT NULL,
    intent          TEXT,
    confidence      REAL,
    mood            REAL,
    tier            TEXT,
    model           TEXT,
    actions         TEXT    NOT NULL DEFAULT '[]',
    created_at      TEXT    NOT NULL
) STRICT;

CREATE INDEX messages_conversation ON messages (conversation_id, id);

-- Intents by normalised message. The pattern classifier answers at once;
-- messages it was unsure about wait here ('pending') until the batch job asks
-- a model and stores the refined intent ('model') for the next time.
CREATE TABLE intent_cache (
    normalized TEXT PRIMARY KEY,
    intent     TEXT NOT NULL,
    confidence REAL NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('pending', 'model')),
    seen       INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
) STRICT;

CREATE INDEX intent_cache_pending ON intent_cache (source, updated_at);

-- The shop's questions and answers (delivery, returns, payment, hours) that
-- `store_info` answers from. Admins edit them.
CREATE TABLE faq (
    id         INTEGER PRIMARY KEY,
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
