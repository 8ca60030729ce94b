"""Hash-chain verification: is the store exactly what was appended, in the order committed?

    per stream  (events, by stream and version)
        versions 1..n with no gap; prev_hash = the previous event's hash (zeros before 1);
        hash = sha256(prev_hash || canonical bytes of the stored row)
    global      (commit_log joined to events, by seq)
        seq 1..m with no gap; prev_hash = the previous row's hash;
        hash = sha256(prev_hash || event_hash); event_hash = the event's stored hash;
        the event is still there, at the same position, stream and version;
        every event the sequencer has passed (txid below relay_state.low_txid) is in it

Both scans read one REPEATABLE READ snapshot through server-side cursors in big batches.
Findings are merged per event and sorted by global position (commit seq where the event is
sequenced, else after every sequenced event, by insert position): the first is the first bad
event. Kinds: ``altered`` (content no longer matches its hash), ``removed`` (a version or
commit is missing), ``reordered`` (links or versions point at another event).

Speed: canonical bytes are rebuilt with orjson (sorted keys, no spaces), which equals
RFC 8785 except for floats and keys beyond the BMP. When that quick hash does not match,
the reference path (``row_to_recorded`` + ``chain_hash``) decides, so no event is called
altered on the quick path alone. (Writing the envelope's JSON in SQL was tried: no faster.)

What this cannot see: a rewrite of both chains from some point on, or the newest events cut
off together with their commit_log rows; for that, compare the head (last seq and hash) with
a copy kept elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from events.canonical import optimistic_json
from services.common.eventstore import GENESIS, chain_hash, row_to_recorded

BATCH = 20_000
MAX_FINDINGS = 10_000  # beyond this, findings are only counted

_STREAM_SELECT = (
    "SELECT position, event_id::text, stream_id, version, type, source,"
    " to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), dataschema, actor,"
    " causation_id::text, correlation_id::text, data::text, prev_hash, hash FROM events"
)
_COMMIT_SQL = (  # the database compares stored values; the hashes are recomputed here
    "SELECT l.seq, l.prev_hash, l.event_hash, l.hash, e.position IS NOT NULL,"
    " coalesce(e.event_id = l.event_id AND e.stream_id = l.stream_id"
    " AND e.version = l.version AND e.hash = l.event_hash, false)"
    " FROM commit_log l LEFT JOIN events e ON e.position = l.position{where} ORDER BY l.seq"
)
_COMMIT_ROW_SQL = (
    "SELECT l.position, l.event_id::text, l.stream_id, l.version, l.event_hash,"
    " e.event_id::text, e.stream_id, e.version, e.hash"
    " FROM commit_log l LEFT JOIN events e ON e.position = l.position WHERE l.seq = %s"
)
_ROW_SQL = (
    "SELECT position, event_id, stream_id, version, type, source, time, dataschema, actor,"
    " causation_id, correlation_id, data, prev_hash, hash, recorded_at"
    " FROM events WHERE position = %s"
)


_RANK = {"removed": 0, "reordered": 1, "altered": 2}


@dataclass
class Problem:
    """One bad event: the worst kind found for it, and everything found wrong with it."""

    kind: str
    what: list[str]
    event_id: str | None = None
    stream_id: str | None = None
    version: int | None = None
    position: int | None = None
    seq: int | None = None

    def order(self) -> tuple[int, int]:
        if self.seq is not None:
            return (0, self.seq)
        return (1, self.position) if self.position is not None else (2, 0)

    def describe(self) -> str:
        where = [f"stream {self.stream_id!r}" if self.stream_id is not None else None,
                 f"version {self.version}" if self.version is not None else None,
                 f"position {self.position}" if self.position is not None else None,
                 f"commit seq {self.seq}" if self.seq is not None else None]
        place = ", ".join(w for w in where if w)
        return f"{self.kind}: event {self.event_id or '(id unknown)'} ({place}): " + "; ".join(
            self.what
        )

    def merge(self, other: Problem) -> None:
        if _RANK[other.kind] < _RANK[self.kind]:
            self.kind = other.kind
        self.what += [w for w in other.what if w not in self.what]
        for name in ("event_id", "stream_id", "version", "position", "seq"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(other, name))


@dataclass
class _Gap:
    first: int  # first missing seq
    last: int
    before: bytes  # hash of the commit row before the gap
    after: bytes  # prev_hash of the commit row after it
    event: Problem | None = None


class Findings:
    """Raw findings from both scans, merged per event and put in global order at the end."""

    def __init__(self) -> None:
        self.found: list[Problem] = []
        self.dropped = 0
        self.gaps: list[_Gap] = []

    def add(self, kind: str, what: str, **ident: Any) -> None:
        if len(self.found) >= MAX_FINDINGS:
            self.dropped += 1
            return
        self.found.append(Problem(kind, [what], **ident))

    def commit_gap(self, last_seq: int, seq: int, before: bytes, after: bytes) -> None:
        self.gaps.append(_Gap(last_seq + 1, seq - 1, before, after))

    def unsequenced_below_line(self, pos: int, eid: str, sid: str, ver: int, digest: bytes) -> None:
        """An event the sequencer passed without a commit row: find the gap it fell out of."""
        event = Problem("removed", ["it is not in commit_log, yet the sequencer's line"
                                    " (relay_state.low_txid) is past it: its row was removed"
                                    " (or the sequencer skipped it)"], eid, sid, ver, pos)
        for gap in self.gaps:
            joined = hashlib.sha256(gap.before + digest).digest() == gap.after
            if gap.first == gap.last and gap.event is None and joined:
                gap.event, event.seq = event, gap.first
                break
        self.found.append(event)

    def resolve(self, conn: psycopg.Connection) -> tuple[list[Problem], int]:
        for gap in self.gaps:
            if gap.event is None:
                span = f"{gap.first}" if gap.first == gap.last else f"{gap.first}..{gap.last}"
                self.found.append(Problem("removed", [f"commit_log seq {span} missing"],
                                          seq=gap.first))
        for problem in self.found:
            _complete(conn, problem)
        merged: dict[object, Problem] = {}
        for problem in self.found:
            key = problem.event_id or ("seq", problem.seq, problem.stream_id, problem.version)
            if key in merged:
                merged[key].merge(problem)
            else:
                merged[key] = problem
        ordered = sorted(merged.values(), key=Problem.order)
        return ordered, len(ordered) + self.dropped


def _complete(conn: psycopg.Connection, p: Problem) -> None:
    """Fill in what the commit log (or the events table) knows about a found event."""
    if p.event_id is None and p.stream_id is not None and p.version is not None:
        row = conn.execute(
            "SELECT event_id::text, position, seq FROM commit_log"
            " WHERE stream_id = %s AND version = %s", (p.stream_id, p.version),
        ).fetchone()
        if row:
            p.event_id, p.position, p.seq = row
    elif p.seq is None and p.position is not None:
        found = conn.execute(
            "SELECT seq FROM commit_log WHERE position = %s", (p.position,)
        ).fetchone()
        p.seq = found[0] if found else None
    if p.kind == "removed" and p.event_id is not None and p.seq is not None:
        moved = conn.execute(
            "SELECT position, stream_id, version FROM events WHERE event_id = %s::uuid",
            (p.event_id,),
        ).fetchone()
        if moved and moved[0] != p.position:
            p.kind = "reordered"
            p.what.append(f"the event is now at position {moved[0]} ({moved[1]} v{moved[2]})")


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0
    events_checked: int = 0
    streams_checked: int = 0
    commits_checked: int = 0
    unsequenced: int = 0
    reference_checks: int = 0  # events the quick encoding missed, checked the reference way
    seconds: float = 0.0
    stream_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 20) -> str:
        scope = f"stream {self.stream_id!r}: " if self.stream_id else ""
        checked = (
            f"{scope}{self.events_checked:,} events in {self.streams_checked:,} stream(s),"
            f" {self.commits_checked:,} commit(s) of the global chain"
            f" ({self.unsequenced:,} event(s) not yet in commit order), {self.seconds:.2f} s"
        )
        if self.ok:
            return f"OK: hash chains intact; checked {checked}"
        lines = [
            f"FAILED: {self.problems_total} bad event(s); checked {checked}",
            f"first bad event: {self.problems[0].describe()}",
        ]
        lines += [f"  {p.describe()}" for p in self.problems[1:limit]]
        if self.problems_total > limit:
            lines.append(f"  ... and {self.problems_total - limit} more")
        return "\n".join(lines)


def verify_store(url: str, stream_id: str | None = None,
                 progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Check the whole store (or one stream, and its rows of the commit log); ``progress``
    is told how many events each batch checked (a CLI's progress bar)."""
    started = time.perf_counter()
    report = VerifyReport(stream_id=stream_id)
    findings = Findings()
    with psycopg.connect(url) as conn:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        _check_streams(conn, report, findings, stream_id, progress)
        matched = _check_commits(conn, report, findings, stream_id)
        report.unsequenced = report.events_checked - matched
        if report.unsequenced:
            _check_passed_by_sequencer(conn, findings, stream_id)
        report.problems, report.problems_total = findings.resolve(conn)
        conn.rollback()
    report.seconds = time.perf_counter() - started
    return report


def _scan(
    conn: psycopg.Connection, name: str, sql: str, params: tuple[Any, ...], binary: bool = False
) -> Iterator[list[Any]]:
    """Rows in batches from a server-side cursor. A thread fetches the next batch while the
    caller checks this one, so the server's work and ours overlap. (psycopg serialises the
    caller's own look-ups on ``conn`` with the fetches.)"""
    batches: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def fetch() -> None:
        try:
            with conn.cursor(name=name, binary=binary) as cur:
                cur.itersize = BATCH
                cur.execute(sql, params)
                while not stop.is_set() and (rows := cur.fetchmany(BATCH)):
                    batches.put(rows)
            batches.put(None)
        except BaseException as exc:  # handed to the caller
            batches.put(exc)

    fetcher = threading.Thread(target=fetch, name=name, daemon=True)
    fetcher.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while fetcher.is_alive():
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.1)
        fetcher.join()


def _check_streams(
    conn: psycopg.Connection, report: VerifyReport, findings: Findings, stream_id: str | None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Walk every stream in version order: contiguous versions, links, content hashes."""
    where, params = (" WHERE stream_id = %s", (stream_id,)) if stream_id else ("", ())
    sha256, loads = hashlib.sha256, orjson.loads
    stream, expected, prev = None, 1, GENESIS
    sql = _STREAM_SELECT + where + " ORDER BY stream_id, version"
    for rows in _scan(conn, "shouwen_verify_streams", sql, params, binary=True):
        report.events_checked += len(rows)
        if progress is not None:
            progress(len(rows))
        for row in rows:
            pos, eid, sid, version, etype, source, when, schema, actor, cause, corr, data = row[:12]
            prev_hash, digest = row[12], row[13]
            if sid != stream:
                stream, expected, prev = sid, 1, GENESIS
                report.streams_checked += 1
            try:
                doc = {"id": eid, "source": source, "type": etype, "subject": sid, "time": when,
                       "dataschema": schema, "actor": actor, "causationid": cause,
                       "correlationid": corr, "sequence": version, "data": loads(data)}
                canonical = optimistic_json(doc)
            except orjson.JSONDecodeError:
                canonical = b""  # e.g. an integer beyond 64 bits: the reference path decides
            if sha256(prev_hash + canonical).digest() != digest:
                report.reference_checks += 1
                _confirm_altered(conn, findings, pos)
            ident = {"event_id": eid, "stream_id": sid, "version": version, "position": pos}
            if version > expected:
                for missing in range(expected, version):
                    findings.add("removed", f"version {missing} of the stream is missing",
                                 stream_id=sid, version=missing)
            elif version < expected:
                findings.add("reordered", f"version {version} follows version {expected - 1}",
                             **ident)
            elif prev_hash != prev:
                findings.add("reordered", _link_detail(conn, sid, prev_hash), **ident)
            prev, expected = digest, version + 1


def _confirm_altered(conn: psycopg.Connection, findings: Findings, position: int) -> None:
    """The quick hash missed: decide with the reference canonical bytes."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_ROW_SQL, (position,)).fetchone()
    assert row is not None
    ident = {"event_id": str(row["event_id"]), "stream_id": row["stream_id"],
             "version": row["version"], "position": position}
    try:
        recorded = row_to_recorded(row)
        if chain_hash(recorded.prev_hash, recorded.event) == recorded.hash:
            return
        findings.add("altered", "its hash does not match its content", **ident)
    except ValueError as exc:
        reason = str(exc).splitlines()[0]
        findings.add("altered", f"its content is no longer a valid event ({reason})", **ident)


def _link_detail(conn: psycopg.Connection, stream_id: str, prev_hash: bytes) -> str:
    row = conn.execute(
        "SELECT event_id::text, version FROM events WHERE stream_id = %s AND hash = %s LIMIT 1",
        (stream_id, prev_hash),
    ).fetchone()
    if row is None:
        return "its prev_hash links to no event of the stream"
    return f"its prev_hash links to event {row[0]} (now version {row[1]}), not its predecessor"


def _check_commits(
    conn: psycopg.Connection, report: VerifyReport, findings: Findings, stream_id: str | None
) -> int:
    """Walk the global chain; return how many commit rows still find their event."""
    where, params = (" WHERE l.stream_id = %s", (stream_id,)) if stream_id else ("", ())
    sha256, whole = hashlib.sha256, stream_id is None
    last_seq, prev, matched = 0, GENESIS, 0
    sql = _COMMIT_SQL.format(where=where)
    for rows in _scan(conn, "shouwen_verify_commits", sql, params, binary=True):
        report.commits_checked += len(rows)
        for seq, lprev, ehash, lhash, present, sound in rows:
            matched += present
            gap = whole and seq != last_seq + 1
            unlinked = whole and not gap and lprev != prev
            if gap or unlinked or not sound or sha256(lprev + ehash).digest() != lhash:
                _judge_commit(conn, findings, seq, last_seq, prev, lprev, lhash, gap, unlinked)
            last_seq, prev = seq, lhash
    return matched


def _judge_commit(
    conn: psycopg.Connection, findings: Findings, seq: int, last_seq: int, prev: bytes,
    lprev: bytes, lhash: bytes, gap: bool, unlinked: bool,
) -> None:
    """A commit row that failed a quick check: say exactly what is wrong with it."""
    row = conn.execute(_COMMIT_ROW_SQL, (seq,)).fetchone()
    assert row is not None
    pos, eid, sid, ver, ehash, e_id, e_sid, e_ver, e_hash = row
    ident = {"event_id": e_id or eid, "stream_id": sid, "version": ver,
             "position": pos, "seq": seq}
    if gap:
        findings.commit_gap(last_seq, seq, prev, lprev)
    if unlinked:
        findings.add("reordered", f"commit_log seq {seq}: prev_hash does not link to"
                     f" seq {seq - 1}", **ident)
    if hashlib.sha256(lprev + ehash).digest() != lhash:
        findings.add("altered", f"commit_log seq {seq} altered: its hash is not"
                     " sha256(prev_hash || event_hash)", **ident)
    if e_id is None:
        findings.add("removed", f"commit_log seq {seq} names it, but position {pos}"
                     " holds no event", **ident)
        return
    if (e_id, e_sid, e_ver) != (eid, sid, ver):
        findings.add("reordered", f"commit_log seq {seq} has {eid} as {sid} version {ver};"
                     f" position {pos} holds {e_id} as {e_sid} version {e_ver}", **ident)
    if bytes(e_hash) != bytes(ehash):
        findings.add("altered", f"its hash differs from the one sealed at commit seq {seq}",
                     **ident)


def _check_passed_by_sequencer(
    conn: psycopg.Connection, findings: Findings, stream_id: str | None
) -> None:
    """Every event below a sequencer's line (relay_state.low_txid) is in commit_log; one that
    is not lost its row (or was skipped)."""
    rows = conn.execute(
        "SELECT e.position, e.event_id::text, e.stream_id, e.version, e.hash FROM events e"
        " WHERE e.txid < (SELECT max(low_txid) FROM relay_state)"
        " AND NOT EXISTS (SELECT 1 FROM commit_log l WHERE l.position = e.position)"
        " AND (%s::text IS NULL OR e.stream_id = %s) ORDER BY e.position LIMIT 1000",
        (stream_id, stream_id),
    ).fetchall()
    for pos, eid, sid, ver, digest in rows:
        findings.unsequenced_below_line(pos, eid, sid, ver, bytes(digest))
