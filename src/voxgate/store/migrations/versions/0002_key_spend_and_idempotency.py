"""Per-key spend counters (for spend limits) and idempotency records.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from voxgate.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(
            sa.Column("spent_micro_usd", sa.BigInteger(), nullable=False, server_default="0")
        )
        table.add_column(
            sa.Column("held_micro_usd", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.create_table(
        "idempotency_records",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("response_status", sa.Integer()),
        sa.Column("response_body", sa.LargeBinary()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_records")
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("held_micro_usd")
        table.drop_column("spent_micro_usd")
