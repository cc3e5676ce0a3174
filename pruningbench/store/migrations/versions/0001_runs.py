"""The runs table as the first release wrote it.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("run_key", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("importance", sa.String(100), nullable=False),
        sa.Column("regularizer", sa.String(100), nullable=True),
        sa.Column("scope", sa.String(40), nullable=False),
        sa.Column("protected_share", sa.Float, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(40), nullable=False),
        sa.Column("base_metric", sa.Float, nullable=False),
        sa.Column("pruned_metric", sa.Float, nullable=False),
        sa.Column("pruned_metric_before_finetune", sa.Float, nullable=False),
        sa.Column("target_speedup", sa.Float, nullable=False),
        sa.Column("achieved_speedup", sa.Float, nullable=False),
        sa.Column("params_before", sa.Integer, nullable=False),
        sa.Column("params_after", sa.Integer, nullable=False),
        sa.Column("macs_before", sa.Integer, nullable=False),
        sa.Column("macs_after", sa.Integer, nullable=False),
        sa.Column("step_time", sa.Float, nullable=False),
        sa.Column("prune_time", sa.Float, nullable=False),
        sa.Column("reg_time", sa.Float, nullable=True),
        sa.Column("finetune_time", sa.Float, nullable=False),
        sa.Column("base_train_time", sa.Float, nullable=False),
        sa.Column("channels_before", sa.JSON, nullable=False),
        sa.Column("channels_after", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("model_path", sa.String(500), nullable=False),
    )
    op.create_index("ix_runs_run_key", "runs", ["run_key"], unique=True)
    op.create_index("ix_runs_task", "runs", ["task"])
