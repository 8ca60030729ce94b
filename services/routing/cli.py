"""``shouwen routing``: the worker, and what people made of its results.

    shouwen routing [--batch-size N]                     run the routing worker (faust)
    shouwen routing examples list [--status S]           proposed (or approved, rejected, all)
    shouwen routing examples approve ID --by STAFF       an admin: the classifier uses it
    shouwen routing examples reject ID --by STAFF [--note TEXT]
    shouwen routing report [--since DATE] [--by matter|unit]
                                                         cases, unclear and corrected rates
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import typer

from services.common.settings import get_settings
from services.directory.index import DirectoryIndex
from services.directory.store import current
from services.routing import learning

routing_app = typer.Typer(help="Routing: the worker, example phrasings to review, the report.")
examples_app = typer.Typer(help="Example phrasings proposed from people's matter choices.")
routing_app.add_typer(examples_app, name="examples")


def _db() -> str:
    url = get_settings().database_url
    if not url:
        typer.echo("error: DATABASE_URL is not set (shouwen up sets it for its services)",
                   err=True)
        raise typer.Exit(2)
    return url


@routing_app.callback(invoke_without_command=True)
def routing(
    ctx: typer.Context,
    batch_size: int = typer.Option(1000, min=1, help="Messages per transaction (1: one each)."),
) -> None:
    """Run the routing worker (faust): classify each received case against the matter
    catalogue and refer it to a handler, suggest the top 3 when unsure, or escalate it
    when nothing fits (请示领导)."""
    if ctx.invoked_subcommand is not None:
        return
    from services.routing.worker import main as run_routing

    _db()
    if not get_settings().kafka_bootstrap_servers:
        typer.echo("error: KAFKA_BOOTSTRAP_SERVERS is not set", err=True)
        raise typer.Exit(2)
    raise typer.Exit(run_routing(["--batch-size", str(batch_size)]))


@examples_app.command("list")
def list_examples(
    status: str = typer.Option("proposed", help="proposed | approved | rejected | all"),
    limit: int = typer.Option(100, min=1, max=10_000),
) -> None:
    """The example phrasings with the given status, oldest first."""
    if status not in ("proposed", "approved", "rejected", "all"):
        typer.echo("error: --status is proposed, approved, rejected or all", err=True)
        raise typer.Exit(2)
    with psycopg.connect(_db()) as conn:
        rows = learning.examples(conn, None if status == "all" else status, limit)
    if not rows:
        typer.echo(f"no {status} example phrasings")
    for e in rows:
        decided = f"  {e.status} by {e.decided_by}" if e.decided_by else ""
        typer.echo(f"{e.id}\t{e.matter_type_code}\t{e.phrase}\t(case {e.case_id},"
                   f" {e.proposed_by}){decided}")


def _decide(example_id: int, by: str, approve: bool, note: str | None) -> None:
    with psycopg.connect(_db()) as conn:
        version, directory = current(conn) or (0, None)
        if directory is None:
            typer.echo("error: no directory is in force", err=True)
            raise typer.Exit(1)
        try:
            e = learning.decide(conn, DirectoryIndex(directory, version), example_id, by,
                                approve, note)
        except (learning.NotAReviewer, learning.NoSuchProposal) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"{e.id} {e.status}: {e.matter_type_code} «{e.phrase}»"
               + (" (the routing worker uses it within 30 s)" if approve else ""))


@examples_app.command("approve")
def approve(example_id: int = typer.Argument(..., metavar="ID"),
            by: str = typer.Option(..., "--by", help="the admin's staff id")) -> None:
    """Approve a proposed phrasing: the classifier reads it beside the catalogue's examples."""
    _decide(example_id, by, True, None)


@examples_app.command("reject")
def reject(example_id: int = typer.Argument(..., metavar="ID"),
           by: str = typer.Option(..., "--by", help="the admin's staff id"),
           note: str | None = typer.Option(None, help="why")) -> None:
    """Reject a proposed phrasing: it never reaches the classifier."""
    _decide(example_id, by, False, note)


@routing_app.command("report")
def report(
    since: str | None = typer.Option(None, help="only cases routed since this date (YYYY-MM-DD)"),
    by: str = typer.Option("matter", help="matter (and its unit) | unit"),
) -> None:
    """Cases routed, unclear (suggested or escalated) and corrected, with rates."""
    if by not in ("matter", "unit"):
        typer.echo("error: --by is matter or unit", err=True)
        raise typer.Exit(2)
    try:
        start = (datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
                 if since else None)
    except ValueError:
        typer.echo(f"error: --since {since!r} is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None
    with psycopg.connect(_db()) as conn:
        rows = learning.report(conn, start, by)
    total = sum(r.cases for r in rows)
    fixed = sum(r.corrected for r in rows)
    head = "matter\tunit\t" if by == "matter" else "unit\t"
    typer.echo(f"{head}cases\tunclear\tunclear%\tcorrected\tcorrected%")
    for r in rows:
        key = f"{r.matter_type_code or '—'}\t" if by == "matter" else ""
        typer.echo(f"{key}{r.handling_unit_id or '—'}\t{r.cases}\t{r.unclear}\t"
                   f"{r.unclear_rate:.0%}\t{r.corrected}\t{r.corrected_rate:.0%}")
    proxy = 1 - fixed / total if total else 1.0
    typer.echo(f"total {total} cases; accuracy proxy (never corrected) {proxy:.1%}")
