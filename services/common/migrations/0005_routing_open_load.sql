-- Routing's "fewest open cases" look-up (services/cases/index.py open_load, for routing's OpenCounts): a case is
-- someone's open work while it is handled by them (handler_id, covered by
-- case_index_handler_idx) or while it waits for them to accept a handoff (this index).
-- Without it, every look-up scanned the whole case index.
CREATE INDEX IF NOT EXISTS case_index_handoff_idx
    ON case_index (awaiting_handoff_to, status) WHERE awaiting_handoff_to IS NOT NULL;
