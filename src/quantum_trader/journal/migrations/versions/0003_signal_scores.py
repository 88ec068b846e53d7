"""The AI scanner's signals carry their score (issue 11).

`signals` gains `expected_value` (net return per trade after fees, a fraction of notional),
`model_version` (the model file's content hash) and `reasons` (JSON `[[feature, contribution], ...]`,
the model's top feature contributions). All nullable: other strategies' signals, and signals journaled
before this revision, keep NULL.

Revision ID: 0003_signal_scores
Revises: 0002_session_path
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_signal_scores"
down_revision = "0002_session_path"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signals") as batch:
        batch.add_column(sa.Column("expected_value", sa.Float(), nullable=True))
        batch.add_column(sa.Column("model_version", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reasons", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signals") as batch:
        for name in ("reasons", "model_version", "expected_value"):
            batch.drop_column(name)
