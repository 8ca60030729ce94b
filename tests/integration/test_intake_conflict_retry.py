"""A background service appending to a case between intake's read and its append: without
an expected version the request is redone on the server (reload, re-check, re-append), not
answered 409; with one, the caller asked to be told, and is. Over HTTP, real PostgreSQL; the
background append is made, committed, on a connection of its own at that very moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from events import new_event
from events.notification import NotificationSent
from tests.integration.intake_helpers import ACCEPT, FIRST, REPLY, events_of, post, register
from tests.integration.test_intake_public import access, open_case, reply, wiring


def interfere(client: TestClient, url: str, times: int = 1) -> Callable[[], int]:
    """The next ``times`` appends (sync or async) find a background event appended just
    before them."""
    repo = wiring(client).repo
    real, real_async = repo.append, repo.append_async
    done = 0

    def background(case_id: str) -> None:
        nonlocal done
        if done < times:
            done += 1
            event = new_event(NotificationSent(
                source_event_id=f"e-{done}", channel="in_app", recipient_kind="staff",
                recipient_id=FIRST, template="staff/assigned", language="zh-CN",
                attempts=1, message="新案件"),
                subject=case_id, actor="service:notification")
            with psycopg.connect(url, autocommit=True) as other:
                real(repo.load(case_id, other), [event], other)

    def append(state: Any, events: Any, conn: Any) -> Any:
        background(state.case_id)
        return real(state, events, conn)

    async def append_async(state: Any, event: Any, conn: Any) -> Any:
        background(state.case_id)
        return await real_async(state, event, conn)

    repo.append = append  # type: ignore[method-assign]
    repo.append_async = append_async  # type: ignore[method-assign]
    return lambda: done


def test_a_staff_action_without_expected_version_is_redone_not_409(
        intake: TestClient, token_for, database_url) -> None:
    staff = token_for(FIRST)
    case_id = register(intake, staff)["case_id"]
    count = interfere(intake, database_url, times=2)
    r = post(intake, case_id, "accept", ACCEPT, staff)
    assert r.status_code == 200, r.text
    assert count() == 2
    kinds = [(e["type"], e["actor"]) for e in events_of(database_url, case_id)]
    assert kinds[-3:] == [("notification_sent", "service:notification"),
                          ("notification_sent", "service:notification"),
                          ("accepted", f"staff:{FIRST}")]


def test_with_an_expected_version_the_caller_is_told_the_case_moved(
        intake: TestClient, token_for, database_url) -> None:
    staff = token_for(FIRST)
    case_id = register(intake, staff)["case_id"]
    interfere(intake, database_url)
    r = post(intake, case_id, "reply", {**REPLY, "expected_version": 1}, staff)
    assert r.status_code == 409, r.text
    assert r.json()["expected_version"] == 1 and r.json()["actual_version"] == 2
    assert [e["type"] for e in events_of(database_url, case_id)][-1] == "notification_sent"


def test_a_rating_is_redone_when_a_background_append_came_first(
        intake: TestClient, database_url) -> None:
    receipt = open_case(intake)
    reply(intake, receipt)
    count = interfere(intake, database_url)
    r = intake.post("/v1/public/rating", json=access(receipt, level="满意"))
    assert r.status_code == 201, r.text
    assert count() == 1
    types = [e["type"] for e in events_of(database_url, receipt.case_id)]
    assert types[-2:] == ["notification_sent", "rated"]
