-- unlistd schema, version 3: the tamper-evident trail, kept evidence, and
-- erasable roster data.
--
-- Runs with foreign_keys OFF (db::open) and is followed by a foreign key
-- check, because `entries` is rebuilt (SQLite cannot drop NOT NULL).

-- The hash chain (see src/audit.rs for the construction). Appended in the
-- same transaction as the change each record describes; never updated.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,     -- 1, 2, 3, … without gaps
    time      INTEGER NOT NULL,        -- Unix ms of the change
    kind      TEXT NOT NULL,
    ref_id    TEXT NOT NULL,
    payload   TEXT NOT NULL,           -- canonical JSON, no roster PII
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_ref ON audit (kind, ref_id);

-- Size of the decoded body of the deciding page (hash and size are kept
-- for every probe; the body itself only as evidence below).
ALTER TABLE probes ADD COLUMN page_size INTEGER;

-- Response bodies kept as evidence: exposed probes, and clean probes of an
-- incident while it is open (those that do not end up closing it are
-- purged when a new exposure resets the count). A purge keeps the row
-- (sha256, size, purged_at) and drops the body, and is itself an audit
-- record, so a body that vanished without one is detected.
CREATE TABLE evidence (
    probe_id  INTEGER PRIMARY KEY REFERENCES probes (id),
    body_gz   BLOB,                    -- gzip of the body; NULL once purged
    sha256    TEXT NOT NULL,           -- of the uncompressed body
    size      INTEGER NOT NULL,        -- uncompressed bytes
    purged_at INTEGER,
    CHECK ((body_gz IS NULL) = (purged_at IS NOT NULL))
);
CREATE INDEX evidence_live ON evidence (probe_id) WHERE body_gz IS NOT NULL;

-- Entries: `phone` becomes nullable so that the right to be forgotten can
-- erase name, number and address of entries that left the roster (after
-- [store] roster_retention) while `ref` and `phone_hmac` stay for the
-- incidents that refer to them.
CREATE TABLE entries_new (
    id           INTEGER PRIMARY KEY,
    ref          TEXT NOT NULL UNIQUE,
    phone        TEXT,                   -- E.164; NULL once erased
    phone_hmac   TEXT NOT NULL,
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
    removed_at   INTEGER,
    erased_at    INTEGER,
    CHECK (erased_at IS NULL OR active = 0),
    CHECK (phone IS NOT NULL OR erased_at IS NOT NULL)
);
INSERT INTO entries_new (id, ref, phone, phone_hmac, name, street, house_number, floor, door,
    postcode, city, hide_number, hide_address, cohort, active, added_at, updated_at, removed_at)
SELECT id, ref, phone, phone_hmac, name, street, house_number, floor, door,
    postcode, city, hide_number, hide_address, cohort, active, added_at, updated_at, removed_at
FROM entries;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;
CREATE INDEX entries_phone_hmac ON entries (phone_hmac);
CREATE INDEX entries_active ON entries (active, added_at);
CREATE INDEX entries_cohort ON entries (cohort) WHERE cohort IS NOT NULL;
CREATE INDEX entries_erasable ON entries (removed_at) WHERE active = 0 AND erased_at IS NULL;
