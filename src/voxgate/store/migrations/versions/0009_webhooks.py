"""Signed webhooks for alerts: subscriptions, an outbox that is also the delivery log, and the
wallet's watched balance.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from voxgate.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", sa.String(500), nullable=False),
        sa.Column("balance_below_micro_usd", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_webhooks_workspace_id", "webhooks", ["workspace_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("webhook_id", sa.String(40), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index("ix_webhook_deliveries_webhook_id", "webhook_deliveries", ["webhook_id"])
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("alert_below_micro_usd", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("alert_below_micro_usd")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
