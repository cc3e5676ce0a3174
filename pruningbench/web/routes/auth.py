"""Logging in with a token (a signed session cookie carrying a CSRF token) and out; ``/api/whoami`` for scripts."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from pruningbench.web.routes import page
from pruningbench.web.security import SESSION_COOKIE, SESSION_MAX_AGE_S, current_token

router = APIRouter()


@router.get("/login", include_in_schema=False)
def login_page(request: Request) -> Response:
    return page(request, "login.html", error=None)


@router.post("/login", include_in_schema=False)
def login(request: Request, token: str = Form(...)) -> Response:
    found = request.app.state.tokens.check(token.strip())
    if found is None:
        return page(request, "login.html", status_code=401, error="unknown or revoked token")
    response = RedirectResponse("/boards", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        request.app.state.sessions.issue(found),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout() -> Response:
    response = RedirectResponse("/boards", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/api/whoami", tags=["auth"])
def whoami(request: Request) -> dict[str, str]:
    """The name and scope of the token sent (401 without one)."""
    token = current_token(request)
    if token is None:
        raise HTTPException(401, "no valid token", headers={"WWW-Authenticate": "Bearer"})
    return {"name": token.name, "scope": token.scope}
