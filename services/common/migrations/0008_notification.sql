-- The notification service (services/notification/): one delivery record per
-- (source event, recipient, channel), written pending in the same transaction as the
-- consumer's inbox row; the sender claims due records, marks them 'sending' and commits
-- BEFORE it sends, then marks them 'sent' with the NotificationSent event. A record still
-- 'sending' when its lease (next_attempt_at) ends was being sent when its sender died.
-- Owner: services/notification (store.py, session.py, progress.py).
CREATE TABLE IF NOT EXISTS notification_deliveries (
    source_event_id  uuid        NOT NULL,
    recipient        text        NOT NULL,  -- 'inquirer' | 'staff:<id>' | 'leader:<id>'
    channel          text        NOT NULL CHECK (channel IN ('email', 'sms', 'webhook', 'in_app')),
    case_id          text        NOT NULL,
    correlation_id   uuid,                  -- the case's received event
    recipient_kind   text        NOT NULL,
    recipient_id     text,
    template         text        NOT NULL,
    language         text        NOT NULL,
    context          jsonb       NOT NULL,
    address          text,                  -- the inquirer's; staff: filled in when sent
    state            text        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),  -- 'sending': the lease's end
    claimed_at       timestamptz,
    -- per message, committed asynchronously around the send itself: a crash leaves at most
    -- ONE record started and not delivered (the truly uncertain one); delivered ones are
    -- never sent again
    started_at       timestamptz,
    delivered_at     timestamptz,
    uncertain        boolean     NOT NULL DEFAULT false,
    provider_id      text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    PRIMARY KEY (source_event_id, recipient, channel)
);
CREATE INDEX IF NOT EXISTS notification_due_idx
    ON notification_deliveries (next_attempt_at) WHERE state IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS notification_recipient_rate_idx
    ON notification_deliveries (channel, address, claimed_at) WHERE address IS NOT NULL;

-- Sends started per channel and city day: the daily cap (SMS costs money).
-- Owner: services/notification (store.py).
CREATE TABLE IF NOT EXISTS notification_daily_usage (
    day      date    NOT NULL,
    channel  text    NOT NULL,
    sends    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, channel)
);

-- Staff members' in-app inbox (read in the console); one row per delivery record.
-- Owner: services/inapp (staff_inbox.py): notification puts, intake's console reads and marks.
CREATE TABLE IF NOT EXISTS staff_inbox (
    id               bigserial   PRIMARY KEY,
    staff_id         text        NOT NULL,
    source_event_id  uuid        NOT NULL,
    recipient        text        NOT NULL,
    case_id          text        NOT NULL,
    subject          text        NOT NULL,
    body             text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    read_at          timestamptz,
    UNIQUE (source_event_id, recipient)
);
CREATE INDEX IF NOT EXISTS staff_inbox_unread_idx ON staff_inbox (staff_id, created_at)
    WHERE read_at IS NULL;
