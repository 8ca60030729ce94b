"""The one CSRF scheme of the server-rendered pages (intake's console, the leaders' dashboard).

    signed in    every form carries form_token(access token, jti) = HMAC-SHA256(key = the
                 token, "csrf:" + jti). Other sites cannot read the HttpOnly token cookie, so
                 they cannot compute it; a POST without it is refused (403).
    signing in   before any token exists: a double-submit nonce (sign_in_nonce), put in an
                 HttpOnly, SameSite=Strict cookie (set_sign_in_cookie) and in the form; the
                 POST must carry both, equal (same).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.responses import Response

SIGN_IN_MAX_AGE = 900  # seconds a sign-in page's nonce stays good


def form_token(token: str, jti: str) -> str:
    return hmac.new(token.encode(), f"csrf:{jti}".encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    """Both given and equal (compared in constant time)."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def sign_in_nonce() -> str:
    return secrets.token_urlsafe(32)


def set_sign_in_cookie(response: Response, name: str, nonce: str, *, path: str,
                       secure: bool) -> None:
    response.set_cookie(name, nonce, max_age=SIGN_IN_MAX_AGE, path=path, httponly=True,
                        samesite="strict", secure=secure)
