"""Per-key realtime cost caps: per session, per response, and what a response past one gets.

Revision ID: 0012
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("max_session_cost_micro_usd", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("max_response_cost_micro_usd", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("cap_policy", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("cap_policy")
        table.drop_column("max_response_cost_micro_usd")
        table.drop_column("max_session_cost_micro_usd")
