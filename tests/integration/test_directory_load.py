"""`shouwen directory load` as an operator runs it, against a real PostgreSQL.

Each load is a new version in ``directory_versions`` plus one ``shouwen.directory.changed``
event in the event store's ``directory`` stream, naming who loaded it and what changed. A bad
file, an unchanged file or a bad actor leaves both exactly as they were.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from services.common.eventstore import EventStore

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "directory.yaml"
SHOUWEN = Path(sys.executable).parent / "shouwen"
CHANGED = "shouwen.directory.changed.v1"
KINDS = ("units", "sections", "staff", "matters", "external_bodies")


@pytest.fixture
def load(database_url: str):
    """Run the real CLI; only the database is needed, so no broker is started."""
    env = {**os.environ, "DATABASE_URL": database_url}

    def run(file: Path, actor: str = "staff:ADMIN01") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SHOUWEN), "directory", "load", str(file), "--actor", actor],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )

    return run


def versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, actor FROM directory_versions ORDER BY version")
        return [(int(v), str(a)) for v, a in rows]


def event_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0


def changes(url: str) -> list[dict[str, Any]]:
    stream = EventStore(url).read_stream("directory")
    assert all(r.event.type == CHANGED for r in stream)
    return [r.event.data for r in stream]


def line_of(text: str, needle: str) -> int:
    [line] = [i for i, t in enumerate(text.splitlines(), start=1) if needle in t]
    return line


def test_loading_the_demo_puts_version_1_in_force_and_records_who_and_what(
    load, database_url: str
) -> None:
    done = load(DEMO)
    assert done.returncode == 0, done.stderr
    assert "directory version 1 in force" in done.stdout
    assert versions(database_url) == [(1, "staff:ADMIN01")]
    [recorded] = EventStore(database_url).read_stream("directory")
    assert recorded.event.type == CHANGED and recorded.event.actor == "staff:ADMIN01"
    data = recorded.event.data
    demo = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert data["units"]["added"] == sorted(u["id"] for u in demo["units"])
    assert data["staff"]["added"] == sorted(s["id"] for u in demo["units"] for s in u["staff"])
    assert data["matters"]["added"] == sorted(m["code"] for m in demo["matters"])
    assert data["external_bodies"]["added"] == sorted(b["id"] for b in demo["external_bodies"])
    assert all(not data[k]["removed"] and not data[k]["changed"] for k in KINDS)


def test_a_bad_file_is_refused_with_its_line_and_the_one_in_force_stays(
    load, database_url: str, tmp_path: Path
) -> None:
    assert load(DEMO).returncode == 0
    before = event_count(database_url)
    text = DEMO.read_text(encoding="utf-8").replace("roles: [admin]", "roles: [superuser]")
    bad = tmp_path / "directory.yaml"
    bad.write_text(text, encoding="utf-8")

    done = load(bad)

    assert done.returncode == 2
    assert f"{bad}:{line_of(text, 'roles: [superuser]')}: units." in done.stderr
    assert "roles.0: Input should be" in done.stderr
    assert "the one in force is unchanged" in done.stderr
    assert versions(database_url) == [(1, "staff:ADMIN01")]
    assert event_count(database_url) == before
    assert len(changes(database_url)) == 1


def test_a_modified_copy_becomes_version_2_naming_exactly_what_changed(
    load, database_url: str, tmp_path: Path
) -> None:
    assert load(DEMO).returncode == 0
    document = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    staff = document["units"][1]["staff"][7]
    staff["contact"] = "0935-8219999"
    new_matter = {
        "code": "TEST-NEW-01", "name": "测试新增事项", "category": "测试",
        "keywords": ["新增测试"], "external_body": document["external_bodies"][0]["id"],
        "materials": ["居民身份证原件"],
    }
    document["matters"].append(new_matter)
    modified = tmp_path / "directory-v2.yaml"
    modified.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")

    done = load(modified, actor="staff:ZX012")

    assert done.returncode == 0, done.stderr
    assert "directory version 2 in force" in done.stdout
    assert versions(database_url) == [(1, "staff:ADMIN01"), (2, "staff:ZX012")]
    second = changes(database_url)[1]
    assert second["version"] == 2 and second["source"].endswith("directory-v2.yaml")
    assert second["staff"] == {"added": [], "removed": [], "changed": [staff["id"]]}
    assert second["matters"] == {"added": ["TEST-NEW-01"], "removed": [], "changed": []}
    for kind in ("units", "sections", "external_bodies"):
        assert second[kind] == {"added": [], "removed": [], "changed": []}, kind


def test_loading_the_same_file_again_changes_nothing(load, database_url: str) -> None:
    assert load(DEMO).returncode == 0
    before = event_count(database_url)

    again = load(DEMO, actor="staff:ZX013")

    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    assert versions(database_url) == [(1, "staff:ADMIN01")]
    assert event_count(database_url) == before


def test_an_actor_that_is_not_an_actor_is_refused(load, database_url: str) -> None:
    done = load(DEMO, actor="nonsense")
    assert done.returncode == 2
    assert "--actor" in done.stderr
    assert versions(database_url) == []
    assert event_count(database_url) == 0
