-- unlistd schema for PostgreSQL, version 6: where each site's cycle
-- stands (as SQLite's version 10), so the daemon that takes a site over
-- continues its cycle.
CREATE TABLE site_cycle (
    site       TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    done       BIGINT NOT NULL DEFAULT 0
);
