"""Look-ups over the directory in force: who a staff member is, where a section sits, who
leads it, what a matter is. Built once per directory version; services keep a cache that
notices a newer version."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool

from services.directory.model import Directory, ExternalBody, Matter, Role, Section, Staff, Unit
from services.directory.store import current


@dataclass(frozen=True)
class Person:
    staff: Staff
    unit: Unit

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(self.staff.roles)

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))


class DirectoryIndex:
    def __init__(self, directory: Directory, version: int) -> None:
        self.directory, self.version = directory, version
        self.units = {u.id: u for u in directory.units}
        self.people = {s.id: Person(s, u) for u in directory.units for s in u.staff}
        self.sections: dict[str, tuple[Section, Unit]] = {
            s.id: (s, u) for u in directory.units for s in u.sections
        }
        self.matters: dict[str, Matter] = {m.code: m for m in directory.matters}
        self.bodies: dict[str, ExternalBody] = {b.id: b for b in directory.external_bodies}

    def person(self, staff_id: str) -> Person | None:
        return self.people.get(staff_id)

    def section_chief(self, section_id: str) -> Person | None:
        return next(
            (p for p in self.people.values()
             if p.staff.section == section_id and Role.section_chief in p.roles),
            None,
        )

    def supervising_leader(self, unit_id: str, section_id: str | None) -> Person | None:
        leaders = [p for p in self.people.values()
                   if p.unit.id == unit_id and Role.supervising_leader in p.roles]
        for p in leaders:
            if section_id is not None and section_id in p.staff.supervises:
                return p
        return next((p for p in leaders if not p.staff.supervises), leaders[0] if leaders else None)

    def principal_leader(self, unit_id: str) -> Person | None:
        return next((p for p in self.people.values()
                     if p.unit.id == unit_id and Role.principal_leader in p.roles), None)

    def staff_of_section(self, section_id: str) -> list[Person]:
        return [p for p in self.people.values() if p.staff.section == section_id]


class DirectoryCache:
    """The index of the directory in force, re-read at most every ``ttl`` seconds."""

    def __init__(self, pool: ConnectionPool, ttl: float = 5.0) -> None:
        self.pool, self.ttl = pool, ttl
        self._index: DirectoryIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def fresh(self) -> DirectoryIndex | None:
        """The index if it was checked within ``ttl`` (no I/O, no lock), else None."""
        index = self._index
        return index if index is not None and time.monotonic() - self._checked <= self.ttl else None

    def get(self) -> DirectoryIndex | None:
        with self._lock:
            if self._index is None or time.monotonic() - self._checked > self.ttl:
                with self.pool.connection() as conn:
                    self._refresh(conn)
            return self._index

    def _refresh(self, conn: psycopg.Connection) -> None:
        self._checked = time.monotonic()
        row = conn.execute("SELECT max(version) FROM directory_versions").fetchone()
        latest = row[0] if row else None
        if latest is None or (self._index is not None and self._index.version == latest):
            return
        loaded = current(conn)
        if loaded is not None:
            self._index = DirectoryIndex(loaded[1], loaded[0])
