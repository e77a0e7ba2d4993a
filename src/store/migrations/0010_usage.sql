-- Model usage: one row per model call, the aggregates budgets and reports
-- read, and the alerts already sent. `assistant::budget::record` writes the
-- call and every aggregate in one transaction, so they never drift apart and
-- no budget check or report has to scan `model_calls`.
--
-- Token and cost figures are INTEGER: costs are micro-units of the shop
-- currency (1.00 is 1000000), so sums add up exactly. Days are UTC
-- (YYYY-MM-DD), months YYYY-MM.

-- Every model call, local or remote, failed ones too (ok = 0; they count the
-- tokens they used, if any). input_tokens counts the whole prompt, cached
-- tokens included; cached_tokens says how many of those came from a cache.
-- subject is whose budget the call spends: `customer:<id>` or `session:<id>`.
-- conversation_id has no foreign key: usage outlives conversations.
CREATE TABLE model_calls (
    id              INTEGER PRIMARY KEY,
    at              TEXT    NOT NULL,
    day             TEXT    NOT NULL,
    month           TEXT    NOT NULL,
    conversation_id TEXT,
    class           TEXT    NOT NULL CHECK (class IN ('guest', 'registered', 'premium')),
    subject         TEXT    NOT NULL,
    tier            TEXT    NOT NULL CHECK (tier IN ('starter', 'professional', 'enterprise')),
    backend         TEXT    NOT NULL CHECK (backend IN ('local', 'openai', 'gemini')),
    model           TEXT    NOT NULL,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('chat', 'summary', 'intent')),
    input_tokens    INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens   INTEGER NOT NULL CHECK (output_tokens >= 0),
    cached_tokens   INTEGER NOT NULL CHECK (cached_tokens >= 0),
    latency_ms      INTEGER NOT NULL CHECK (latency_ms >= 0),
    cost_micros     INTEGER NOT NULL CHECK (cost_micros >= 0),
    ok              INTEGER NOT NULL CHECK (ok IN (0, 1))
) STRICT;

-- Per UTC day and (class, tier, backend, model): what the usage report
-- groups. The key starts with the day, so a report range is one index range
-- whatever the number of calls.
CREATE TABLE daily_model_usage (
    day           TEXT    NOT NULL,
    class         TEXT    NOT NULL,
    tier          TEXT    NOT NULL,
    backend       TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    calls         INTEGER NOT NULL CHECK (calls >= 0),
    failed        INTEGER NOT NULL CHECK (failed >= 0),
    input_tokens  INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens INTEGER NOT NULL CHECK (output_tokens >= 0),
    cached_tokens INTEGER NOT NULL CHECK (cached_tokens >= 0),
    cost_micros   INTEGER NOT NULL CHECK (cost_micros >= 0),
    PRIMARY KEY (day, class, tier, backend, model)
) STRICT, WITHOUT ROWID;

-- Budget tokens (input + output) a subject spent per period: `period` is a
-- day (YYYY-MM-DD) or a month (YYYY-MM), told apart by their length. One
-- primary-key look-up per period answers a budget check.
CREATE TABLE subject_usage (
    subject TEXT    NOT NULL,
    period  TEXT    NOT NULL,
    tokens  INTEGER NOT NULL CHECK (tokens >= 0),
    PRIMARY KEY (subject, period)
) STRICT, WITHOUT ROWID;

-- What remote (paid) model APIs cost the shop per month, for the spend cap.
CREATE TABLE monthly_remote_spend (
    month       TEXT    PRIMARY KEY,
    cost_micros INTEGER NOT NULL CHECK (cost_micros >= 0)
) STRICT, WITHOUT ROWID;

-- Alerts sent to the admin; the key makes each fire once per period.
-- scope is what was measured (`spend_cap`), period the month or day it
-- covers, threshold the percentage of the limit reached. used and limit_value
-- are in the scope's unit (micro-units of currency for the spend cap).
CREATE TABLE usage_alerts (
    scope       TEXT    NOT NULL,
    period      TEXT    NOT NULL,
    threshold   INTEGER NOT NULL CHECK (threshold IN (80, 100)),
    used        INTEGER NOT NULL CHECK (used >= 0),
    limit_value INTEGER NOT NULL CHECK (limit_value >= 0),
    at          TEXT    NOT NULL,
    PRIMARY KEY (scope, period, threshold)
) STRICT, WITHOUT ROWID;

-- The alert list, newest first.
CREATE INDEX usage_alerts_at ON usage_alerts (at);
