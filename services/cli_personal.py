"""Personal-data commands, added to ``shouwen`` by ``register(app)`` (composition, above the
services: an erasure here scrubs the ledger's and notification's rows in its own transaction,
services/personal/erase.py):

    shouwen erase --inquirer REF --by STAFF --reason TEXT
        REF: an inquirer ref (inq-...) or a receipt number of one of their cases. STAFF must
        be a centre admin, admin or supervisor in the directory in force. Exit 0 erased (or
        erased before), 1 refused (legal hold), 2 bad input.
    shouwen pii status          encryption on/off, the cut-over position, keys and erasures
    shouwen retention run [--every S]   erase what the units' retention policies say is due
    shouwen retention policy UNIT --years N [--full-export ROLE ...] --by STAFF
    shouwen retention hold CASE --reason TEXT --by STAFF  /  release CASE --by STAFF
"""

from __future__ import annotations

import time

import typer
from psycopg_pool import ConnectionPool

from services.directory.model import Role
from services.personal.erase import ERASERS, Scrub

pii_app = typer.Typer(help="Personal data: encryption status and the cut-over.",
                      no_args_is_help=True)
retention_app = typer.Typer(help="Retention of personal data: policies, legal holds, the "
                                 "job.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def scrubbers() -> list[Scrub]:
    """The projections' owners' scrubs, run in the erasure's transaction."""
    from services.notification.store import scrub_erased_events
    from services.record.tables import apply_events

    return [apply_events, scrub_erased_events]


def _pool() -> ConnectionPool:
    from services.common.settings import get_settings

    url = get_settings().database_url
    if not url:
        raise _fail("DATABASE_URL is not set (shouwen up sets it for its services)")
    return ConnectionPool(url, min_size=1, max_size=2, open=True)


def staff_actor(pool: ConnectionPool, staff_id: str, roles: frozenset[Role] = ERASERS) -> str:
    """``staff:<id>`` of a directory member holding one of ``roles``, else exit 2."""
    from services.directory.index import DirectoryIndex
    from services.directory.store import current

    with pool.connection() as conn:
        found = current(conn)
    person = DirectoryIndex(found[1], found[0]).person(staff_id) if found else None
    if person is None:
        raise _fail(f"--by {staff_id}: not a staff member in the directory in force")
    if not any(person.has(r) for r in roles):
        raise _fail(f"--by {staff_id}: needs one of the roles "
                    + ", ".join(sorted(r.value for r in roles)))
    return f"staff:{staff_id}"


def erase(inquirer: str = typer.Option(..., help="Inquirer ref (inq-...) or a receipt "
                                                 "number."),
          by: str = typer.Option(..., help="Staff id of who erases (centre admin, admin, "
                                           "supervisor)."),
          reason: str = typer.Option(..., help="Why (recorded with the erasure).")) -> None:
    """Erase an inquirer's personal data: destroy their data key (crypto-shredding)."""
    from services.personal.erase import ErasureRefused, UnknownInquirer, erase_inquirer

    if not reason.strip():
        raise _fail("--reason must not be empty")
    with _pool() as pool:
        actor = staff_actor(pool, by)
        try:
            report = erase_inquirer(pool, inquirer, by=actor, reason=reason.strip(),
                                    scrub=scrubbers())
        except UnknownInquirer as exc:
            raise _fail(str(exc)) from None
        except ErasureRefused as exc:
            raise _fail(str(exc), 1) from None
    typer.echo(report.summary())


@pii_app.command("status")
def status() -> None:
    """Whether this environment seals personal fields, the cut-over, keys and erasures."""
    from services.common.pii import personal_data

    with _pool() as pool, pool.connection() as conn:
        cut = conn.execute("SELECT position, at, kek_id FROM pii_cutover").fetchone()
        keys, erased = conn.execute(
            "SELECT count(*), count(erased_at) FROM pii_keys").fetchone() or (0, 0)
    pd = personal_data()
    on = pd.enabled or cut is not None  # once cut over, every writer seals
    typer.echo(f"encryption: {'on' if on else 'off'}"
               + (f" (kek {pd.kek.kek_id})" if pd.kek is not None else " (no KEK here)"))
    if cut is None:
        typer.echo("cut-over: none yet (every personal field stored so far is plain text)")
    else:
        since = cut[1].isoformat(timespec="seconds")
        typer.echo(f"cut-over: events after position {cut[0]} are sealed (since {since},"
                   f" kek {cut[2]}); events at or before it are plain text")
    typer.echo(f"inquirer keys: {keys}, erased: {erased}")


@retention_app.command("run")
def retention_run(every: float = typer.Option(0.0, help="Seconds between runs (0: once)."),
                  by: str = typer.Option("system:retention", help="Actor recorded."),
                  metrics_port: int = typer.Option(0, help="Serve the job's metrics (and the "
                                                           "decryptor's) here; 0: not served.")
                  ) -> None:
    """Erase the inquirers whose cases are all past their unit's retention period."""
    from prometheus_client import REGISTRY

    from services.common.metrics import serve_metrics
    from services.common.pii import register_pii_metrics
    from services.personal.retention import retention_metrics, run_retention

    if metrics_port:
        retention_metrics(REGISTRY)
        register_pii_metrics(REGISTRY)
        serve_metrics(metrics_port, REGISTRY, "--metrics-port")
    with _pool() as pool:
        while True:
            report = run_retention(pool, actor=by, scrub=scrubbers())
            typer.echo(report.summary())
            if every <= 0:
                return
            time.sleep(every)


@retention_app.command("policy")
def retention_policy(unit: str, years: int = typer.Option(..., min=1, max=100),
                     full_export: list[str] = typer.Option([], help="A role whose ledger "
                                                          "exports are unmasked (repeat)."),
                     by: str = typer.Option(...)) -> None:
    """Set a unit's retention period and full-export roles."""
    from services.personal.retention import set_policy

    roles = {r.value for r in Role}
    bad = [r for r in full_export if r not in roles]
    if bad:
        raise _fail(f"unknown role(s) {', '.join(bad)}; one of {', '.join(sorted(roles))}")
    with _pool() as pool:
        actor = staff_actor(pool, by)
        with pool.connection() as conn:
            set_policy(conn, unit, years, full_export, actor)
    typer.echo(f"{unit}: personal data erased {years} year(s) after closing; full export: "
               + (", ".join(full_export) or "nobody"))


@retention_app.command("hold")
def retention_hold(case: str, reason: str = typer.Option(...), by: str = typer.Option(...)) -> None:
    """Place a legal hold on a case: its inquirer's data is not erased while it lasts."""
    from services.personal.retention import place_hold

    with _pool() as pool:
        actor = staff_actor(pool, by)
        with pool.connection() as conn:
            place_hold(conn, case, reason, actor)
    typer.echo(f"{case}: held")


@retention_app.command("release")
def retention_release(case: str, by: str = typer.Option(...)) -> None:
    """Release a case's legal holds."""
    from services.personal.retention import release_holds

    with _pool() as pool:
        actor = staff_actor(pool, by)
        with pool.connection() as conn:
            n = release_holds(conn, case, actor)
    typer.echo(f"{case}: {n} hold(s) released")


def register(app: typer.Typer) -> None:
    app.command()(erase)
    app.add_typer(pii_app, name="pii")
    app.add_typer(retention_app, name="retention")
