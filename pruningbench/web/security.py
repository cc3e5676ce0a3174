"""Who may write: bearer tokens for the API, a signed session cookie plus a CSRF token for the browser's forms.

Reading is open unless the server is private. Writing needs a token whose scope allows the action: ``submit`` to
queue and submit runs, ``admin`` also to cancel, retry and delete. A missing or invalid token is 401, a token of the
wrong scope 403.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from pruningbench.store.tokens import Token, TokenStore

__all__ = ["SESSION_COOKIE", "Session", "Sessions", "current_token", "require", "check_csrf"]

SESSION_COOKIE = "pruningbench_session"
SESSION_MAX_AGE_S = 7 * 24 * 3600


@dataclass(frozen=True)
class Session:
    """A logged-in browser: its token's name and scope, and the CSRF token its forms must carry."""

    token: Token
    csrf: str


class Sessions:
    """Signed session cookies (the secret stays on the server)."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="pruningbench-session")

    def issue(self, token: Token) -> str:
        return self._serializer.dumps({"name": token.name, "scope": token.scope, "csrf": secrets.token_urlsafe(24)})

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE_S)
        except BadSignature:
            return None
        return Session(Token(data["name"], data["scope"]), data["csrf"])


def session_of(request: Request) -> Session | None:
    """The browser session of ``request``, if its cookie is valid and its token still active."""
    session = request.app.state.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None or request.app.state.tokens.check_name(session.token.name) is None:
        return None
    return session


def current_token(request: Request) -> Token | None:
    """The token of ``request``: its bearer header, else its session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        tokens: TokenStore = request.app.state.tokens
        return tokens.check(header[7:].strip())
    session = session_of(request)
    return None if session is None else session.token


def require(scope: str):
    """A dependency: the request's token, which must allow ``scope`` (401 without a valid token, 403 if it does
    not allow it)."""

    def dependency(request: Request) -> Token:
        token = current_token(request)
        if token is None:
            raise HTTPException(
                401,
                "a token is needed: log in, or send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not token.allows(scope):
            raise HTTPException(403, f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}")
        return token

    return dependency


def check_csrf(request: Request, submitted: str | None) -> None:
    """Forms posted from a browser session must carry the session's CSRF token (API calls with a bearer token need
    none: a cross-site page cannot set that header)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    session = session_of(request)
    if session is None or not submitted or not secrets.compare_digest(session.csrf, submitted):
        raise HTTPException(403, "the form's CSRF token is missing or stale: reload the page")
