"""``shouwen dead-letters``: the dead letters kept in PostgreSQL (services/common/deadletter_store).

    shouwen dead-letters list [--consumer C] [--reason R] [--status open|replayed|discarded|all]
                              counts by consumer and reason, then the letters, newest first
    shouwen dead-letters show ID [--raw]     one letter: where from, why, its headers and data
                                             (personal fields masked unless --raw)
    shouwen dead-letters replay ID [--again] the message back onto its topic, once: a letter
                                             replayed or discarded before is not sent again
                                             (unless --again); consumers' inboxes absorb a repeat
    shouwen dead-letters discard ID --reason TEXT   close it without replaying; who and why kept
"""

from __future__ import annotations

import base64

import orjson
import typer

from services.common.clitools import require_db as _db
from services.common.settings import get_settings

dead_letters_app = typer.Typer(help="Dead letters: messages a consumer could not apply, "
                               "with the reason; list, show, replay after a fix, discard.")


@dead_letters_app.command("list")
def list_letters(
    consumer: str | None = typer.Option(None, help="Only this consumer's."),
    reason: str | None = typer.Option(None, help="Only this reason (e.g. unknown-type)."),
    status: str = typer.Option("open", help="open, replayed, discarded or all."),
    limit: int = typer.Option(50, min=1, help="At most this many letters, newest first."),
) -> None:
    """Counts by consumer and reason, then the letters themselves."""
    import psycopg

    from services.common import deadletter_store as store

    if status not in ("open", "replayed", "discarded", "all"):
        typer.echo(f"error: --status must be open, replayed, discarded or all, not {status}",
                   err=True)
        raise typer.Exit(2)
    wanted = None if status == "all" else status
    with psycopg.connect(_db()) as conn:
        counts = store.counts(conn, status=wanted)
        letters = store.letters(conn, status=wanted, consumer=consumer, reason=reason,
                                limit=limit)
    typer.echo(f"{sum(counts.values())} {status} dead letter(s)")
    for (who, why), n in counts.items():
        typer.echo(f"  {who:<22} {why:<26} {n}")
    for letter in letters:
        s = letter.summary()
        typer.echo(f"{s['id']:>8}  {s['status']:<9} {s['consumer']:<20} {s['reason']:<24} "
                   f"{s['event_type'] or '-'}  {s['subject'] or '-'}  {s['where']}")


def _letter(conn, letter_id: int):  # type: ignore[no-untyped-def]
    from services.common import deadletter_store as store

    letter = store.one(conn, letter_id)
    if letter is None:
        typer.echo(f"error: no dead letter {letter_id}", err=True)
        raise typer.Exit(1)
    return letter


@dead_letters_app.command("show")
def show(letter_id: int = typer.Argument(..., metavar="ID"),
         raw: bool = typer.Option(False, "--raw", help="Personal data unmasked.")) -> None:
    """One letter: consumer, reason, error, where it came from, headers and data."""
    import psycopg

    from events.personal import mask_event_data

    with psycopg.connect(_db()) as conn:
        letter = _letter(conn, letter_id)
    out = letter.summary() | {"error": letter.error, "resolved_by": letter.resolved_by,
                              "note": letter.note, "key": _text(letter.key)}
    out["headers"] = {k: _text(base64.b64decode(v)) if v is not None else None
                      for k, v in letter.headers}
    try:
        data = orjson.loads(letter.value or b"null")
        if not raw and isinstance(data, dict):
            data = mask_event_data(letter.event_type or "", data)
        out["data"] = data
    except orjson.JSONDecodeError:
        out["data"] = None if not raw else _text(letter.value)
        out["data_note"] = "not JSON" + ("" if raw else " (shown with --raw only)")
    typer.echo(orjson.dumps(out, option=orjson.OPT_INDENT_2, default=str).decode())


def _text(blob: bytes | None) -> str | None:
    return None if blob is None else blob.decode(errors="replace")


@dead_letters_app.command("replay")
def replay(letter_id: int = typer.Argument(..., metavar="ID"),
           again: bool = typer.Option(False, "--again", help="Even if replayed before."),
           by: str = typer.Option("operator", "--by", help="Who replays it (kept).")) -> None:
    """Send the message back onto its topic (after the cause is fixed), once."""
    import psycopg

    from services.common import bus
    from services.common import deadletter_store as store

    servers = get_settings().kafka_bootstrap_servers
    if not servers:
        typer.echo("error: KAFKA_BOOTSTRAP_SERVERS is not set", err=True)
        raise typer.Exit(2)
    with psycopg.connect(_db(), autocommit=True) as conn:
        letter = _letter(conn, letter_id)
        if letter.partition < 0:
            typer.echo(f"error: dead letter {letter_id} is not a message of a topic "
                       f"({letter.consumer}); for a notification use "
                       "`shouwen notification retry`", err=True)
            raise typer.Exit(1)
        producer = bus.producer(servers, client_id="shouwen-dead-letters")
        try:
            sent = store.replay(conn, producer, letter_id, by=by, again=again)
        finally:
            producer.close(timeout=5)
    if sent:
        typer.echo(f"dead letter {letter_id} replayed onto {letter.topic}")
    else:
        typer.echo(f"dead letter {letter_id} is {letter.status} already: not sent again "
                   "(--again to send it anyway)")


@dead_letters_app.command("discard")
def discard(letter_id: int = typer.Argument(..., metavar="ID"),
            reason: str = typer.Option(..., "--reason", help="Why it is closed (kept)."),
            by: str = typer.Option("operator", "--by", help="Who discards it (kept).")) -> None:
    """Close a letter without replaying it."""
    import psycopg

    from services.common import deadletter_store as store

    with psycopg.connect(_db(), autocommit=True) as conn:
        letter = _letter(conn, letter_id)
        done = store.discard(conn, letter_id, by=by, reason=reason)
    typer.echo(f"dead letter {letter_id} discarded" if done
               else f"dead letter {letter_id} is {letter.status}: left as it is")
