"""The web platform's application: the store, the queue and the registries behind FastAPI, pages and a JSON API.

The web process only reads and writes the store: runs are queued as tasks and executed by ``pruningbench worker``
processes, never here. Pages are server-rendered (Jinja2) with htmx and its SSE extension shipped in ``static/``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from pruningbench.errors import UserError, first_line
from pruningbench.execution.queue import TaskQueue
from pruningbench.store import ResultStore
from pruningbench.store.tokens import TokenStore

__all__ = ["ServerSettings", "create_app"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


@dataclass(frozen=True)
class ServerSettings:
    """What the server serves and how."""

    store_url: str
    results_dir: Path
    data_roots: dict[str, Path] = field(default_factory=dict)  # dataset -> folder on this server (forms never name one)
    private: bool = False  # reading needs a token too
    max_upload_mb: float = 512.0
    queue_limit: int = 500  # active (queued or running) tasks one token may have
    secret: str = ""  # signs session cookies; empty: kept in RESULTS_DIR/web-secret


def _secret(settings: ServerSettings) -> str:
    if settings.secret:
        return settings.secret
    path = settings.results_dir / "web-secret"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def create_app(settings: ServerSettings) -> FastAPI:
    """The application over ``settings.store_url``."""
    from pruningbench.web.routes import auth, boards, runs, submissions, tasks
    from pruningbench.web.security import Sessions

    app = FastAPI(
        title="pruningbench",
        summary="Structural pruning benchmark: boards, runs, tasks, submissions",
        docs_url=None,
        redoc_url=None,  # served below from the package's own copy of Swagger UI: no CDN
    )
    store = ResultStore(settings.store_url)
    app.state.settings = settings
    app.state.store = store
    app.state.queue = TaskQueue(store.database)
    app.state.tokens = TokenStore(store.database)
    app.state.sessions = Sessions(_secret(settings))
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (boards, runs, tasks, submissions, auth):
        app.include_router(module.router)

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="pruningbench API",
            swagger_favicon_url="",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
        )

    @app.middleware("http")
    async def private_reading(request: Request, call_next) -> Response:
        if settings.private and request.method == "GET" and not _public(request.url.path):
            from pruningbench.web.security import current_token

            if current_token(request) is None:
                return _error(request, 401, "this server is private: log in with a token")
        return await call_next(request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        return _error(request, error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"] if part not in ("body", "query", "path", "form"))
        return _error(request, 422, f"{where}: {problem['msg']}", field_name=where)

    @app.exception_handler(UserError)
    async def user_error(request: Request, error: UserError) -> Response:
        return _error(
            request, 422 if hasattr(error, "field") else 400, str(error), field_name=getattr(error, "field", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:  # logged here, never shown as a traceback
        log.exception("unexpected error on %s", request.url.path)
        return _error(request, 500, f"internal error ({type(error).__name__}: {first_line(error)})")

    return app


def _public(path: str) -> bool:
    return path.startswith("/static") or path in ("/login", "/api/login")


def _error(
    request: Request, status: int, message: str, headers: dict | None = None, field_name: str | None = None
) -> Response:
    """JSON for the API, a page for a browser."""
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        body = {"detail": message} if field_name is None else {"detail": message, "field": field_name}
        return JSONResponse(body, status_code=status, headers=headers)
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status, headers=headers
    )


def templates() -> Jinja2Templates:
    """The page templates, with the helpers they use."""
    from pruningbench.leaderboard import format_duration

    environment = Jinja2Templates(directory=HERE / "templates")
    environment.env.filters["duration"] = format_duration
    environment.env.filters["zip"] = lambda first, second: list(zip(first, second, strict=True))
    return environment
