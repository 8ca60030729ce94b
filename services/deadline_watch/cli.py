"""``shouwen deadline-watch``: run the service, rebuild its timers, load the policy book.

    shouwen deadline-watch                 consumer + timer loop + metrics (port 9103)
    shouwen deadline-watch --rebuild       recompute every case's timers from the store, exit
    shouwen deadline-watch policy FILE     put a policy book (YAML, see policy.py) in force
    shouwen deadline-watch failed [--retry] [--case ID]   timers set aside (poisoned case)

Bad input exits with status 2 and a message naming the field, and writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import typer

from services.common.clitools import require_db as _db
from services.common.settings import get_settings

deadline_app = typer.Typer(help="Time limits: warnings, breaches, the escalation ladder.")


@deadline_app.callback(invoke_without_command=True)
def deadline_watch(
    ctx: typer.Context,
    rebuild: bool = typer.Option(False, "--rebuild",
                                 help="Recompute every case's timers from its events, then exit."),
) -> None:
    """Run deadline-watch: timers from case events, warnings, breaches, the ladder."""
    if ctx.invoked_subcommand is not None:
        return

    from services.deadline_watch import service

    settings = get_settings()
    url = _db()
    from services.common.logs import configure

    configure(settings)
    if rebuild:
        watch, pool = service.build(url)
        with pool:
            cases = service.rebuild(watch)
        typer.echo(f"rebuilt the timers of {cases} case(s)")
        return
    if not settings.kafka_bootstrap_servers:
        typer.echo("error: KAFKA_BOOTSTRAP_SERVERS is not set", err=True)
        raise typer.Exit(2)
    service.run(settings)


@deadline_app.command("policy")
def policy(
    file: Path = typer.Argument(..., help="YAML: default and per-unit time limits."),
    actor: str = typer.Option("system:cli", help="Who is making the change, e.g. staff:A001."),
) -> None:
    """Put a time-limit policy book in force (presets from DOMAIN.md section 4)."""
    import psycopg

    from services.calendar.policy import PolicyError, load_policy_yaml
    from services.calendar.policy_store import save_policy

    try:
        book = load_policy_yaml(file.read_text(encoding="utf-8"))
    except OSError as exc:
        typer.echo(f"error: {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except PolicyError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    with psycopg.connect(_db(), autocommit=True) as conn:
        load_id = save_policy(conn, book, actor, str(file))
    typer.echo(f"policy book {load_id} in force: default and {len(book.units)} unit(s)")


@deadline_app.command("failed")
def failed(
    retry: bool = typer.Option(False, "--retry",
                               help="Put the failed timers back to pending: the next tick "
                                    "tries them again."),
    case: str | None = typer.Option(None, "--case", help="Only this case's timers."),
) -> None:
    """List the timers set aside as failed (their case raised), or retry them."""
    import psycopg

    from services.deadline_watch.store import failed_timers, retry_failed

    with psycopg.connect(_db(), autocommit=True) as conn:
        if retry:
            typer.echo(f"{retry_failed(conn, case)} failed timer(s) back to pending")
            return
        rows = [r for r in failed_timers(conn) if case is None or r[0] == case]
    if not rows:
        typer.echo("no failed timers")
        return
    for case_id, obligation, kind, fire_at, failed_at, why in rows:
        typer.echo(f"{case_id}\t{obligation}\t{kind}\tdue {fire_at.isoformat()}\t"
                   f"failed {failed_at.isoformat() if failed_at else '-'}\t{why}")
