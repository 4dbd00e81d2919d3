"""The speech cache: a workspace opts in, and a usage record says when its answer came from
the cache.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("speech_cache", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(
            sa.Column("cached", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("cached")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("speech_cache")
