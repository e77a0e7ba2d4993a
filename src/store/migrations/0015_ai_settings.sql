-- The AI settings saved from the dashboard, and the secrets they use.

-- One row: the settings as JSON (tier, remote providers without their keys,
-- routing, budgets, the local model). Saved values win over the config file.
CREATE TABLE ai_settings (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    settings   TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
) STRICT;

-- API keys, sealed with ChaCha20-Poly1305 under the key file kept outside
-- this database (secrets.rs): only the nonce and ciphertext are here, and
-- `hint` (such as sk-…abcd) is all the dashboard ever shows of one.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    hint       TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT, WITHOUT ROWID;
