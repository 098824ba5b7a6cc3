-- unlistd schema, detection: the cohort escalation queue, and an index for
-- finding an import's batch (the entries it added or changed share its
-- `updated_at`).

-- Entries pulled to the front of a site's queue after an exposure of
-- another entry of their cohort or import batch. A row goes when the entry
-- has been probed on that site. `cause` is "cohort:<tag>" or "batch:<ms>".
CREATE TABLE escalations (
    site     TEXT NOT NULL,
    entry_id INTEGER NOT NULL REFERENCES entries (id),
    cause    TEXT NOT NULL,
    sort_key INTEGER NOT NULL,
    since    INTEGER NOT NULL,
    PRIMARY KEY (site, entry_id)
);
CREATE INDEX escalations_order ON escalations (site, sort_key, entry_id);
CREATE INDEX escalations_cause ON escalations (site, cause);

-- When each cause was last queued on each site: a cause is queued at most
-- once per quiet period (the scheduler's `max_staleness`), so the
-- exposures an escalation itself finds do not queue the cohort again.
CREATE TABLE escalation_causes (
    site  TEXT NOT NULL,
    cause TEXT NOT NULL,
    at    INTEGER NOT NULL,
    PRIMARY KEY (site, cause)
);

CREATE INDEX entries_updated ON entries (updated_at);
