"""The initial journal schema, written by hand to match `journal/models.py`.

Decimal columns are TEXT here (the models' `DecimalText` stores plain-notation text); a test runs
Alembic's `compare_metadata` on a migrated database to prove the two agree.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _money(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _pk(table: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint("id", name=f"pk_{table}")


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], name=f"fk_{table}_session_id_sessions")


def _session_col() -> sa.Column[int]:
    return sa.Column("session_id", sa.Integer(), nullable=True)


def _index(table: str, column: str, unique: bool = False) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column], unique=unique)


def _create_core() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        _pk("sessions"),
    )
    op.create_table(
        "instruments",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("filters", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name="pk_instruments"),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        _session_col(),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        _money("reference_price"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("signals"), _fk("signals"),
    )
    _index("signals", "time_ms")
    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _session_col(),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trade_id", sa.String(64), nullable=True),
        _money("quantity"), _money("planned_stop"), _money("planned_take_profit"), _money("planned_loss"),
        sa.Column("leverage", sa.Integer(), nullable=True),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("risk_decisions"), _fk("risk_decisions"),
    )
    _index("risk_decisions", "signal_id")


def _create_orders() -> None:
    op.create_table(
        "orders",
        sa.Column("client_id", sa.String(64), nullable=False),
        _session_col(),
        sa.Column("trade_id", sa.String(64), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=True),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        _money("quantity"), _money("price"), _money("trigger_price"),
        sa.Column("reduce_only", sa.Boolean(), nullable=False),
        sa.Column("close_position", sa.Boolean(), nullable=False),
        sa.Column("working_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("venue_id", sa.String(64), nullable=True),
        _money("filled"), _money("avg_price"),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("reject_code", sa.Integer(), nullable=True),
        sa.Column("reject_msg", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name="pk_orders"), _fk("orders"),
    )
    _index("orders", "trade_id")
    _index("orders", "status")
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _session_col(),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("order_events"), _fk("order_events"),
    )
    _index("order_events", "client_id")
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _session_col(),
        sa.Column("fill_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        _money("quantity", False), _money("price", False), _money("fee", False), _money("realized_pnl", False),
        sa.Column("maker", sa.Boolean(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("fills"), _fk("fills"),
        sa.UniqueConstraint("fill_id", name="uq_fills_fill_id"),
    )
    _index("fills", "client_id")


def _create_positions() -> None:
    op.create_table(
        "positions",
        sa.Column("trade_id", sa.String(64), nullable=False),
        _session_col(),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        _money("quantity", False), _money("entry", False),
        _money("planned_stop"), _money("planned_take_profit"), _money("planned_loss"),
        sa.Column("leverage", sa.Integer(), nullable=False),
        _money("equity_at_entry", False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        _money("exit_price"),
        sa.Column("exit_reason", sa.String(16), nullable=True),
        _money("realized_pnl"), _money("fees"), _money("funding"),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("trade_id", name="pk_positions"), _fk("positions"),
    )
    _index("positions", "closed_ms")
    op.create_table(
        "position_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _session_col(),
        sa.Column("symbol", sa.String(32), nullable=False),
        _money("amount", False), _money("entry", False), _money("mark", False), _money("unrealized", False),
        sa.Column("leverage", sa.Integer(), nullable=False),
        sa.Column("margin_type", sa.String(16), nullable=False),
        _money("liquidation_price"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("position_changes"), _fk("position_changes"),
    )


def _create_audit() -> None:
    op.create_table(
        "protection_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _session_col(),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trade_id", sa.String(64), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("order_type", sa.String(32), nullable=True),
        _money("price"),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("protection_actions"), _fk("protection_actions"),
    )
    _index("protection_actions", "trade_id")
    op.create_table(
        "errors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _session_col(),
        sa.Column("component", sa.String(128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fatal", sa.Boolean(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("errors"), _fk("errors"),
    )
    _index("errors", "time_ms")
    op.create_table(
        "equity_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _session_col(),
        _money("wallet", False), _money("equity", False), _money("available", False),
        sa.Column("open_positions", sa.Integer(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        _pk("equity_snapshots"), _fk("equity_snapshots"),
    )
    _index("equity_snapshots", "time_ms")


def upgrade() -> None:
    _create_core()
    _create_orders()
    _create_positions()
    _create_audit()


DROP_ORDER = ("equity_snapshots", "errors", "protection_actions", "position_changes", "positions", "fills",
              "order_events", "orders", "risk_decisions", "signals", "instruments", "sessions")


def downgrade() -> None:
    for table in DROP_ORDER:
        op.drop_table(table)
