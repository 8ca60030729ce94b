"""The ledger application: ``create_app(settings)``; ``shouwen ledger`` serves it (port 8001).

    GET /v1/cases/{case_id}/history[?as_of=&format=json|html]   the chain of custody
    GET /v1/ledger/export?unit=&from=&to=&format=csv|xlsx       the 台账 of a unit, a period
    /dashboard...    the leaders' dashboard, mounted beside it by services/apps.py
    /healthz, /readyz, /metrics

Staff authenticate as on intake (bearer JWT, services/web/deps.py); the directory in
force says what they may read (access.py). A case outside the caller's scope is 404, as
on intake. Every answer that shows a case's history or a ledger is recorded in
access_audit in the same transaction as its read, before anything is sent: no audit row,
no data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import Counter, Histogram
from psycopg_pool import ConnectionPool

from events.envelope import SUBJECT_RE
from services.cases.repository import CaseRepository
from services.common.guard import harden
from services.common.health import add_health_routes
from services.common.metrics import instrument_http
from services.common.openapi import operation_id, tidy
from services.common.outage import add_outage_handlers, pool_options
from services.common.problems import responses
from services.common.settings import Settings
from services.directory.index import DirectoryCache
from services.ledger.export import MEDIA_TYPES, export
from services.personal.policy import export_masking
from services.record.access import case_access, export_access
from services.record.audit import record_access
from services.record.history import case_history, read_case
from services.record.models import CaseHistory
from services.record.queries import ledger
from services.record.render import render
from services.web.deps import DirectoryDep, StaffDep, Wiring

READS = Counter("shouwen_ledger_reads_total", "Histories and ledgers shown, by kind",
                ["action", "format"])
REPLAY_SECONDS = Histogram("shouwen_ledger_replay_seconds", "Time to replay one case",
                           buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))
MAX_PERIOD_DAYS = 366
# A period lies within the store's lifetime: no case is older than the first day, and the
# last one leaves room for a period running into next year (year 9999 once made a 500).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)

CaseId = Annotated[str, Path(pattern=SUBJECT_RE.pattern, max_length=128)]
UnitId = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$", max_length=64)]


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert settings.database_url, "DATABASE_URL is required"
        pool = ConnectionPool(settings.database_url, min_size=1, max_size=8, open=True,
                              **pool_options(settings, application_name="shouwen-ledger"))
        app.state.wiring = Wiring(settings, pool, DirectoryCache(pool), CaseRepository(pool))
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="Shouwen ledger", version="1.0.0", lifespan=lifespan,
                  description="首问 ledger: case history replay and the 台账 export.",
                  generate_unique_id_function=operation_id)
    harden(app, settings)  # problem documents, and the input guard in front of every route
    tidy(app)  # component names without module paths (after harden's document)
    add_outage_handlers(app, settings)  # the database away: 503 + Retry-After, at once
    instrument_http(app, "ledger")

    @app.get("/v1/cases/{case_id}/history", response_model=CaseHistory, tags=["history"],
             responses={**responses(401, 403, 404, 422, 503),
                        200: {"content": {"text/html": {"schema": {"type": "string"}}},
                              "description": "The replayed history (JSON, or HTML with"
                                             " format=html)"}})
    def history(request: Request, case_id: CaseId, person: StaffDep, directory: DirectoryDep,
                as_of: datetime | None = None,
                format: Literal["json", "html"] = "json") -> Response:
        if as_of is not None and as_of.tzinfo is None:
            raise HTTPException(422, "as_of: give a time with its offset, e.g."
                                     " 2026-11-02T09:00:00+08:00")
        if as_of is not None and not FIRST_DAY.year <= as_of.year <= LAST_DAY.year:
            # year 1 at +14:00 is a time before year 1 in UTC: unreadable in the audit log
            raise HTTPException(422, f"as_of: a time between {FIRST_DAY.year} and"
                                     f" {LAST_DAY.year}")
        pool: ConnectionPool = request.app.state.wiring.pool
        with REPLAY_SECONDS.time(), pool.connection() as conn, conn.transaction():
            read = read_case(conn, case_id)
            sees, personal = case_access(person, directory, case_id,
                                         [r.event for r in read[0]])
            found = case_history(conn, case_id, as_of, personal, read=read) if sees else None
            if found is None:
                raise HTTPException(404, "case not found")
            record_access(conn, reader=f"staff:{person.staff.id}", action="history", via="api",
                          case_id=case_id, as_of=as_of, personal_data=personal,
                          format=format, rows=len(found.steps))
        READS.labels("history", format).inc()
        if format == "html":
            return HTMLResponse(render(found, "html"))
        return Response(found.model_dump_json(), media_type="application/json")

    @app.get("/v1/ledger/export", tags=["ledger"], response_class=Response,
             responses={**responses(401, 403, 422, 503),
                        200: {"description": "The 台账 as a file (attachment), CSV or XLSX",
                              "content": {media: {"schema": {"type": "string",
                                                             "format": "binary"}}
                                          for media in sorted({m.split(";")[0]
                                                               for m in MEDIA_TYPES.values()})
                                          }}})
    def export_ledger(request: Request, person: StaffDep, directory: DirectoryDep,
                      unit: UnitId, from_: Annotated[date, Query(alias="from", ge=FIRST_DAY,
                                                                 le=LAST_DAY)],
                      to: Annotated[date, Query(ge=FIRST_DAY, le=LAST_DAY)],
                      format: Literal["csv", "xlsx"] = "csv") -> Response:
        if unit not in directory.units:
            raise HTTPException(422, f"unit: no unit {unit!r} in the directory in force")
        if to < from_:
            raise HTTPException(422, "to: the period ends before it begins (from)")
        if (to - from_).days >= MAX_PERIOD_DAYS:
            raise HTTPException(422, f"to: a period is at most {MAX_PERIOD_DAYS} days")
        may, personal = export_access(person, directory, unit)
        if not may:
            raise HTTPException(403, f"staff {person.staff.id} may not export the ledger of"
                                     f" unit {unit}")
        pool: ConnectionPool = request.app.state.wiring.pool
        with pool.connection() as conn, conn.transaction():
            rows = ledger(conn, unit, from_, to + timedelta(days=1))
            mask = export_masking(conn, person, unit) if personal else frozenset()
            record_access(conn, reader=f"staff:{person.staff.id}", action="export", via="api",
                          unit_id=unit, period_from=from_, period_to=to,
                          personal_data=personal and not mask, format=format, rows=len(rows))
        READS.labels("export", format).inc()
        name = f"ledger-{unit}-{from_.isoformat()}-{to.isoformat()}.{format}"
        return Response(export(rows, format, personal, mask=mask), media_type=MEDIA_TYPES[format],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    add_health_routes(app)

    return app
