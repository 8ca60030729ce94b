"""Progress bars for long operator commands (rebuild, republish, verify), on a terminal only.

    with progress("verifying", total) as advance:   advance(n) after each batch
        ...

On a TTY (stderr) a rich progress bar; anywhere else (a pipe, a log file, CI, a Job's log)
nothing at all: no escape codes in logs. ``total`` may be None (a spinner and a count).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

Advance = Callable[[int], None]


def on_terminal(stream: IO[str] | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(label: str, total: int | None = None, *,
             stream: IO[str] | None = None) -> Iterator[Advance]:
    if not on_terminal(stream):
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream if stream is not None else sys.stderr)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
