-- unlistd schema: the takedown loop. Each request for removal of an
-- incident's listing (from the directory, or at the source feed), with who
-- asked, how and under which ticket.
CREATE TABLE takedowns (
    id           INTEGER PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    via          TEXT NOT NULL,
    ticket       TEXT,
    actor        TEXT NOT NULL,
    requested_at INTEGER NOT NULL
);
CREATE INDEX takedowns_incident ON takedowns (incident_id, requested_at);

-- When `exposure.overdue` was raised for the incident (once: the listing
-- outlived the site's takedown_sla after the first request).
ALTER TABLE incidents ADD COLUMN overdue_at INTEGER;
