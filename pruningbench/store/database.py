"""Opening a store: URL checks, SQLite tuned for many writing processes, and schema migrations run from code.

SQLite runs in WAL mode with a busy timeout, and every write transaction begins ``IMMEDIATE`` (it takes the write
lock at once, so two writers never deadlock upgrading a read lock); reads stay deferred. PostgreSQL needs nothing
special. The schema is kept by Alembic (``migrations/``): a new store is created and stamped at head, an older one is
upgraded in place (SQLite: after a backup copy), and a store written by a newer pruningbench is refused.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session

from pruningbench.errors import UserError, first_line
from pruningbench.store.schema import Base

__all__ = ["Database", "parse_url"]

log = logging.getLogger(__name__)
logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-connection notes are noise to a user

MIGRATIONS = Path(__file__).parent / "migrations"
LEGACY_REVISION = "0001"  # the schema of stores written before migrations existed (their columns vary; 0002 mends)
BUSY_TIMEOUT_S = 60
_WRITE = "pruningbench_write"


def parse_url(url: str) -> URL:
    """``url`` as an SQLAlchemy URL, or a one-line error saying what a store URL looks like."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            f"--db-url {url!r} is not a database URL; e.g. sqlite:///results/pruningbench.db or "
            "postgresql+psycopg://user@host/pruningbench"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError(f"--db-url {url!r}: the store runs on sqlite or postgresql, not {parsed.get_backend_name()!r}")
    return parsed


class Database:
    """An engine on one store, with read and write sessions, its schema at the code's head revision."""

    def __init__(self, url: str) -> None:
        parsed = parse_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        self.sqlite_path = Path(parsed.database) if self.dialect == "sqlite" and parsed.database else None
        if self.sqlite_path is not None:
            if self.sqlite_path.is_dir():
                raise UserError(f"results store {url}: {self.sqlite_path} is a directory, not a database file")
            if self.sqlite_path.parent.exists() and not self.sqlite_path.parent.is_dir():
                raise UserError(f"results store {url}: {self.sqlite_path.parent} is a file, not a directory")
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = _engine(parsed)
        except NoSuchModuleError as error:
            raise UserError(f"--db-url {url!r}: unknown driver ({first_line(error)})") from None
        except ImportError as error:
            raise UserError(
                f"--db-url {url!r}: its driver is not installed ({first_line(error)}); "
                "for PostgreSQL: pip install 'pruningbench[postgres]'"
            ) from None
        try:
            upgrade(self)
        except OperationalError as error:
            raise UserError(f"results store {_safe(parsed)} cannot be reached: {first_line(error.orig)}") from None
        except DatabaseError as error:
            raise UserError(f"results store {_safe(parsed)} cannot be opened: {first_line(error.orig)}") from None

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads (deferred transaction)."""
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session whose transaction takes the write lock at once (SQLite ``BEGIN IMMEDIATE``) and commits."""
        with Session(self.engine.execution_options(**{_WRITE: True})) as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close pooled connections (before a fork, or when done)."""
        self.engine.dispose()


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(connection: sqlite3.Connection, _record: object) -> None:
        connection.isolation_level = None  # let the begin hook below issue BEGIN itself
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this code writes."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def upgrade(database: Database) -> None:
    """Bring the store's schema to head: create and stamp a new store, upgrade an older one (after a backup copy for
    SQLite), refuse one written by a newer version."""
    head = head_revision()
    with database.engine.connect() as connection:
        current, tables = _revision(connection)
    if current == head:
        return
    _refuse_unknown(database, current)
    if tables and database.sqlite_path is not None:
        _backup(database.sqlite_path, current)
    with database.engine.connect().execution_options(**{_WRITE: True}) as connection, connection.begin():
        if database.dialect == "postgresql":  # one process migrates; the others wait, then find it done
            connection.execute(text("SELECT pg_advisory_xact_lock(7043711)"))
        current, tables = _revision(connection)
        config = _alembic_config(connection)
        if current is None and "runs" not in tables:
            Base.metadata.create_all(connection)
            command.stamp(config, "head")
            return
        if current is None:
            command.stamp(config, LEGACY_REVISION)
            current = LEGACY_REVISION
        if current != head:
            log.info("results store %s: upgrading its schema from revision %s to %s", database.url, current, head)
            command.upgrade(config, "head")


def _revision(connection: Connection) -> tuple[str | None, list[str]]:
    tables = inspect(connection).get_table_names()
    return MigrationContext.configure(connection).get_current_revision(), tables


def _refuse_unknown(database: Database, revision: str | None) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory(str(MIGRATIONS)).get_revision(revision)
    except CommandError:
        raise UserError(
            f"results store {database.url} was written by a newer pruningbench (schema revision {revision!r}); "
            "upgrade pruningbench to use it"
        ) from None


def _backup(path: Path, revision: str | None) -> Path:
    """A consistent copy of the SQLite store (SQLite's backup API, safe while others write) before an upgrade."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    copy = path.with_name(f"{path.name}.backup-{revision or 'unversioned'}-{stamp}")
    source, target = sqlite3.connect(path), sqlite3.connect(copy)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        source.close()
        target.close()
    log.info("results store %s: backup written to %s before upgrading its schema", path, copy)
    return copy
