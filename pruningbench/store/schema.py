"""The store's tables: finished runs, the run queue's tasks, and claims on shared stages being built.

Migrations (``migrations/``) must produce exactly these tables; a test compares them (Alembic's autogenerate diff).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "RunRow", "TaskRow", "TokenRow", "StageClaimRow", "TASK_STATES", "FINISHED_STATES", "ACTIVE_STATES"]

# Constraint names that Alembic's batch mode (SQLite) can find again.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TASK_STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED_STATES = ("done", "failed", "cancelled")
ACTIVE_STATES = ("queued", "running")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RunRow(Base):
    """One finished run: the columns of :class:`pruningbench.record.RunRecord`."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    task: Mapped[str] = mapped_column(String(200), index=True)
    model: Mapped[str] = mapped_column(String(100))
    dataset: Mapped[str] = mapped_column(String(100))
    importance: Mapped[str] = mapped_column(String(100))
    regularizer: Mapped[str | None] = mapped_column(String(100), nullable=True)
    scope: Mapped[str] = mapped_column(String(40))
    protected_share: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(40))
    base_metric: Mapped[float] = mapped_column(Float)
    pruned_metric: Mapped[float] = mapped_column(Float)
    pruned_metric_before_finetune: Mapped[float] = mapped_column(Float)
    target_speedup: Mapped[float] = mapped_column(Float)
    achieved_speedup: Mapped[float] = mapped_column(Float)
    params_before: Mapped[int] = mapped_column(BigInteger)
    params_after: Mapped[int] = mapped_column(BigInteger)
    macs_before: Mapped[int] = mapped_column(BigInteger)
    macs_after: Mapped[int] = mapped_column(BigInteger)
    step_time: Mapped[float] = mapped_column(Float)
    prune_time: Mapped[float] = mapped_column(Float)
    reg_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    finetune_time: Mapped[float] = mapped_column(Float)
    base_train_time: Mapped[float] = mapped_column(Float)
    base_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    pruned_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    base_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_device: Mapped[str | None] = mapped_column(String(200), nullable=True)
    latency_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ratio_ci: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    latencies: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    predicted_latency_ratio: Mapped[float | None] = mapped_column(Float, nullable=True)
    channels_before: Mapped[dict[str, Any]] = mapped_column(JSON)
    channels_after: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_path: Mapped[str] = mapped_column(String(500))
    origin: Mapped[str] = mapped_column(String(20), server_default="run here")
    submitted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class TaskRow(Base):
    """One queued run: its validated config, its state in the queue, and the progress its worker reports."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_key: Mapped[str] = mapped_column(String(32), index=True)
    label: Mapped[str] = mapped_column(String(300))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    submitted_by: Mapped[str] = mapped_column(String(200))
    batch: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    base_stage: Mapped[str] = mapped_column(String(200))  # its base model's stage claim key: claimed while built
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    stage: Mapped[str | None] = mapped_column(String(100), nullable=True)
    epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    epochs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fraction: Mapped[float | None] = mapped_column(Float, nullable=True)
    eta_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TokenRow(Base):
    """An access token of the web platform, stored as its SHA-256 hash: ``submit`` may queue and submit runs,
    ``admin`` may also cancel, retry and delete."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StageClaimRow(Base):
    """A shared stage (base model, sparsified model) being built by one task's attempt; the others wait for it."""

    __tablename__ = "stage_claims"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    task_id: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
