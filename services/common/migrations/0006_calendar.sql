-- The working-day calendar (services/calendar). Both tables are append-only: a new load or
-- assignment is a new row, and the newest row is the one in force, so every change keeps
-- who made it, when, and what it replaced.

-- Every official schedule ever loaded; per (calendar_id, year) the highest load_id is in force.
-- Owner: services/calendar (store.py; read through CalendarCache).
CREATE TABLE IF NOT EXISTS calendar_schedules (
    load_id      bigserial   PRIMARY KEY,
    calendar_id  text        NOT NULL,
    year         integer     NOT NULL,
    country      text        NOT NULL,
    holidays     date[]      NOT NULL,
    make_up_days date[]      NOT NULL,
    document     jsonb       NOT NULL,
    loaded_by    text        NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    source       text        NOT NULL,
    sha256       text        NOT NULL
);
CREATE INDEX IF NOT EXISTS calendar_schedules_in_force
    ON calendar_schedules (calendar_id, year, load_id DESC);

-- Which calendar a unit uses; per unit the highest assignment_id is in force.
-- Owner: services/calendar (store.py).
CREATE TABLE IF NOT EXISTS unit_calendars (
    assignment_id bigserial   PRIMARY KEY,
    unit_id       text        NOT NULL,
    calendar_id   text        NOT NULL,
    assigned_by   text        NOT NULL,
    assigned_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS unit_calendars_in_force ON unit_calendars (unit_id, assignment_id DESC);
