-- unlistd schema for PostgreSQL, version 3: what every process that uses
-- this store shares (as SQLite's version 7). A site's politeness budget
-- and leases.

-- Times here are Unix MICROseconds (turns at high rates need them).
CREATE TABLE site_budget (
    site              TEXT PRIMARY KEY,
    next_at           BIGINT NOT NULL DEFAULT 0,
    gate_until        BIGINT NOT NULL DEFAULT 0,
    crawl_delay       BIGINT NOT NULL DEFAULT 0,
    crawl_delay_until BIGINT NOT NULL DEFAULT 0
);

-- A lease: `holder` has `name` until `expires` (Unix ms), unless it renews.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    since   BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
