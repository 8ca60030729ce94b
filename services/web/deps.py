"""FastAPI dependencies: the wiring (pool, directory, repository) and the caller.

    StaffDep      the authenticated staff member (bearer JWT -> directory Person), or 401/403
    ActingDep     StaffDep, DirectoryDep and the Wiring in one dependency (staff actions)
    PoolDep       the psycopg connection pool
    DirectoryDep  the directory index in force (503 when none is loaded yet)
    RepoDep       the case repository (append + index in one transaction)

They are ``async def`` on purpose: FastAPI runs every plain ``def`` dependency in the
thread pool, one hop each, and those hops (not the work) were most of the event loop's time
per request. What may block goes to the thread pool explicitly: re-reading the directory
(every few seconds) and fetching the identity provider's keys (a JWKS URL).

A verified token's claims are kept by the app for up to VERIFIED_FOR seconds (never past
its ``exp``): checking an RS256 signature was the largest single cost of a request, and a
staff member sends the same token all day. Only successes are kept, keyed by the whole
token (signature included), per app (each app has its own keys).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool, ConnectionPool
from starlette.concurrency import run_in_threadpool

from services.calendar.cache import CalendarCache
from services.cases.repository import CaseRepository
from services.common.auth import AuthError, verify_token
from services.common.settings import Settings
from services.directory.index import DirectoryCache, DirectoryIndex, Person


@dataclass
class Wiring:
    settings: Settings
    pool: ConnectionPool
    directory: DirectoryCache
    repo: CaseRepository
    verified: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    calendars: CalendarCache = field(default_factory=CalendarCache)  # units' working days
    # asyncio pool of autocommit connections, opened in the app's event loop: registering
    apool: AsyncConnectionPool | None = None


VERIFIED_FOR = 60.0
VERIFIED_MAX = 10_000


def _wiring_of(request: Request) -> Wiring:
    w: Wiring = request.app.state.wiring
    return w


async def wiring(request: Request) -> Wiring:
    return _wiring_of(request)


WiringDep = Annotated[Wiring, Depends(wiring)]


# These take the request itself rather than WiringDep: each dependency in the graph costs
# FastAPI's solver more than what it returns here.
async def get_pool(request: Request) -> ConnectionPool:
    return _wiring_of(request).pool


async def get_repo(request: Request) -> CaseRepository:
    return _wiring_of(request).repo


async def get_directory(request: Request) -> DirectoryIndex:
    cache = _wiring_of(request).directory
    index = cache.fresh() or await run_in_threadpool(cache.get)
    if index is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no directory is loaded yet (shouwen directory load FILE)")
    return index


PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
RepoDep = Annotated[CaseRepository, Depends(get_repo)]
DirectoryDep = Annotated[DirectoryIndex, Depends(get_directory)]

_bearer = HTTPBearer(auto_error=False)


async def current_staff(
    request: Request,
    directory: DirectoryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Person:
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = await _verified(_wiring_of(request), credentials.credentials)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=challenge) from None
    person = directory.person(str(claims["sub"]))
    if person is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"staff {claims['sub']!r} is not in the directory in force")
    return person


StaffDep = Annotated[Person, Depends(current_staff)]


@dataclass(frozen=True)
class Acting:
    """``StaffDep``, ``DirectoryDep`` and ``WiringDep`` of one request, as ONE dependency:
    FastAPI's solver costs more per dependency than these cost to compute (a staff action
    named all three)."""

    staff: Person
    directory: DirectoryIndex
    wiring: Wiring


async def acting(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Acting:
    directory = await get_directory(request)
    return Acting(await current_staff(request, directory, credentials), directory,
                  _wiring_of(request))


ActingDep = Annotated[Acting, Depends(acting)]


async def _verified(w: Wiring, token: str) -> dict[str, Any]:
    now = time.time()
    kept = w.verified.get(token)
    if kept is not None:
        if now < kept[1]:
            return kept[0]
        del w.verified[token]
    if w.settings.jwks_url:  # may fetch the keys over the network
        claims = await run_in_threadpool(verify_token, w.settings, token)
    else:  # the local key: a signature check, CPU only
        claims = verify_token(w.settings, token)
    if len(w.verified) >= VERIFIED_MAX:
        w.verified.pop(next(iter(w.verified)))
    w.verified[token] = (claims, min(now + VERIFIED_FOR, float(claims["exp"])))
    return claims
