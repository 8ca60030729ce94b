"""A real process the tests start and stop: its output goes to a log file the test reads when
something goes wrong (the tail, and the exit status once it has exited)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class LoggedProcess:
    def __init__(self, argv: Sequence[str], env: dict[str, str], log_path: Path,
                 tail: int = 6000) -> None:
        self.log_path, self.tail = log_path, tail
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(list(argv), cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT)

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace")[-self.tail:]
        code = self.proc.poll()
        return text if code is None else f"{text}\n[exited: {code}]"

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
