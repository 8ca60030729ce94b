-- Routing's read model of its own results and what people made of them (services/routing/
-- learning.py): one row per routed case, written in routing's inbox transaction; the routing
-- report and the exporter's accuracy proxy group it by matter and unit.
-- Owner: services/routing (learning.py); the exporter's own SQL reads it (not yet through it).
CREATE TABLE IF NOT EXISTS routing_outcomes (
    case_id           text PRIMARY KEY,
    routed_at         timestamptz NOT NULL DEFAULT now(),
    outcome           text NOT NULL CHECK (outcome IN ('classified', 'suggested', 'escalated')),
    routed_matter     text,          -- classified: the matter; suggested: the best suggestion
    confidence        real NOT NULL DEFAULT 0,
    matter_type_code  text,          -- the matter in force: routing's, or the last person's
    handling_unit_id  text,          -- its unit, or its external body
    picks             integer NOT NULL DEFAULT 0,     -- matter_chosen events
    corrected         boolean NOT NULL DEFAULT false  -- a person changed or overrode routing
);
CREATE INDEX IF NOT EXISTS routing_outcomes_routed_at_idx ON routing_outcomes (routed_at);

-- Example phrasings proposed from people's choices (catalogues that opt in), reviewed by an
-- admin; the approved ones are read by the classifier beside the catalogue's own examples.
-- Owner: services/routing (learning.py).
CREATE TABLE IF NOT EXISTS routing_examples (
    id                bigserial PRIMARY KEY,
    matter_type_code  text NOT NULL,
    phrase            text NOT NULL,
    case_id           text NOT NULL,
    event_id          uuid NOT NULL UNIQUE,   -- the matter_chosen event it came from
    proposed_by       text NOT NULL,          -- that event's actor
    proposed_at       timestamptz NOT NULL DEFAULT now(),
    status            text NOT NULL DEFAULT 'proposed'
                      CHECK (status IN ('proposed', 'approved', 'rejected')),
    decided_by        text,
    decided_at        timestamptz,
    note              text,
    UNIQUE (matter_type_code, phrase)
);
CREATE INDEX IF NOT EXISTS routing_examples_status_idx ON routing_examples (status, id);
