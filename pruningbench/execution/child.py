"""One queued run, executed in a child process of a worker: its progress goes to the task row, a cancel stops it at
the next stage or epoch boundary, and shared stages are built by one run while the others wait.

The child dies with its worker (a watchdog on the worker's pidfd), so a worker killed with ``kill -9`` leaves no run
behind that would go on computing what its requeued successor computes again.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from pruningbench.errors import UserError, first_line
from pruningbench.execution.queue import TaskQueue
from pruningbench.pipeline.hooks import RunCancelled, RunHooks, using_hooks

__all__ = ["TaskHooks", "run_task"]

log = logging.getLogger(__name__)


class TaskHooks(RunHooks):
    """Hooks of a run executed for a task: progress written (at most every ``interval_s`` within a stage and epoch,
    always at their boundaries), cancel checked on every write, shared stages claimed in the store."""

    def __init__(self, queue: TaskQueue, task_id: int, attempt: int, interval_s: float = 2.0, poll_s: float = 1.0):
        self.queue, self.task_id, self.attempt = queue, task_id, attempt
        self.interval_s, self.poll_s = interval_s, poll_s
        self._last: tuple[str, int | None] | None = None
        self._last_write = 0.0
        self._stage_started = time.monotonic()

    def progress(self, stage: str, epoch: int | None = None, epochs: int | None = None, fraction: float = 0.0) -> None:
        now = time.monotonic()
        if self._last is None or stage != self._last[0]:
            self._stage_started = now
        boundary = (stage, epoch) != self._last
        if not boundary and now - self._last_write < self.interval_s:
            return
        self._last, self._last_write = (stage, epoch), now
        elapsed = now - self._stage_started
        eta = elapsed / fraction * (1 - fraction) if 0 < fraction <= 1 else None
        try:
            stop = self.queue.report(self.task_id, self.attempt, stage, epoch, epochs, fraction, eta)
        except OperationalError as error:  # progress is best effort: a store that blinks does not fail the run
            log.warning("progress not written (%s)", first_line(error.orig))
            return
        if stop:
            raise RunCancelled(f"task {self.task_id} was cancelled")

    @contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        while not self.queue.claim_stage(key, self.task_id, self.attempt):
            self.progress(f"waiting for {key}")
            time.sleep(self.poll_s)
        try:
            yield
        finally:
            self.queue.release_stage(key, self.task_id, self.attempt)


def _die_with_worker(worker_pid: int) -> None:
    """Kill this process as soon as its worker exits (a watchdog thread on the worker's pidfd; where there is none,
    polling), so that a worker killed with ``kill -9`` leaves no run behind; exit now if the worker is gone."""

    def gone() -> bool:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            return True
        return False

    try:
        watched = os.pidfd_open(worker_pid) if hasattr(os, "pidfd_open") else None
    except ProcessLookupError:
        os._exit(1)
    if gone():
        os._exit(1)

    def watch() -> None:
        if watched is not None:
            select.select([watched], [], [])
        else:
            while not gone():
                time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="worker-watchdog", daemon=True).start()


def run_task(db_url: str, task_id: int, attempt: int, gpu: int | None, threads: int, worker_pid: int) -> None:
    """Entry point of the child process: run task ``task_id`` (attempt ``attempt``) and end it in the store."""
    _die_with_worker(worker_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the worker decides
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before CUDA starts: this run sees its GPU only, as cuda:0
    logging.basicConfig(level=logging.INFO, format=f"[task {task_id}] %(message)s", stream=sys.stderr)
    import torch

    from pruningbench.config import parse_config
    from pruningbench.pipeline import run_experiment
    from pruningbench.registry import load_plugins
    from pruningbench.store import ResultStore

    torch.set_num_threads(threads)
    store = ResultStore(db_url)
    queue = TaskQueue(store.database)
    task = queue.get(task_id)
    try:
        load_plugins()
        config = parse_config(dict(task.config), f"task {task_id}")
        with using_hooks(TaskHooks(queue, task_id, attempt)):
            record = run_experiment(config, store)
    except RunCancelled:
        queue.finish(task_id, attempt, "cancelled")
        log.info("cancelled")
        return
    except UserError as error:
        queue.finish(task_id, attempt, "failed", error=str(error))
        log.error("failed: %s", error)
        sys.exit(2)
    except Exception as error:  # any crash of the run: recorded on the task, the worker carries on
        queue.finish(task_id, attempt, "failed", error=f"{first_line(error)}\n{traceback.format_exc()[-4000:]}")
        log.exception("failed")
        sys.exit(1)
    queue.finish(task_id, attempt, "done", run_id=record.run_id)
