"""Command-line interface: ``pruningbench run | bench | leaderboard | report | list | evaluate``.

Every user error (bad config, unknown name, missing data) ends as one line on stderr and exit code 2.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from pruningbench.checkpoint import load_pruned
from pruningbench.config import RunConfig, load_config, load_preset, parse_config, preset_names
from pruningbench.data import DATASETS
from pruningbench.errors import UserError
from pruningbench.leaderboard import COLUMNS, FORMATS, Board, build_boards, format_duration, render
from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.regularizers import REGULARIZERS
from pruningbench.models import MODELS
from pruningbench.pipeline import resolve_device, run_experiment
from pruningbench.pipeline.workload import workload_for
from pruningbench.record import RunRecord
from pruningbench.report import write_report
from pruningbench.store import ResultStore, default_url
from pruningbench.suite import load_suite, suite_names

__all__ = ["app"]

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Benchmark structural pruning methods.")
console = Console(width=None if sys.stdout.isatty() else 200)  # pipes get full-width tables
errors = Console(stderr=True)

ResultsDir = Annotated[Path, typer.Option("--results-dir", help="Where the store, caches and models live.")]
DbUrl = Annotated[
    Optional[str], typer.Option("--db-url", envvar="PRUNINGBENCH_DB_URL", help="SQLAlchemy URL (default: SQLite).")
]
Settings = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="Override any config key, YAML value, repeatable: --set prune.attention=heads."),
]


def _store(results_dir: Path, db_url: str | None) -> ResultStore:
    return ResultStore(db_url or default_url(results_dir))


def _overrides(settings: list[str] | None, **values: Any) -> dict[str, Any]:
    """The options given (None: not given), then every ``--set KEY=VALUE`` (its value read as YAML)."""
    overrides = {key: value for key, value in values.items() if value is not None}
    for setting in settings or []:
        key, equals, value = setting.partition("=")
        if not equals or not key.strip():
            raise UserError(f"--set {setting!r}: expected KEY=VALUE, e.g. --set prune.attention=heads")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UserError(f"--set {setting!r}: the value is not valid YAML") from None
    return overrides


@cli.command()
def run(
    config: Annotated[Optional[Path], typer.Argument(help="A run config YAML.")] = None,
    preset: Annotated[Optional[str], typer.Option(help="A built-in preset instead of a file.")] = None,
    importance: Annotated[Optional[str], typer.Option(help="Override method.importance.")] = None,
    regularizer: Annotated[Optional[str], typer.Option(help="Override method.regularizer.")] = None,
    speedup: Annotated[Optional[float], typer.Option(help="Override prune.speedup.")] = None,
    scope: Annotated[Optional[str], typer.Option(help="Override prune.scope.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Override seed.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Override task.data_root.")] = None,
    settings: Settings = None,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
    force: Annotated[bool, typer.Option(help="Run again even if this config is stored.")] = False,
) -> None:
    """Run one pruning experiment and store its result."""
    if (config is None) == (preset is None):
        raise UserError("give either a CONFIG file or --preset NAME")
    overrides = _overrides(
        settings,
        **{"method.importance": importance, "method.regularizer": regularizer},
        **{"prune.speedup": speedup, "prune.scope": scope, "seed": seed},
        **{"task.data_root": str(data_root) if data_root else None, "results_dir": str(results_dir)},
    )
    run_config = load_config(config, overrides) if config else load_preset(preset, overrides)
    record = run_experiment(run_config, _store(results_dir, db_url), force=force)
    _print_boards(build_boards([record]))


@cli.command()
def bench(
    suite: Annotated[str, typer.Argument(help="A built-in suite name or a suite YAML path.")],
    methods: Annotated[
        Optional[str], typer.Option(help="Comma-separated methods to keep: criteria, or pairings as Importance+Regularizer.")
    ] = None,
    speedups: Annotated[Optional[str], typer.Option(help="Comma-separated speed-ups to keep, e.g. 2,4.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Comma-separated seeds to keep.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Override task.data_root.")] = None,
    settings: Settings = None,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Run a whole suite (skipping runs already stored) and print its leaderboards."""
    overrides = _overrides(
        settings, **{"task.data_root": str(data_root) if data_root else None, "results_dir": str(results_dir)}
    )
    loaded = load_suite(suite)
    configs = loaded.expand(
        overrides, _split(methods, str, "--methods"), _split(speedups, float, "--speedups"), _split(seeds, int, "--seeds")
    )
    store = _store(results_dir, db_url)
    if loaded.note:
        console.print(f"[bold]note:[/bold] {loaded.note}")
    records = _run_all(configs, store)
    _print_boards(build_boards(records))
    if loaded.note:
        console.print(f"[bold]note:[/bold] {loaded.note}")
    console.print(f"results: {store.url}")
    console.print(f"report: {write_report(records, results_dir / 'report', store.url)}")


def _run_all(configs: list[RunConfig], store: ResultStore) -> list[RunRecord]:
    """Run every config not stored yet, showing runs done / total, elapsed time and an ETA from the runs so far."""
    pending = [store.find(config.run_key()) is None for config in configs]
    to_run = sum(pending)
    console.print(f"suite: {len(configs)} runs, {len(configs) - to_run} already stored, {to_run} to run")
    records, finished, started = [], 0, time.perf_counter()
    for index, (config, runs) in enumerate(zip(configs, pending), start=1):
        elapsed = time.perf_counter() - started
        eta = format_duration(elapsed / finished * (to_run - finished)) if finished else "?"
        if runs:
            console.rule(f"run {index}/{len(configs)} · {_describe(config)} · elapsed {format_duration(elapsed)} · ETA {eta}")
        records.append(run_experiment(config, store))
        finished += runs
    console.print(f"suite: done in {format_duration(time.perf_counter() - started)}")
    return records


def _split(text: str | None, kind: type, option: str) -> list | None:
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{option}: {text!r} is not a comma-separated list of {kind.__name__}") from None


def _describe(config: RunConfig) -> str:
    method = config.method.importance + (f" + {config.method.regularizer}" if config.method.regularizer else "")
    return f"{config.task.model} · {method} · {config.prune.speedup:g}x · seed {config.seed}"


@cli.command()
def report(
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default: RESULTS_DIR/report).")] = None,
) -> None:
    """Write the HTML report (boards, statistics, figures) and Markdown/CSV/JSON exports of every stored run."""
    store = _store(results_dir, db_url)
    records = store.records()
    if not records:
        raise UserError(f"no stored results in {results_dir}")
    console.print(f"report: {write_report(records, out or results_dir / 'report', store.url)}")


@cli.command()
def leaderboard(
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "table",
    task: Annotated[Optional[str], typer.Option(help="Only this task, e.g. 'resnet18_cifar on cifar100'.")] = None,
) -> None:
    """Print the stored results as ranked leaderboards."""
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    boards = build_boards(_store(results_dir, db_url).records(), task)
    if not boards:
        raise UserError(f"no stored results{f' for task {task!r}' if task else ''} in {results_dir}")
    if fmt == "table":
        _print_boards(boards)
    else:
        sys.stdout.write(render(boards, fmt) + "\n")


def _print_boards(boards: list[Board]) -> None:
    for board in boards:
        table = Table(title=board.title, title_justify="left")
        for column in COLUMNS:
            table.add_column(column, justify="left" if column in ("Importance", "Regularizer") else "right", no_wrap=True)
        for row in board.rows:
            table.add_row(*row.cells())
        console.print(table)


@cli.command("list")
def list_components() -> None:
    """List registered models, datasets, criteria, regularizers, presets and suites."""
    for title, names in (
        ("models", MODELS.names()),
        ("datasets", DATASETS.names()),
        ("criteria", CRITERIA.names()),
        ("regularizers", REGULARIZERS.names()),
        ("presets", preset_names()),
        ("suites", suite_names()),
    ):
        console.print(f"[bold]{title}[/bold]: {', '.join(names) if names else '(none yet)'}")


@cli.command()
def evaluate(
    run_id: Annotated[str, typer.Argument(help="A stored run id (a unique prefix is enough).")],
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Load a stored pruned model back and evaluate it on its test set."""
    record = _store(results_dir, db_url).get(run_id)
    path = results_dir / record.model_path
    if not path.is_file():
        raise UserError(f"model file {path} of run {record.run_id[:8]} is missing")
    config = parse_config(dict(record.config), f"run {record.run_id[:8]}'s stored config")
    device = resolve_device(config.device)
    workload = workload_for(config, device)
    metrics = workload.evaluate(load_pruned(path).to(device), desc="evaluate")
    shown = ", ".join(f"{name} {value:.2f}" for name, value in metrics.items())
    console.print(f"run {record.run_id[:8]}: {shown} (stored {record.metric} {record.pruned_metric:.2f})")


def app() -> None:
    """Console entry point: run the CLI, turning user errors into one line and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[RichHandler(console=errors, show_path=False)])
    try:
        cli(standalone_mode=False)
    except UserError as error:
        errors.print(f"error: {error}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        errors.print("interrupted: stored results are intact; rerun to continue", highlight=False)
        raise SystemExit(130) from None
    except (typer.Exit, typer.Abort) as stop:
        raise SystemExit(getattr(stop, "exit_code", 1)) from None
    except Exception as error:  # click usage errors
        import click

        if isinstance(error, click.ClickException):
            error.show()
            raise SystemExit(error.exit_code) from None
        raise


