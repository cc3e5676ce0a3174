"""Alembic environment: migrations run on the connection the store hands over (``config.attributes``), never from an
``alembic.ini``; SQLite tables are altered in batch mode (copy and rename)."""

from alembic import context

from pruningbench.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
