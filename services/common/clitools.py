"""What every ``shouwen`` command module shares (services/cli.py and the services' own CLIs),
below them all so that no service's CLI imports the top-level one.

    require_db()   DATABASE_URL, or exit 2 saying how to get it
"""

from __future__ import annotations

import typer

from services.common.settings import get_settings


def require_db() -> str:
    url = get_settings().database_url
    if not url:
        typer.echo("error: DATABASE_URL is not set (shouwen up sets it for its services; next "
                   "to a running `shouwen up`, set SHOUWEN_DATA_DIR to its data directory)",
                   err=True)
        raise typer.Exit(2)
    return url
