"""Runs keep every metric and the measured latency; parameter and MACs counts are 64-bit (ImageNet models pass 2^31).

Stores written before migrations existed are stamped 0001 whatever they hold: the columns that a later release of
that time had already added are left as they are, only the missing ones are added.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ADDED = [
    sa.Column("base_metrics", sa.JSON, nullable=True),
    sa.Column("pruned_metrics", sa.JSON, nullable=True),
    sa.Column("base_latency_ms", sa.Float, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=True),
    sa.Column("latency_device", sa.String(200), nullable=True),
]
COUNTERS = ("params_before", "params_after", "macs_before", "macs_after")


def upgrade() -> None:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("runs")}
    with op.batch_alter_table("runs") as batch:
        for column in ADDED:
            if column.name not in present:
                batch.add_column(column)
        for name in COUNTERS:
            batch.alter_column(name, type_=sa.BigInteger, existing_type=sa.Integer, existing_nullable=False)
