"""A hostile run against a running ``shouwen up`` (an operator's tool, not a pytest test).

    SHOUWEN_DATA_DIR=D [port variables as up had them] python -m tests.hostile.live
    python -m tests.hostile.live --data-dir D [--intake URL] [--ledger URL]

    stack.json (D)  ─▶ DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS of the running up
    shouwen token --staff ZX005 / ZX011 / ZX001, shouwen open311 keys add   (the CLI)
    one walk-in case, then wait until the suite has settled (relay caught up, store still)
    sweep: every operation of intake's OpenAPI document (Open311 included, its forms with a
           real API key), the console's forms and pages, every operation of the ledger's
           document and the dashboard's pages and sign-in form   (tests/hostile/corpus.py)
    then:  store count unchanged by the probes; relay caught up: events in the store ==
           end offsets of shouwen.case-events; `shouwen verify` OK

Prints a summary; exit 1 on any 5xx, a refused probe that wrote, or a count mismatch; 2 when
no running up is found. Start up with SHOUWEN_PUBLIC_RATE_LIMIT_PER_MINUTE=0 so the public
probes reach past the rate limit (a 429 is a 4xx, but it hides what is behind it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.hostile.corpus import PATH_VALUES, QUERY_VALUES, Probe, form_probes, probes
from tests.hostile.test_corpus import JSON, WALK_IN, Tally, csrf_of

SHOUWEN = str(Path(sys.executable).parent / "shouwen")
STAFF, SUPERVISOR, LEADER = "ZX005", "ZX011", "ZX001"
TOPIC = "shouwen.case-events"


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([SHOUWEN, *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: shouwen {' '.join(args)}: {done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def stored(url: str, table: str = "events") -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def on_topic(bootstrap: str) -> int:
    from services.common.topics import topic_ends

    return sum((topic_ends(bootstrap, TOPIC, wait=3.0) or {}).values())


def settle(url: str, bootstrap: str, timeout: float) -> tuple[int, int]:
    """Wait until the store has not grown for a few seconds and the topic holds all of it;
    (store count, topic count) at the end, equal unless the timeout passed."""
    deadline, last, still_since = time.monotonic() + timeout, -1, time.monotonic()
    while True:
        events, topic = stored(url), on_topic(bootstrap)
        if events != last:
            last, still_since = events, time.monotonic()
        if events == topic and time.monotonic() - still_since >= 3:
            return events, topic
        if time.monotonic() > deadline:
            return events, topic
        time.sleep(1)


def intake_sweep(client: httpx.Client, tally: Tally, tokens: dict[str, dict[str, str]],
                 key: str, case: dict[str, Any]) -> None:
    fills = {"case_id": case["case_id"], "procedure_id": "AP-" + "0" * 32,
             "service_code": "RSJ-SBK-01", "service_request_id": case["receipt_number"],
             "kind": "units", "subject_id": "ZWFWZX"}
    doc = client.get("/openapi.json").json()
    for who in (SUPERVISOR, STAFF):
        tally.sweep(client, probes(doc, lambda n: fills[n]), tokens[who])  # type: ignore[arg-type]
    for path in (p for p in doc["paths"] if p.startswith("/open311/") and "requests" in p
                 and "{" not in p):  # the forms again, behind a real API key
        tally.sweep(client, form_probes("POST", path, ["service_code", "description",  # type: ignore[arg-type]
                                                       "first_name", "phone", "lat"],
                                        {"api_key": key}), {})
    page = client.get("/console/sign-in")
    signed = client.post("/console/sign-in", data={"csrf": csrf_of(page.text),
                                                   "staff_id": STAFF, "next": ""})
    if signed.status_code not in (200, 303):
        raise SystemExit(f"error: console sign-in: {signed.status_code}")
    csrf = csrf_of(client.get("/console/register").text)
    case_id = case["case_id"]
    forms = [("/console/register", ["channel", "matter", "inquirer_name", "inquirer_phone",
                                    "inquirer_address"]),
             (f"/console/cases/{case_id}/reply", ["answer", "expected_version"]),
             (f"/console/cases/{case_id}/extension-request", ["reason", "proposed_due_date"]),
             ("/console/accountability/open", ["case_id", "against_staff_id", "summary"]),
             ("/console/inbox/read", ["id"])]
    for path, fields in forms:
        tally.sweep(client, form_probes("POST", path, fields, {"csrf": csrf}), JSON)  # type: ignore[arg-type]
    for template in ("/console/cases/{}", "/console/accountability/{}"):
        for what, value in PATH_VALUES.items():
            tally.send(client, Probe("GET", template.format(value), f"page: {what}", True),  # type: ignore[arg-type]
                       JSON)
    for what, (value, refuse) in QUERY_VALUES.items():
        tally.send(client, Probe("GET", "/console/cases", f"query status: {what}", refuse,  # type: ignore[arg-type]
                                 query=f"status={value}"), JSON)


def ledger_sweep(client: httpx.Client, tally: Tally, leader: dict[str, str],
                 case_id: str) -> None:
    doc = client.get("/openapi.json").json()
    tally.sweep(client, probes(doc, lambda n: {"case_id": case_id}[n]), leader)  # type: ignore[arg-type]
    headers = {**leader, **JSON}
    for what, value in PATH_VALUES.items():
        tally.send(client, Probe("GET", f"/dashboard/cases/{value}", f"page: {what}", True),  # type: ignore[arg-type]
                   headers)
    for what, (value, refuse) in QUERY_VALUES.items():
        tally.send(client, Probe("GET", "/dashboard", f"query weeks: {what}", refuse,  # type: ignore[arg-type]
                                 query=f"weeks={value}"), headers)
    page = client.get("/dashboard/sign-in")
    csrf = csrf_of(page.text) if page.status_code == 200 else ""
    tally.sweep(client, form_probes("POST", "/dashboard/sign-in", ["staff_id", "next"],  # type: ignore[arg-type]
                                    {"csrf": csrf}), JSON)


def host(h: str) -> str:
    return "127.0.0.1" if h in ("", "0.0.0.0", "::") else h


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile.live", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SHOUWEN_DATA_DIR", ".data")))
    parser.add_argument("--intake", help="intake's base URL (default from the port variables)")
    parser.add_argument("--ledger", help="the ledger's base URL (default likewise)")
    parser.add_argument("--settle-timeout", type=float, default=180)
    args = parser.parse_args(argv)

    try:
        info = json.loads((args.data_dir / "stack.json").read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: no running `shouwen up` in {args.data_dir} ({exc})", file=sys.stderr)
        return 2
    url, bootstrap = info["database_url"], info["kafka_bootstrap_servers"]
    env = {**os.environ, "SHOUWEN_DATA_DIR": str(args.data_dir), "DATABASE_URL": url,
           "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    if not (args.intake and args.ledger):
        from services.common.settings import Settings
        from services.stack import layout

        at = layout(Settings())
        args.intake = args.intake or f"http://{host(at.host)}:{at.intake}"
        args.ledger = args.ledger or f"http://{host(at.ledger_host)}:{at.ledger}"

    tokens = {who: {"Authorization": "Bearer " + cli(env, "token", "--staff", who)}
              for who in (STAFF, SUPERVISOR, LEADER)}
    key = cli(env, "open311", "keys", "add", "hostile-live").split()[-1]
    started = time.monotonic()
    with httpx.Client(base_url=args.intake, timeout=60) as client:
        made = client.post("/v1/cases", json=WALK_IN, headers=tokens[STAFF])
        if made.status_code != 201:
            print(f"error: a walk-in case: {made.status_code} {made.text[:300]}", file=sys.stderr)
            return 1
        case = made.json()
    settle(url, bootstrap, args.settle_timeout)  # routing, deadline-watch done with the case

    before, audited, tally = stored(url), stored(url, "access_audit"), Tally(url)
    with httpx.Client(base_url=args.intake, timeout=60) as client:
        intake_sweep(client, tally, tokens, key, case)
        intake_alive = client.get("/healthz").status_code == 200
    intake_probes = tally.run
    with httpx.Client(base_url=args.ledger, timeout=60) as client:
        ledger_sweep(client, tally, tokens[LEADER], case["case_id"])
        ledger_alive = client.get("/healthz").status_code == 200
    after, audited = stored(url), stored(url, "access_audit") - audited

    events, topic = settle(url, bootstrap, args.settle_timeout)
    verified = subprocess.run([SHOUWEN, "verify"], env=env, capture_output=True, text=True,
                              timeout=600, check=False)
    verify_ok = verified.returncode == 0 and verified.stdout.startswith("OK")
    ok = (tally.server_errors == 0 and not tally.failures and before == after and events == topic
          and verify_ok and intake_alive and ledger_alive)
    print(f"hostile run against shouwen up ({args.intake}, {args.ledger}), "
          f"{time.monotonic() - started:.0f} s")
    print(f"  probes        {tally.run} (intake, Open311, console: {intake_probes}; "
          f"ledger, dashboard: {tally.run - intake_probes})")
    print(f"  5xx           {tally.server_errors}")
    print(f"  failures      {len(tally.failures)}")
    for line in tally.failures[:40]:
        print(f"    {line}")
    print(f"  store         {before} events before the probes, {after} after; "
          f"{audited} audit row(s) of reads the corpus may make")
    print(f"  still serving intake {intake_alive}, ledger {ledger_alive}")
    print(f"  relay         {events} events in the store, {topic} on {TOPIC}")
    print(f"  verify        {verified.stdout.strip() or verified.stderr.strip()}")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
