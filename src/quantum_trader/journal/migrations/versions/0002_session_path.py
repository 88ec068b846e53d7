"""Which path each session ran on, and the wall clock of each equity heartbeat (issue 10).

Readiness counts only paper trading on the path live money takes: the Binance adapter against a
simulator server, measured on the wall clock. `sessions` gains `adapter`, `exchange_url`, `clock` and
`speed`; `equity_snapshots` gains `wall_ms`. All nullable: sessions journaled before this revision
keep NULL, and readiness lists them as not counted.

Revision ID: 0002_session_path
Revises: 0001_initial
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_session_path"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("adapter", sa.String(16), nullable=True))
        batch.add_column(sa.Column("exchange_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("clock", sa.String(16), nullable=True))
        batch.add_column(sa.Column("speed", sa.String(16), nullable=True))
    with op.batch_alter_table("equity_snapshots") as batch:
        batch.add_column(sa.Column("wall_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("equity_snapshots") as batch:
        batch.drop_column("wall_ms")
    with op.batch_alter_table("sessions") as batch:
        for name in ("speed", "clock", "exchange_url", "adapter"):
            batch.drop_column(name)
