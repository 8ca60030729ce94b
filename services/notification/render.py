"""Jinja2 templates of the messages, one file per (language, template), package data.

    templates/<language>/<recipient kind>/<name>.txt     e.g. templates/en/inquirer/receipt.txt
        line 1        the subject (e-mail subject; in-app title)
        line 2        empty
        the rest      the body (the whole SMS)

StrictUndefined: a template naming a value the event does not carry fails to render (and the
delivery is retried, then dead-lettered) instead of sending a message with a hole in it. An
operator's directory (``SHOUWEN_NOTIFY_TEMPLATES_DIR``) may override any file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

LANGUAGES = ("zh-CN", "en")


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class Renderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[Any] = [FileSystemLoader(str(override_dir))] if override_dir else []
        loaders.append(PackageLoader("services.notification", "templates"))
        self.env = Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined,
                               autoescape=False, keep_trailing_newline=False)

    def render(self, template: str, language: str, context: dict[str, Any]) -> Rendered:
        if language not in LANGUAGES:
            raise ValueError(f"no templates in language {language!r}")
        text = self.env.get_template(f"{language}/{template}.txt").render(context)
        subject, _, body = text.partition("\n")
        return Rendered(subject.strip(), body.strip("\n"))

    def names(self) -> list[str]:
        """Every template name (``inquirer/receipt`` ...) of the first language."""
        prefix = f"{LANGUAGES[0]}/"
        return sorted(n[len(prefix):-4] for n in self.env.list_templates(extensions=["txt"])
                      if n.startswith(prefix))
