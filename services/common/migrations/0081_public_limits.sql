-- Public (no login) endpoints, shared by every intake replica (services/intake/ratelimit.py):
-- the sliding-window rate limit's hits per client key, and the per-receipt lockout after
-- repeated wrong access codes. Counters, not facts: rows are deleted as they age out.
-- Owner: services/intake (ratelimit.py).
CREATE TABLE IF NOT EXISTS public_hits (
    key text        NOT NULL,  -- scope|client address
    at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS public_hits_key_at ON public_hits (key, at);

-- Owner: services/intake (ratelimit.py).
CREATE TABLE IF NOT EXISTS receipt_lockouts (
    receipt_number text        PRIMARY KEY,  -- as typed (existing or not: no oracle)
    failures       integer     NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
