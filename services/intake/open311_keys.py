"""API keys of Open311 client applications: issued, checked, listed, revoked.

    issue(conn, client, by) -> key     "o311_<key id>_<secret>", shown once; sha256 kept
    client_of(conn, key) -> str | None the client whose key is in force, else None
    keys(conn) -> rows                 key id, client, created, by, revoked
    revoke(conn, key_id) -> bool

Table ``open311_api_keys`` (migration 0041).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import psycopg

PREFIX = "o311"


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def issue(conn: psycopg.Connection, client: str, by: str) -> str:
    key_id = secrets.token_hex(4)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    conn.execute("INSERT INTO open311_api_keys (key_id, key_hash, client, created_by)"
                 " VALUES (%s, %s, %s, %s)", (key_id, _hash(key), client, by))
    return key


def client_of(conn: psycopg.Connection, key: str) -> str | None:
    row = conn.execute("SELECT client FROM open311_api_keys WHERE key_hash = %s"
                       " AND revoked_at IS NULL", (_hash(key),)).fetchone()
    return str(row[0]) if row else None


def keys(conn: psycopg.Connection) -> list[tuple[str, str, datetime, str, Any]]:
    return [tuple(r) for r in conn.execute(
        "SELECT key_id, client, created_at, created_by, revoked_at FROM open311_api_keys"
        " ORDER BY created_at")]


def revoke(conn: psycopg.Connection, key_id: str) -> bool:
    cur = conn.execute("UPDATE open311_api_keys SET revoked_at = now() WHERE key_id = %s"
                       " AND revoked_at IS NULL", (key_id,))
    return cur.rowcount == 1
