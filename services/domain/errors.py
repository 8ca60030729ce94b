"""Why a staff command was refused, beside the domain's own ActionNotAllowed (409).

    NotPermitted     the caller sees the case but may not do this to it      -> 403
    CommandRefused   the request breaks a rule or names something unknown    -> 422
                     (a brush-off, an off-duty handler, an unknown section...)

Out-of-scope cases raise ``CaseNotFound`` instead (404), so ids cannot be probed.
"""

from __future__ import annotations


class NotPermitted(PermissionError):
    pass


class CommandRefused(ValueError):
    def __init__(self, message: str, *, field: str | None = None,
                 phrase: str | None = None) -> None:
        super().__init__(message)
        self.field, self.phrase = field, phrase
