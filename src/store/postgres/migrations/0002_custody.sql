-- unlistd schema, version 2: custody of the roster. An incident of an
-- erased entry ends `withdrawn` (at `withdrawn_at`): it no longer counts as
-- open, stops reminders, and no longer blocks a new incident should the
-- ref come back on the roster.

ALTER TABLE incidents ADD COLUMN withdrawn_at BIGINT;
ALTER TABLE incidents DROP CONSTRAINT incidents_state_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_state_check
    CHECK (state IN ('open', 'acknowledged', 'resolved', 'withdrawn'));
ALTER TABLE incidents ADD CONSTRAINT incidents_withdrawn_check
    CHECK ((state = 'withdrawn') = (withdrawn_at IS NOT NULL));
-- At most one incident still open (or acknowledged) per (entry, site).
DROP INDEX incidents_active;
CREATE UNIQUE INDEX incidents_active ON incidents (entry_id, site)
    WHERE state IN ('open', 'acknowledged');
