"""FastAPI dependencies: the wiring (pool, directory, repository) and the caller.

    StaffDep      the authenticated staff member (bearer JWT -> directory Person), or 401/403
    PoolDep       the psycopg connection pool
    DirectoryDep  the directory index in force (503 when none is loaded yet)
    RepoDep       the case repository (append + index in one transaction)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

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


def wiring(request: Request) -> Wiring:
    w: Wiring = request.app.state.wiring
    return w


WiringDep = Annotated[Wiring, Depends(wiring)]


def get_pool(w: WiringDep) -> ConnectionPool:
    return w.pool


def get_repo(w: WiringDep) -> CaseRepository:
    return w.repo


def get_directory(w: WiringDep) -> DirectoryIndex:
    index = w.directory.get()
    if index is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no directory is loaded yet (shouwen directory load FILE)")
    return index


PoolDep = Annotated[ConnectionPool, Depends(get_pool)]
RepoDep = Annotated[CaseRepository, Depends(get_repo)]
DirectoryDep = Annotated[DirectoryIndex, Depends(get_directory)]

_bearer = HTTPBearer(auto_error=False)


def current_staff(
    w: WiringDep,
    directory: DirectoryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Person:
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = verify_token(w.settings, credentials.credentials)
    except AuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=challenge) from None
    person = directory.person(str(claims["sub"]))
    if person is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"staff {claims['sub']!r} is not in the directory in force")
    return person


StaffDep = Annotated[Person, Depends(current_staff)]
