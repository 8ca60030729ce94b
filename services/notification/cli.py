"""The notification service's commands, registered on ``shouwen`` by one line in services/cli.py.

    shouwen notification            run the worker (consumer + sender loop)
    shouwen notification deliveries [--stuck]     delivery records, newest first
    shouwen notification retry ID                 send it again (attempts from 0)
    shouwen notification cancel ID --reason TEXT  never send it; who and why kept
    shouwen mail-server [--dir D]   the development SMTP server and SMS gateway
"""

from __future__ import annotations

from pathlib import Path

import typer

from services.common.clitools import require_db as _db

notification_app = typer.Typer(help="Messages to inquirers, staff and leaders; the "
                                "delivery records an operator looks after.")


def notification(ctx: typer.Context) -> None:
    """Run the notification worker (faust + sender): messages to inquirers, staff and
    leaders by e-mail, SMS, webhook and the in-app inbox, exactly-once in effect."""
    if ctx.invoked_subcommand is not None:
        return
    from services.common.settings import get_settings
    from services.notification.worker import main as run_notification

    settings = get_settings()
    if not settings.database_url or not settings.kafka_bootstrap_servers:
        typer.echo("error: DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set", err=True)
        raise typer.Exit(2)
    raise typer.Exit(run_notification([]))


def mail_server(
    directory: Path = typer.Option(None, "--dir", help="Where messages are kept "
                                   "(default: SHOUWEN_NOTIFY_MAIL_DIR, .data/mail)."),
    port: int = typer.Option(None, help="SMTP port (default: SHOUWEN_NOTIFY_MAIL_PORT, 8025)."),
    sms_port: int = typer.Option(None, help="SMS gateway port (default 8026); 0: none."),
) -> None:
    """Development SMTP server and SMS gateway that keep every message as a file
    (a repeated Message-ID or Idempotency-Key is acknowledged and not stored twice)."""
    from services.notification.devservers import serve
    from services.notification.settings import get_notify_settings

    s = get_notify_settings()
    mail_dir = directory or s.mail_dir
    sms = s.sms_port if sms_port is None else sms_port
    for name, value in (("--port", port), ("--sms-port", sms)):
        if value is not None and not 0 <= value <= 65535:
            typer.echo(f"error: {name} must be a port number (0-65535), not {value}", err=True)
            raise typer.Exit(2)
    serve(mail_dir, port or s.mail_port, (mail_dir.parent / "sms") if sms else None, sms)


def deliveries(
    stuck: bool = typer.Option(False, "--stuck", help="Only records given up, at their "
                               "attempt limit, failing, or waiting for over 30 minutes."),
    limit: int = typer.Option(100, min=1, help="At most this many, newest first."),
) -> None:
    """List delivery records: id, state, attempts, channel, case, recipient, template, error."""
    import psycopg

    from services.notification import admin
    from services.notification.settings import get_notify_settings

    with psycopg.connect(_db()) as conn:
        rows = admin.deliveries(conn, stuck=stuck, limit=limit,
                                max_attempts=get_notify_settings().max_attempts)
    for row in rows:
        typer.echo(row.line())
    typer.echo(f"{len(rows)} delivery record(s)" + (" stuck" if stuck else ""), err=True)


def _act(fn, delivery_id: int, done: str, **kwargs: str) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    from services.notification.admin import Refused

    with psycopg.connect(_db(), autocommit=True) as conn:
        try:
            fn(conn, delivery_id, **kwargs)
        except Refused as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"delivery {delivery_id} {done}")


def retry(delivery_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Send a failed, cancelled or stuck delivery again, attempts counted from 0 (a
    message the channel already took is only recorded, not sent twice)."""
    from services.notification import admin

    _act(admin.retry, delivery_id, "is pending again")


def cancel(
    delivery_id: int = typer.Argument(..., metavar="ID"),
    reason: str = typer.Option(..., "--reason", help="Why it must not be sent (kept)."),
    by: str = typer.Option("operator", "--by", help="Who cancels it (kept)."),
) -> None:
    """Never send this delivery; who and why are kept on the record."""
    from services.notification import admin

    _act(admin.cancel, delivery_id, "is cancelled", by=by, reason=reason)


def register_commands(app: typer.Typer) -> None:
    notification_app.callback(invoke_without_command=True)(notification)
    notification_app.command("deliveries")(deliveries)
    notification_app.command("retry")(retry)
    notification_app.command("cancel")(cancel)
    app.add_typer(notification_app, name="notification")
    app.command("mail-server")(mail_server)
