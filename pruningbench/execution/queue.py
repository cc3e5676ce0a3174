"""The run queue: tasks in the store that workers claim atomically, run, report on, and finish.

A claim is one write transaction that picks the next queued task (highest priority, then oldest) and marks it
running: on SQLite the transaction holds the write lock (``BEGIN IMMEDIATE``), on PostgreSQL the row is locked with
``FOR UPDATE SKIP LOCKED``, so no two workers ever get the same task. Every change made on behalf of a running task
names the attempt it belongs to, so a worker that was given up on can never overwrite its successor's work.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from pruningbench.config import RunConfig
from pruningbench.errors import UserError
from pruningbench.pipeline.base_model import base_stage_key
from pruningbench.store import Database
from pruningbench.store.schema import ACTIVE_STATES, FINISHED_STATES, StageClaimRow, TaskRow

__all__ = ["Task", "TaskQueue", "describe", "submitter"]


@dataclass(frozen=True)
class Task:
    """A snapshot of one task row."""

    id: int
    run_key: str
    label: str
    config: dict[str, Any]
    state: str
    priority: int
    submitted_by: str
    batch: str | None
    attempts: int
    max_attempts: int
    worker: str | None
    heartbeat: datetime | None
    cancel_requested: bool
    stage: str | None
    epoch: int | None
    epochs: int | None
    fraction: float | None
    eta_s: float | None
    error: str | None
    run_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _task(row: TaskRow) -> Task:
    values = {name: getattr(row, name) for name in Task.__dataclass_fields__}
    for name in ("heartbeat", "created_at", "started_at", "finished_at"):  # SQLite keeps no zone; we write UTC
        if values[name] is not None and values[name].tzinfo is None:
            values[name] = values[name].replace(tzinfo=timezone.utc)
    return Task(**values)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def describe(config: RunConfig) -> str:
    """A run in one line: model, method, target, seed."""
    method = config.method.importance + (f" + {config.method.regularizer}" if config.method.regularizer else "")
    return f"{config.task.model} · {method} · {config.prune.speedup:g}x · seed {config.seed}"


def submitter() -> str:
    """Who submits from this process: user@host."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


class TaskQueue:
    """Tasks of one store."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # Submitting and managing

    def enqueue(
        self,
        configs: list[RunConfig],
        batch: str | None = None,
        priority: int = 0,
        max_attempts: int = 3,
        submitted_by: str | None = None,
    ) -> list[int]:
        """Queue one task per config, in order; their ids. A config already queued or running is not queued twice:
        its id is that task's. ``submitted_by`` defaults to this process's user@host."""
        now, who = _now(), submitted_by or submitter()
        keys = [config.run_key() for config in configs]
        with self.database.writing() as session:
            active = dict(
                session.execute(
                    select(TaskRow.run_key, TaskRow.id).where(
                        TaskRow.run_key.in_(keys), TaskRow.state.in_(ACTIVE_STATES)
                    )
                ).all()
            )
            ids = []
            for key, config in zip(keys, configs):
                if key not in active:
                    row = TaskRow(
                        run_key=key,
                        label=describe(config),
                        config=config.model_dump(mode="json"),
                        state="queued",
                        base_stage=base_stage_key(config),
                        priority=priority,
                        submitted_by=who,
                        batch=batch,
                        attempts=0,
                        max_attempts=max_attempts,
                        cancel_requested=False,
                        created_at=now,
                    )
                    session.add(row)
                    session.flush()
                    active[key] = row.id
                ids.append(active[key])
            return ids

    def tasks(self, ids: list[int] | None = None, states: tuple[str, ...] | None = None) -> list[Task]:
        """Tasks (those of ``ids``, in some states), in queue order."""
        query = select(TaskRow).order_by(TaskRow.id)
        if ids is not None:
            query = query.where(TaskRow.id.in_(ids))
        if states is not None:
            query = query.where(TaskRow.state.in_(states))
        with self.database.reading() as session:
            return [_task(row) for row in session.scalars(query)]

    def active_count(self, submitted_by: str) -> int:
        """Queued and running tasks of one submitter (the platform's per-token limit)."""
        with self.database.reading() as session:
            return session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(TaskRow.submitted_by == submitted_by, TaskRow.state.in_(ACTIVE_STATES))
            )

    def get(self, task_id: int) -> Task:
        """One task, or a one-line error."""
        with self.database.reading() as session:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise UserError(f"no task with id {task_id}")
            return _task(row)

    def cancel(self, task_id: int) -> str:
        """Cancel a task: a queued one at once, a running one is told to stop (its worker ends it); its new state."""
        with self.database.writing() as session:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise UserError(f"no task with id {task_id}")
            if row.state == "queued":
                row.state, row.finished_at = "cancelled", _now()
            elif row.state == "running":
                row.cancel_requested = True
            else:
                raise UserError(f"task {task_id} is {row.state}; only queued or running tasks can be cancelled")
            return row.state

    def retry(self, task_id: int) -> None:
        """Queue a failed or cancelled task again, with a fresh count of attempts."""
        with self.database.writing() as session:
            row = session.get(TaskRow, task_id)
            if row is None:
                raise UserError(f"no task with id {task_id}")
            if row.state not in ("failed", "cancelled"):
                raise UserError(f"task {task_id} is {row.state}; only failed or cancelled tasks can be retried")
            row.state, row.attempts, row.cancel_requested, row.error = "queued", 0, False, None
            row.worker = row.heartbeat = row.started_at = row.finished_at = None

    def clear(self) -> int:
        """Delete every finished task (done, failed, cancelled); how many."""
        with self.database.writing() as session:
            return session.execute(delete(TaskRow).where(TaskRow.state.in_(FINISHED_STATES))).rowcount

    # Working

    def claim(self, worker: str) -> Task | None:
        """Atomically take the next queued task for ``worker`` (marked running, one more attempt), or None.

        Highest priority first, then oldest; but a task whose base model another run is building right now comes
        after the others, so a free slot takes other work rather than waiting.
        """
        now = _now()
        base_being_built = exists().where(StageClaimRow.key == TaskRow.base_stage)
        next_id = (
            select(TaskRow.id)
            .where(TaskRow.state == "queued")
            .order_by(case((base_being_built, 1), else_=0), TaskRow.priority.desc(), TaskRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            update(TaskRow)
            .where(TaskRow.id == next_id, TaskRow.state == "queued")
            .values(
                state="running",
                worker=worker,
                attempts=TaskRow.attempts + 1,
                heartbeat=now,
                started_at=now,
                stage="claimed",
                epoch=None,
                epochs=None,
                fraction=None,
                eta_s=None,
                error=None,
            )
            .returning(TaskRow.id)
        )
        with self.database.writing() as session:
            claimed = session.execute(claim).scalar()
            return None if claimed is None else _task(session.get(TaskRow, claimed))

    def _attempt(self, task_id: int, attempt: int) -> Any:
        return and_(TaskRow.id == task_id, TaskRow.attempts == attempt, TaskRow.state == "running")

    def heartbeat(self, worker: str) -> list[int]:
        """Mark ``worker``'s running tasks alive; the ids of those asked to cancel."""
        with self.database.writing() as session:
            session.execute(
                update(TaskRow).where(TaskRow.worker == worker, TaskRow.state == "running").values(heartbeat=_now())
            )
            return list(
                session.scalars(
                    select(TaskRow.id).where(
                        TaskRow.worker == worker, TaskRow.state == "running", TaskRow.cancel_requested.is_(True)
                    )
                )
            )

    def report(
        self,
        task_id: int,
        attempt: int,
        stage: str,
        epoch: int | None,
        epochs: int | None,
        fraction: float | None,
        eta_s: float | None,
    ) -> bool:
        """Write a running attempt's progress; whether it should stop (cancelled, or no longer its attempt)."""
        with self.database.writing() as session:
            updated = session.execute(
                update(TaskRow)
                .where(self._attempt(task_id, attempt))
                .values(stage=stage[:100], epoch=epoch, epochs=epochs, fraction=fraction, eta_s=eta_s)
                .returning(TaskRow.cancel_requested)
            ).scalar()
        return updated is None or bool(updated)

    def finish(
        self, task_id: int, attempt: int, state: str, run_id: str | None = None, error: str | None = None
    ) -> bool:
        """End a running attempt as ``done``, ``failed`` or ``cancelled``; False if it was no longer running."""
        with self.database.writing() as session:
            ended = session.execute(
                update(TaskRow)
                .where(self._attempt(task_id, attempt))
                .values(state=state, run_id=run_id, error=error, finished_at=_now(), eta_s=None)
            ).rowcount
            session.execute(
                delete(StageClaimRow).where(StageClaimRow.task_id == task_id, StageClaimRow.attempt == attempt)
            )
        return ended == 1

    def requeue(self, task_id: int, attempt: int, reason: str) -> None:
        """Give a running attempt back to the queue (its worker is stopping); this attempt does not count."""
        with self.database.writing() as session:
            session.execute(
                update(TaskRow)
                .where(self._attempt(task_id, attempt))
                .values(state="queued", attempts=TaskRow.attempts - 1, worker=None, stage=None, error=reason)
            )
            session.execute(
                delete(StageClaimRow).where(StageClaimRow.task_id == task_id, StageClaimRow.attempt == attempt)
            )

    def requeue_stale(self, stale_after_s: float) -> list[int]:
        """Tasks whose worker stopped heartbeating: queued again, or failed once their attempts are used up."""
        cutoff = _now() - timedelta(seconds=stale_after_s)
        with self.database.writing() as session:
            stale = list(
                session.scalars(
                    select(TaskRow).where(TaskRow.state == "running", TaskRow.heartbeat < cutoff).with_for_update()
                )
            )
            for row in stale:
                reason = f"worker {row.worker} stopped heartbeating (attempt {row.attempts} of {row.max_attempts})"
                row.state = "queued" if row.attempts < row.max_attempts else "failed"
                row.error, row.worker = reason, None
                if row.state == "failed":
                    row.finished_at = _now()
            return [row.id for row in stale]

    # Shared stages

    def claim_stage(self, key: str, task_id: int, attempt: int) -> bool:
        """Take the right to build the shared stage ``key``: free, already ours, or held by an attempt that ended.

        On PostgreSQL ``FOR UPDATE`` locks no row that does not exist yet, so two attempts may both try to insert the
        claim: the second one's insert fails on the key, which means the stage is taken (it asks again later)."""
        try:
            return self._claim_stage(key, task_id, attempt)
        except IntegrityError:
            return False

    def _claim_stage(self, key: str, task_id: int, attempt: int) -> bool:
        with self.database.writing() as session:
            held = session.get(StageClaimRow, key, with_for_update=True)
            if held is None:
                session.add(StageClaimRow(key=key, task_id=task_id, attempt=attempt, created_at=_now()))
                return True
            if (held.task_id, held.attempt) == (task_id, attempt):
                return True
            holder_alive = session.scalar(
                select(func.count()).select_from(TaskRow).where(self._attempt(held.task_id, held.attempt))
            )
            if holder_alive:
                return False
            held.task_id, held.attempt, held.created_at = task_id, attempt, _now()
            return True

    def release_stage(self, key: str, task_id: int, attempt: int) -> None:
        """Give up the right to build ``key`` (it is built, or this attempt failed)."""
        with self.database.writing() as session:
            session.execute(
                delete(StageClaimRow).where(
                    StageClaimRow.key == key, StageClaimRow.task_id == task_id, StageClaimRow.attempt == attempt
                )
            )

    def cancel_queued(self, batch: str) -> int:
        """Cancel the still-queued tasks of ``batch`` (its submitter stopped following them); how many."""
        with self.database.writing() as session:
            return session.execute(
                update(TaskRow)
                .where(TaskRow.batch == batch, TaskRow.state == "queued")
                .values(state="cancelled", finished_at=_now())
            ).rowcount
