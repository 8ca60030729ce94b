"""``shouwen``: the one operator command.

    up          start everything (broker, PostgreSQL, migrations, topics, every service)
    migrate     apply the database migrations (safe to re-run)
    topics      create the Kafka topics
    relay       publish committed events to Kafka, in commit order, without gaps
    routing     run the routing worker (classify, refer, suggest, escalate received cases);
                routing examples list|approve|reject, routing report
    republish   re-publish a range of the store to Kafka
    verify      check the per-stream and global hash chains; name the first bad event
    schemas     regenerate the JSON Schema files of the event contract
    directory   load / show the directory of units, staff and the matter catalogue
    calendar    load / assign / show the working-day calendars (official schedules)
    intake      serve the intake API and the staff console
    token       issue a development access token for a staff member
    ledger      serve the ledger API; ledger-worker, rebuild, replay (services/ledger/cli.py)
    dashboard   the metrics exporter and the leaders' dashboard
    deadline-watch  time limits: warnings, breaches, the ladder (--rebuild, policy FILE)
    checkpoint  sign Merkle checkpoints; bundle / verify-bundle / verify-checkpoint
    import      migrate a legacy 台账 (CSV/XLSX) of open and closed cases (services/importer)
    open311     API keys of Open311 client applications (keys add / list / revoke)

Bad input exits with status 2 and a message; a failed check exits with status 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import typer.core

from services.calendar.cli import calendar_app
from services.common.clitools import require_db as _require_db
from services.common.deadletter_cli import dead_letters_app
from services.common.logs import setup_logging as _setup_logging
from services.common.progress import progress
from services.common.settings import get_settings
from services.dashboard.cli import dashboard_app
from services.deadline_watch.cli import deadline_app
from services.proof.cli import register as register_proof

app = typer.Typer(
    help="Shouwen (首问): first-inquiry accountability — operator command.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, ...)
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"shouwen {version('shouwen')}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Shouwen (首问): first-inquiry accountability — operator command. Next to a running
    `shouwen up`, commands find its database and broker through SHOUWEN_DATA_DIR."""
    if ctx.invoked_subcommand != "up":
        from services.common.settings import Settings
        from services.stack import use_running_stack

        # a fresh read, not get_settings(): its cache would outlive this call in-process
        if use_running_stack(Settings()):
            get_settings.cache_clear()


def _require_kafka() -> str:
    servers = get_settings().kafka_bootstrap_servers
    if not servers:
        typer.echo("error: KAFKA_BOOTSTRAP_SERVERS is not set (shouwen up sets it for its "
                   "services; next to a running `shouwen up`, set SHOUWEN_DATA_DIR to its data "
                   "directory)", err=True)
        raise typer.Exit(2)
    return servers


@app.command()
def migrate(
    wait: bool = typer.Option(False, "--wait", help="Apply nothing: wait until every "
                              "migration this version ships is applied (a pod's init step)."),
    timeout: float = typer.Option(600.0, help="With --wait: give up after SECONDS.",
                                  metavar="SECONDS"),
) -> None:
    """Apply pending database migrations (numbered SQL files); safe to re-run."""
    from services.common.db import migrate as run_migrations
    from services.common.db import wait_for, wait_migrated

    url = _require_db()
    if wait:
        pending = wait_migrated(url, timeout)
        if pending:
            typer.echo(f"still pending after {timeout:g} s: {', '.join(pending)}", err=True)
            raise typer.Exit(1)
        typer.echo("schema current")
        return
    wait_for(url)
    applied = run_migrations(url)
    typer.echo(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )


@app.command()
def topics() -> None:
    """Create the Kafka topics (case events, dead letter) if they do not exist."""
    from services.common.bus import ensure_topics

    s = get_settings()
    ensure_topics(
        _require_kafka(),
        [s.case_events_topic, s.dead_letter_topic],
        s.topic_partitions,
        s.topic_replication_factor,
    )
    typer.echo(f"topics ready: {s.case_events_topic}, {s.dead_letter_topic}")


@app.command()
def relay(
    once: bool = typer.Option(False, help="Publish what is committed now, then exit."),
) -> None:
    """Publish every committed event to the case-events topic, keyed by case id, in commit
    order, never skipping one that committed out of sequence; resumes after a crash."""
    from services.relay.relay import run

    _require_db()
    _require_kafka()
    _setup_logging()
    run(get_settings(), once=once)


@app.command()
def republish(
    from_position: int = typer.Option(
        ..., "--from", help="First global position (commit seq) to re-publish."
    ),
    to_position: int | None = typer.Option(
        None, "--to", help="Last global position (default: all published)."
    ),
) -> None:
    """Re-publish a range of the store (by global position) to the case-events topic."""
    from services.relay.relay import republish as do_republish

    _require_db()
    _require_kafka()

    if from_position < 1:
        typer.echo("error: --from must be >= 1", err=True)
        raise typer.Exit(2)
    if to_position is not None and to_position < from_position:
        typer.echo("error: --to must be >= --from", err=True)
        raise typer.Exit(2)
    _setup_logging()
    from kafka.errors import KafkaError

    try:
        with progress("re-publishing", None if to_position is None
                      else to_position - from_position + 1) as advance:
            count = do_republish(get_settings(), from_position, to_position, progress=advance)
    except KafkaError as exc:
        typer.echo(f"error: the broker at {get_settings().kafka_bootstrap_servers} does not "
                   f"answer ({type(exc).__name__}); nothing was re-published", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"re-published {count} event(s)")


@app.command()
def verify(
    stream: str | None = typer.Option(None, "--stream", help="Check only this case's stream."),
) -> None:
    """Check every stream's hash chain and the global chain over commit order; name the
    first altered, removed or reordered event and exit 1 if there is one."""
    from events.envelope import SUBJECT_RE
    from services.common.integrity import verify_store

    if stream is not None and not SUBJECT_RE.match(stream):
        typer.echo(f"error: --stream {stream!r} is not a case id", err=True)
        raise typer.Exit(2)
    with progress("verifying") as advance:  # a bar on a terminal only
        report = verify_store(_require_db(), stream_id=stream, progress=advance)
    typer.echo(report.summary())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def schemas(
    check: bool = typer.Option(False, help="Exit 1 if the files are stale instead of writing."),
) -> None:
    """Write events/schemas/*.json (and the AsyncAPI document) from the payload models."""
    from events.export import write_schemas

    stale = write_schemas(check=check)
    if check and stale:
        typer.echo("stale: " + ", ".join(stale), err=True)
        raise typer.Exit(1)
    typer.echo("schemas up to date" if not stale else f"wrote {len(stale)} file(s)")


@app.command()
def up() -> None:
    """Start the whole suite in the foreground: broker (unless KAFKA_BOOTSTRAP_SERVERS),
    PostgreSQL (DATABASE_URL, else embedded with data in .data/), migrations, topics, and
    every service with prefixed logs. Ctrl-C stops them all."""
    from services.stack import run_stack

    raise typer.Exit(run_stack(get_settings()))


@app.command()
def intake(
    host: str | None = typer.Option(None, help="Address to listen on (default from settings)."),
    port: int | None = typer.Option(None, help="Port (default SHOUWEN_INTAKE_PORT, 8000)."),
    workers: int | None = typer.Option(
        None, min=1, max=64, help="uvicorn worker processes (default SHOUWEN_INTAKE_WORKERS, 1)."),
) -> None:
    """Serve the intake API (staff, citizens, Open311) and the staff console (/console)."""
    import uvicorn

    from services.common.auth import exit_unless_auth_configured
    from services.common.db import wait_for
    from services.common.logs import dict_config

    settings = get_settings()
    exit_unless_auth_configured(settings)
    wait_for(_require_db())
    uvicorn.run(
        "services.intake.main:app",
        host=host or settings.intake_host,
        port=port or settings.intake_port,
        workers=workers or settings.intake_workers,
        log_level=settings.log_level.lower(),
        log_config=dict_config(settings),
        proxy_headers=False,  # X-Forwarded-For: from SHOUWEN_TRUSTED_PROXIES only
    )


@app.command()
def token(
    staff: str = typer.Option(..., "--staff", help="Staff id from the directory in force."),
    ttl: int = typer.Option(8 * 3600, min=60, max=7 * 24 * 3600, help="Lifetime in seconds."),
) -> None:
    """Issue a development access token (RS256, signed with the local key) for a staff
    member; refused outside development, where the identity provider issues tokens."""
    import psycopg

    from events.envelope import SUBJECT_RE
    from services.common.auth import AuthError, issue_token
    from services.directory.store import current

    if not SUBJECT_RE.match(staff):
        typer.echo(f"error: --staff {staff!r} is not a staff id", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    if not settings.database_url:  # no directory to check the id against: no token
        typer.echo("error: no database to find the directory in: run it next to `shouwen up` "
                   "(the same SHOUWEN_DATA_DIR) or set DATABASE_URL", err=True)
        raise typer.Exit(2)
    with psycopg.connect(settings.database_url) as conn:
        loaded = current(conn)
    known = loaded is not None and any(
        s.id == staff for u in loaded[1].units for s in u.staff
    )
    if not known:
        typer.echo(f"error: staff {staff!r} is not in the directory in force", err=True)
        raise typer.Exit(2)
    try:
        typer.echo(issue_token(settings, staff, ttl=ttl))
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


directory_app = typer.Typer(
    help="The directory of units, sections, staff and the matter catalogue."
)
app.add_typer(directory_app, name="directory")

app.add_typer(calendar_app, name="calendar")
app.add_typer(dashboard_app, name="dashboard")
app.add_typer(deadline_app, name="deadline-watch")
app.add_typer(dead_letters_app, name="dead-letters")

dev_app = typer.Typer(help="Development dependencies, each alone in the foreground (what "
                      "`shouwen up` starts for itself), restarted if they die.")
app.add_typer(dev_app, name="dev")


def _run_dependency(dep: Any) -> None:
    from services.common.dependencies import run_alone
    from services.stack import stop_signals

    def say(text: str) -> None:
        typer.echo(f"{dep.name} | {text}")

    with stop_signals() as stop:
        run_alone(dep, say, stop.wait)


@dev_app.command("postgres")
def dev_postgres() -> None:
    """Embedded PostgreSQL with its data in $SHOUWEN_DATA_DIR/pg (as `shouwen up` runs it;
    pg_ctl refuses root, this does not): prints its DATABASE_URL, Ctrl-C stops it."""
    from services.common.dependencies import EmbeddedPostgres

    _run_dependency(EmbeddedPostgres(get_settings().data_dir / "pg"))


@dev_app.command("broker")
def dev_broker() -> None:
    """The development broker (Tansu, memory only) on 127.0.0.1:$SHOUWEN_BROKER_PORT:
    prints its KAFKA_BOOTSTRAP_SERVERS, Ctrl-C stops it."""
    from services.common.dependencies import EmbeddedBroker

    s = get_settings()
    _run_dependency(EmbeddedBroker(s.broker_port, s.data_dir / "broker.log"))
register_proof(app)  # checkpoint, bundle, verify-bundle, verify-checkpoint


@directory_app.command("load")
def directory_load(
    file: Path = typer.Argument(..., help="YAML file: units, sections, staff, matters."),
    actor: str = typer.Option("system:cli", help="Who is making the change, e.g. staff:A001."),
) -> None:
    """Validate FILE and put it in force. A bad file is refused with its line and reason,
    and the directory in force stays as it was. The change is recorded (who, what, when)."""
    from events.envelope import ACTOR_RE
    from services.directory.loader import DirectoryFileError, load_directory
    from services.directory.store import put_in_force

    if not ACTOR_RE.match(actor):
        typer.echo(f"error: --actor {actor!r} must look like staff:<id> or system:<name>", err=True)
        raise typer.Exit(2)
    try:
        directory = load_directory(file)
    except DirectoryFileError as exc:
        typer.echo(f"error: directory refused, the one in force is unchanged\n{exc}", err=True)
        raise typer.Exit(2) from None
    change = put_in_force(_require_db(), directory, actor=actor, source=str(file))
    if change is None:
        typer.echo("directory unchanged (identical to the one in force)")
        return
    parts = [
        f"{kind}: +{len(c.added)} -{len(c.removed)} ~{len(c.changed)}"
        for kind, c in (
            ("units", change.units),
            ("sections", change.sections),
            ("staff", change.staff),
            ("matters", change.matters),
            ("external bodies", change.external_bodies),
        )
    ]
    typer.echo(f"directory version {change.version} in force; " + "; ".join(parts))


from services.routing.cli import routing_app  # noqa: E402

# shouwen routing (the worker); routing examples list|approve|reject; routing report
app.add_typer(routing_app, name="routing")


from services.notification.cli import register_commands  # noqa: E402

register_commands(app)  # shouwen notification, shouwen mail-server

from services.ledger.cli import register as register_ledger  # noqa: E402

register_ledger(app)  # shouwen ledger, ledger-worker, rebuild, replay

from services.importer.cli import register as register_import  # noqa: E402

register_import(app)  # shouwen import FILE

from services.intake.open311_cli import open311_app  # noqa: E402

app.add_typer(open311_app, name="open311")  # shouwen open311 keys add/list/revoke

from services.cli_personal import register as register_personal  # noqa: E402

register_personal(app)  # shouwen erase, pii status, retention run|policy|hold|release



def _placeholder(self: Any) -> str:
    """An argument's placeholder: its metavar, else its name in capitals (CASE, FILE, UNIT:
    the convention of man pages and click), not typer's lower-case name."""
    return str(self.metavar) if self.metavar is not None else str(self.name).upper()


def _usage_name(self: Any) -> str:
    """The usage line's form of an argument as click writes it: CASE when required, [CASE]
    when not (typer 0.29 writes a required one as {case})."""
    name = _placeholder(self)
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


typer.core.TyperArgument.display_name_raw = property(_placeholder)  # type: ignore[assignment]
typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]

if __name__ == "__main__":
    app()
