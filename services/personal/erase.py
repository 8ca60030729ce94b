"""Erasing an inquirer's personal data (PIPL Art. 47) by destroying their data key.

    erase_inquirer(pool, who, by, reason)       ONE transaction:
        who = inquirer ref (inq-...) or a receipt number ─▶ the ref, locked
        a case of theirs under a legal hold ─▶ refused (ErasureRefused), nothing changes
        pii_keys: wrapped key and blind index set NULL (the key is gone), who/when/why
        inquirer_erased appended to each of their cases (no personal data in it)
        projections scrubbed by their owners (``scrub``: the ledger folds that event, its
        台账 row reads [已删除 erased]; notification records keep masked addresses, pending
        ones fail) — here when given, else by their workers reading the event
        access_audit: action 'erase'
    afterwards this process forgets the key; others stop using it within the key cache's
    lifetime (SHOUWEN_PII_KEY_CACHE_SECONDS), and drop it at once when they see the event.

Nothing in the event store or on the topic is changed: the sealed values stay, unreadable,
and every hash, chain, checkpoint and old bundle still verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from events import CloudEvent, new_event
from events.inquirer import ErasureGround, InquirerErased
from services.cases.repository import CaseRepository
from services.common.pii import personal_data
from services.directory.model import Role
from services.domain.case import fold
from services.record.audit import record_access

ERASERS = frozenset({Role.centre_admin, Role.admin, Role.supervisor})  # who may erase
# A projection's owner scrubbing what it keeps, given the erasure's events, in the erasure's
# transaction (services/cli_personal.py passes the ledger's and notification's; without
# them, their workers do it when they read the events).
Scrub = Callable[[psycopg.Connection, list[CloudEvent]], Any]


class ErasureRefused(Exception):
    pass


class UnknownInquirer(LookupError):
    pass


@dataclass
class ErasureReport:
    inquirer_ref: str
    cases: list[str] = field(default_factory=list)
    already: bool = False
    rows_scrubbed: int = 0

    def summary(self) -> str:
        if self.already:
            return f"{self.inquirer_ref}: erased before; nothing to do"
        return (f"{self.inquirer_ref}: data key destroyed; {len(self.cases)} case(s) marked "
                f"erased; {self.rows_scrubbed} projection row(s) scrubbed")


def resolve_ref(conn: psycopg.Connection, who: str) -> str:
    """An inquirer ref (``inq-...``) as it is, or the ref of a receipt number's case."""
    if who.startswith("inq-"):
        row = conn.execute("SELECT ref FROM pii_keys WHERE ref = %s", (who,)).fetchone()
    else:
        row = conn.execute(
            "SELECT p.inquirer_ref FROM case_access a JOIN pii_cases p ON p.case_id = a.case_id"
            " WHERE a.receipt_number = %s", (who.strip().upper(),)).fetchone()
    if row is None:
        raise UnknownInquirer(f"no inquirer {who!r} (a ref inq-..., or a receipt number of "
                              "a case opened after the encryption cut-over)")
    return str(row[0])


def erase_inquirer(pool: ConnectionPool, who: str, *, by: str, reason: str,
                   ground: ErasureGround = ErasureGround.request, via: str = "cli",
                   source: str = "urn:shouwen:personal",
                   scrub: Sequence[Scrub] = ()) -> ErasureReport:
    repo = CaseRepository(pool)
    with pool.connection() as conn, conn.transaction():
        ref = resolve_ref(conn, who)
        row = conn.execute("SELECT erased_at FROM pii_keys WHERE ref = %s FOR UPDATE",
                           (ref,)).fetchone()
        if row is not None and row[0] is not None:
            return ErasureReport(ref, already=True)
        cases = [r[0] for r in conn.execute(
            "SELECT case_id FROM pii_cases WHERE inquirer_ref = %s ORDER BY case_id", (ref,))]
        held = [r[0] for r in conn.execute(
            "SELECT DISTINCT case_id FROM pii_holds WHERE case_id = ANY(%s)"
            " AND released_at IS NULL ORDER BY case_id", (cases,))]
        if held:
            raise ErasureRefused(f"{ref}: case(s) under a legal hold: {', '.join(held)}")
        conn.execute(
            "UPDATE pii_keys SET wrapped = NULL, blind_index = NULL, erased_at = now(),"
            " erased_by = %s, erase_reason = %s WHERE ref = %s", (by, reason, ref))
        personal_data().forget_ref(ref)
        streams = repo.store.read_streams(cases, conn=conn)
        payload = InquirerErased(inquirer_ref=ref, ground=ground, reason=reason, key_id=ref)
        items = []
        for case_id in cases:
            recorded = streams.get(case_id, [])
            if not recorded:
                continue
            last = recorded[-1].event
            state = fold(case_id, [r.event for r in recorded])
            items.append((state, [new_event(payload, subject=case_id, actor=by, source=source,
                                            causationid=last.id,
                                            correlationid=last.correlationid)]))
        appended = repo.append_many(items, conn)
        if appended.conflicts:  # someone acted on a case meanwhile: roll back, try again
            raise ErasureRefused(f"{ref}: cases changed during the erasure, try again: "
                                 + ", ".join(sorted(appended.conflicts)))
        erased = [e for _, evs in items for e in evs]
        scrubbed = sum(n for fn in scrub if isinstance(n := fn(conn, erased), int))
        for case_id in cases:
            record_access(conn, reader=by, action="erase", via=via, personal_data=False,
                          case_id=case_id, rows=1)
    return ErasureReport(ref, cases, rows_scrubbed=scrubbed)
