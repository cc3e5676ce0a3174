"""``pruningbench worker``: claim queued tasks and run each in a child process, one per GPU slot.

A crash or out-of-memory kill of a run ends its task as failed and never the worker. The worker heartbeats its
tasks; any worker requeues the tasks of a worker that stopped heartbeating (bounded attempts). A cancelled task's
child is asked to stop (it checks at stage and epoch boundaries), then sent SIGTERM, then SIGKILL. On SIGTERM or
Ctrl-C the worker stops its children and gives their tasks back to the queue.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from sqlalchemy.exc import OperationalError

from pruningbench.errors import UserError, first_line
from pruningbench.execution.child import run_task
from pruningbench.execution.queue import Task, TaskQueue
from pruningbench.store import Database

__all__ = ["Worker", "WorkerSettings", "parse_gpus"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker runs: where, how many at once, and its timings (seconds)."""

    gpus: list[int] | None = None  # None: every visible GPU, or the CPU when there is none; []: the CPU
    per_gpu: int = 1  # concurrent runs per GPU (or on the CPU)
    max_runs: int | None = None  # stop after claiming this many tasks
    idle_exit: bool = False  # stop when the queue is empty and no run is left
    threads: int | None = None  # torch CPU threads per run; None: the cores split between concurrent runs
    heartbeat_s: float = 2.0
    stale_after_s: float = 60.0  # a running task without a heartbeat for this long is requeued
    cancel_grace_s: float = 3.0  # time a cancelled run has to stop by itself before SIGTERM (then as long to SIGKILL)
    poll_s: float = 0.5


@dataclass
class _Slot:
    gpu: int | None
    process: BaseProcess | None = None
    task: Task | None = None
    cancel_at: float | None = None  # when the worker saw the task's cancel request


def parse_gpus(text: str | None) -> list[int] | None:
    """``--gpus 0,1`` as indices; None when not given; ``cpu`` or empty for none."""
    if text is None:
        return None
    if text.strip() in ("", "cpu"):
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--gpus {text!r}: expected comma-separated GPU indices such as 0,1 (or cpu)") from None


class Worker:
    """One worker process: its slots, each running at most one child at a time."""

    def __init__(self, database: Database, settings: WorkerSettings) -> None:
        self.database, self.settings = database, settings
        self.queue = TaskQueue(database)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        gpus = settings.gpus if settings.gpus is not None else _visible_gpus()
        devices: list[int | None] = list(gpus) if gpus else [None]
        self.slots = [_Slot(gpu) for gpu in devices for _ in range(settings.per_gpu)]
        self.threads = settings.threads or max(1, (os.cpu_count() or 1) // len(self.slots))
        self.claimed = 0
        self._stopping = False
        # Runs fork from a server process that has imported the pipeline once (seconds of imports saved per run) and
        # has never touched CUDA, so each run still starts CUDA fresh with only its own GPU visible.
        self._context = multiprocessing.get_context("forkserver")
        # Plug-ins are not preloaded: each run loads them itself (load_plugins), recording where their components
        # come from, which is part of the runs' identity.
        self._context.set_forkserver_preload(["pruningbench.execution.child", "pruningbench.pipeline"])

    def run(self) -> int:
        """Work until told to stop (or idle / out of runs, as set); the number of tasks claimed."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        log.info(
            "worker %s: %d slot(s) (%s), %d CPU thread(s) per run",
            self.name,
            len(self.slots),
            ", ".join("cpu" if s.gpu is None else f"gpu {s.gpu}" for s in self.slots),
            self.threads,
        )
        self._next_beat = 0.0
        try:
            while not self._stopping:
                try:
                    if not self._step():
                        break
                except OperationalError as error:  # the store went away (server restart, network): keep the runs
                    log.warning("worker %s: the store is unreachable (%s); retrying", self.name, first_line(error.orig))
                time.sleep(self.settings.poll_s)
        finally:
            self._give_back()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("worker %s: stopped after %d task(s)", self.name, self.claimed)
        return self.claimed

    def _step(self) -> bool:
        """One round: collect finished runs, heartbeat, enforce cancels, claim work; whether to go on."""
        self._reap()
        if self._stopping:
            return False
        if time.monotonic() >= self._next_beat:
            self._next_beat = time.monotonic() + self.settings.heartbeat_s
            self._beat()
        self._enforce_cancels()
        claimed_now = self._fill()
        busy = any(slot.process is not None for slot in self.slots)
        out_of_runs = self.settings.max_runs is not None and self.claimed >= self.settings.max_runs
        return busy or not (out_of_runs or (self.settings.idle_exit and not claimed_now))

    def _stop(self, signum: int, _frame: object) -> None:
        self._stopping = True

    def _beat(self) -> None:
        cancelled = set(self.queue.heartbeat(self.name))
        for slot in self.slots:
            if slot.task is not None and slot.task.id in cancelled and slot.cancel_at is None:
                slot.cancel_at = time.monotonic()
        for task_id in self.queue.requeue_stale(self.settings.stale_after_s):
            log.warning(
                "worker %s: task %d had lost its worker; requeued (or failed after its last attempt)",
                self.name,
                task_id,
            )

    def _fill(self) -> bool:
        """Claim a task for every free slot (within ``max_runs``); whether any was claimed."""
        claimed_any = False
        for slot in self.slots:
            if slot.process is not None:
                continue
            if self.settings.max_runs is not None and self.claimed >= self.settings.max_runs:
                break
            task = self.queue.claim(self.name)
            if task is None:
                break
            self.claimed += 1
            claimed_any = True
            slot.task, slot.cancel_at = task, None
            slot.process = self._context.Process(
                target=run_task,
                name=f"pruningbench-task-{task.id}",
                args=(self.database.url, task.id, task.attempts, slot.gpu, self.threads, os.getpid()),
            )
            slot.process.start()
            log.info(
                "worker %s: task %d (%s) started on %s",
                self.name,
                task.id,
                task.label,
                "cpu" if slot.gpu is None else f"gpu {slot.gpu}",
            )
        return claimed_any

    def _reap(self) -> None:
        """Collect finished children; a child that died without ending its task fails the task with the reason."""
        for slot in self.slots:
            if slot.process is None or slot.process.is_alive():
                continue
            slot.process.join()
            code, task = slot.process.exitcode, slot.task
            assert task is not None
            if slot.cancel_at is not None:
                self.queue.finish(task.id, task.attempts, "cancelled")
            elif code != 0:
                reason = (
                    f"the run process was killed by signal {-code}" + (" (out of memory?)" if code == -9 else "")
                    if code is not None and code < 0
                    else f"the run process exited with code {code}"
                )
                self.queue.finish(task.id, task.attempts, "failed", error=reason)
            slot.process, slot.task, slot.cancel_at = None, None, None

    def _enforce_cancels(self) -> None:
        """A cancelled run that has not stopped by itself: SIGTERM after the grace time, SIGKILL after twice that."""
        for slot in self.slots:
            if slot.process is None or slot.cancel_at is None or not slot.process.is_alive():
                continue
            waited = time.monotonic() - slot.cancel_at
            if waited >= 2 * self.settings.cancel_grace_s:
                slot.process.kill()
            elif waited >= self.settings.cancel_grace_s:
                slot.process.terminate()

    def _give_back(self) -> None:
        """Stop every child and requeue its task (the worker is stopping, the run did not fail)."""
        for slot in self.slots:
            if slot.process is None:
                continue
            slot.process.terminate()
            slot.process.join(timeout=5)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            assert slot.task is not None
            if slot.cancel_at is not None:
                self.queue.finish(slot.task.id, slot.task.attempts, "cancelled")
            else:
                self.queue.requeue(slot.task.id, slot.task.attempts, f"worker {self.name} stopped")
            slot.process, slot.task = None, None


def _visible_gpus() -> list[int]:
    import torch

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
