"""Usage records carry what the provider cost beside what the client was charged, and the
flags of a charge that needs a look: a provider overrun, an estimate, a usage mismatch.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

FLAGS = ("provider_overrun", "estimated", "usage_mismatch")


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(
            sa.Column(
                "provider_cost_micro_usd", sa.BigInteger(), nullable=False, server_default="0"
            )
        )
        for flag in FLAGS:
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        for column in ("provider_cost_micro_usd", *FLAGS):
            batch.drop_column(column)
