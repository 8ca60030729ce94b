"""Putting a directory version in force, and reading the one in force.

A load is one transaction: the new version row and a ``shouwen.directory.changed`` event
(naming the actor and what was added, removed or changed) in the ``directory`` stream. If
anything fails, nothing changes and the old directory stays in force.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from events import new_event
from events.directory import Changes, DirectoryChanged
from services.common.eventstore import EventStore
from services.directory.model import Directory

STREAM = "directory"


def current(conn: psycopg.Connection) -> tuple[int, Directory] | None:
    row = conn.execute(
        "SELECT version, document FROM directory_versions ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return (int(row[0]), Directory.model_validate(row[1])) if row else None


def put_in_force(
    url: str, directory: Directory, *, actor: str, source: str
) -> DirectoryChanged | None:
    """Make ``directory`` the one in force; returns the change recorded, or None when the
    document is identical to the one already in force."""
    document = directory.model_dump(mode="json")
    digest = hashlib.sha256(
        json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("LOCK TABLE directory_versions IN EXCLUSIVE MODE")
        previous = current(conn)
        old = previous[1].model_dump(mode="json") if previous else {}
        version = (previous[0] if previous else 0) + 1
        change = DirectoryChanged(
            version=version,
            sha256=digest,
            source=source[-500:],
            **{kind: _diff(old, document, kind) for kind in _KINDS},
        )
        if previous and previous[1] == directory:
            return None
        conn.execute(
            "INSERT INTO directory_versions (version, actor, sha256, document)"
            " VALUES (%s, %s, %s, %s)",
            (version, actor, digest, Jsonb(document)),
        )
        event = new_event(change, subject=STREAM, actor=actor)
        EventStore(url).append(STREAM, [event], expected_version=version - 1, conn=conn)
        return change


_KINDS = ("units", "sections", "staff", "matters", "external_bodies")


def _items(document: dict[str, Any], kind: str) -> dict[str, Any]:
    units = document.get("units", [])
    if kind == "units":
        return {
            u["id"]: {k: v for k, v in u.items() if k not in ("sections", "staff")} for u in units
        }
    if kind in ("sections", "staff"):
        return {x["id"]: x for u in units for x in u.get(kind, [])}
    key = "code" if kind == "matters" else "id"
    return {x[key]: x for x in document.get(kind, [])}


def _diff(old: dict[str, Any], new: dict[str, Any], kind: str) -> Changes:
    a, b = _items(old, kind), _items(new, kind)
    return Changes(
        added=sorted(b.keys() - a.keys()),
        removed=sorted(a.keys() - b.keys()),
        changed=sorted(k for k in a.keys() & b.keys() if a[k] != b[k]),
    )
