"""Workspaces, keys, wallets, holds, ledger and usage records.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from voxgate.store.tables import UTCDateTime

revision = "0001"
down_revision = None

MONEY = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime()),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
        sa.Column("spend_limit_micro_usd", MONEY),
        sa.Column("rpm_limit", sa.Integer()),
        sa.Column("concurrency_limit", sa.Integer()),
    )
    op.create_index("ix_api_keys_workspace_id", "api_keys", ["workspace_id"])
    op.create_table(
        "wallets",
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), primary_key=True),
        sa.Column("balance_micro_usd", MONEY, nullable=False),
        sa.Column("held_micro_usd", MONEY, nullable=False),
        sa.CheckConstraint("balance_micro_usd >= 0", name="balance_not_negative"),
        sa.CheckConstraint("held_micro_usd >= 0", name="held_not_negative"),
        sa.CheckConstraint("held_micro_usd <= balance_micro_usd", name="held_within_balance"),
    )
    op.create_table(
        "holds",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("amount_micro_usd", MONEY, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime()),
    )
    op.create_index("ix_holds_open_expiry", "holds", ["status", "expires_at"])
    op.create_index("ix_holds_request_id", "holds", ["request_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("amount_micro_usd", MONEY, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ledger_entries_workspace_id", "ledger_entries", ["workspace_id"])
    op.create_table(
        "usage_records",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("task", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(40)),
        sa.Column("route", sa.String(300)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(60)),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in (
                "input_text_tokens",
                "output_text_tokens",
                "input_audio_tokens",
                "output_audio_tokens",
                "input_characters",
                "audio_milliseconds",
                "cost_micro_usd",
                "hold_micro_usd",
            )
        ),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_usage_workspace_created", "usage_records", ["workspace_id", "created_at"])


def downgrade() -> None:
    for table in ("usage_records", "ledger_entries", "holds", "wallets", "api_keys", "workspaces"):
        op.drop_table(table)
