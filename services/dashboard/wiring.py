"""What the dashboard's routes need, hung on ``app.state.dashboard`` by ``mount``.

    mount(app, settings)   include the router and its wiring in any FastAPI app (the ledger
                           app, or services.dashboard.app on its own)
    wiring_of(request)     the wiring; in an app that keeps an intake-style ``state.wiring``
                           (the ledger's) its pool and directory cache are borrowed, else a
                           small pool opens on first use and ``close()`` shuts it
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from psycopg_pool import ConnectionPool

from services.cases.repository import CaseRepository
from services.common.outage import pool_options
from services.common.settings import Settings
from services.dashboard.config import DashboardSettings
from services.directory.index import DirectoryCache


@dataclass
class DashboardWiring:
    settings: Settings
    config: DashboardSettings = field(default_factory=DashboardSettings)
    _pool: ConnectionPool | None = None
    _directory: DirectoryCache | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _owned: bool = True

    def borrow(self, pool: ConnectionPool, directory: DirectoryCache) -> None:
        with self._lock:
            if self._pool is None:
                self._pool, self._directory, self._owned = pool, directory, False

    @property
    def pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                assert self.settings.database_url, "DATABASE_URL is required"
                self._pool = ConnectionPool(self.settings.database_url, min_size=1,
                                            max_size=4, open=True,
                                            **pool_options(self.settings))
                self._directory = DirectoryCache(self._pool)
            return self._pool

    @property
    def directory(self) -> DirectoryCache:
        pool = self.pool
        assert self._directory is not None, pool
        return self._directory

    @property
    def repo(self) -> CaseRepository:
        return CaseRepository(self.pool)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._owned:
                self._pool.close()
            self._pool = None


def mount(app: FastAPI, settings: Settings) -> DashboardWiring:
    from services.dashboard.routes import Refused, refused_page, router

    app.state.dashboard = DashboardWiring(settings)
    app.include_router(router)
    app.add_exception_handler(Refused, refused_page)
    return app.state.dashboard  # type: ignore[no-any-return]


def wiring_of(request: Request) -> DashboardWiring:
    w: DashboardWiring = request.app.state.dashboard
    host = getattr(request.app.state, "wiring", None)
    if host is not None and w._pool is None:
        w.borrow(host.pool, host.directory)
    return w
