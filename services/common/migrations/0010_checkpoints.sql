-- Merkle checkpoints over the store in commit order (services/proof/).
--
-- Leaf i (from 0) is the event at commit_log seq i + 1; its leaf input is the event's stored
-- hash (sha256(prev_hash || canonical bytes)); leaf hash = sha256(0x00 || event hash) as in
-- RFC 9162.
--
-- merkle_nodes   the hashes of the perfect, aligned subtrees of 2^level leaves (level >= 6;
--                the lower ones are rehashed from at most 63 leaves when a proof needs them),
--                written in the same transaction as the checkpoint that first covers them:
--                every node below the newest checkpoint's size is here, none beyond it.
--                A node never changes once its leaves are all in.
-- checkpoints    signed tree heads (C2SP signed-note text in `note`); each after the first
--                carries the consistency proof from its predecessor, verified when taken.

-- Owner: services/proof (tree_store.py).
CREATE TABLE IF NOT EXISTS merkle_nodes (
    level  smallint NOT NULL CHECK (level >= 0),
    idx    bigint   NOT NULL CHECK (idx >= 0),
    hash   bytea    NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Owner: services/proof (checkpointer.py).
CREATE TABLE IF NOT EXISTS checkpoints (
    tree_size          bigint      PRIMARY KEY CHECK (tree_size > 0),
    root_hash          bytea       NOT NULL,
    taken_at           timestamptz NOT NULL,
    origin             text        NOT NULL,
    key_id             bytea       NOT NULL,
    signature          bytea       NOT NULL,
    note               text        NOT NULL,
    prev_tree_size     bigint,
    consistency_proof  bytea[]     NOT NULL DEFAULT '{}'
);

DROP TRIGGER IF EXISTS checkpoints_append_only ON checkpoints;
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION shouwen_refuse_change();
DROP TRIGGER IF EXISTS checkpoints_no_truncate ON checkpoints;
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION shouwen_refuse_change();
DROP TRIGGER IF EXISTS merkle_nodes_append_only ON merkle_nodes;
CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH ROW EXECUTE FUNCTION shouwen_refuse_change();
DROP TRIGGER IF EXISTS merkle_nodes_no_truncate ON merkle_nodes;
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION shouwen_refuse_change();
