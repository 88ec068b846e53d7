"""Which account each session traded, so a restart mid-day keeps the daily loss limit's reference.

The daily loss limit measures the day from its first equity snapshot. A restart used to start the day
again from the equity at the restart, so a crash loop (or a restart on purpose) gave a losing day a
fresh allowance each time. A restart now reads the day's first snapshot back from the journal, but only
from sessions of the same account: after `paper-reset` the fresh account must not inherit the old one's
day (it would be flattened at once for a loss it never made). `sessions.account` names that account
without any secret (runtime/account_name.py): the paper account's random id in process; the exchange URL
and a fingerprint of the API key otherwise. NULL for sessions journaled before this revision and for
backtests, which trade no account; a restart finds no day start in them and starts the day afresh.

Revision ID: 0005_session_account
Revises: 0004_journal_identity
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_session_account"
down_revision = "0004_journal_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("account", sa.String(96), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("account")
