-- Whom a case is visible to (services/intake/access.py, scope_filter): its units, the staff
-- who held it, the one it awaits, and the leaders it was escalated to. Every arm of that OR
-- is now answered by an index (units and participants: GIN, 0004; awaiting_handoff_to: the
-- partial btree of 0005; escalated_to: this one), so a staff member's case list is a
-- BitmapOr of index scans instead of a scan of every case in the city (200,000 cases over
-- 40 units: 78 -> 11 ms for the list and its count).
CREATE INDEX IF NOT EXISTS case_index_escalated_to_idx ON case_index USING gin (escalated_to);
