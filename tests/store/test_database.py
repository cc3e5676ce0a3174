"""Schema migrations: models and migrations agree, old stores upgrade in place with a backup, newer ones are refused."""

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pruningbench.errors import UserError
from pruningbench.store import ResultStore
from pruningbench.store.database import head_revision
from pruningbench.store.schema import Base
from tests.helpers import make_record

LATER_COLUMNS = (
    "base_metrics",
    "pruned_metrics",
    "base_latency_ms",
    "latency_ms",
    "latency_device",
    "origin",
    "submitted_by",
    "verification",
    "latency_ratio",
    "latency_ratio_ci",
    "latencies",
    "predicted_latency_ratio",
)  # not in the first release


def _differences(url: str) -> list:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)


def _first_release_store(url: str) -> None:
    """A store as the first release wrote it: no version table, no metrics/latency columns, 32-bit counters."""
    engine = sqlalchemy.create_engine(url)
    metadata = sqlalchemy.MetaData()
    columns = [
        sqlalchemy.Column(
            column.name,
            sqlalchemy.Integer() if isinstance(column.type, sqlalchemy.BigInteger) else column.type,
            primary_key=column.primary_key,
            nullable=column.nullable,
            unique=column.unique,
            index=column.index,
        )
        for column in Base.metadata.tables["runs"].columns
        if column.name not in LATER_COLUMNS
    ]
    table = sqlalchemy.Table("runs", metadata, *columns)
    metadata.create_all(engine)
    old = make_record("FPGM", 71.0).model_dump(exclude=set(LATER_COLUMNS))
    with engine.begin() as connection:
        connection.execute(table.insert().values(**old))
    engine.dispose()


def test_a_new_store_is_stamped_at_head_and_matches_the_models(store_url: str):
    ResultStore(store_url)
    engine = sqlalchemy.create_engine(store_url)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head_revision()
    assert _differences(store_url) == []


def test_the_migrations_build_exactly_the_models_tables(store_url: str):
    _first_release_store(store_url)
    (reopened,) = ResultStore(store_url).records()  # upgraded through every migration
    assert reopened.pruned_metric == 71.0 and reopened.latency_ms is None and reopened.base_metrics is None
    assert _differences(store_url) == []  # what `alembic check` checks
    store = ResultStore(store_url)
    store.add(make_record("LAMP", 70.0, macs_before=4_100_000_000))
    assert {r.importance for r in store.records()} == {"FPGM", "LAMP"}


def test_an_older_sqlite_store_is_backed_up_before_its_upgrade(tmp_path: Path):
    path = tmp_path / "pruningbench.db"
    _first_release_store(f"sqlite:///{path}")
    ResultStore.in_dir(tmp_path)
    (backup,) = tmp_path.glob("pruningbench.db.backup-unversioned-*")
    with sqlite3.connect(backup) as copy:
        columns = {row[1] for row in copy.execute("PRAGMA table_info(runs)")}
        assert copy.execute("SELECT importance FROM runs").fetchall() == [("FPGM",)]
    assert "latency_ms" not in columns  # the copy is the store as it was
    ResultStore.in_dir(tmp_path)  # at head now: no second backup
    assert len(list(tmp_path.glob("pruningbench.db.backup-*"))) == 1


def test_a_store_from_a_store_with_the_later_columns_already_added_upgrades(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _first_release_store(url)
    with sqlalchemy.create_engine(url).begin() as connection:  # what the hand-written ALTER TABLE upgrade left
        connection.execute(sqlalchemy.text("ALTER TABLE runs ADD COLUMN latency_ms FLOAT"))
    assert ResultStore(url).records()[0].importance == "FPGM"
    assert _differences(url) == []


def test_a_store_written_by_a_newer_version_is_refused_untouched(store_url: str):
    ResultStore(store_url).add(make_record())
    engine = sqlalchemy.create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(UserError, match="written by a newer pruningbench.*'9999'"):
        ResultStore(store_url)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM runs")).scalar() == 1


def test_sqlite_stores_use_wal_and_a_busy_timeout(tmp_path: Path):
    store = ResultStore.in_dir(tmp_path)
    with store.database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000
