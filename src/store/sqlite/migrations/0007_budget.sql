-- unlistd schema, version 7: what every process that uses this store
-- shares. A site's politeness budget (turns claimed by whichever process
-- asks the site next, its Retry-After gate, its robots.txt Crawl-delay),
-- and leases (who delivers a receiver's alerts now, until when).

-- Times here are Unix MICROseconds: turns at rates of hundreds a second
-- need finer steps than milliseconds.
CREATE TABLE site_budget (
    site              TEXT PRIMARY KEY NOT NULL,
    next_at           INTEGER NOT NULL DEFAULT 0,  -- the first turn nobody holds
    gate_until        INTEGER NOT NULL DEFAULT 0,  -- Retry-After / backoff: nothing before
    crawl_delay       INTEGER NOT NULL DEFAULT 0,  -- robots.txt Crawl-delay (0: none)
    crawl_delay_until INTEGER NOT NULL DEFAULT 0   -- the delay holds until then
) WITHOUT ROWID;

-- A lease: `holder` has `name` until `expires` (Unix ms), unless it renews.
CREATE TABLE leases (
    name    TEXT PRIMARY KEY NOT NULL,
    holder  TEXT NOT NULL,
    since   INTEGER NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;
