"""Holds lose their request_id index: nothing looks a hold up by its request, and every hold
placed wrote one more page for it.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.drop_index("ix_holds_request_id", "holds")


def downgrade() -> None:
    op.create_index("ix_holds_request_id", "holds", ["request_id"])
