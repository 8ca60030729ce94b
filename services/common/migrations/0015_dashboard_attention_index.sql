-- The dashboard's "needing attention" list (services/record/board.py, _ATTENTION): open
-- cases overdue or escalated, oldest due date first, the first 50. Walking the open cases in
-- that order stops at the 50th match, where a scan of every case ranked them all (measured
-- over 200,000 cases: 43 ms -> 0.4 ms). Overdue depends on today, so it cannot be the index's
-- predicate; open is enough, and the overdue cases come first in due-date order anyway.
CREATE INDEX IF NOT EXISTS case_summary_attention_idx
    ON case_summary (due_date, received_at) WHERE status <> 'closed';
