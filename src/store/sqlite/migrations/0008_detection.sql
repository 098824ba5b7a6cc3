-- unlistd schema, detection: the cohort escalation queue, and an index for
-- finding an import's batch (the entries it added or changed share its
-- `updated_at`).

-- Entries pulled to the front of a site's queue after an exposure of
-- another entry of their cohort or import batch. A row goes when the entry
-- has been probed on that site; `cause` ("cohort:<tag>", "batch:<ms>")
-- keeps one cause from being queued again while it is still pending.
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

CREATE INDEX entries_updated ON entries (updated_at);
