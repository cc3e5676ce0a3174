"""One router per concept: boards, runs, tasks (the queue), submissions, auth (login and tokens)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from pruningbench.web.security import session_of

__all__ = ["page"]


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Render a page with what every page needs: who is logged in and the CSRF token its forms carry."""
    session = session_of(request)
    context.update(session=session, csrf=session.csrf if session else "")
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)
