"""``shouwen open311 keys``: API keys of the Open311 client applications.

    shouwen open311 keys add NAME [--by ACTOR]   issue a key (printed once)
    shouwen open311 keys list                    key ids, clients, when, by whom, revoked
    shouwen open311 keys revoke KEY_ID           the key stops working at once
"""

from __future__ import annotations

import re

import typer

open311_app = typer.Typer(help="Open311 GeoReport v2: API keys of client applications.")
keys_app = typer.Typer(help="Issue, list and revoke Open311 API keys (one per client app).")
open311_app.add_typer(keys_app, name="keys")
CLIENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._\-]{0,99}$")


def _db() -> str:
    from services.common.clitools import require_db as _require_db

    return _require_db()


@keys_app.command("add")
def add(client: str = typer.Argument(..., help="The client application's name."),
        by: str = typer.Option("system:cli", "--by", help="Who issues it, e.g. staff:ZX013.")
        ) -> None:
    """Issue an API key for a client application; it is printed once, only its hash kept."""
    import psycopg

    from events.envelope import ACTOR_RE
    from services.intake.open311_keys import issue

    if not CLIENT.match(client):
        typer.echo(f"error: client {client!r}: letters, digits, space, '.', '_' or '-'",
                   err=True)
        raise typer.Exit(2)
    if not ACTOR_RE.match(by):
        typer.echo(f"error: --by {by!r} must look like staff:<id> or system:<name>", err=True)
        raise typer.Exit(2)
    with psycopg.connect(_db()) as conn:
        key = issue(conn, client, by)
    typer.echo(key)


@keys_app.command("list")
def list_keys() -> None:
    """Every key issued: its id, client, when and by whom, and whether it was revoked."""
    import psycopg

    from services.intake.open311_keys import keys

    with psycopg.connect(_db()) as conn:
        for key_id, client, at, by, revoked in keys(conn):
            state = f"revoked {revoked:%Y-%m-%d %H:%M}" if revoked else "in force"
            typer.echo(f"{key_id}  {client}  issued {at:%Y-%m-%d %H:%M} by {by}  {state}")


@keys_app.command("revoke")
def revoke_key(key_id: str = typer.Argument(..., help="The key id `keys list` shows.")) -> None:
    """Revoke a key: requests with it are refused from now on."""
    import psycopg

    from services.intake.open311_keys import revoke

    with psycopg.connect(_db()) as conn:
        if not revoke(conn, key_id):
            typer.echo(f"error: no key {key_id!r} in force", err=True)
            raise typer.Exit(2)
    typer.echo(f"revoked {key_id}")
