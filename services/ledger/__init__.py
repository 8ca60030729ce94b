"""The ledger: the read side of shouwen.case-events.

    worker.py      faust consumer: batches of events ─▶ projection.py ─▶ tables.py
                   (case_summary, ledger_rows; stats are views over case_summary)
    rebuild.py     ``shouwen rebuild [--from-store]``: the same projection from scratch
    history.py     replay one case, as of any time, hash chain checked (chain.py),
                   actors resolved against the directory as it was (describe.py: plain words)
    app.py         FastAPI on port 8001: /v1/cases/{id}/history, /v1/ledger/export, /metrics
    export.py      the 台账 as CSV / XLSX;  render.py  a history as text / JSON / HTML
    queries.py     the read API other services use (accountability, dashboards, proofs)
    cli.py         ``shouwen rebuild``, ``shouwen replay``, ``shouwen ledger``
Every replay and export writes an access_audit row (append-only): who looked at whose data.
"""
