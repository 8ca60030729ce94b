"""The lifecycle driver: N inquiries, each from registration to its end, over HTTP.

    World.load(directory.yaml)   on-duty staff per unit and section, the matter catalogue
    Driver.run(n)                up to ``concurrency`` lifecycles at once on one aiohttp
                                 session (keep-alive); every request timed by kind

One lifecycle (seeded per case, so a run is repeatable):

    register (channel: phone 35%, hotline 25, visit 15, window 10, online 10, letter 5)
    ├─ 75%: accept (the first responder, the matter's catalogue time limit)
    └─ 25%: refer to a named handler of the matter's section ─▶ accept-handoff (the handler)
       either of them answered 409 because routing referred the case first: the handler
       routing named accepts the handoff and carries on
    15%: one-time notice of a missing material ─▶ materials supplied (complete)
    reply ─▶ complete ─▶ deliver           60%: a rating          3%: a complaint

Client CPU matters: the driver shares the machine with the suite, so it is measured
(``cpu_seconds``) and reported beside the wall time. aiohttp with keep-alive costs about a
tenth of a millisecond of client CPU a request (httpx ~1.9 ms).
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

CHANNELS = [("phone", 35), ("hotline", 25), ("visit", 15), ("window", 10), ("online", 10),
            ("letter", 5)]
LEVELS = ["非常满意", "满意", "满意", "基本满意", "不满意"]


@dataclass(frozen=True)
class Matter:
    code: str
    name: str
    section: str
    unit: str


@dataclass
class World:
    staff: dict[str, list[str]]  # unit -> on-duty staff able to register
    section_staff: dict[str, list[str]]  # section -> on-duty staff
    matters: dict[str, list[Matter]]  # unit -> matters its sections handle

    @classmethod
    def load(cls, path: Path) -> World:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        staff: dict[str, list[str]] = defaultdict(list)
        section_staff: dict[str, list[str]] = defaultdict(list)
        unit_of: dict[str, str] = {}
        for unit in doc["units"]:
            for section in unit.get("sections", []):
                unit_of[section["id"]] = unit["id"]
            for person in unit.get("staff", []):
                if "staff" in person.get("roles", []) and person.get("on_duty", True):
                    staff[unit["id"]].append(person["id"])
                    section_staff[person["section"]].append(person["id"])
        matters: dict[str, list[Matter]] = defaultdict(list)
        for m in doc.get("matters", []):
            unit = unit_of.get(m.get("section", ""))
            if unit and section_staff.get(m["section"]):
                matters[unit].append(Matter(m["code"], m["name"], m["section"], unit))
        return cls({u: s for u, s in staff.items() if matters.get(u)}, dict(section_staff),
                   dict(matters))


@dataclass
class Tally:
    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[tuple[str, int]] = field(default_factory=Counter)
    registered: int = 0
    finished: int = 0
    routed_first: int = 0  # routing referred the case before the person acted
    notices: int = 0
    ratings: int = 0
    complaints: int = 0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.seconds.values())


class Refused(Exception):
    """A request the lifecycle cannot go on after (counted in Tally.errors)."""


class Driver:
    def __init__(self, base_url: str, world: World, token: Callable[[str], str], *,
                 concurrency: int = 48, seed: int = 12345) -> None:
        self.base, self.world, self.token = base_url.rstrip("/"), world, token
        self.concurrency, self.seed = concurrency, seed
        self.tally = Tally()
        self._headers: dict[str, dict[str, str]] = {}
        self._session: aiohttp.ClientSession | None = None

    def headers(self, staff_id: str) -> dict[str, str]:
        if staff_id not in self._headers:
            self._headers[staff_id] = {"Authorization": f"Bearer {self.token(staff_id)}"}
        return self._headers[staff_id]

    async def call(self, kind: str, path: str, body: Any, staff: str | None = None,
                   method: str = "POST", ok: tuple[int, ...] = ()) -> tuple[int, Any]:
        assert self._session is not None
        began = time.perf_counter()
        async with self._session.request(
                method, self.base + path, json=body,
                headers=self.headers(staff) if staff else None) as r:
            data = await r.json(content_type=None) if r.status != 204 else None
        self.tally.seconds[kind].append(time.perf_counter() - began)
        if r.status >= 300 and r.status not in ok:
            self.tally.errors[(kind, r.status)] += 1
            raise Refused(f"{kind}: {r.status} {data}")
        return r.status, data

    async def _taken_by_routing(self, case_id: str, staff: str) -> str:
        """Routing referred the case before ``staff`` acted: the named handler takes it."""
        _, case = await self.call("get_case", f"/v1/cases/{case_id}", None, staff, "GET")
        handler = case.get("awaiting_handoff_to")
        if not handler:
            self.tally.errors[("not_routed", 409)] += 1
            raise Refused(f"{case_id}: 409 yet not awaiting a handoff: {case}")
        self.tally.routed_first += 1
        await self.call("accept_handoff", f"/v1/cases/{case_id}/accept-handoff", {}, handler)
        return str(handler)

    async def lifecycle(self, i: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + i)
        w = self.world
        unit = rng.choice(sorted(w.staff))
        first = rng.choice(w.staff[unit])
        matter = rng.choice(w.matters[unit])
        channel = rng.choices([c for c, _ in CHANNELS], [p for _, p in CHANNELS])[0]
        inquiry: dict[str, Any] = {
            "channel": channel, "matter": f"{matter.name}，请问需要什么材料、多久能办好？",
            "inquirer_name": rng.choice(["王小明", "李秀英", "张伟", "刘洋", "陈静", "杨帆"]),
            "inquirer_phone": f"139{rng.randrange(10**8):08d}",
        }
        if channel == "letter":
            inquiry["inquirer_address"] = f"示范市和平路{rng.randrange(1, 400)}号"
        if rng.random() < 0.3:
            inquiry["inquirer_email"] = f"c{i}@example.org"
        _, receipt = await self.call("register", "/v1/cases", inquiry, first)
        self.tally.registered += 1
        case_id, path = receipt["case_id"], f"/v1/cases/{receipt['case_id']}"
        actor = first
        others = [s for s in w.section_staff[matter.section] if s != first]
        if others and rng.random() < 0.25:
            handler = rng.choice(others)
            status, _ = await self.call("refer", f"{path}/refer", {
                "kind": "internal", "section_id": matter.section, "handler_id": handler,
                "reason": "由经办股室办理"}, first, ok=(409,))
            if status == 409:
                actor = await self._taken_by_routing(case_id, first)
            else:
                await self.call("accept_handoff", f"{path}/accept-handoff", {}, handler)
                actor = handler
        else:
            status, _ = await self.call("accept", f"{path}/accept", {
                "matter_type_code": matter.code,
                "handling_plan": "按承诺时限办理，办结后短信通知"}, first, ok=(409,))
            if status == 409:
                actor = await self._taken_by_routing(case_id, first)
        if rng.random() < 0.15:
            await self.call("one_time_notice", f"{path}/one-time-notice", {
                "missing_materials": [{"name": "身份证复印件", "requirements": "正反面复印"}]},
                actor)
            await self.call("materials_supplied", f"{path}/materials-supplied", {
                "materials": ["身份证复印件"], "complete": True}, actor)
            self.tally.notices += 1
        await self.call("reply", f"{path}/reply", {
            "answer": "您的事项已受理并办理完毕，请按短信提示领取结果"}, actor)
        await self.call("complete", f"{path}/complete", {
            "outcome": "resolved", "summary": "已按规定办结"}, actor)
        await self.call("deliver", f"{path}/deliver", {
            "method": "sms", "recipient_name": inquiry["inquirer_name"]}, actor)
        access = {"receipt_number": receipt["receipt_number"],
                  "access_code": receipt["access_code"]}
        if rng.random() < 0.6:
            await self.call("rating", "/v1/public/rating", {**access,
                                                            "level": rng.choice(LEVELS)})
            self.tally.ratings += 1
        if rng.random() < 0.03:
            await self.call("complaint", "/v1/public/complaints", {
                **access, "complaint": "等待时间过长，希望改进"})
            self.tally.complaints += 1
        self.tally.finished += 1

    async def run(self, n: int) -> tuple[float, float]:
        """Every lifecycle; returns (wall seconds, this process's CPU seconds). Every staff
        member's token is signed before the clocks start (a login, not a request)."""
        for staff in {s for people in self.world.section_staff.values() for s in people}:
            self.headers(staff)
        cpu0, began = _cpu(), time.perf_counter()
        connector = aiohttp.TCPConnector(limit=self.concurrency, keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self._session = session
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(n):
                queue.put_nowait(i)

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    try:
                        await self.lifecycle(i)
                    except Refused:
                        pass
                    except (aiohttp.ClientError, TimeoutError):
                        self.tally.errors[("connection", 0)] += 1

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        return time.perf_counter() - began, _cpu() - cpu0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
