"""Usage records carry what was charged beside the true cost.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(
            sa.Column("charged_micro_usd", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Until now the recorded cost was the charge.
    op.execute("UPDATE usage_records SET charged_micro_usd = cost_micro_usd")


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("charged_micro_usd")
