"""The proof commands, registered on ``shouwen`` by ``register(app)``:

    checkpoint [--every SECONDS]    sign a checkpoint now (or every N seconds, with metrics
                                    on SHOUWEN_CHECKPOINT_METRICS_PORT, 9105)
    checkpoint export-key           print the checkpoint public key (PEM)
    bundle CASE --by STAFF [--out FILE]
    verify-bundle FILE --key PEM    offline; 0 good, 1 the first bad item, 2 unreadable
    verify-checkpoint OLD [--key PEM]
                                    is the store consistent with a checkpoint kept earlier?

Bad input exits 2 with a message and writes nothing; a failed check exits 1.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import psycopg
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from events.envelope import SUBJECT_RE
from services.common.settings import Settings, get_settings
from services.proof import note
from services.proof.metrics import serve_metrics
from services.proof.settings import ProofSettings, SigningKeyError, checkpoint_dir, signing_key

checkpoint_app = typer.Typer(help="Signed Merkle checkpoints over the event store.")


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _proof() -> ProofSettings:
    try:
        return ProofSettings()
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _fail(f"SHOUWEN_{str(error['loc'][0]).upper()}: {error['msg']}") from None


def _db(settings: Settings) -> str:
    if not settings.database_url:
        raise _fail("DATABASE_URL is not set")
    return settings.database_url


def _public_key(path: Path | None, settings: Settings, proof: ProofSettings) -> Ed25519PublicKey:
    try:
        if path is not None:
            return note.load_public_pem(path.read_bytes())
        return signing_key(settings, proof, create=False).public_key()
    except (OSError, note.CheckpointError, SigningKeyError) as exc:
        raise _fail(f"--key: {exc}") from None


@checkpoint_app.callback(invoke_without_command=True)
def checkpoint(
    ctx: typer.Context,
    every: float | None = typer.Option(None, "--every", min=0.05, help="Loop: seconds apart."),
) -> None:
    """Sign a checkpoint (tree size, Merkle root) over every event in commit order, with a
    verified consistency proof to the previous one; publish it as a signed note."""
    if ctx.invoked_subcommand is not None:
        return
    from services.proof.checkpointer import InconsistentStore, run

    settings, proof = get_settings(), _proof()
    from services.common.logs import configure

    configure(settings)
    try:
        key = signing_key(settings, proof)
    except SigningKeyError as exc:
        raise _fail(str(exc)) from None
    producer = None
    if every is not None and settings.kafka_bootstrap_servers:
        from services.common.bus import ensure_topics
        from services.common.bus import producer as make_producer

        ensure_topics(settings.kafka_bootstrap_servers, [proof.checkpoints_topic], 1,
                      settings.topic_replication_factor)
        producer = make_producer(settings.kafka_bootstrap_servers)
    metrics = serve_metrics(proof.checkpoint_metrics_port) if every is not None else None
    try:
        taken = run(_db(settings), key, proof.checkpoint_origin, checkpoint_dir(settings, proof),
                    every, producer, proof.checkpoints_topic, metrics)
    except InconsistentStore as exc:
        raise _fail(str(exc), 1) from None
    typer.echo(f"{taken} checkpoint(s) signed; newest in {checkpoint_dir(settings, proof)}")


@checkpoint_app.command("export-key")
def export_key() -> None:
    """Print the public key that verifies checkpoints (PEM), and its fingerprint on stderr."""
    settings, proof = get_settings(), _proof()
    try:
        public = signing_key(settings, proof).public_key()
    except SigningKeyError as exc:
        raise _fail(str(exc)) from None
    typer.echo(note.public_pem(public), nl=False)
    typer.echo(f"fingerprint (SHA-256) {note.fingerprint(public)}", err=True)


def bundle(
    case: str = typer.Argument(..., help="The case id."),
    by: str = typer.Option(..., "--by", help="Staff id of who makes the bundle (audited)."),
    out: Path | None = typer.Option(None, "--out", help="Zip file to write."),
    key: Path | None = typer.Option(None, "--key", help="Public key PEM (no signing key here)."),
    wait: float = typer.Option(5.0, min=0, help="Seconds to wait for new events' commit order."),
) -> None:
    """Write a dispute bundle: the case's events with hashes, inclusion proofs against a
    signed checkpoint, and its history as JSON and HTML. Recorded in the access audit."""
    from services.proof.bundle import BundleRefused, build, write_zip

    settings, proof = get_settings(), _proof()
    if not SUBJECT_RE.match(case):
        raise _fail(f"CASE {case!r} is not a case id")
    if not SUBJECT_RE.match(by):
        raise _fail(f"--by {by!r} is not a staff id")
    out = out or Path(f"bundle-{case}.zip")
    if not out.parent.is_dir():
        raise _fail(f"--out {out}: no such directory")
    try:
        private = signing_key(settings, proof) if key is None else None
    except SigningKeyError as exc:
        raise _fail(f"{exc} (or give --key PUBLIC.pem)") from None
    public = private.public_key() if private else _public_key(key, settings, proof)
    with psycopg.connect(_db(settings), autocommit=True) as conn:
        try:
            made = build(conn, case, by, public, private, proof.checkpoint_origin, wait)
        except BundleRefused as exc:
            raise _fail(str(exc)) from None
    cp = made.doc["checkpoint"]
    if cp["key_id"] != note.key_id(cp["key_name"], public).hex():
        raise _fail("the newest checkpoint was signed by another key than this one")
    write_zip(made, public, out)
    later = made.doc["not_covered"]
    tail = f", {len(later)} later not yet covered" if later else ""
    typer.echo(f"wrote {out}: case {case}, {len(made.doc['events'])} event(s) with inclusion"
               f" proofs to checkpoint #{cp['tree_size']}{tail}")


def verify_bundle(
    file: Path = typer.Argument(..., help="The bundle (.zip or bundle.json)."),
    key: Path = typer.Option(..., "--key", help="The checkpoint public key (PEM)."),
) -> None:
    """Check a bundle offline: each event's hash from its content, the case's hash chain,
    each inclusion proof to the checkpoint root, and the checkpoint's signature; then the
    rendered parts the events can vouch for (proof.html, the history's steps). Says plainly
    what was NOT verified (names and descriptions of the history)."""
    from services.proof.verify import (
        BundleInvalid,
        BundleUnreadable,
        check_rendered,
        read_bundle,
        read_rendered,
    )
    from services.proof.verify import verify_bundle as check

    try:
        public = note.load_public_pem(key.read_bytes())
        doc = read_bundle(file)
        rendered = read_rendered(file)
    except (OSError, note.CheckpointError, BundleUnreadable) as exc:
        raise _fail(str(exc)) from None
    try:
        typer.echo(check_rendered(doc, rendered, check(doc, public)).summary())
    except BundleInvalid as exc:
        typer.echo(f"FAILED: {exc}")
        raise typer.Exit(1) from None


def verify_checkpoint(
    old: Path = typer.Argument(..., help="A checkpoint kept earlier (JSON, or the note)."),
    key: Path | None = typer.Option(None, "--key", help="Public key PEM (default: local key)."),
) -> None:
    """Check that the store is still consistent with a checkpoint kept earlier: catches a
    rewrite of the store, even one that recomputed every hash chain, and (the chain check
    run with it) any event whose content no longer gives its stored hash."""
    from services.proof.consistency import check

    settings, proof = get_settings(), _proof()
    try:
        text = old.read_text()
        kept = (note.from_json(orjson.loads(text)) if text.lstrip().startswith("{")
                else note.parse_note(text))
    except (OSError, UnicodeDecodeError, orjson.JSONDecodeError, note.CheckpointError) as exc:
        raise _fail(f"{old}: {exc}") from None
    public = _public_key(key, settings, proof)
    with psycopg.connect(_db(settings), autocommit=True) as conn:
        report = check(conn, kept, public)
    if not report.ok:
        typer.echo(report.summary())
        raise typer.Exit(1)
    # The root covers the stored hashes; that each event's content still gives its hash is
    # the chain check's to say: an OK means the content is intact, not only the hashes.
    from services.common.integrity import verify_store

    chains = verify_store(_db(settings))
    if not chains.ok:
        typer.echo(f"INCONSISTENT: the hashes still give the kept root, but the content of"
                   f" {chains.problems_total} event(s) no longer gives its hash; first:"
                   f" {chains.problems[0].describe()}")
        raise typer.Exit(1)
    typer.echo(f"{report.summary()}; the content of all {chains.events_checked:,} event(s)"
               f" still gives its hash")


def register(app: typer.Typer) -> None:
    app.add_typer(checkpoint_app, name="checkpoint")
    app.command("bundle")(bundle)
    app.command("verify-bundle")(verify_bundle)
    app.command("verify-checkpoint")(verify_checkpoint)
