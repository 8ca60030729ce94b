"""The ledger's commands, added to ``shouwen`` by ``register(app)``:

    shouwen ledger [--host H] [--port P]          serve the ledger API (port 8001)
    shouwen ledger-worker [--batch-size N]        run the projection consumer (faust)
    shouwen rebuild [--from-store]                the projection from scratch, from the
                                                  topic or from the event store
    shouwen replay CASE [--as-of TIME] [--format text|json|html] [--by STAFF]
        CASE is a case id or a receipt number. Without --by the inquirer's data is masked
        and the operator's login name is recorded; with --by the staff member's scope
        (as on the API) decides what is shown. Either way the replay is in access_audit.

Bad input exits with status 2 and a message; a broken hash chain exits with status 1.
"""

from __future__ import annotations

import getpass
from datetime import datetime

import psycopg
import typer


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _db() -> str:
    from services.common.settings import get_settings

    url = get_settings().database_url
    if not url:
        raise _fail("DATABASE_URL is not set (shouwen up sets it for its services)")
    return url


def ledger(host: str | None = typer.Option(None, help="Address (default 127.0.0.1)."),
           port: int | None = typer.Option(None, help="Port (default SHOUWEN_LEDGER_PORT, "
                                                      "8001).")) -> None:
    """Serve the ledger API: case history replay and the 台账 export."""
    import uvicorn

    from services.common.auth import exit_unless_auth_configured
    from services.common.db import wait_for
    from services.common.ledger_settings import LedgerSettings
    from services.common.settings import get_settings

    exit_unless_auth_configured(get_settings())
    wait_for(_db())
    own = LedgerSettings()
    from services.common.logs import dict_config

    # services/apps.py: the ledger's app with the dashboard mounted (a layer above both)
    uvicorn.run("services.apps:ledger", factory=True, host=host or own.host,
                port=port or own.port, log_level=get_settings().log_level.lower(),
                proxy_headers=False,  # XFF: trusted proxies only
                log_config=dict_config(get_settings()))


def ledger_worker(batch_size: int = typer.Option(500, min=1, help="Messages per "
                                                 "transaction.")) -> None:
    """Run the ledger's projection consumer on the case-events topic."""
    from services.ledger.worker import main

    raise typer.Exit(main(["--batch-size", str(batch_size)]))


def rebuild(from_store: bool = typer.Option(False, "--from-store", help="Read the event "
            "store instead of the topic (e.g. after the development broker restarted).")
            ) -> None:
    """Rebuild the ledger's projection from scratch (the access audit is kept)."""
    from services.common.settings import get_settings
    from services.ledger.rebuild import rebuild_from_store, rebuild_from_topic

    url, settings = _db(), get_settings()
    from services.common.progress import progress

    if from_store:
        with progress("rebuilding") as advance:  # a bar on a terminal only
            report = rebuild_from_store(url, progress=advance)
    else:
        if not settings.kafka_bootstrap_servers:
            raise _fail("KAFKA_BOOTSTRAP_SERVERS is not set (or use --from-store)")
        try:
            with progress("rebuilding") as advance:
                report = rebuild_from_topic(url, settings.kafka_bootstrap_servers,
                                            settings.case_events_topic, progress=advance)
        except ValueError as exc:  # no such topic
            raise _fail(str(exc)) from None
        except RuntimeError as exc:  # the topic stopped short of its end offsets
            raise _fail(str(exc), 1) from None
    typer.echo(report.summary())


def replay(
    case: str = typer.Argument(..., help="Case id or receipt number."),
    as_of: str | None = typer.Option(None, "--as-of", help="ISO time with offset, e.g. "
                                     "2026-11-02T09:00:00+08:00: the case as it was then."),
    fmt: str = typer.Option("text", "--format", help="text, json or html."),
    by: str | None = typer.Option(None, "--by", help="Staff id reading it (required to see "
                                  "the inquirer's personal data)."),
) -> None:
    """Replay a case's chain of custody, verifying its hash chain."""
    from services.directory.index import DirectoryIndex
    from services.directory.store import current
    from services.record.access import case_access
    from services.record.audit import record_access
    from services.record.history import case_history, read_case
    from services.record.render import FORMATS, render

    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    when = _when(as_of)
    with psycopg.connect(_db()) as conn:
        case_id = _case_id(conn, case)
        read = read_case(conn, case_id)
        personal, reader = False, f"cli:{getpass.getuser()}"
        if by is not None:
            loaded = current(conn)
            index = DirectoryIndex(loaded[1], loaded[0]) if loaded else None
            person = index.person(by) if index else None
            if person is None or index is None:
                raise _fail(f"--by {by!r} is not a staff member of the directory in force")
            sees, personal = case_access(person, index, case_id, [r.event for r in read[0]])
            if not sees:
                raise _fail(f"case {case!r} not found within the scope of staff {by}")
            reader = f"staff:{by}"
        found = case_history(conn, case_id, when, personal, read=read)
        if found is None:
            raise _fail(f"case {case!r} not found")
        record_access(conn, reader=reader, action="replay", via="cli", case_id=case_id,
                      as_of=when, personal_data=personal, format=fmt, rows=len(found.steps))
        conn.commit()
    typer.echo(render(found, fmt), nl=False)
    if not found.verification.ok:
        raise typer.Exit(1)


def _when(as_of: str | None) -> datetime | None:
    if as_of is None:
        return None
    try:
        when = datetime.fromisoformat(as_of)
    except ValueError:
        raise _fail(f"--as-of {as_of!r} is not an ISO time") from None
    if when.tzinfo is None:
        raise _fail("--as-of needs an offset, e.g. 2026-11-02T09:00:00+08:00")
    if not 2000 <= when.year <= 2100:  # as the API: the audit log must stay readable
        raise _fail(f"--as-of {as_of!r}: give a time between 2000 and 2100")
    return when


def _case_id(conn: psycopg.Connection, case: str) -> str:
    from services.cases.index import case_of_receipt

    return case_of_receipt(conn, case) or case


def register(app: typer.Typer) -> None:
    app.command("ledger")(ledger)
    app.command("ledger-worker")(ledger_worker)
    app.command("rebuild")(rebuild)
    app.command("replay")(replay)
