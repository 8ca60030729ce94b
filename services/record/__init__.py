"""The case record: what the ledger, proof and the dashboard read a case through.

    projection.py  fold a case's events into its CaseView (view.py, steps.py, sevenhaves.py)
    history.py     replay one case, as of any time, hash chain checked (chain.py),
                   actors resolved against the directory as it was (describe.py: plain words)
    render.py      a history as text / JSON / HTML (templates/history.html)
    access.py      who may replay a case or export a unit's ledger (services/cases/access.py
                   rules, applied to those reads)
    audit.py       the access audit (access_audit): every replay, export and bundle
No service of its own: the ledger (its worker, API and CLI), proof's bundles and the
leaders' dashboard all build on it, so none of them imports another.
"""
