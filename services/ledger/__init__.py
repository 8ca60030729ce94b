"""The ledger: the read side of shouwen.case-events.

    worker.py      faust consumer: batches of events ─▶ services/record/projection.py ─▶
                   services/record/tables.py (case_summary, ledger_rows; stats are views)
    rebuild.py     ``shouwen rebuild [--from-store]``: the same projection from scratch
    app.py         FastAPI on port 8001: /v1/cases/{id}/history, /v1/ledger/export, /metrics
                   (the history replay, its rendering and the access rules are in
                   services/record, shared with proof and the dashboard)
    export.py      the 台账 as CSV / XLSX
    (services/record/queries.py: the read API of those tables)
    cli.py         ``shouwen rebuild``, ``shouwen replay``, ``shouwen ledger``
Every replay and export writes an access_audit row (append-only, services/record/audit.py):
who looked at whose data.
"""
