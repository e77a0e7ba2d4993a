-- The shop's settings saved from the dashboard, over the configuration file's
-- defaults. Only ever one row: `overrides` is a JSON object holding just the
-- fields the admin saved (a field not in it follows the configuration).
CREATE TABLE shop_settings (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    overrides  TEXT    NOT NULL CHECK (json_valid(overrides) AND json_type(overrides) = 'object'),
    updated_at TEXT    NOT NULL
) STRICT;

-- The shop's logo, uploaded from the dashboard (PNG, WebP or SVG). `hash` is
-- the content's SHA-256 prefix: it names the logo's URL, so a new logo gets a
-- new URL and browsers may cache each one for good.
CREATE TABLE shop_logo (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    content_type TEXT    NOT NULL CHECK (content_type IN ('image/png', 'image/webp', 'image/svg+xml')),
    data         BLOB    NOT NULL CHECK (length(data) <= 262144),
    hash         TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
) STRICT;

-- The assistant's tone and the shop's instructions shape shared answers just
-- as the FAQ does, so saving settings makes cached answers stale too.
CREATE TRIGGER shop_settings_version_insert AFTER INSERT ON shop_settings BEGIN
    UPDATE content_version SET faq = faq + 1 WHERE id = 1;
END;

CREATE TRIGGER shop_settings_version_update AFTER UPDATE ON shop_settings BEGIN
    UPDATE content_version SET faq = faq + 1 WHERE id = 1;
END;
