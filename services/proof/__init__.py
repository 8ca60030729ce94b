"""Proof: Merkle checkpoints over the event store, and dispute bundles checked offline.

    merkle.py       RFC 9162 tree hashing, inclusion and consistency proofs (pure)
    note.py         signed checkpoints: C2SP signed-note text, Ed25519 (pure)
    verify.py       a bundle checked with nothing but itself and the public key (pure)
    tree_store.py   the tree over commit_log, its perfect subtrees kept in merkle_nodes
    checkpointer.py take / publish / run: `shouwen checkpoint [--every S]`
    consistency.py  `shouwen verify-checkpoint OLD`: the store against a kept checkpoint
    bundle.py       `shouwen bundle CASE --by STAFF`: events, proofs, history, audit, zip
    history.py      the history (the ledger's replay) and the proof page (HTML)
    pdf.py          the history for print
    settings.py     key path, origin, where notes are published
    cli.py          the commands, registered on `shouwen`
"""
