-- Personal data under PIPL (services/common/pii.py, services/personal/): each inquirer's data
-- key, wrapped by the key-encryption key; erasing them destroys the key (crypto-shredding),
-- so the events sealed with it stay in the hash-chained store, unreadable.
-- Owners: pii_keys, pii_cases, pii_cutover: services/common (pii.py); pii_unit_policy,
-- pii_holds: services/personal.
--   pii_keys      ref (the inquirer's reference and the key id in every token), blind index
--                 (HMAC of ID number / phone / e-mail, NULL once erased), the wrapped key
--                 (NULL once destroyed), who erased it, when and why
--   pii_cases     which inquirer a case belongs to
--   pii_cutover   the events.position before which personal fields were stored in plain text
--   pii_unit_policy  per unit: erase personal data N years after a case closed (retention),
--                 and the roles whose ledger exports show phones and ID numbers unmasked
--   pii_holds     legal holds: a case under accountability or in dispute is never erased
-- Owner: services/common (pii.py).
CREATE TABLE IF NOT EXISTS pii_keys (
    ref          text        PRIMARY KEY,
    blind_index  bytea,
    wrapped      bytea,
    kek_id       text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    erased_by    text,
    erase_reason text,
    CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS pii_keys_blind_idx ON pii_keys (blind_index)
    WHERE blind_index IS NOT NULL;

-- Owner: services/common (pii.py).
CREATE TABLE IF NOT EXISTS pii_cases (
    case_id      text PRIMARY KEY,
    inquirer_ref text NOT NULL REFERENCES pii_keys (ref)
);
CREATE INDEX IF NOT EXISTS pii_cases_ref_idx ON pii_cases (inquirer_ref);

-- Owner: services/common (pii.py).
CREATE TABLE IF NOT EXISTS pii_cutover (
    id        integer     PRIMARY KEY CHECK (id = 1),
    position  bigint      NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    kek_id    text        NOT NULL
);

-- Owner: services/personal (policy.py).
CREATE TABLE IF NOT EXISTS pii_unit_policy (
    unit_id      text        PRIMARY KEY,
    years        integer     CHECK (years BETWEEN 1 AND 100),  -- NULL: kept
    full_export  text[]      NOT NULL DEFAULT '{}',  -- roles that export unmasked
    set_by       text        NOT NULL,
    set_at       timestamptz NOT NULL DEFAULT now()
);

-- Owner: services/personal (erase.py, retention.py).
CREATE TABLE IF NOT EXISTS pii_holds (
    case_id     text        NOT NULL,
    reason      text        NOT NULL,
    placed_by   text        NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz,
    released_by text
);
CREATE INDEX IF NOT EXISTS pii_holds_case_idx ON pii_holds (case_id) WHERE released_at IS NULL;

ALTER TABLE access_audit DROP CONSTRAINT IF EXISTS access_audit_action_check;
ALTER TABLE access_audit ADD CONSTRAINT access_audit_action_check
    CHECK (action IN ('history', 'replay', 'export', 'bundle', 'erase', 'copy', 'retention'));
ALTER TABLE access_audit DROP CONSTRAINT IF EXISTS access_audit_via_check;
ALTER TABLE access_audit ADD CONSTRAINT access_audit_via_check
    CHECK (via IN ('api', 'cli', 'job'));
