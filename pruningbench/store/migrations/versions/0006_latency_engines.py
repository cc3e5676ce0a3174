"""Latency in every engine and batch measured, and the speed-up a latency-targeted run's table predicted.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("latencies", sa.JSON, nullable=True))
        batch.add_column(sa.Column("predicted_latency_ratio", sa.Float, nullable=True))
