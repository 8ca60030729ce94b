"""The operator CLI's conventions: placeholders in capitals (CASE, FILE), shell completion,
and progress bars that appear on a terminal and nowhere else."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from services.cli import app
from services.common.progress import on_terminal, progress


def leaves(command: Any, path: tuple[str, ...] = ()):
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path, command


def test_every_argument_placeholder_is_in_capitals():
    root = typer.main.get_command(app)
    seen = 0
    for path, command in leaves(root):
        ctx = command.context_class(command, info_name=" ".join(path))
        usage = " ".join(command.collect_usage_pieces(ctx))
        assert "{" not in usage and "}" not in usage, (path, usage)
        for param in command.params:
            if param.param_type_name == "argument":
                assert param.name.upper().replace("_", "-") in usage.replace("_", "-") \
                    or (param.metavar and param.metavar in usage), (path, usage)
                seen += 1
    assert seen >= 5
    bundle = CliRunner().invoke(app, ["bundle", "--help"])
    assert "bundle [OPTIONS] CASE" in bundle.output


def test_shell_completion_is_offered():
    help_ = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in help_.output and "--show-completion" in help_.output
    shouwen = str(Path(sys.executable).parent / "shouwen")
    script = subprocess.run([shouwen, "--show-completion"], capture_output=True, text=True,
                            env={**os.environ, "SHELL": "/bin/bash"}, timeout=60)
    assert script.returncode == 0, script.stderr
    assert "complete -o default -F _shouwen_completion shouwen" in script.stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal_only():
    pipe, tty = io.StringIO(), Terminal()
    for stream in (pipe, tty):
        with progress("verifying", 10, stream=stream) as advance:
            for _ in range(10):
                advance(1)
    assert pipe.getvalue() == "" and not on_terminal(pipe)
    assert on_terminal(tty) and "verifying" in tty.getvalue()
