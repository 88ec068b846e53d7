"""A journal's identity: one random id, so a paper account knows which journal it belongs to.

`journal_identity` holds exactly one row, written here (a journal migrated from an older revision gets
its id now). The in-process paper account records it (runtime/paper_owner.py) and a session refuses to
resume an account another journal traded.

Revision ID: 0004_journal_identity
Revises: 0003_signal_scores
Create Date: 2026-12-03
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004_journal_identity"
down_revision = "0003_signal_scores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "journal_identity",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journal_identity"),
    )
    op.bulk_insert(table, [{"id": uuid.uuid4().hex, "created_ms": time.time_ns() // 1_000_000}])


def downgrade() -> None:
    op.drop_table("journal_identity")
