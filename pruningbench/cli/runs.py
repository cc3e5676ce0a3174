"""The commands that run and read results: ``run | bench | report | leaderboard | list | evaluate``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from pruningbench.checkpoint import load_pruned, pruned_input_shape
from pruningbench.cli.common import DbUrl, Nproc, ResultsDir, Settings, cli, console, errors, open_store, overrides, split
from pruningbench.config import RunConfig, load_config, load_preset, parse_config, preset_names
from pruningbench.data import DATASETS
from pruningbench.deploy import FORMATS as DEPLOY_FORMATS
from pruningbench.deploy import export_onnx
from pruningbench.errors import UserError
from pruningbench.registry import Registry
from pruningbench.execution.local import run_with_workers
from pruningbench.execution.queue import TaskQueue, describe
from pruningbench.leaderboard import COLUMNS, FORMATS, Board, build_boards, format_duration, render
from pruningbench.methods.importance import CRITERIA
from pruningbench.methods.regularizers import REGULARIZERS
from pruningbench.models import MODELS
from pruningbench.pipeline import resolve_device, run_experiment
from pruningbench.pipeline.workload import workload_for
from pruningbench.report import write_report
from pruningbench.store import ResultStore
from pruningbench.suite import load_suite, suite_names

__all__ = ["run", "bench", "report", "leaderboard", "list_components", "evaluate", "export"]


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
    nproc: Nproc = None,
) -> None:
    """Run one pruning experiment and store its result."""
    if (config is None) == (preset is None):
        raise UserError("give either a CONFIG file or --preset NAME")
    changes = overrides(
        settings,
        **{"method.importance": importance, "method.regularizer": regularizer},
        **{"prune.speedup": speedup, "prune.scope": scope, "seed": seed},
        **{"task.data_root": str(data_root) if data_root else None, "results_dir": str(results_dir)},
        nproc=nproc,
    )
    run_config = load_config(config, changes) if config else load_preset(preset, changes)
    record = run_experiment(run_config, open_store(results_dir, db_url), force=force)
    _print_boards(build_boards([record]))


@cli.command()
def bench(
    suite: Annotated[str, typer.Argument(help="A built-in suite name or a suite YAML path.")],
    methods: Annotated[
        Optional[str],
        typer.Option(help="Comma-separated methods to keep: criteria, or pairings as Importance+Regularizer."),
    ] = None,
    speedups: Annotated[Optional[str], typer.Option(help="Comma-separated speed-ups to keep, e.g. 2,4.")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="Comma-separated seeds to keep.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Override task.data_root.")] = None,
    settings: Settings = None,
    jobs: Annotated[int, typer.Option(min=1, help="Runs at once, on this many local workers (1: inline).")] = 1,
    enqueue: Annotated[bool, typer.Option(help="Only queue the runs; workers (pruningbench worker) run them.")] = False,
    priority: Annotated[int, typer.Option(help="Queue priority of these runs (higher first).")] = 0,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
    nproc: Nproc = None,
    executor: Annotated[
        str, typer.Option(help="local (this machine: inline or --jobs workers) or ray (a Ray cluster: RAY_ADDRESS).")
    ] = "local",
) -> None:
    """Run a whole suite (skipping runs already stored) and print its leaderboards."""
    if executor not in ("local", "ray"):
        raise UserError(f"--executor {executor!r}: expected local or ray")
    changes = overrides(
        settings,
        **{"task.data_root": str(data_root) if data_root else None, "results_dir": str(results_dir.resolve())},
        nproc=nproc,
    )
    loaded = load_suite(suite)
    configs = loaded.expand(
        changes, split(methods, str, "--methods"), split(speedups, float, "--speedups"), split(seeds, int, "--seeds")
    )
    store = open_store(results_dir, db_url)
    pending = [config for config in configs if store.find(config.run_key()) is None]
    console.print(f"suite: {len(configs)} runs, {len(configs) - len(pending)} already stored, {len(pending)} to run")
    if enqueue:
        ids = TaskQueue(store.database).enqueue(pending, priority=priority)
        console.print(f"queued {len(set(ids))} runs in {store.url}; workers run them: pruningbench worker --db-url URL")
        return
    if loaded.note:
        console.print(f"[bold]note:[/bold] {loaded.note}")
    if executor == "ray":
        failed = _run_on_ray(pending, store, results_dir) if pending else 0
    elif jobs > 1 and pending:
        failed = _run_parallel(pending, store, jobs, results_dir)
    else:
        failed = _run_inline(configs, store)
    records = store.records([config.run_key() for config in configs])
    _print_boards(build_boards(records))
    if loaded.note:
        console.print(f"[bold]note:[/bold] {loaded.note}")
    console.print(f"results: {store.url}")
    console.print(f"report: {write_report(records, results_dir / 'report', store.url)}")
    if failed:
        raise typer.Exit(1)


def _run_inline(configs: list[RunConfig], store: ResultStore) -> int:
    """Run every config not stored yet in this process, showing runs done / total, elapsed time and an ETA."""
    pending = [store.find(config.run_key()) is None for config in configs]
    to_run = sum(pending)
    finished, started = 0, time.perf_counter()
    for index, (config, runs) in enumerate(zip(configs, pending), start=1):
        if not runs:
            continue
        elapsed = time.perf_counter() - started
        eta = format_duration(elapsed / finished * (to_run - finished)) if finished else "?"
        elapsed_text = format_duration(elapsed)
        console.rule(f"run {index}/{len(configs)} · {describe(config)} · elapsed {elapsed_text} · ETA {eta}")
        run_experiment(config, store)
        finished += 1
    console.print(f"suite: done in {format_duration(time.perf_counter() - started)}")
    return 0


def _run_parallel(configs: list[RunConfig], store: ResultStore, jobs: int, results_dir: Path) -> int:
    """Run ``configs`` on ``jobs`` local workers; how many failed (each named with its error)."""
    started = time.perf_counter()
    tasks = run_with_workers(configs, store, jobs, results_dir / "logs", console)
    failed = [task for task in tasks if task.state != "done"]
    for task in failed:
        reason = (task.error or "").splitlines()[0] if task.error else ""
        errors.print(f"task {task.id} ({task.label}) {task.state}: {reason}", highlight=False, soft_wrap=True)
    console.print(
        f"suite: done in {format_duration(time.perf_counter() - started)}"
        + (f", {len(failed)} runs not done" if failed else "")
    )
    return len(failed)


def _run_on_ray(configs: list[RunConfig], store: ResultStore, results_dir: Path) -> int:
    """Run ``configs`` as Ray tasks (see :mod:`pruningbench.execution.cluster`); how many failed, each named."""
    try:
        from pruningbench.execution.cluster import run_on_ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'pruningbench[ray]'") from None
    started = time.perf_counter()
    outcome = run_on_ray(configs, store, results_dir, console)
    for label, reason in outcome.failures.items():
        errors.print(f"failed: {label}: {reason}", highlight=False, soft_wrap=True)
    console.print(
        f"suite on Ray: done in {format_duration(time.perf_counter() - started)}, {len(outcome.records)} runs stored"
        + (f", {len(outcome.failures)} failed" if outcome.failures else "")
    )
    return len(outcome.failures)


@cli.command()
def report(
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default: RESULTS_DIR/report).")] = None,
) -> None:
    """Write the HTML report (boards, statistics, figures) and Markdown/CSV/JSON exports of every stored run."""
    store = open_store(results_dir, db_url)
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
    boards = build_boards(open_store(results_dir, db_url).records(), task)
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
            table.add_column(
                column, justify="left" if column in ("Importance", "Regularizer") else "right", no_wrap=True
            )
        for row in board.rows:
            table.add_row(*row.cells())
        console.print(table)


@cli.command("list")
def list_components() -> None:
    """List registered models, datasets, criteria, regularizers, presets and suites."""
    def named(registry: Registry) -> list[str]:  # a plug-in's components say where they come from
        return [name if (origin := registry.origin(name)) is None else f"{name} ({origin})" for name in registry.names()]

    for title, names in (
        ("models", named(MODELS)),
        ("datasets", named(DATASETS)),
        ("criteria", named(CRITERIA)),
        ("regularizers", named(REGULARIZERS)),
        ("presets", preset_names()),
        ("suites", suite_names()),
    ):
        console.print(f"[bold]{title}[/bold]: {', '.join(names) if names else '(none yet)'}", highlight=False)


@cli.command()
def evaluate(
    run_id: Annotated[str, typer.Argument(help="A stored run id (a unique prefix is enough).")],
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Load a stored pruned model back and evaluate it on its test set."""
    record = open_store(results_dir, db_url).get(run_id)
    path = results_dir / record.model_path
    if not path.is_file():
        raise UserError(f"model file {path} of run {record.run_id[:8]} is missing")
    config = parse_config(dict(record.config), f"run {record.run_id[:8]}'s stored config")
    device = resolve_device(config.device)
    workload = workload_for(config, device)
    metrics = workload.evaluate(load_pruned(path).to(device), desc="evaluate")
    shown = ", ".join(f"{name} {value:.2f}" for name, value in metrics.items())
    console.print(f"run {record.run_id[:8]}: {shown} (stored {record.metric} {record.pruned_metric:.2f})")


@cli.command()
def export(
    run_id: Annotated[str, typer.Argument(help="A stored run id (a unique prefix is enough).")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(DEPLOY_FORMATS)}.")] = "onnx",
    out: Annotated[Optional[Path], typer.Option(help="The output file (default: run-ID.onnx).")] = None,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Export a stored pruned model for deployment, checked against PyTorch's outputs."""
    if fmt not in DEPLOY_FORMATS:
        raise UserError(f"--format must be one of {', '.join(DEPLOY_FORMATS)} (got {fmt!r})")
    record = open_store(results_dir, db_url).get(run_id)
    path = results_dir / record.model_path
    if not path.is_file():
        raise UserError(f"model file {path} of run {record.run_id[:8]} is missing")
    exported = export_onnx(load_pruned(path), pruned_input_shape(path), out or Path(f"run-{record.run_id[:8]}.onnx"))
    console.print(f"onnx: {exported.path} (checked; max abs difference to PyTorch {exported.max_abs_diff:.2e})")
