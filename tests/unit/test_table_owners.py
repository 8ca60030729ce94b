"""One owner per table (docs/ARCHITECTURE.md, "Each table's owner").

Every table a migration creates names its owning package in the comment just above its
``CREATE TABLE`` (``-- Owner: services/cases (...)``). A module outside that package does not
name the table in its SQL: it calls the owner's query API. The check reads the SQL keywords
(``FROM``, ``JOIN``, ``INTO``, ``UPDATE``, ``TABLE``, ``TRUNCATE``) in every string literal of
every module under ``services/`` (docstrings aside) and fails on a table owned elsewhere.

An exception is allowed only in ``ALLOWED`` below, each with its reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "services" / "common" / "migrations"
CREATE = re.compile(r"^CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.MULTILINE)
OWNER = re.compile(r"^--\s*Owner:\s*((?:services|bench)/[\w./]+?)(?=[\s(:;,]|$)", re.MULTILINE)
# SQL keywords are upper case in this code; prose ("read from case_index") is not SQL.
NAMED = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|TRUNCATE)\s+(?:ONLY\s+)?(\w+)")

# Why a module may name a table it does not own. The event logs' rows as stored (order,
# hashes, positions, raw bytes to check or send) are not events read as facts: no upcaster
# applies to them, and the relay, proof, the ledger's rebuild and history replay read them.
_LOGS = "the event logs as stored (order, hashes, positions), not events read as facts"
_PII = "personal data keys: services/personal erases and reports through pii.py's tables"
_DEBT = "not yet through its owner (ARCHITECTURE, 'Each table's owner')"
# (module, table): why. Keep it short; an entry no longer needed fails the test below.
ALLOWED: dict[tuple[str, str], str] = {
    ("services/cases/repository.py", "events"):
        "CaseRepository appends the events and the case_index row in one statement",
    ("services/cases/repository.py", "pii_cases"):
        "a sealed case's inquirer is recorded in the append's statement",
    ("services/cases/index.py", "events"):
        "Open311's list: the received matter and location beside the index row, filtered"
        " in SQL (" + _DEBT + ")",
    ("services/calendar/store.py", "directory_versions"):
        "the calendar cache's one cheap poll also sees a directory load",
    ("services/common/integrity.py", "relay_state"): "shouwen verify: " + _LOGS,
    ("services/relay/sequencer.py", "events"): _LOGS,
    ("services/relay/sequencer.py", "commit_log"): "the sequencer is commit_log's one writer",
    ("services/relay/publish.py", "events"): _LOGS,
    ("services/relay/publish.py", "commit_log"): _LOGS,
    ("services/relay/publish.py", "event_traces"): "sends each event's trace context on",
    ("services/relay/metrics.py", "events"): _LOGS,
    ("services/relay/metrics.py", "commit_log"): _LOGS,
    ("services/relay/divergence.py", "events"): _LOGS,
    ("services/relay/recovery.py", "consumer_offsets"):
        "clears the plain consumers' offsets when the broker came back empty",
    ("services/proof/bundle.py", "commit_log"): _LOGS,
    ("services/proof/consistency.py", "commit_log"): _LOGS,
    ("services/proof/consistency.py", "events"): _LOGS,
    ("services/proof/tree_store.py", "commit_log"): _LOGS,
    ("services/ledger/rebuild.py", "commit_log"): _LOGS,
    ("services/ledger/rebuild.py", "events"): "rebuild replays every case event in seq order",
    ("services/record/history.py", "commit_log"): "history replay checks the chains: " + _LOGS,
    ("services/record/history.py", "events"): "history replay checks the chains: " + _LOGS,
    ("services/record/history.py", "directory_versions"):
        "history replay reads the directory as it was (" + _DEBT + ")",
    ("services/dashboard/sources.py", "commit_log"): "the exporter counts appends by type",
    ("services/dashboard/sources.py", "events"): "the exporter counts appends by type",
    ("services/dashboard/sources.py", "consumer_offsets"): "the exporter's lag of plain consumers",
    ("services/dashboard/sources.py", "notification_deliveries"):
        "the exporter's pending count: services never import each other (" + _DEBT + ")",
    ("services/dashboard/sources.py", "routing_outcomes"):
        "the exporter's accuracy proxy: services never import each other (" + _DEBT + ")",
    ("services/notification/store.py", "events"):
        "the received event's id and facts of many cases in one read (" + _DEBT + ")",
    ("services/cli_personal.py", "pii_cutover"): _PII,
    ("services/cli_personal.py", "pii_keys"): _PII,
    ("services/personal/copy.py", "pii_cases"): _PII,
    ("services/personal/erase.py", "pii_cases"): _PII,
    ("services/personal/erase.py", "pii_keys"): _PII,
    ("services/personal/erase.py", "case_access"):
        "a receipt number's inquirer, joined to pii_cases (" + _DEBT + ")",
    ("services/personal/retention.py", "pii_cases"): _PII,
    ("services/personal/retention.py", "pii_keys"): _PII,
    ("services/personal/retention.py", "case_summary"):
        "retention's one query over every inquirer (" + _DEBT + ")",
    ("services/personal/retention.py", "accountability_procedures"):
        "retention's one query: a case under procedure is held (" + _DEBT + ")",
}


def owners() -> dict[str, str]:
    """{table: owning package}, from the comment block directly above each CREATE TABLE."""
    found: dict[str, str] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        text = path.read_text()
        for match in CREATE.finditer(text):
            above = text[:match.start()].rstrip("\n").split("\n")
            block: list[str] = []
            while above and above[-1].startswith("--"):
                block.insert(0, above.pop())
            owner = OWNER.search("\n".join(block))
            assert owner, f"{path.name}: table {match.group(1)} names no owner (-- Owner: ...)"
            found[match.group(1)] = owner.group(1).removesuffix(".py").rstrip("/")
    return found


def package_of(module: Path) -> str:
    """services/cases/index.py -> services/cases; services/cli.py -> services/cli."""
    parts = module.relative_to(ROOT).with_suffix("").parts
    return "/".join(parts[:2])


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def sql_tables(source: str) -> set[str]:
    """The names that follow an SQL keyword in the module's string literals."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    named: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in skip):
            named.update(NAMED.findall(node.value))
    return named


def trespasses(root: Path, table_owners: dict[str, str]) -> list[str]:
    found = []
    for module in sorted(root.rglob("*.py")):
        here = package_of(module)
        name = str(module.relative_to(ROOT))
        for table in sorted(sql_tables(module.read_text()) & table_owners.keys()):
            owner = table_owners[table]
            if not (here == owner or owner.startswith(here + "/")) \
                    and (name, table) not in ALLOWED:
                found.append(f"{name} names {table} (owner: {owner})")
    return found


def test_every_table_names_its_owner() -> None:
    table_owners = owners()
    assert {"events", "case_index", "case_summary", "staff_inbox"} <= table_owners.keys()
    assert table_owners["case_index"] == "services/cases"
    assert table_owners["case_summary"] == "services/record"


def test_no_module_names_a_table_it_does_not_own() -> None:
    assert trespasses(ROOT / "services", owners()) == []


def test_allowed_exceptions_are_still_needed() -> None:
    """An exception whose module no longer names the table goes from the list."""
    stale = [k for k in ALLOWED
             if k[1] not in sql_tables((ROOT / k[0]).read_text())]
    assert stale == []


def test_the_check_sees_a_trespass() -> None:
    """A string naming another package's table is caught; prose and docstrings are not."""
    source = ('"""Reads case_index FROM case_index."""\n'
              'Q = "SELECT 1 FROM case_index c JOIN case_summary s USING (case_id)"\n'
              'P = "read from case_index"\n')
    assert sql_tables(source) == {"case_index", "case_summary"}
