"""Budgets with periods: per workspace or key, spend, requests and audio per day or month.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from voxgate.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=True),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("spend_limit_micro_usd", sa.BigInteger(), nullable=True),
        sa.Column("request_limit", sa.BigInteger(), nullable=True),
        sa.Column("audio_seconds_limit", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_budgets_workspace_id", "budgets", ["workspace_id"])
    op.create_table(
        "budget_periods",
        sa.Column(
            "budget_id",
            sa.String(40),
            sa.ForeignKey("budgets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("period_key", sa.String(10), primary_key=True),
        sa.Column("spent_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("held_micro_usd", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("audio_milliseconds", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "hold_budgets",
        sa.Column("hold_id", sa.String(40), primary_key=True),
        sa.Column("budget_id", sa.String(40), primary_key=True),
        sa.Column("period_key", sa.String(10), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hold_budgets")
    op.drop_table("budget_periods")
    op.drop_index("ix_budgets_workspace_id", "budgets")
    op.drop_table("budgets")
