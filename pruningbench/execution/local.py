"""A suite on N local workers (``bench SUITE --jobs N``), followed in one live view until every run has ended.

The runs are queued in the store like any others, and N ``pruningbench worker`` processes are started on this
machine (round-robin over its GPUs, the CPU cores split between them); each writes its log to
``RESULTS_DIR/logs/``. Ctrl-C stops the workers (their runs go back to the queue) and cancels what is still queued.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pruningbench.config import RunConfig
from pruningbench.errors import UserError
from pruningbench.execution.queue import Task, TaskQueue
from pruningbench.leaderboard import format_duration
from pruningbench.store import ResultStore
from pruningbench.store.schema import FINISHED_STATES

__all__ = ["run_with_workers", "queue_view"]

POLL_S = 1.0


def run_with_workers(
    configs: list[RunConfig], store: ResultStore, jobs: int, logs: Path, console: Console
) -> list[Task]:
    """Queue ``configs`` and run them on ``jobs`` new local workers; their tasks once all have ended."""
    queue = TaskQueue(store.database)
    batch = uuid.uuid4().hex[:12]
    ids = queue.enqueue(configs, batch=batch)
    logs.mkdir(parents=True, exist_ok=True)
    workers = [_start_worker(store.url, index, jobs, logs / f"worker-{batch}-{index}.log") for index in range(jobs)]
    console.print(f"suite: {len(set(ids))} runs queued on {jobs} local workers (logs: {logs})")
    try:
        return _follow(queue, ids, workers, console)
    except KeyboardInterrupt:
        for worker in workers:
            worker.terminate()
        queue.cancel_queued(batch)
        raise
    finally:
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _start_worker(db_url: str, index: int, jobs: int, log: Path) -> subprocess.Popen:
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    threads = max(1, (os.cpu_count() or 1) // jobs)
    command = [
        sys.executable,
        "-m",
        "pruningbench",
        "worker",
        "--idle-exit",
        "--threads",
        str(threads),
        "--gpus",
        str(index % gpus) if gpus else "cpu",
        "--db-url",
        db_url,
    ]
    with log.open("ab") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _follow(queue: TaskQueue, ids: list[int], workers: list[subprocess.Popen], console: Console) -> list[Task]:
    """Show the runs' progress until all have ended; a one-line error if every worker stopped before that."""
    started = time.monotonic()
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            tasks = queue.tasks(ids)
            live.update(queue_view(tasks, time.monotonic() - started), refresh=True)
            if all(task.state in FINISHED_STATES for task in tasks):
                return tasks
            if all(worker.poll() is not None for worker in workers):
                left = sum(task.state not in FINISHED_STATES for task in tasks)
                raise UserError(f"every local worker stopped with {left} runs unfinished; see their logs")
            time.sleep(POLL_S)


def queue_view(tasks: list[Task], elapsed: float | None = None) -> Group:
    """Counts per state, then one line per running task: its stage, epoch, progress and ETA."""
    counts = {state: sum(task.state == state for task in tasks) for state in ("done", "running", "failed", "queued")}
    cancelled = sum(task.state == "cancelled" for task in tasks)
    summary = " · ".join(f"{count} {state}" for state, count in counts.items())
    summary += f" · {cancelled} cancelled" if cancelled else ""
    summary += f" · elapsed {format_duration(elapsed)}" if elapsed is not None else ""
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    for column in ("task", "run", "worker", "stage", "epoch", "done", "ETA"):
        table.add_column(column, no_wrap=True)
    for task in (t for t in tasks if t.state == "running"):
        table.add_row(
            str(task.id),
            task.label,
            task.worker or "",
            task.stage or "",
            f"{task.epoch}/{task.epochs}" if task.epoch is not None else "",
            f"{task.fraction:.0%}" if task.fraction is not None else "",
            format_duration(task.eta_s) if task.eta_s is not None else "",
        )
    return Group(Text(f"suite: {summary}"), table) if table.row_count else Text(f"suite: {summary}")
