"""The commands of the run queue: ``worker`` runs queued tasks, ``queue list | cancel ID | retry ID | clear``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from pruningbench.cli.common import DbUrl, ResultsDir, cli, console, open_store
from pruningbench.errors import UserError
from pruningbench.execution.local import queue_view
from pruningbench.execution.queue import TaskQueue
from pruningbench.execution.worker import Worker, WorkerSettings, parse_gpus

__all__ = ["worker", "queue"]

QUEUE_ACTIONS = ("list", "cancel", "retry", "clear")


@cli.command()
def worker(
    gpus: Annotated[
        Optional[str], typer.Option(help="GPU indices to use, e.g. 0,1, or cpu (default: every GPU).")
    ] = None,
    per_gpu: Annotated[int, typer.Option(min=1, help="Runs at once on each GPU (or on the CPU).")] = 1,
    max_runs: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many runs.")] = None,
    idle_exit: Annotated[bool, typer.Option(help="Stop once the queue is empty.")] = False,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads per run (default: cores / runs).")] = None,
    stale_after: Annotated[
        float, typer.Option(min=1, help="Requeue a running task whose worker sent no heartbeat for this many seconds.")
    ] = 60.0,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Run queued tasks, each in a child process (a crash never takes the worker down), until stopped."""
    store = open_store(results_dir, db_url)
    settings = WorkerSettings(
        gpus=parse_gpus(gpus),
        per_gpu=per_gpu,
        max_runs=max_runs,
        idle_exit=idle_exit,
        threads=threads,
        stale_after_s=stale_after,
    )
    Worker(store.database, settings).run()


@cli.command()
def queue(
    action: Annotated[str, typer.Argument(help=f"One of: {', '.join(QUEUE_ACTIONS)}.")] = "list",
    task_id: Annotated[Optional[int], typer.Argument(help="The task of cancel / retry.")] = None,
    results_dir: ResultsDir = Path("results"),
    db_url: DbUrl = None,
) -> None:
    """Show the queue, cancel or retry a task, or clear finished tasks."""
    if action not in QUEUE_ACTIONS:
        raise UserError(f"queue: unknown action {action!r}; one of: {', '.join(QUEUE_ACTIONS)}")
    if action in ("cancel", "retry") and task_id is None:
        raise UserError(f"queue {action}: give the task id, e.g. pruningbench queue {action} 3")
    tasks = TaskQueue(open_store(results_dir, db_url).database)
    if action == "list":
        listed = tasks.tasks()
        console.print(queue_view(listed))
        for task in (t for t in listed if t.state != "running"):
            reason = f" · {task.error.splitlines()[0]}" if task.error and task.state != "done" else ""
            console.print(f"{task.id:>5} {task.state:<9} {task.label}{reason}", highlight=False)
    elif action == "cancel":
        state = tasks.cancel(task_id)
        console.print(f"task {task_id}: {'cancelled' if state == 'cancelled' else 'its worker is stopping it'}")
    elif action == "retry":
        tasks.retry(task_id)
        console.print(f"task {task_id}: queued again")
    else:
        console.print(f"cleared {tasks.clear()} finished tasks")
