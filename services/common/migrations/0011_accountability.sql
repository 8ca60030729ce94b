-- Accountability procedures and evaluation (services/accountability/).
--
-- accountability_procedures and accountability_findings are derived from the events on the
-- cases' streams and written in the same transaction as each step's event, like case_index:
-- rebuildable, mutable. assessment_scores is a fact of its own (the assessment group's
-- yearly score), insert-only: the latest row of a subject and year counts.

-- Owner: services/accountability (store.py).
CREATE TABLE IF NOT EXISTS accountability_procedures (
    procedure_id      text        PRIMARY KEY,
    case_id           text        NOT NULL,
    stage             text        NOT NULL,
    against_staff_ids text[]      NOT NULL DEFAULT '{}',
    against_unit_id   text,
    complaint_event_id text,
    due_date          date,
    opened_at         timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS accountability_procedures_case_idx
    ON accountability_procedures (case_id);
CREATE INDEX IF NOT EXISTS accountability_procedures_open_idx
    ON accountability_procedures (due_date) WHERE stage <> 'closed';

-- One row per person found responsible in a decision still in force (a review that revokes
-- it removes the rows; one that varies it replaces them): what the repeat count counts.
-- Owner: services/accountability (store.py).
CREATE TABLE IF NOT EXISTS accountability_findings (
    procedure_id     text        NOT NULL,
    staff_id         text        NOT NULL,
    case_id          text        NOT NULL,
    kind             text        NOT NULL,
    sanction         text        NOT NULL,
    violation_number integer     NOT NULL,
    decided_at       timestamptz NOT NULL,
    PRIMARY KEY (procedure_id, staff_id)
);
CREATE INDEX IF NOT EXISTS accountability_findings_staff_idx
    ON accountability_findings (staff_id);

-- Owner: services/accountability (store.py).
CREATE TABLE IF NOT EXISTS assessment_scores (
    id           bigserial    PRIMARY KEY,
    subject_kind text         NOT NULL CHECK (subject_kind IN ('staff', 'unit')),
    subject_id   text         NOT NULL,
    year         integer      NOT NULL,
    score        numeric(5,2) NOT NULL CHECK (score >= 0 AND score <= 100),
    note         text,
    assessed_by  text         NOT NULL,
    recorded_at  timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS assessment_scores_subject_idx
    ON assessment_scores (subject_kind, subject_id, year, id DESC);

-- The evaluation reads the year's cases of a person or unit from case_index.
CREATE INDEX IF NOT EXISTS case_index_responsible_opened_idx
    ON case_index (responsible_id, opened_at);
CREATE INDEX IF NOT EXISTS case_index_unit_opened_idx ON case_index (unit_id, opened_at);

-- One procedure per complaint, even when two supervisors open it at the same moment.
CREATE UNIQUE INDEX IF NOT EXISTS accountability_procedures_complaint_idx
    ON accountability_procedures (complaint_event_id) WHERE complaint_event_id IS NOT NULL;
