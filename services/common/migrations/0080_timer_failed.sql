-- deadline-watch poison isolation (services/deadline_watch/watch.py): a timer whose case
-- cannot be re-planned or fired (the fold or the calendar raises for that one case) is set
-- aside as `failed` with the reason, instead of failing the whole tick for every case.
-- It stays out of the due index (pending only); `shouwen deadline-watch failed` lists them,
-- `--retry` puts them back to pending.
ALTER TABLE deadline_timers DROP CONSTRAINT IF EXISTS deadline_timers_state_check;
ALTER TABLE deadline_timers ADD CONSTRAINT deadline_timers_state_check
    CHECK (state IN ('pending', 'fired', 'skipped', 'cancelled', 'failed'));
ALTER TABLE deadline_timers ADD COLUMN IF NOT EXISTS failure text;
