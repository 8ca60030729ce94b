"""The case record: what the ledger, proof and the dashboard read a case through.

    projection.py  fold a case's events into its CaseView (view.py, steps.py, sevenhaves.py)
    tables.py      the read model's tables (case_summary, ledger_rows): written here only
    queries.py     their read API (summary, summaries, stats, the 台账 rows)
    history.py     replay one case, as of any time, hash chain checked (chain.py),
                   actors resolved against the directory as it was (describe.py: plain words)
    render.py      a history as text / JSON / HTML (templates/history.html)
    access.py      who may replay a case or export a unit's ledger (services/cases/access.py
                   rules, applied to those reads)
    audit.py       the access audit (access_audit): every replay, export and bundle
No service of its own: the ledger (its worker, rebuild, API and CLI) runs it; proof's
bundles and the leaders' dashboard build on it too, so none of them imports another.
"""
