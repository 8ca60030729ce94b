-- deadline-watch (services/deadline_watch): one timer per (case, obligation, kind), derived
-- from the case's events; a timer loop claims the due ones with FOR UPDATE SKIP LOCKED.
-- kind: warn | breach | escalate-<n>. state: pending -> fired | skipped (no one holds the
-- ladder's rung) | cancelled (the obligation was met, moved or fell away).
-- Owner: services/deadline_watch (store.py).
CREATE TABLE IF NOT EXISTS deadline_timers (
    case_id           text        NOT NULL,
    obligation        text        NOT NULL,
    kind              text        NOT NULL,
    fire_at           timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    event_id          uuid        NOT NULL,  -- uuid5(case, obligation, kind, due): fires once
    state             text        NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'fired', 'skipped', 'cancelled')),
    responsible_id    text,
    working_days_left integer     NOT NULL DEFAULT 0,
    fired_at          timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, obligation, kind)
);
-- The loop's one query: the earliest pending timers. Only pending rows are in the index, so
-- a tick costs the same with 10k or 1M open timers.
CREATE INDEX IF NOT EXISTS deadline_timers_due ON deadline_timers (fire_at)
    WHERE state = 'pending';

-- Time-limit policy books (services/calendar/policy.py), append-only: the newest is
-- in force, every load keeps who made it and from what.
-- Owner: services/calendar (policy_store.py; policy.py): deadline-watch and accountability count by it.
CREATE TABLE IF NOT EXISTS deadline_policies (
    load_id   bigserial   PRIMARY KEY,
    book      jsonb       NOT NULL,
    loaded_by text        NOT NULL,
    source    text        NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
