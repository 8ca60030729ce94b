"""Dead letters kept in PostgreSQL, and `shouwen dead-letters list|show|replay|discard`
against a real consumer, broker and PostgreSQL: a message whose handler failed is listed
with its reason and counted by consumer; after the fix, a replay applies it once, a second
replay sends nothing, a forced one changes nothing (the inbox); a letter is discarded with
who and why."""

from __future__ import annotations

import subprocess
import time

import orjson
import psycopg
import pytest

from bench.plain_consumer import EventConsumer
from services.common.bus import topic_size
from services.common.consumer import Outcome
from tests.faults.workers import SHOUWEN
from tests.integration.faust_app_fixture import (
    EFFECTS_DDL,
    effects,
    produce,
    received,
    record_effect,
)

pytestmark = pytest.mark.fault

NAME = "test-ledger"


def shouwen(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([SHOUWEN, "dead-letters", *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def drain(consumer: EventConsumer, expected: int, timeout: float = 20.0) -> list[Outcome]:
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < expected and time.monotonic() < deadline:
        outcomes += consumer.poll_once(timeout_ms=300)
    return outcomes


def test_a_dead_letter_is_listed_replayed_once_after_the_fix_and_discarded(settings, env_for):
    url = str(settings.database_url)
    with psycopg.connect(url) as conn:
        conn.execute(EFFECTS_DDL)
    broken = {True}

    def handler(conn, event):  # type: ignore[no-untyped-def]
        if broken and event.data["matter"] == "户籍证明":
            raise RuntimeError("a bug, fixed later")
        record_effect(conn, event)

    consumer = EventConsumer(settings, NAME, handler)
    try:
        good, failing = received("C-1"), received("C-2", matter="户籍证明")
        produce(settings, good, failing, (b"C-3", b"garbage", []))
        assert sorted(drain(consumer, 3)) == sorted(
            [Outcome.handled, Outcome.dead_lettered, Outcome.dead_lettered])
        env = {**env_for}

        listed = shouwen(env, "list")
        assert "2 open dead letter(s)" in listed
        assert f"{NAME}" in listed and "handler-failed" in listed and "undecodable" in listed
        ids = {line.split()[3]: line.split()[0] for line in listed.splitlines()
               if line.strip()[:1].isdigit() and "open" in line}
        shown = orjson.loads(shouwen(env, "show", ids["handler-failed"]))
        assert shown["reason"] == "handler-failed" and "a bug" in shown["error"]
        assert shown["data"]["inquirer_name"] != "张三"  # masked
        assert shown["subject"] == "C-2" and shown["event_id"] == str(failing.id)

        broken.clear()  # the fix is deployed
        assert "replayed onto" in shouwen(env, "replay", ids["handler-failed"])
        assert drain(consumer, 1) == [Outcome.handled]
        before = topic_size(str(settings.kafka_bootstrap_servers), settings.case_events_topic)
        assert "not sent again" in shouwen(env, "replay", ids["handler-failed"])
        assert topic_size(str(settings.kafka_bootstrap_servers),
                          settings.case_events_topic) == before
        shouwen(env, "replay", ids["handler-failed"], "--again")
        assert drain(consumer, 1) == [Outcome.duplicate]  # the inbox: no second effect
        assert sorted(e[0] for e in effects(url)) == sorted([good.id, failing.id])

        out = shouwen(env, "discard", ids["undecodable"], "--reason", "test garbage",
                      "--by", "ZX013")
        assert "discarded" in out
        assert "0 open dead letter(s)" in shouwen(env, "list")
        everything = shouwen(env, "list", "--status", "all")
        assert "replayed" in everything and "discarded" in everything
        assert orjson.loads(shouwen(env, "show", ids["undecodable"]))["resolved_by"] == "ZX013"
    finally:
        consumer.close()


def test_poison_with_nul_and_broken_utf8_headers_is_kept_and_does_not_stop_the_consumer(
    settings, env_for
):
    url = str(settings.database_url)
    with psycopg.connect(url) as conn:
        conn.execute(EFFECTS_DDL)
    consumer = EventConsumer(settings, NAME, record_effect)
    try:
        good = received("C-1")
        nasty = (b"C-1\x00", b'{"a": "\\u0000"}', [("ce_specversion", b"1.0"),
                                                    ("ce_type", b"shouwen.\x00.v1"),
                                                    ("ce_id", b"\xff\xfe"), ("x\x00", b"\x00")])
        produce(settings, nasty, good)
        assert drain(consumer, 2) == [Outcome.dead_lettered, Outcome.handled]
    finally:
        consumer.close()
    listed = shouwen(env_for, "list")
    assert "1 open dead letter(s)" in listed and "undecodable" in listed
    assert [e[0] for e in effects(url)] == [good.id]
