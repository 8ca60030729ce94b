"""The notification service's commands, registered on ``shouwen`` by one line in services/cli.py.

    shouwen notification            run the worker (consumer + sender loop)
    shouwen mail-server [--dir D]   the development SMTP server and SMS gateway
"""

from __future__ import annotations

from pathlib import Path

import typer


def notification() -> None:
    """Run the notification worker (faust + sender): messages to inquirers, staff and
    leaders by e-mail, SMS, webhook and the in-app inbox, exactly-once in effect."""
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


def register_commands(app: typer.Typer) -> None:
    app.command("notification")(notification)
    app.command("mail-server")(mail_server)
