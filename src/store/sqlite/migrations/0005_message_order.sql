-- unlistd schema, version 5: messages get an explicit insertion order `n`
-- (delivery is FIFO per receiver, ties on created_at broken by n), so no
-- query needs SQLite's rowid and PostgreSQL can run the same SQL.
--
-- Runs with foreign_keys OFF (sqlite::open) and is followed by a foreign
-- key check, because `messages` is rebuilt (`deliveries` and `attempts`
-- refer to its id, which stays unique).

CREATE TABLE messages_new (
    n               INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
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
INSERT INTO messages_new (n, id, receiver, type, site, body, created_at, state, attempts,
    next_attempt_at, last_status, last_error, delivered_at)
SELECT rowid, id, receiver, type, site, body, created_at, state, attempts,
    next_attempt_at, last_status, last_error, delivered_at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE INDEX messages_queue ON messages (receiver, state, created_at);
