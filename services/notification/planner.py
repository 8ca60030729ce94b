"""The consumer's handler: which delivery records a case event causes, written pending in
the same transaction as the inbox row (services.common.faust_base / routing's batches).

    handle_batch(conn, events)
        events that trigger messages (rules.triggers) ─▶ their cases' received events
        (one query; a received event is its own) ─▶ rules.plan ─▶ store.record_all
        (ONE insert for the whole batch)
    A case with no received event in the store raises: the event is dead-lettered.
    Events migrated by `shouwen import` (source rules.IMPORT_SOURCE) cause no messages.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from events import CloudEvent, decode_payload
from events.inquirer import InquirerErased
from services.common.reads import Reads
from services.notification import rules, store
from services.notification.claim import Directory
from services.notification.rules import CaseFacts, Options
from services.notification.settings import NotifySettings

CONSUMER = "notification"


def reads(event_type: str) -> bool:
    """What handle_batch reads: an erasure, and the types a rule plans messages for; the
    rest is acked unopened (services/common/reads.py)."""
    return event_type == InquirerErased.event_type or rules.triggers(event_type)


READS = Reads(reads, "erasures and rules.triggers")


class Planner:
    def __init__(self, s: NotifySettings, directory: Directory) -> None:
        self.directory = directory
        self.options = Options(staff_email=bool(s.staff_email_domain),
                               webhook=bool(s.webhook_url))

    def handle(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        self.handle_batch(conn, [event])

    def handle_batch(self, conn: psycopg.Connection, events: Sequence[CloudEvent]) -> None:
        erased = [e.subject for e in events if e.type == InquirerErased.event_type]
        if erased:  # done by the erasure already; again, for what was planned since
            store.scrub_erased(conn, erased)
        # a legacy ledger's migration (`shouwen import`) tells no one what happened long ago
        todo = [e for e in events if rules.triggers(e.type) and e.source != rules.IMPORT_SOURCE]
        if not todo:
            return
        facts = {e.subject: (e.id, store.facts_of(conn, e.subject, e.id, e.data))
                 for e in todo if e.type == store.RECEIVED}
        missing = [e.subject for e in todo if e.subject not in facts]
        if missing:
            facts.update(store.case_facts(conn, missing))
        planned: list[store.Planned] = []
        for event in todo:
            if event.subject not in facts:
                raise LookupError(f"case {event.subject} has no received event in the store")
            received_id, case = facts[event.subject]
            data = decode_payload(event).model_dump(mode="json")
            intents = rules.plan(event.type, data, case, self._options(event, data, case))
            planned.append((event.id, event.subject, received_id, intents))
        store.record_all(conn, planned)  # one statement for the batch

    def _options(self, event: CloudEvent, data: dict[str, object], case: CaseFacts) -> Options:
        if not rules.needs_principal_leader(event.type, data):
            return self.options
        index = self.directory()
        leader = index.principal_leader(case.unit_id) if index else None
        return Options(self.options.staff_email, self.options.webhook,
                       leader.staff.id if leader else None)
