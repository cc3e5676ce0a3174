"""Measured latency speed-up from interleaved pairs: its median ratio and bootstrap 95% interval.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("latency_ratio", sa.Float, nullable=True))
        batch.add_column(sa.Column("latency_ratio_ci", sa.JSON, nullable=True))
