"""A realtime session's pieces get a column of their own on its usage records (`lines`), instead
of riding in `attempts` as attempts whose status was an event type.

Revision ID: 0013
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
# 0011 and 0012 are given to work not yet merged: the lead chains this after 0012 at merge.
down_revision = "0012"


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("lines", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("lines")
