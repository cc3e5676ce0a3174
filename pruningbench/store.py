"""The results store: run records in an SQL database (SQLite by default, any SQLAlchemy URL such as PostgreSQL).

Each run is written in one transaction, after it has finished, so an interrupted run leaves no partial row and
never touches earlier ones. Records are keyed by ``run_key``: storing a run again replaces its earlier record in
the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String, create_engine, delete, inspect, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from pruningbench.errors import UserError
from pruningbench.record import RunRecord

__all__ = ["ResultStore", "default_url"]

DB_FILENAME = "pruningbench.db"


class _Base(DeclarativeBase):
    pass


class _RunRow(_Base):
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
    params_before: Mapped[int] = mapped_column(Integer)
    params_after: Mapped[int] = mapped_column(Integer)
    macs_before: Mapped[int] = mapped_column(Integer)
    macs_after: Mapped[int] = mapped_column(Integer)
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
    channels_before: Mapped[dict[str, Any]] = mapped_column(JSON)
    channels_after: Mapped[dict[str, Any]] = mapped_column(JSON)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_path: Mapped[str] = mapped_column(String(500))


_FIELDS = list(RunRecord.model_fields)


def default_url(results_dir: Path) -> str:
    """SQLite database inside the results directory."""
    return f"sqlite:///{Path(results_dir) / DB_FILENAME}"


class ResultStore:
    """Read and write run records."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self._engine = create_engine(url)
        try:
            _Base.metadata.create_all(self._engine)
            self._add_missing_columns()
        except DatabaseError as error:
            raise UserError(f"results store {url} cannot be opened: {error.orig}") from None

    def _add_missing_columns(self) -> None:
        """Upgrade a store written by an older version: add its missing (nullable) columns; no row is touched."""
        present = {column["name"] for column in inspect(self._engine).get_columns(_RunRow.__tablename__)}
        with self._engine.begin() as connection:
            for column in _RunRow.__table__.columns:
                if column.name not in present:
                    if not column.nullable:
                        raise UserError(f"results store {self.url} lacks column {column.name!r} and cannot be upgraded")
                    kind = column.type.compile(dialect=self._engine.dialect)
                    connection.execute(text(f"ALTER TABLE {_RunRow.__tablename__} ADD COLUMN {column.name} {kind}"))

    @classmethod
    def in_dir(cls, results_dir: Path) -> ResultStore:
        """The default SQLite store of a results directory."""
        return cls(default_url(results_dir))

    def add(self, record: RunRecord) -> None:
        """Store ``record`` in one transaction, replacing an earlier record with the same ``run_key``."""
        with Session(self._engine) as session, session.begin():
            session.execute(delete(_RunRow).where(_RunRow.run_key == record.run_key))
            session.add(_RunRow(**record.model_dump()))

    def find(self, run_key: str) -> RunRecord | None:
        """The record stored for ``run_key``, if any."""
        return self._one(select(_RunRow).where(_RunRow.run_key == run_key))

    def get(self, run_id: str) -> RunRecord:
        """The record with id ``run_id`` (a unique prefix is enough)."""
        rows = self._all(select(_RunRow).where(_RunRow.run_id.startswith(run_id)))
        if len(rows) != 1:
            raise UserError(f"{'no' if not rows else 'more than one'} stored run matches id {run_id!r}")
        return rows[0]

    def records(self) -> list[RunRecord]:
        """All stored records, oldest first."""
        return self._all(select(_RunRow).order_by(_RunRow.created_at))

    def _one(self, query: Any) -> RunRecord | None:
        rows = self._all(query)
        return rows[0] if rows else None

    def _all(self, query: Any) -> list[RunRecord]:
        try:
            with Session(self._engine) as session:
                return [_to_record(row) for row in session.scalars(query)]
        except DatabaseError as error:
            raise UserError(f"results store {self.url} cannot be read: {error.orig}") from None


def _to_record(row: _RunRow) -> RunRecord:
    values = {name: getattr(row, name) for name in _FIELDS}
    if values["created_at"].tzinfo is None:  # SQLite keeps no zone; records are written in UTC
        values["created_at"] = values["created_at"].replace(tzinfo=timezone.utc)
    return RunRecord(**values)
