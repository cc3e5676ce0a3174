"""What every command shares: the typer app, the consoles, the common options, opening the store, overrides."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.console import Console

from pruningbench.errors import UserError
from pruningbench.registry import share_plugin
from pruningbench.store import ResultStore, default_url

__all__ = ["cli", "console", "errors", "ResultsDir", "DbUrl", "Nproc", "Settings", "open_store", "overrides", "split"]

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Benchmark structural pruning methods.")


@cli.callback()
def _plugins(
    plugin: Annotated[
        Optional[list[str]],
        typer.Option(
            "--plugin",
            help="A .py file or module that registers components (criteria, regularizers, models, datasets); "
            "repeatable; loaded by the workers and runs started from here too.",
        ),
    ] = None,
) -> None:
    """Benchmark structural pruning methods."""
    for spec in plugin or []:
        share_plugin(spec)
console = Console(width=None if sys.stdout.isatty() else 200)  # pipes get full-width tables
errors = Console(stderr=True)

ResultsDir = Annotated[Path, typer.Option("--results-dir", help="Where the store, caches and models live.")]
DbUrl = Annotated[
    Optional[str], typer.Option("--db-url", envvar="PRUNINGBENCH_DB_URL", help="SQLAlchemy URL (default: SQLite).")
]
Nproc = Annotated[
    Optional[int],
    typer.Option(min=1, help="Data-parallel processes (torchrun) for every training stage; batch sizes stay global."),
]
Settings = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override any config key, YAML value, repeatable: --set prune.attention=heads."),
]


def open_store(results_dir: Path, db_url: str | None) -> ResultStore:
    """The store of ``--db-url``, else the SQLite store of ``--results-dir`` (which must be a directory)."""
    if results_dir.exists() and not results_dir.is_dir():
        raise UserError(f"--results-dir {str(results_dir)!r} is a file, not a directory")
    return ResultStore(db_url or default_url(results_dir))


def overrides(settings: list[str] | None, **values: Any) -> dict[str, Any]:
    """The options given (None: not given), then every ``--set KEY=VALUE`` (its value read as YAML)."""
    given = {key: value for key, value in values.items() if value is not None}
    for setting in settings or []:
        key, equals, value = setting.partition("=")
        if not equals or not key.strip():
            raise UserError(f"--set {setting!r}: expected KEY=VALUE, e.g. --set prune.attention=heads")
        try:
            given[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"--set {setting!r}: the value is not valid YAML") from None
    return given


def split(text: str | None, kind: type, option: str) -> list | None:
    """A comma-separated option as a list of ``kind`` (None when not given)."""
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{option}: {text!r} is not a comma-separated list of {kind.__name__}") from None
