-- unlistd schema, version 10: where each site's cycle stands, so that the
-- daemon that takes a site over (another daemon on a shared PostgreSQL
-- store, or this one after a restart) continues the cycle instead of
-- starting a fresh one. The position itself is derived from the probes:
-- the first entry in cycle order not probed since `started_at`.
CREATE TABLE site_cycle (
    site       TEXT PRIMARY KEY NOT NULL,
    started_at INTEGER NOT NULL,          -- Unix ms, when the cycle was shuffled
    done       INTEGER NOT NULL DEFAULT 0 -- 1 once every entry of it was probed
) WITHOUT ROWID;
