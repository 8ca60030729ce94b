"""Bearer tokens: RFC 9068 JWT access tokens, RS256 only.

    production   verified against the identity provider's JWKS (``SHOUWEN_JWKS_URL``)
    development  a local RSA key in ``<data_dir>/dev-jwt-key.pem``, made on first use;
                 ``shouwen token --staff ID`` issues tokens with it

Signatures are required; ``alg=none`` and HMAC algorithms are refused; ``typ`` must be
``at+jwt``; iss, aud, exp, iat and sub are required and checked. The token only says who
the caller is: what they may do comes from the directory in force, not from the token.
"""

from __future__ import annotations

import sys
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.settings import Settings

ALGORITHMS = ["RS256"]
DEV_KID = "shouwen-dev"


class AuthError(Exception):
    """The request is not authenticated (HTTP 401); the message says why."""


class Misconfigured(RuntimeError):
    """A setting the environment requires is missing: the service must not start."""


def require_auth_settings(settings: Settings) -> None:
    """Production verifies tokens against the identity provider only: without its JWKS
    the service would start and refuse every request, so it refuses to start instead."""
    if settings.environment != "development" and not settings.jwks_url:
        raise Misconfigured(f"SHOUWEN_JWKS_URL is required when SHOUWEN_ENVIRONMENT="
                            f"{settings.environment} (the identity provider's JWKS)")


def exit_unless_auth_configured(settings: Settings) -> None:
    """For the commands that serve HTTP: exit 2 naming the variable, before serving."""
    try:
        require_auth_settings(settings)
    except Misconfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def dev_key_path(settings: Settings) -> Path:
    return settings.data_dir / "dev-jwt-key.pem"


def dev_private_key(settings: Settings) -> rsa.RSAPrivateKey:
    if settings.environment != "development":
        raise AuthError("the development signing key is refused outside development")
    return _load_or_create(dev_key_path(settings).resolve())


@lru_cache(maxsize=8)
def _load_or_create(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def issue_token(
    settings: Settings, subject: str, *, ttl: int | None = None, extra: dict[str, Any] | None = None
) -> str:
    """A development access token for ``subject`` (e.g. a staff id)."""
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": subject,
        "client_id": "shouwen-dev",
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.token_ttl_seconds),
        "jti": uuid.uuid4().hex,
        **(extra or {}),
    }
    return jwt.encode(
        claims, dev_private_key(settings), algorithm="RS256",
        headers={"kid": DEV_KID, "typ": "at+jwt"},
    )


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300)


def verify_token(settings: Settings, token: str) -> dict[str, Any]:
    """The token's claims, or AuthError saying what is wrong with it."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed token: {exc}") from None
    if header.get("alg") not in ALGORITHMS:
        raise AuthError(f"token algorithm {header.get('alg')!r} is refused; RS256 is required")
    if str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        raise AuthError("token type must be at+jwt (RFC 9068)")
    try:
        if settings.jwks_url:
            key: Any = _jwks_client(settings.jwks_url).get_signing_key_from_jwt(token).key
        elif header.get("kid") != DEV_KID:  # only the development key is known here
            raise AuthError(f"token key id {str(header.get('kid'))[:64]!r} is unknown")
        else:
            key = dev_private_key(settings).public_key()
        return jwt.decode(
            token, key, algorithms=ALGORITHMS, audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
