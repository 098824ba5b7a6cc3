-- unlistd schema, version 1.
--
-- Times are Unix milliseconds (INTEGER, UTC). Protected values (phone,
-- name, address) live only in `entries`; everything else refers to an
-- entry by its integer id.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

-- The roster. One row per `ref`, ever: an entry that leaves the roster is
-- deactivated (active = 0), not deleted, so its incidents and probes keep
-- pointing at it; a ref that comes back is re-activated with the same id.
CREATE TABLE entries (
    id           INTEGER PRIMARY KEY,
    ref          TEXT NOT NULL UNIQUE,
    phone        TEXT NOT NULL,          -- E.164
    phone_hmac   TEXT NOT NULL,          -- Pseudonymizer::number(phone)
    name         TEXT,
    street       TEXT,
    house_number TEXT,
    floor        TEXT,
    door         TEXT,
    postcode     TEXT,
    city         TEXT,
    hide_number  INTEGER NOT NULL CHECK (hide_number IN (0, 1)),
    hide_address INTEGER NOT NULL CHECK (hide_address IN (0, 1)),
    cohort       TEXT,
    active       INTEGER NOT NULL CHECK (active IN (0, 1)),
    added_at     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    removed_at   INTEGER
);
CREATE INDEX entries_phone_hmac ON entries (phone_hmac);
CREATE INDEX entries_active ON entries (active, added_at);
CREATE INDEX entries_cohort ON entries (cohort) WHERE cohort IS NOT NULL;

-- Per (site, entry): position in the site's current cycle and probe times.
CREATE TABLE probe_state (
    site               TEXT NOT NULL,
    entry_id           INTEGER NOT NULL REFERENCES entries (id),
    shuffle_key        INTEGER NOT NULL,
    last_probe_at      INTEGER,
    last_conclusive_at INTEGER,
    PRIMARY KEY (site, entry_id)
) WITHOUT ROWID;
CREATE INDEX probe_state_cycle ON probe_state (site, shuffle_key, entry_id);

-- Every probe ever made: the evidence.
CREATE TABLE probes (
    id          INTEGER PRIMARY KEY,
    entry_id    INTEGER NOT NULL REFERENCES entries (id),
    site        TEXT NOT NULL,
    time        INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('clean', 'exposed', 'inconclusive')),
    http_status INTEGER,
    page_sha256 TEXT,
    reason      TEXT,                    -- inconclusive: why
    url_masked  TEXT NOT NULL,
    why         TEXT,                    -- exposed: matched parts, comma-separated
    incident_id TEXT REFERENCES incidents (id)
);
CREATE INDEX probes_entry_time ON probes (entry_id, time);
CREATE INDEX probes_site_time ON probes (site, time);
CREATE INDEX probes_incident ON probes (incident_id) WHERE incident_id IS NOT NULL;

-- Running per-site probe counters, kept in step by record_probe.
CREATE TABLE site_stats (
    site              TEXT PRIMARY KEY NOT NULL,
    probes_total      INTEGER NOT NULL DEFAULT 0,
    probes_conclusive INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- One entry exposed on one site.
CREATE TABLE incidents (
    id                TEXT PRIMARY KEY NOT NULL,
    entry_id          INTEGER NOT NULL REFERENCES entries (id),
    site              TEXT NOT NULL,
    exposed           TEXT NOT NULL,     -- "number", "address" or "number,address"
    state             TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    first_seen        INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    resolved_at       INTEGER,
    consecutive_clean INTEGER NOT NULL DEFAULT 0,
    opened_probe      INTEGER REFERENCES probes (id)
);
-- At most one unresolved incident per (entry, site).
CREATE UNIQUE INDEX incidents_active ON incidents (entry_id, site) WHERE state != 'resolved';
CREATE INDEX incidents_first_seen ON incidents (first_seen, id);
CREATE INDEX incidents_entry ON incidents (entry_id);

-- Alert events (the outbox's business side).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    type        TEXT NOT NULL,
    site        TEXT NOT NULL,
    incident_id TEXT REFERENCES incidents (id),
    created_at  INTEGER NOT NULL
);

-- Formed alert messages: id and body never change after forming.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY NOT NULL,
    receiver        TEXT NOT NULL,
    type            TEXT NOT NULL,
    site            TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER
);
CREATE INDEX messages_queue ON messages (receiver, state, created_at);

-- One row per (event, receiver); message_id is set when the delivery is
-- formed into a message.
CREATE TABLE deliveries (
    id         INTEGER PRIMARY KEY,
    event_id   INTEGER NOT NULL REFERENCES events (id),
    receiver   TEXT NOT NULL,
    message_id TEXT REFERENCES messages (id)
);
CREATE INDEX deliveries_receiver ON deliveries (receiver, message_id);
CREATE INDEX deliveries_message ON deliveries (message_id) WHERE message_id IS NOT NULL;

-- Every delivery attempt of a message.
CREATE TABLE attempts (
    id         INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages (id),
    time       INTEGER NOT NULL,
    status     INTEGER,
    error      TEXT
);
CREATE INDEX attempts_message ON attempts (message_id, time);
