"""Which event types a consumer reads, and the messages it may pass over unopened.

    Reads(reads)   reads(newest type) -> bool: the consumer's handler does something with
                   events of that type (its dispatch table says so: routing's three types,
                   deadline-watch's clock rules, notification's triggers); EVERYTHING: all
    skipped(delivery) -> the type, when the message may be acknowledged as skipped:
        ce_type header absent, repeated or not UTF-8  ─▶ None: decoded in full, as ever
        the type is not registered, nor does an upcaster lead to a registered one
                                                      ─▶ None: decoded in full, so it is
                                                         dead-lettered (unknown-type/-version)
        the newest version of the type is read        ─▶ None: decoded, verified, inbox, handler
        a KNOWN type this consumer does not read      ─▶ the type: acked, counted
                                                         (shouwen_consumer_skipped_total),
                                                         no decode, no verify, no inbox row

A skip list would be "anything not mine"; this is "known and not mine", so poison still
reaches the dead-letter topic. An old version of a read type is read: the type is matched
after its upcaster chain (``newest_type``). What a skipped message would have been refused
for (a key that is not its subject, a forged copy) changes nothing here, since nothing of
it is applied; a consumer reading every type (the ledger) still screens each message.

The decision is a header lookup and a dict hit per message (cached per type string).
A skipped message is acked with its batch, in delivery order, never ahead of it: faust
commits the first run of consecutive acked offsets of a partition whatever lies below it
(``Consumer._new_offset``), so one acked early would commit past messages not yet handled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from events import UnknownEventType, model_for
from events.kafka import type_header
from events.registry import newest_type
from services.common.deadletter import Delivery


class Reads:
    def __init__(self, reads: Callable[[str], bool] | None, name: str = "") -> None:
        """``reads`` answers for a registered type at its newest version; None: every type."""
        self._reads, self.name = reads, name
        self._skips: dict[str, bool] = {}

    @classmethod
    def types(cls, types: Iterable[str]) -> Reads:
        """Exactly these (registered, newest-version) types."""
        chosen = frozenset(types)
        for t in chosen:
            model_for(t)  # a typo would read nothing: refuse it at once
        return cls(chosen.__contains__, ", ".join(sorted(chosen)))

    @property
    def everything(self) -> bool:
        return self._reads is None

    def skips(self, event_type: str | None) -> bool:
        """Whether a message whose ce_type header says ``event_type`` may go unopened."""
        if event_type is None or self._reads is None:
            return False
        known = self._skips.get(event_type)
        if known is None:
            known = self._decide(event_type)
            if known:  # only registered types are kept: made-up ones cannot grow the cache
                self._skips[event_type] = known
        return known

    def skipped(self, delivery: Delivery) -> str | None:
        """The message's type when it may be acknowledged as skipped; None: screen it."""
        if self._reads is None:
            return None
        event_type = type_header(delivery.headers)
        return event_type if self.skips(event_type) else None

    def _decide(self, event_type: str) -> bool:
        assert self._reads is not None
        try:
            newest = newest_type(event_type)
            model_for(newest)
        except UnknownEventType:
            return False  # not a type at all: the full decode dead-letters it
        return not self._reads(newest)


EVERYTHING = Reads(None, "every type")
