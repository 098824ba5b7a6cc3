-- unlistd schema, version 4: people in the loop (ack, dismiss, silences),
-- reminders, routed events with payloads, receiver health.

-- When the incident was last announced (opened or reminded); NULL while
-- its opening was silenced, so the first unsilenced reminder announces it.
ALTER TABLE incidents ADD COLUMN last_notified_at INTEGER;
UPDATE incidents SET last_notified_at = first_seen;
ALTER TABLE incidents ADD COLUMN acknowledged_at INTEGER;
CREATE INDEX incidents_reminders ON incidents (state, last_notified_at) WHERE state = 'open';

-- Event payload (digest figures, receiver failure details) and the silence
-- that held it back, if any (then it has no deliveries).
ALTER TABLE events ADD COLUMN payload TEXT;
ALTER TABLE events ADD COLUMN silenced_by TEXT;

-- Every analyst action on an incident, with who and when.
CREATE TABLE incident_actions (
    id          INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    action      TEXT NOT NULL CHECK (action IN ('ack', 'dismiss', 'undismiss')),
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    time        INTEGER NOT NULL
);
CREATE INDEX incident_actions_incident ON incident_actions (incident_id, time);

-- The listings each exposed probe matched, as keyed fingerprints (never
-- the listing text): what a dismissal refers to.
CREATE TABLE probe_listings (
    probe_id    INTEGER NOT NULL REFERENCES probes (id),
    listing_key TEXT NOT NULL,
    PRIMARY KEY (probe_id, listing_key)
) WITHOUT ROWID;

-- A listing marked a false positive for one entry on one site. Revoked
-- dismissals stay as history.
CREATE TABLE dismissals (
    id            INTEGER PRIMARY KEY,
    entry_id      INTEGER NOT NULL REFERENCES entries (id),
    site          TEXT NOT NULL,
    listing_key   TEXT NOT NULL,
    incident_id   TEXT NOT NULL REFERENCES incidents (id),
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX dismissals_active ON dismissals (entry_id, site) WHERE revoked_at IS NULL;

CREATE TABLE silences (
    id          TEXT PRIMARY KEY NOT NULL,
    site        TEXT,
    event_type  TEXT,
    cohort      TEXT,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
);

-- Per receiver: failing since when, and whether the others were told.
CREATE TABLE receiver_state (
    receiver      TEXT PRIMARY KEY NOT NULL,
    failing_since INTEGER,
    error         TEXT
) WITHOUT ROWID;
