"""Workspace owners' tokens, stored hashed: each manages one workspace's keys and budgets.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from voxgate.store.tables import UTCDateTime

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "owner_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_owner_tokens_workspace_id", "owner_tokens", ["workspace_id"])


def downgrade() -> None:
    op.drop_table("owner_tokens")
