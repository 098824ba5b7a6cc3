-- unlistd schema, version 7 (after 0009_takedowns, which shipped sixth):
-- custody of the roster. An incident of an
-- erased entry ends `withdrawn` (at `withdrawn_at`): it no longer counts as
-- open, stops reminders, and no longer blocks a new incident should the
-- ref come back on the roster.
--
-- Runs with foreign_keys OFF (sqlite::open) and is followed by a foreign
-- key check, because `incidents` is rebuilt (SQLite cannot change a CHECK;
-- the tables that refer to it keep referring to the same ids).

CREATE TABLE incidents_new (
    id                TEXT PRIMARY KEY NOT NULL,
    entry_id          INTEGER NOT NULL REFERENCES entries (id),
    site              TEXT NOT NULL,
    exposed           TEXT NOT NULL,
    state             TEXT NOT NULL
        CHECK (state IN ('open', 'acknowledged', 'resolved', 'withdrawn')),
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    resolved_at       INTEGER,
    consecutive_clean INTEGER NOT NULL DEFAULT 0,
    opened_probe      INTEGER REFERENCES probes (id),
    last_notified_at  INTEGER,
    acknowledged_at   INTEGER,
    withdrawn_at      INTEGER,
    overdue_at        INTEGER,
    CHECK ((state = 'withdrawn') = (withdrawn_at IS NOT NULL))
);
INSERT INTO incidents_new (id, entry_id, site, exposed, state, first_seen, last_seen,
    resolved_at, consecutive_clean, opened_probe, last_notified_at, acknowledged_at, overdue_at)
SELECT id, entry_id, site, exposed, state, first_seen, last_seen,
    resolved_at, consecutive_clean, opened_probe, last_notified_at, acknowledged_at, overdue_at
FROM incidents;
DROP TABLE incidents;
ALTER TABLE incidents_new RENAME TO incidents;
-- At most one incident still open (or acknowledged) per (entry, site).
CREATE UNIQUE INDEX incidents_active ON incidents (entry_id, site)
    WHERE state IN ('open', 'acknowledged');
CREATE INDEX incidents_first_seen ON incidents (first_seen, id);
CREATE INDEX incidents_entry ON incidents (entry_id);
CREATE INDEX incidents_reminders ON incidents (state, last_notified_at) WHERE state = 'open';
