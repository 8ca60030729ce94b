-- The ledger read side (services/ledger/): projections of shouwen.case-events, rebuildable
-- from the topic or the store with `shouwen rebuild`, and the append-only access audit.
--
--   case_summary   one row per case: who holds it, deadlines in force, flags, the "seven
--                  haves" (DOMAIN.md section 2) with the missing ones named. No personal data.
--   ledger_rows    the 台账: one row per case with the inquirer's personal data; read only
--                  by authorised readers of the case's unit (services/record/queries.py)
--   ledger_stats_unit / _section / _person   views: counts per unit, section, person
--   access_audit   who read whose history, exported which unit-period, bundled which case
--
-- Projection rows are derived facts (mutable, truncated by a rebuild); the audit is not.
-- Column names are a contract with the accountability and dashboard code: keep them.

-- Owner: services/record (tables.py writes it, run by the ledger's worker and rebuild; queries.py and, for the dashboard, board.py read it).
CREATE TABLE IF NOT EXISTS case_summary (
    case_id              text        PRIMARY KEY,
    unit_id              text        NOT NULL,
    receipt_number       text        NOT NULL,
    channel              text        NOT NULL,
    status               text        NOT NULL,
    first_responder_id   text        NOT NULL,
    first_responder_name text        NOT NULL,
    responsible_id       text        NOT NULL,  -- the first responder until a transfer
    responsible_name     text        NOT NULL,
    handler_id           text,                  -- who is handling it now
    handler_name         text,
    section_id           text,
    matter_type_code     text,
    matter_type_name     text,
    units                text[]      NOT NULL DEFAULT '{}',  -- every unit it has been in
    participants         text[]      NOT NULL DEFAULT '{}',  -- every staff member who held it
    escalated_to         text[]      NOT NULL DEFAULT '{}',
    awaiting_handoff_to  text,
    due_date             date,                  -- the accepted time limit (承诺时限), extended
    deadlines            jsonb       NOT NULL DEFAULT '{}',  -- obligation -> deadline in force
    next_due_at          timestamptz,           -- the earliest running deadline
    overdue              boolean     NOT NULL DEFAULT false, -- a breach not since met or moved
    escalated            boolean     NOT NULL DEFAULT false,
    on_time              boolean,               -- null: not answered yet
    rating               text,                  -- satisfaction level (rated.v2)
    complaint_count      integer     NOT NULL DEFAULT 0,
    seven_haves          jsonb       NOT NULL,  -- {"registration": true, "plan": false, ...}
    missing_haves        text[]      NOT NULL DEFAULT '{}',
    received_at          timestamptz NOT NULL,
    replied_at           timestamptz,
    completed_at         timestamptz,
    closed_at            timestamptz,
    version              integer     NOT NULL,  -- the last event of the stream applied
    updated_at           timestamptz NOT NULL   -- time of that event
);
CREATE INDEX IF NOT EXISTS case_summary_unit_idx ON case_summary (unit_id, received_at);
CREATE INDEX IF NOT EXISTS case_summary_section_idx ON case_summary (section_id);
CREATE INDEX IF NOT EXISTS case_summary_responsible_idx ON case_summary (responsible_id);
CREATE INDEX IF NOT EXISTS case_summary_units_idx ON case_summary USING gin (units);

-- Owner: services/record (tables.py, queries.py).
CREATE TABLE IF NOT EXISTS ledger_rows (
    case_id              text        PRIMARY KEY,
    unit_id              text        NOT NULL,
    receipt_number       text        NOT NULL,
    channel              text        NOT NULL,
    received_at          timestamptz NOT NULL,
    inquirer_name        text,                  -- personal data
    inquirer_address     text,                  -- personal data
    inquirer_work_unit   text,                  -- personal data
    inquirer_phone       text,                  -- personal data
    problem              text        NOT NULL,
    answer               text,                  -- the answer given (答复)
    referral             text,                  -- or where it was referred (指引办理)
    first_responder_name text        NOT NULL,
    handler_name         text,
    due_date             date,
    replied_at           timestamptz,
    completed_at         timestamptz,
    closed_at            timestamptz,
    outcome              text,
    summary              text,
    status               text        NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_rows_unit_idx ON ledger_rows (unit_id, received_at);

CREATE OR REPLACE VIEW ledger_stats_unit AS
SELECT unit_id,
       count(*)                                              AS received,
       count(*) FILTER (WHERE status <> 'closed')            AS open,
       count(*) FILTER (WHERE overdue)                       AS overdue,
       count(*) FILTER (WHERE on_time)                       AS on_time,
       count(*) FILTER (WHERE replied_at IS NOT NULL)        AS replied,
       count(*) FILTER (WHERE rating IN ('非常满意', '满意', '基本满意')) AS satisfied,
       count(*) FILTER (WHERE rating IN ('不满意', '非常不满意'))       AS dissatisfied,
       count(*) FILTER (WHERE rating IS NOT NULL)            AS rated,
       sum(complaint_count)                                  AS complaints
  FROM case_summary GROUP BY unit_id;

CREATE OR REPLACE VIEW ledger_stats_section AS
SELECT unit_id, section_id,
       count(*)                                              AS received,
       count(*) FILTER (WHERE status <> 'closed')            AS open,
       count(*) FILTER (WHERE overdue)                       AS overdue,
       count(*) FILTER (WHERE on_time)                       AS on_time,
       count(*) FILTER (WHERE replied_at IS NOT NULL)        AS replied,
       count(*) FILTER (WHERE rating IN ('非常满意', '满意', '基本满意')) AS satisfied,
       count(*) FILTER (WHERE rating IN ('不满意', '非常不满意'))       AS dissatisfied,
       count(*) FILTER (WHERE rating IS NOT NULL)            AS rated,
       sum(complaint_count)                                  AS complaints
  FROM case_summary WHERE section_id IS NOT NULL GROUP BY unit_id, section_id;

-- per person: the cases they are responsible for (first responder until a transfer)
CREATE OR REPLACE VIEW ledger_stats_person AS
SELECT responsible_id AS staff_id, max(responsible_name) AS name,
       count(*)                                              AS received,
       count(*) FILTER (WHERE status <> 'closed')            AS open,
       count(*) FILTER (WHERE overdue)                       AS overdue,
       count(*) FILTER (WHERE on_time)                       AS on_time,
       count(*) FILTER (WHERE replied_at IS NOT NULL)        AS replied,
       count(*) FILTER (WHERE rating IN ('非常满意', '满意', '基本满意')) AS satisfied,
       count(*) FILTER (WHERE rating IN ('不满意', '非常不满意'))       AS dissatisfied,
       count(*) FILTER (WHERE rating IS NOT NULL)            AS rated,
       sum(complaint_count)                                  AS complaints
  FROM case_summary GROUP BY responsible_id;

-- Who looked at whose data, and when. Append-only, like the event store.
-- Owner: services/record (audit.py).
CREATE TABLE IF NOT EXISTS access_audit (
    id            bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    reader        text        NOT NULL,      -- staff:<id> (API, or the CLI's --by)
    action        text        NOT NULL CHECK (action IN ('history', 'replay', 'export', 'bundle')),
    via           text        NOT NULL CHECK (via IN ('api', 'cli')),
    case_id       text,                      -- history, replay, bundle
    unit_id       text,                      -- export
    period_from   date,
    period_to     date,
    as_of         timestamptz,
    personal_data boolean     NOT NULL,      -- whether inquirers' data was shown unmasked
    format        text,
    rows          integer                    -- events shown, or ledger rows exported
);
CREATE INDEX IF NOT EXISTS access_audit_case_idx ON access_audit (case_id, at);
CREATE INDEX IF NOT EXISTS access_audit_reader_idx ON access_audit (reader, at);

CREATE OR REPLACE FUNCTION shouwen_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shouwen: % on % is refused: the access audit is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER IF EXISTS access_audit_append_only ON access_audit;
CREATE TRIGGER access_audit_append_only BEFORE UPDATE OR DELETE ON access_audit
    FOR EACH ROW EXECUTE FUNCTION shouwen_audit_refuse_change();
DROP TRIGGER IF EXISTS access_audit_no_truncate ON access_audit;
CREATE TRIGGER access_audit_no_truncate BEFORE TRUNCATE ON access_audit
    FOR EACH STATEMENT EXECUTE FUNCTION shouwen_audit_refuse_change();
