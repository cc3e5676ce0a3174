"""Run records in the store: each written in one transaction, after its run has finished, as an upsert on
``run_key`` (storing a run again replaces its earlier record), so many processes can store at once without losing
or duplicating a run, and an interrupted run leaves nothing behind."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError

from pruningbench.errors import UserError, first_line
from pruningbench.record import RunRecord
from pruningbench.store.database import Database
from pruningbench.store.schema import RunRow

__all__ = ["ResultStore", "default_url", "DB_FILENAME"]

DB_FILENAME = "pruningbench.db"
_FIELDS = list(RunRecord.model_fields)


def default_url(results_dir: Path) -> str:
    """SQLite database inside the results directory."""
    return f"sqlite:///{Path(results_dir) / DB_FILENAME}"


class ResultStore:
    """Read and write run records."""

    def __init__(self, url: str) -> None:
        self.database = Database(url)
        self.url = url

    @classmethod
    def in_dir(cls, results_dir: Path) -> ResultStore:
        """The default SQLite store of a results directory."""
        return cls(default_url(results_dir))

    def add(self, record: RunRecord) -> None:
        """Store ``record`` in one transaction, replacing an earlier record with the same ``run_key``."""
        values = record.model_dump()
        with self.database.writing() as session:
            upsert = _upsert(self.database.dialect, values)
            if upsert is None:  # a dialect without ON CONFLICT: delete and insert in the same transaction
                session.execute(delete(RunRow).where(RunRow.run_key == record.run_key))
                upsert = insert(RunRow).values(**values)
            session.execute(upsert)

    def find(self, run_key: str) -> RunRecord | None:
        """The record stored for ``run_key``, if any."""
        rows = self._all(select(RunRow).where(RunRow.run_key == run_key))
        return rows[0] if rows else None

    def get(self, run_id: str) -> RunRecord:
        """The record with id ``run_id`` (a unique prefix is enough)."""
        rows = self._all(select(RunRow).where(RunRow.run_id.startswith(run_id, autoescape=True)))
        if len(rows) != 1:
            raise UserError(f"{'no' if not rows else 'more than one'} stored run matches id {run_id!r}")
        return rows[0]

    def records(self, run_keys: list[str] | None = None) -> list[RunRecord]:
        """All stored records (or those of ``run_keys``), oldest first."""
        query = select(RunRow).order_by(RunRow.created_at, RunRow.run_id)
        if run_keys is not None:
            query = query.where(RunRow.run_key.in_(run_keys))
        return self._all(query)

    def _all(self, query: Any) -> list[RunRecord]:
        try:
            with self.database.reading() as session:
                return [_to_record(row) for row in session.scalars(query)]
        except DatabaseError as error:
            raise UserError(f"results store {self.url} cannot be read: {first_line(error.orig)}") from None


def _upsert(dialect: str, values: dict[str, Any]) -> Insert | None:
    module = {"sqlite": sqlite, "postgresql": postgresql}.get(dialect)
    if module is None:
        return None
    statement = module.insert(RunRow).values(**values)
    replaced = {name: statement.excluded[name] for name in values if name != "run_key"}
    return statement.on_conflict_do_update(index_elements=[RunRow.run_key], set_=replaced)


def _to_record(row: RunRow) -> RunRecord:
    values = {name: getattr(row, name) for name in _FIELDS}
    if values["created_at"].tzinfo is None:  # SQLite keeps no zone; records are written in UTC
        values["created_at"] = values["created_at"].replace(tzinfo=timezone.utc)
    return RunRecord(**values)
