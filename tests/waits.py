"""Waiting on something observable, with a deadline, instead of sleeping and hoping: a log
line (in this process, through caplog; or on a child's stderr), a metric, a row."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import IO, Any


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def logged(caplog: Any, text: str) -> Callable[[], bool]:
    """A predicate: some captured record's message contains ``text``."""
    return lambda: any(text in r.getMessage() for r in list(caplog.records))


class Lines:
    """A child's output stream, read line by line in a thread: ``wait_for(text)`` returns
    once a line contains it (AssertionError after the deadline); ``text()`` is all so far."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line with {text!r} within {timeout} s:\n{self.text()}")
            try:
                line = self._lines.get(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line

    def text(self, join: float = 0.0) -> str:
        self._thread.join(join)
        while not self._lines.empty():
            self.seen.append(self._lines.get())
        return "".join(self.seen)
