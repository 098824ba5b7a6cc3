-- Per-site health as the canaries see it. One row per configured site
-- name; a row for a site no longer configured is harmless history.
CREATE TABLE site_state (
    site            TEXT PRIMARY KEY NOT NULL,
    degraded        INTEGER NOT NULL DEFAULT 0,
    since           INTEGER NOT NULL,
    reason          TEXT,
    last_canary_at  INTEGER,
    last_canary_ok  INTEGER
);
