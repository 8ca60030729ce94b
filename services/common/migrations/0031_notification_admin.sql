-- An operator's handle on delivery records (`shouwen notification deliveries --stuck`,
-- `retry ID`, `cancel ID --reason`, services/notification/admin.py): a short numeric id,
-- and a state 'cancelled' (who and why in cancelled_by / last_error), never sent again.
-- Owner: services/notification (store.py, admin.py).
ALTER TABLE notification_deliveries ADD COLUMN IF NOT EXISTS id bigserial;
CREATE UNIQUE INDEX IF NOT EXISTS notification_deliveries_id_idx ON notification_deliveries (id);
ALTER TABLE notification_deliveries ADD COLUMN IF NOT EXISTS cancelled_by text;
ALTER TABLE notification_deliveries DROP CONSTRAINT IF EXISTS notification_deliveries_state_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_state_check
    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'cancelled'));
