"""The commands of the web platform: ``serve``, ``token create | revoke | list``, ``export-run``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pruningbench.cli.common import DbUrl, ResultsDir, cli, console, open_store
from pruningbench.data import DATASETS
from pruningbench.errors import UserError
from pruningbench.store.tokens import SCOPES, TokenStore
from pruningbench.submission import export_bundle

__all__ = ["serve", "token", "export_run"]

TOKEN_ACTIONS = ("create", "revoke", "list")


def _data_roots(pairs: list[str] | None) -> dict[str, Path]:
    roots = {}
    for pair in pairs or []:
        dataset, equals, folder = pair.partition("=")
        if not equals or dataset not in DATASETS:
            raise UserError(
                f"--data-root {pair!r}: expected DATASET=FOLDER with a dataset of: {', '.join(DATASETS.names())}"
            )
        if not Path(folder).expanduser().exists():
            raise UserError(f"--data-root {pair!r}: {folder} does not exist")
        roots[dataset] = Path(folder).expanduser().resolve()
    return roots


@cli.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default; a proxy goes in front).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    data_root: Annotated[
        Optional[list[str]], typer.Option(help="DATASET=FOLDER where this server finds a dataset (repeatable).")
    ] = None,
    private: Annotated[bool, typer.Option(help="Reading needs a token too.")] = False,
    max_upload_mb: Annotated[float, typer.Option(min=1, help="Largest results bundle accepted.")] = 512.0,
    queue_limit: Annotated[int, typer.Option(min=1, help="Queued or running tasks one token may have.")] = 500,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Start the web platform: leaderboards, runs, new tasks, the queue, submissions (runs execute in workers)."""
    import uvicorn

    from pruningbench.web.app import ServerSettings, create_app

    store = open_store(results_dir, db_url)
    tokens = TokenStore(store.database)
    if not tokens.any_admin():
        secret = tokens.create(_free_name(tokens, "admin"), "admin")
        console.print(f"admin token (shown once; keep it): [bold]{secret}[/bold]")
    settings = ServerSettings(
        store_url=store.url,
        results_dir=results_dir.resolve(),
        data_roots=_data_roots(data_root),
        private=private,
        max_upload_mb=max_upload_mb,
        queue_limit=queue_limit,
    )
    console.print(f"pruningbench platform on http://{host}:{port} over {store.url}; runs need `pruningbench worker`")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def _free_name(tokens: TokenStore, base: str) -> str:
    taken = {name for name, _, _ in tokens.names()}
    return next(name for name in (base, *(f"{base}-{i}" for i in range(2, 1000))) if name not in taken)


@cli.command()
def token(
    action: Annotated[str, typer.Argument(help=f"One of: {', '.join(TOKEN_ACTIONS)}.")],
    name: Annotated[Optional[str], typer.Argument(help="The token's name (create, revoke).")] = None,
    scope: Annotated[str, typer.Option(help=f"One of: {', '.join(SCOPES)}.")] = "submit",
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Create (printed once), revoke or list the platform's access tokens."""
    if action not in TOKEN_ACTIONS:
        raise UserError(f"token: unknown action {action!r}; one of: {', '.join(TOKEN_ACTIONS)}")
    tokens = TokenStore(open_store(results_dir, db_url).database)
    if action == "list":
        for token_name, token_scope, active in tokens.names():
            console.print(f"{token_name:<30} {token_scope:<7} {'active' if active else 'revoked'}", highlight=False)
        return
    if not name:
        raise UserError(f"token {action}: give the token's name, e.g. pruningbench token {action} alice")
    if action == "create":
        console.print(tokens.create(name, scope), highlight=False)
    else:
        tokens.revoke(name)
        console.print(f"token {name!r} revoked")


@cli.command("export-run")
def export_run(
    run_id: Annotated[str, typer.Argument(help="A stored run id (a unique prefix is enough).")],
    out: Annotated[Optional[Path], typer.Option(help="The bundle file (default: run-ID.zip).")] = None,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Write a run's results bundle (its record and pruned model, no code) to submit to a platform."""
    record = open_store(results_dir, db_url).get(run_id)
    path = export_bundle(record, results_dir, out or Path(f"run-{record.run_id[:8]}.zip"))
    console.print(f"bundle: {path}")
