"""Registering inquiries over HTTP, beside a bare FastAPI endpoint doing one INSERT.

    intake   POST /v1/cases as staff ZX005 (bearer JWT), served by ``shouwen intake``:
             auth, validation, the received event, the case index row and the access code
             in one statement on an autocommit connection (async endpoint, psycopg's async
             pool); 201 with the receipt = the event is committed
    bare     POST /inquiries on a FastAPI app made here: the same body, validated by a
             pydantic model with the same fields, one INSERT (jsonb) into a plain table,
             one commit; 201 (a plain ``def`` endpoint, as FastAPI's tutorial writes it)
    both     uvicorn, 1 worker (as `shouwen intake` runs by default; a second worker gained
             no more than the noise on 2 cores that PostgreSQL and the load also need), a
             connection pool of 2..16, uvloop + httptools (uvicorn's choice, installed),
             access log off, one PostgreSQL (fsync on)

    max throughput   closed loop: CLIENTS keep-alive connections, each sending the next
                     request when the last is answered; best of ROUNDS
    latency          open loop at RATE requests/s on a fixed schedule (a slow answer does not
                     delay the next request): p50 / p99 from when each request was due to
                     its full answer; the round with the median p99 of ROUNDS. Also at
                     LIGHT_RATE, a load both can carry here, to tell queueing from service
    CPU              the server process's CPU seconds per request in the best closed round

The load comes from another process (spawned): a small asyncio HTTP/1.1 client over raw
keep-alive sockets, cheap enough to share two cores with the server and PostgreSQL.
Bare and intake run in turns, round by round, while the other idles. Any answer but 201
aborts the run, and the received events in the store must number at least the 201s counted.
``python -m bench.intake_bench`` runs it alone (embedded PostgreSQL when DATABASE_URL is
unset); ``--quick``, ``run(url, quick=True)`` or SHOUWEN_BENCH_QUICK=1 make it a smoke test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any, Literal

import psycopg
from fastapi import FastAPI, Request
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from bench.common import figure

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "deploy" / "demo" / "directory.yaml"
SHOUWEN = str(Path(sys.executable).parent / "shouwen")
STAFF = "ZX005"
CLIENTS = 16  # the connection pool's size: more clients only queue inside the server
RATE = 500.0
LIGHT_RATE = 100.0
MAX_CONNECTIONS = 256  # open loop: beyond this, a due request waits (and that counts)
ROUNDS, SECONDS, WARMUP = 3, 6.0, 2.0
QUICK_ROUNDS, QUICK_SECONDS, QUICK_WARMUP = 1, 2.0, 0.5
INQUIRY = {"channel": "phone", "matter": "来电询问养老保险关系转移接续需要哪些材料、多长时间办结",
           "inquirer_name": "陈大伟", "inquirer_phone": "13912345678",
           "inquirer_address": "示范市和平路12号3单元401"}


# -- the bare baseline: one INSERT -----------------------------------------------------------
class BareInquiry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Literal["visit", "phone", "letter", "online", "hotline", "window"]
    matter: Annotated[str, Field(min_length=1, max_length=4000)]
    inquirer_name: Annotated[str, Field(min_length=1, max_length=100)]
    inquirer_phone: Annotated[str, Field(max_length=20)] | None = None
    inquirer_address: Annotated[str, Field(max_length=200)] | None = None
    inquirer_work_unit: Annotated[str, Field(max_length=200)] | None = None
    inquirer_id_number: Annotated[str, Field(max_length=18)] | None = None
    inquirer_email: Annotated[str, Field(max_length=254)] | None = None


BARE_TABLE = ("CREATE TABLE IF NOT EXISTS bare_inquiries (id bigserial PRIMARY KEY,"
              " case_id text NOT NULL, channel text NOT NULL, data jsonb NOT NULL,"
              " received_at timestamptz NOT NULL DEFAULT now())")


def bare_app() -> FastAPI:
    """``uvicorn --factory bench.intake_bench:bare_app`` (DATABASE_URL from the env)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ConnectionPool(os.environ["DATABASE_URL"], min_size=2, max_size=16) as pool:
            app.state.pool = pool
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/inquiries", status_code=201)
    def register(body: BareInquiry, request: Request) -> dict[str, str]:
        case_id = f"C-{uuid.uuid4().hex}"
        with request.app.state.pool.connection() as conn:
            conn.execute("INSERT INTO bare_inquiries (case_id, channel, data) VALUES (%s, %s, %s)",
                         (case_id, body.channel, Jsonb(body.model_dump())))
        return {"case_id": case_id}

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


# -- the load, in its own process -------------------------------------------------------------
_LENGTH = re.compile(rb"\r\ncontent-length: *([0-9]+)", re.IGNORECASE)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.used = reader, writer, time.monotonic()

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        found = _LENGTH.search(head)
        await self.reader.readexactly(int(found.group(1)) if found else 0)
        self.used = time.monotonic()
        return int(head[9:12])


async def _connect(port: int) -> Connection:
    return Connection(*await asyncio.open_connection("127.0.0.1", port))


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: dict[int, int] = {}

    def note(self, status: int, seconds: float) -> None:
        if status == 201:
            self.latencies.append(seconds * 1000)
        else:
            self.errors[status] = self.errors.get(status, 0) + 1

    def result(self, elapsed: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def at(p: float) -> float:
            return ordered[max(0, round(p * len(ordered)) - 1)] if ordered else 0.0

        return {"ok": len(ordered), "errors": self.errors, "rate": len(ordered) / elapsed,
                "p50": at(0.50), "p99": at(0.99)}


async def _closed(port: int, request: bytes, clients: int, seconds: float) -> dict[str, Any]:
    tally, conns = Tally(), [await _connect(port) for _ in range(clients)]
    stop = time.monotonic() + seconds

    async def client(conn: Connection) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            tally.note(await conn.send(request), time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(client(c) for c in conns))
    for c in conns:
        c.writer.close()
    return tally.result(time.monotonic() - started)


async def _open(port: int, request: bytes, rate: float, seconds: float) -> dict[str, Any]:
    tally, idle, tasks = Tally(), [await _connect(port) for _ in range(16)], []
    slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def one(due: float) -> None:
        async with slots:
            conn = idle.pop() if idle else await _connect(port)
            if time.monotonic() - conn.used > 3.0:  # uvicorn drops keep-alive after 5 s
                conn.writer.close()
                conn = await _connect(port)
            status = await conn.send(request)
            tally.note(status, time.perf_counter() - due)
            idle.append(conn)

    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    for c in idle:
        c.writer.close()
    return tally.result(time.perf_counter() - start)


def load(port: int, request: bytes, mode: str, amount: float, quick: bool) -> dict[str, Any]:
    """In the load process: a warm-up, then the measured run (``amount``: clients or rate)."""
    warmup, seconds = (QUICK_WARMUP, QUICK_SECONDS) if quick else (WARMUP, SECONDS)
    if mode == "closed":
        warm = asyncio.run(_closed(port, request, int(amount), warmup))
        result = asyncio.run(_closed(port, request, int(amount), seconds))
    else:
        warm = asyncio.run(_open(port, request, amount, warmup))
        result = asyncio.run(_open(port, request, amount, seconds))
    result["errors"] = {**warm["errors"], **result["errors"]}
    return {**result, "requests": warm["ok"] + result["ok"]}


def http_request(port: int, path: str, token: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


# -- the servers and the run ------------------------------------------------------------------
@contextmanager
def serve(command: list[str], env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    exited = proc.poll() is not None
                    why = proc.stderr.read().decode() if exited and proc.stderr else "timeout"
                    raise RuntimeError(f"{command[0]} did not start: {why}") from None
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def prepare(pg_url: str, data_dir: Path) -> str:
    """The demo directory in force, the bare table, a token for the first responder."""
    from services.common.auth import issue_token
    from services.common.settings import Settings
    from services.directory.loader import load_directory
    from services.directory.store import put_in_force

    put_in_force(pg_url, load_directory(DEMO), actor="system:bench", source=str(DEMO))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(BARE_TABLE)
    return issue_token(Settings(data_dir=data_dir), STAFF)


def received_count(pg_url: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE type = 'shouwen.case.received.v1'"
                           ).fetchone()
    return int(row[0]) if row else 0


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # not Linux
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pool: ProcessPoolExecutor, server: subprocess.Popen[bytes], port: int,
            request: bytes, mode: str, amount: float, quick: bool) -> dict[str, Any]:
    before = cpu_seconds(server.pid)
    result: dict[str, Any] = pool.submit(load, port, request, mode, amount, quick).result()
    after = cpu_seconds(server.pid)
    if result["errors"] or not result["ok"]:
        raise RuntimeError(f"{mode} load on port {port}: answers other than 201: "
                           f"{result['errors']} ({result['ok']} ok)")
    result["cpu_ms"] = (1000 * (after - before) / result["requests"]
                        if before is not None and after is not None else None)
    return result


def run(pg_url: str, quick: bool | None = None) -> list[dict[str, Any]]:
    """``pg_url``: a migrated, empty database of its own."""
    if quick is None:
        quick = os.environ.get("SHOUWEN_BENCH_QUICK") == "1"
    with tempfile.TemporaryDirectory(prefix="shouwen-bench-intake-") as data_dir:
        return rows(measure_all(pg_url, Path(data_dir), quick))


def measure_all(pg_url: str, data_dir: Path, quick: bool) -> dict[str, list[dict[str, Any]]]:
    """Every round of every load on both servers, by "<server> <load>"."""
    from services.common.embedded import free_port

    token = prepare(pg_url, data_dir)
    env = {**os.environ, "DATABASE_URL": pg_url, "SHOUWEN_DATA_DIR": str(data_dir),
           "SHOUWEN_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    ports = {"bare": free_port(), "intake": free_port()}
    commands = {
        "bare": [sys.executable, "-m", "uvicorn", "bench.intake_bench:bare_app", "--factory",
                 "--port", str(ports["bare"]), "--workers", "1", "--log-level", "warning",
                 "--proxy-headers"],
        "intake": [SHOUWEN, "intake", "--port", str(ports["intake"]), "--workers", "1"],
    }
    requests = {"bare": http_request(ports["bare"], "/inquiries", token, INQUIRY),
                "intake": http_request(ports["intake"], "/v1/cases", token, INQUIRY)}
    got: dict[str, list[dict[str, Any]]] = {}
    before = received_count(pg_url)
    with serve(commands["bare"], env, ports["bare"]) as bare, \
            serve(commands["intake"], env, ports["intake"]) as intake, \
            ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        servers = {"bare": bare, "intake": intake}
        for label, mode, amount in (("closed", "closed", CLIENTS), ("open", "open", RATE),
                                    ("light", "open", LIGHT_RATE)):
            for _ in range(QUICK_ROUNDS if quick else ROUNDS):
                for name in ("bare", "intake"):
                    got.setdefault(f"{name} {label}", []).append(measure(
                        pool, servers[name], ports[name], requests[name], mode, amount, quick))
    stored = received_count(pg_url) - before
    answered = sum(r["requests"] for key in got if key.startswith("intake") for r in got[key])
    if stored < answered:
        raise RuntimeError(f"{answered} inquiries answered 201 but only {stored} stored")
    return got


def rows(got: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    best = {k: max(v, key=lambda r: r["rate"]) for k, v in got.items() if "closed" in k}
    median = {k: sorted(v, key=lambda r: r["p99"])[len(v) // 2]
              for k, v in got.items() if "closed" not in k}
    closed_i, closed_b = best["intake closed"], best["bare closed"]
    open_i, open_b = median["intake open"], median["bare open"]
    light_i, light_b = median["intake light"], median["bare light"]
    p99 = figure(f"intake: p99 latency at {RATE:,.0f}/s offered", open_i["p99"], "ms",
                 open_b["p99"])
    p99.update(goal="< 50 ms", passed=open_i["p99"] < 50)
    out = [
        figure(f"intake: inquiries registered over HTTP, {CLIENTS} clients, "
               f"best of {len(got['intake closed'])}",
               closed_i["rate"], "inquiries/s", closed_b["rate"], goal_min=1_000,
               goal_ratio=0.5),
        figure(f"intake: answered at {RATE:,.0f}/s offered", open_i["rate"], "inquiries/s",
               open_b["rate"]),
        figure(f"intake: p50 latency at {RATE:,.0f}/s offered", open_i["p50"], "ms",
               open_b["p50"]),
        p99,
        figure(f"intake: p50 latency at {LIGHT_RATE:,.0f}/s offered", light_i["p50"], "ms",
               light_b["p50"]),
        figure(f"intake: p99 latency at {LIGHT_RATE:,.0f}/s offered", light_i["p99"], "ms",
               light_b["p99"]),
    ]
    if closed_i["cpu_ms"] is not None and closed_b["cpu_ms"] is not None:
        out.append(figure("intake: server CPU per inquiry (closed loop)", closed_i["cpu_ms"],
                          "ms", closed_b["cpu_ms"]))
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.common import fresh_database, postgres, print_table

    parser = argparse.ArgumentParser(prog="python -m bench.intake_bench")
    parser.add_argument("--quick", action="store_true", help="a short smoke test")
    quick = parser.parse_args(argv).quick or None
    with postgres() as admin_url, fresh_database(admin_url) as url:
        result = run(url, quick=quick)
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
