"""What people made of routing's results, and learning from it (migration 0050).

    routing worker, in its inbox transaction:
      its decisions on a received case ─▶ routing_outcomes row: classified | suggested |
                                          escalated, the matter, its unit, the confidence
      accepted under another matter than routing's (the handler corrected it) ─▶ the
          row's matter, corrected, and (opt-in) a proposed phrasing, as below
      matter_chosen (a pick or a correction) ─▶ the row's matter in force, picks + 1,
          corrected when the person overrode routing (changed its matter, or chose one it
          did not suggest first); and, when the directory in force opts in
          (``learn_from_corrections``), the case's own words become a *proposed* example
          phrasing of the chosen matter (phone and ID numbers blanked)
    ``shouwen routing examples list | approve ID | reject ID`` an admin reviews proposals;
    only approved phrasings reach the classifier (``LearnedCache``, re-read every 30 s)
    ``shouwen routing report``  cases, unclear and corrected rates by matter and unit
    the exporter: per unit, cases routed, unclear and corrected (the accuracy proxy is the
    share never corrected)
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import ConnectionPool

from events import CloudEvent
from events.case import CaseReceived
from services.common.eventstore import kind_of, read_kinds

if TYPE_CHECKING:
    from services.directory.index import DirectoryIndex

CHOSEN = "shouwen.case.matter_chosen.v1"
ACCEPTED = "shouwen.case.accepted.v1"
_NUMBERS = re.compile(r"[0-9０-９xX\-]{7,}")  # phone, ID and account numbers: not examples
PHRASE_MAX = 200
REVIEWERS = frozenset({"admin", "centre_admin"})
Learned = tuple[tuple[str, str], ...]


def outcome_rows(decided: Iterable[tuple[str, list[CloudEvent]]]) -> list[tuple[Any, ...]]:
    """routing_outcomes rows for cases and the decisions routing appended to them."""
    rows = []
    for case_id, events in decided:
        kinds = {e.type.split(".")[2]: e.data for e in events}
        if "classified" in kinds:
            d = kinds["classified"]
            rows.append((case_id, "classified", d["matter_type_code"], d["confidence"],
                         d["matter_type_code"], d.get("handling_unit_id")))
        elif "matter_suggested" in kinds:
            d = kinds["matter_suggested"]
            best = d["suggestions"][0]
            rows.append((case_id, "suggested", best["matter_type_code"], d["confidence"], None,
                         best.get("handling_unit_id")))
        elif "escalated" in kinds:
            rows.append((case_id, "escalated", None, 0.0, None, None))
    return rows


def record_outcomes(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """One statement for a whole batch (a column array each)."""
    if rows:
        cases, outcomes, routed, confidences, matters, units = map(list, zip(*rows, strict=True))
        conn.execute(
            "INSERT INTO routing_outcomes (case_id, outcome, routed_matter, confidence,"
            " matter_type_code, handling_unit_id) SELECT * FROM unnest(%s::text[], %s::text[],"
            " %s::text[], %s::real[], %s::text[], %s::text[]) ON CONFLICT (case_id) DO NOTHING",
            (cases, outcomes, routed, confidences, matters, units))


def record_choice(conn: psycopg.Connection, chosen: CloudEvent,
                  directory: DirectoryIndex | None) -> None:
    """A person chose the matter: update the case's outcome; propose an example if opted in."""
    d = chosen.data
    row = conn.execute("SELECT outcome, routed_matter FROM routing_outcomes WHERE case_id = %s",
                       (chosen.subject,)).fetchone()
    overrode = d.get("previous_matter_type_code") is not None or d.get("suggestion_rank") != 1
    if row is None:  # routed before this table existed, or by hand: a person decided
        conn.execute(
            "INSERT INTO routing_outcomes (case_id, outcome, matter_type_code, handling_unit_id,"
            " picks, corrected) VALUES (%s, 'escalated', %s, %s, 1, %s)"
            " ON CONFLICT (case_id) DO NOTHING",
            (chosen.subject, d["matter_type_code"], d.get("handling_unit_id"), overrode))
    else:
        conn.execute(
            "UPDATE routing_outcomes SET matter_type_code = %s, handling_unit_id = %s,"
            " picks = picks + 1, corrected = corrected OR %s WHERE case_id = %s",
            (d["matter_type_code"], d.get("handling_unit_id"), overrode, chosen.subject))
    if directory is not None and directory.directory.learn_from_corrections:
        propose(conn, chosen)


def record_acceptance(conn: psycopg.Connection, accepted: CloudEvent,
                      directory: DirectoryIndex | None) -> None:
    """A handler accepted the case under another matter than routing's: a correction too."""
    code = accepted.data.get("matter_type_code")
    if not code:
        return
    row = conn.execute("SELECT matter_type_code FROM routing_outcomes WHERE case_id = %s",
                       (accepted.subject,)).fetchone()
    if row is None or row[0] == code:  # not routed here, or routing's matter stands
        return
    matter = directory.matters.get(code) if directory is not None else None
    unit = (matter.unit or matter.external_body) if matter is not None else None
    conn.execute("UPDATE routing_outcomes SET matter_type_code = %s, handling_unit_id ="
                 " coalesce(%s, handling_unit_id), corrected = true WHERE case_id = %s",
                 (code, unit, accepted.subject))
    if directory is not None and directory.directory.learn_from_corrections:
        propose(conn, accepted)


def propose(conn: psycopg.Connection, chosen: CloudEvent) -> None:
    received = read_kinds(conn, [chosen.subject], {kind_of(CaseReceived.event_type)})
    first = received.get(chosen.subject)
    phrase = phrase_of(first[0].data.get("matter") if first else "")
    if phrase:
        conn.execute(
            "INSERT INTO routing_examples (matter_type_code, phrase, case_id, event_id,"
            " proposed_by) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (chosen.data["matter_type_code"], phrase, chosen.subject, chosen.id, chosen.actor))


def phrase_of(text: str | None) -> str:
    """The inquirer's words as an example: numbers that identify someone blanked, bounded."""
    return " ".join(_NUMBERS.sub("…", text or "").split())[:PHRASE_MAX]


# ---------------------------------------------------------------- review

@dataclass(frozen=True)
class Example:
    id: int
    matter_type_code: str
    phrase: str
    case_id: str
    status: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    note: str | None


class NotAReviewer(PermissionError):
    """Only an admin or centre admin approves or rejects example phrasings."""


class NoSuchProposal(LookupError):
    """No proposed example with that id (unknown, or already decided)."""


def examples(conn: psycopg.Connection, status: str | None = "proposed",
             limit: int = 100) -> list[Example]:
    rows = conn.execute(
        "SELECT id, matter_type_code, phrase, case_id, status, proposed_by, proposed_at,"
        " decided_by, note FROM routing_examples WHERE %(status)s::text IS NULL"
        " OR status = %(status)s ORDER BY id LIMIT %(limit)s",
        {"status": status, "limit": limit}).fetchall()
    return [Example(*row) for row in rows]


def decide(conn: psycopg.Connection, directory: DirectoryIndex, example_id: int, staff_id: str,
           approve: bool, note: str | None = None) -> Example:
    person = directory.person(staff_id)
    if person is None or not {r.value for r in person.roles} & REVIEWERS:
        raise NotAReviewer(f"{staff_id} is not an admin or centre admin in the directory")
    row = conn.execute(
        "UPDATE routing_examples SET status = %s, decided_by = %s, decided_at = now(), note = %s"
        " WHERE id = %s AND status = 'proposed' RETURNING id, matter_type_code, phrase, case_id,"
        " status, proposed_by, proposed_at, decided_by, note",
        ("approved" if approve else "rejected", staff_id, note, example_id)).fetchone()
    if row is None:
        raise NoSuchProposal(f"no proposed example {example_id}")
    return Example(*row)


def approved(conn: psycopg.Connection) -> Learned:
    rows = conn.execute("SELECT matter_type_code, phrase FROM routing_examples"
                        " WHERE status = 'approved' ORDER BY id").fetchall()
    return tuple((code, phrase) for code, phrase in rows)


class LearnedCache:
    """The approved phrasings, re-read at most every ``every`` seconds (the same tuple
    object in between, so the classifier's index cache keeps hitting)."""

    def __init__(self, pool: ConnectionPool, every: float = 30.0) -> None:
        self.pool, self.every = pool, every
        self._lock = threading.Lock()
        self._value: Learned = ()
        self._read_at = float("-inf")

    def get(self) -> Learned:
        with self._lock:
            if time.monotonic() - self._read_at >= self.every:
                with self.pool.connection() as conn:
                    fresh = approved(conn)
                if fresh != self._value:
                    self._value = fresh
                self._read_at = time.monotonic()
            return self._value


# ---------------------------------------------------------------- report

@dataclass(frozen=True)
class ReportRow:
    matter_type_code: str | None
    handling_unit_id: str | None
    cases: int
    unclear: int  # suggested or escalated by routing
    corrected: int

    @property
    def unclear_rate(self) -> float:
        return self.unclear / self.cases if self.cases else 0.0

    @property
    def corrected_rate(self) -> float:
        return self.corrected / self.cases if self.cases else 0.0


def report(conn: psycopg.Connection, since: datetime | None = None,
           by: str = "matter") -> list[ReportRow]:
    """Cases routed since ``since``, by matter in force (and its unit) or by unit alone."""
    key = ("coalesce(matter_type_code, routed_matter), handling_unit_id" if by == "matter"
           else "NULL::text, handling_unit_id")
    rows = conn.execute(
        f"SELECT {key}, count(*), count(*) FILTER (WHERE outcome <> 'classified'),"  # noqa: S608
        " count(*) FILTER (WHERE corrected) FROM routing_outcomes"
        " WHERE %(since)s::timestamptz IS NULL OR routed_at >= %(since)s"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2", {"since": since}).fetchall()
    return [ReportRow(m, u, int(n), int(unclear), int(fixed)) for m, u, n, unclear, fixed in rows]


def unit_figures(conn: psycopg.Connection) -> dict[str, tuple[int, int, int]]:
    """{unit: (cases, unclear, corrected)} over every routed case (for the exporter)."""
    return {(r.handling_unit_id or "none"): (r.cases, r.unclear, r.corrected)
            for r in report(conn, by="unit")}
