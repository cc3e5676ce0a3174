"""The store: one SQL database (SQLite by default, PostgreSQL for teams) holding finished runs and the run queue,
shared safely by many processes, its schema kept by Alembic migrations."""

from pruningbench.store.database import Database, parse_url
from pruningbench.store.results import DB_FILENAME, ResultStore, default_url

__all__ = ["Database", "ResultStore", "default_url", "parse_url", "DB_FILENAME"]
