"""YAML -> Directory, refusing a bad file with the line and the reason.

PyYAML's composed node tree keeps each value's position; a validation error's path
(``units.0.staff.3.roles``) is walked down that tree to find the line to report.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from services.common.text import TextRefused, clean_tree
from services.directory.model import Directory, Loc, reference_errors


class DirectoryFileError(ValueError):
    """A directory file that cannot be loaded; ``problems`` are (line, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = [f"{source}:{line}: {reason}" for line, reason in problems]
        super().__init__("\n".join(lines))


MAX_BYTES = 16 * 1024 * 1024  # a city's directory is a few hundred kilobytes


def load_directory(path: Path) -> Directory:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise DirectoryFileError(str(path), [(0, f"larger than {MAX_BYTES} bytes")])
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryFileError(str(path), [(0, f"cannot read the file: {exc}")]) from None
    return parse_directory(text, str(path))


def parse_directory(text: str, source: str = "<directory>") -> Directory:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise DirectoryFileError(source, [(line, f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise DirectoryFileError(source, [(0, "nested too deep to be a directory")]) from None
    if not isinstance(data, dict):
        raise DirectoryFileError(
            source, [(1, "the file must be a mapping with 'units:' at the top")]
        )
    try:
        data = clean_tree(data)  # the same text hygiene as every other way in
    except TextRefused as exc:
        loc = tuple(int(p) if p.isdigit() else p for p in exc.field.split("."))
        raise DirectoryFileError(source, [(_line_of(node, loc), str(exc))]) from None
    try:
        directory = Directory.model_validate(data)
    except ValidationError as exc:
        problems = [
            (_line_of(node, tuple(e["loc"])), f"{_dotted(tuple(e['loc']))}: {e['msg']}")
            for e in exc.errors()
        ]
        raise DirectoryFileError(source, problems) from None
    refs = reference_errors(directory)
    if refs:
        raise DirectoryFileError(
            source, [(_line_of(node, loc), f"{_dotted(loc)}: {msg}") for loc, msg in refs]
        )
    return directory


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc) or "(top)"


def _line_of(node: yaml.Node | None, loc: Loc) -> int:
    """The 1-based line of the deepest node along ``loc`` that exists."""
    best = node.start_mark.line + 1 if node is not None else 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == part]
            key = [k for k, _ in node.value if getattr(k, "value", None) == part]
            if not match:
                return best
            node, best = match[0], key[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return best
            node = node.value[part]
            best = node.start_mark.line + 1
        else:
            return best
    return best
