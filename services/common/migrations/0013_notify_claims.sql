-- Who claimed a 'sending' delivery record (services/notification/session.py): the id of a
-- sender that holds the session advisory lock (1313821769, id) for its lifetime. When no
-- session holds that lock any more (the worker was killed, its connection dropped), the
-- record is taken over at once; the lease (next_attempt_at) remains only for a sender that
-- is hung but still connected. NULL: claimed without an identity (lease only).
ALTER TABLE notification_deliveries ADD COLUMN IF NOT EXISTS claimed_by integer;

CREATE SEQUENCE IF NOT EXISTS notification_sender_ids AS integer CYCLE;

-- The few 'sending' records, looked through on every claim for orphans.
CREATE INDEX IF NOT EXISTS notification_sending_idx
    ON notification_deliveries (next_attempt_at) WHERE state = 'sending';
