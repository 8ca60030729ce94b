"""A sender's identity in PostgreSQL: a session advisory lock held for the sender's lifetime.

    SenderSession(url)       ONE dedicated connection (autocommit; server-side TCP keepalives)
      session()              the connection (a ConnectionSource); on (re)connect it takes a
                             new id from notification_sender_ids and holds the advisory lock
                             (SENDERS, id) before anything is claimed on it
      .id                    the id the records it claims carry (claimed_by)
      close()                ends the session: its lock, so its claims are orphaned

The claims run on this very connection, so a claim can only commit while its lock is held.
A record 'sending' whose claimer's lock nobody holds is orphaned: that sender's session
ended (kill -9 closes its sockets, the server ends the backend and drops the lock at once;
a vanished host is noticed by the keepalives). Such records are taken over at once
(services.notification.store.due); a living sender, however slow, keeps its records until
the lease, the last resort for a sender that is hung but still connected.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from services.common.backoff import TRANSIENT_DB

SENDERS = 1313821769  # the advisory lock class of notification senders ("NOTI")
# a dead host's connection is dropped by the server after about 10 + 3 * 5 seconds
KEEPALIVES = "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"

# 'sending' records whose claimer holds its advisory lock (SENDERS, id) no more
ORPHANED = f"""
    WITH live AS MATERIALIZED (
        SELECT objid::bigint AS id FROM pg_locks WHERE locktype = 'advisory' AND granted
           AND objsubid = 2 AND classid = {SENDERS}::oid
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
    SELECT d.* FROM notification_deliveries d WHERE d.state = 'sending'
       AND d.claimed_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM live WHERE id = d.claimed_by)
     ORDER BY d.next_attempt_at LIMIT %s FOR UPDATE OF d SKIP LOCKED"""


class SenderSession:
    def __init__(self, url: str, application_name: str = "shouwen-notification-sender") -> None:
        self.url, self.application_name = url, application_name
        self._conn: psycopg.Connection | None = None
        self.id: int | None = None

    @contextmanager
    def __call__(self) -> Iterator[psycopg.Connection]:
        if self._conn is None or self._conn.closed:
            self._open()
        assert self._conn is not None
        try:
            yield self._conn
        except TRANSIENT_DB:
            self.close()  # the lock went with the connection: the next use is a new sender
            raise

    def _open(self) -> None:
        self.close()
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                               application_name=self.application_name, options=KEEPALIVES)
        try:
            while True:  # the sequence cycles: an id still held by a living sender is skipped
                row = conn.execute("SELECT nextval('notification_sender_ids')::int").fetchone()
                assert row is not None
                locked = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                      (SENDERS, row[0])).fetchone()
                if locked is not None and locked[0]:
                    break
        except BaseException:
            conn.close()
            raise
        self._conn, self.id = conn, int(row[0])

    def close(self) -> None:
        conn, self._conn, self.id = self._conn, None, None
        if conn is not None:
            conn.close()
