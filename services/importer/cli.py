"""``shouwen import FILE``: migrate a legacy 台账 (CSV or XLSX) of open and closed cases.

    shouwen import ledger.xlsx [--dry-run]

Every row is checked first (services/importer/ledger_file.py lists the columns); a bad row
exits 2 naming the row and the reason, and nothing is written. Then every new case goes in
one transaction; a case imported by an earlier run is found by its id and skipped, so the
same file can be run again safely.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("import")(import_ledger)


def import_ledger(
    file: Path = typer.Argument(..., help="The legacy ledger: .csv (UTF-8) or .xlsx."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and plan; write nothing."),
) -> None:
    """Migrate a legacy 台账 (CSV/XLSX) of open and closed cases, with their original times
    and responsible staff; time limits count from the original received dates."""
    import psycopg

    from services.common.clitools import require_db as _require_db
    from services.directory.index import DirectoryIndex
    from services.directory.store import current
    from services.importer.ledger_file import LedgerFileError, parse, read_rows
    from services.importer.migrate import ReceiptTaken, import_rows

    url = _require_db()
    with psycopg.connect(url) as conn:
        loaded = current(conn)
    if loaded is None:
        typer.echo("error: no directory is in force: load one with `shouwen directory load`",
                   err=True)
        raise typer.Exit(2)
    directory = DirectoryIndex(loaded[1], loaded[0])
    try:
        rows = parse(read_rows(file), directory)
    except LedgerFileError as exc:
        typer.echo(f"error: {file.name}: nothing imported", err=True)
        for row, why in exc.problems[:50]:
            typer.echo(f"  row {row}: {why}" if row else f"  {why}", err=True)
        if len(exc.problems) > 50:
            typer.echo(f"  ... and {len(exc.problems) - 50} more", err=True)
        raise typer.Exit(2) from None
    digest = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
    try:
        done = import_rows(url, rows, directory, f"{file.name} (sha256 {digest})",
                           dry_run=dry_run)
    except ReceiptTaken as exc:
        typer.echo(f"error: {file.name}: nothing imported\n  {exc}", err=True)
        raise typer.Exit(2) from None
    verb = "would import" if dry_run else "imported"
    typer.echo(f"{verb} {len(done.new)} case(s) ({done.open} open, {done.closed} closed,"
               f" {done.events} events); {len(done.already)} already imported")
