"""The journal's schema: SQLAlchemy 2 declarative models, the single description of every table.

The writer goes through SQLAlchemy Core on these tables for speed; the reader and the migrations
use them as the schema of record (a test compares the migrated database against this metadata, so
the hand-written migration cannot drift).

Money is `DecimalText`: stored as TEXT in plain notation, so SQLite and PostgreSQL give back the
very same Decimal (a NUMERIC column would round in SQLite, which keeps numbers as float64). Times
are integer epoch milliseconds from the injected clock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Dialect, Float, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Deterministic constraint and index names, the same on every dialect and in the migration.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def decimal_to_text(value: Decimal) -> str:
    """Plain notation ("0.00000001", never "1E-8"): exact, readable, and parsed back to an equal Decimal."""
    return format(value, "f")


def money_to_text(value: Any) -> str | None:
    """The one conversion of money to its stored form; a float is a bug upstream, so it is refused."""
    if type(value) is Decimal:  # the common case, first
        return format(value, "f")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"DecimalText takes Decimal (or int), got {type(value).__name__}: {value!r}")
    return decimal_to_text(Decimal(value))


class DecimalText(TypeDecorator[Decimal]):
    """A Decimal stored as TEXT, exact on every backend; floats are refused (money is never float)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return money_to_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _session_fk() -> Mapped[int | None]:
    return mapped_column(Integer, ForeignKey("sessions.id"), nullable=True)


class SessionRow(Base):
    """One row per start of the bot; `settings` is JSON with secrets already removed by the caller.

    `adapter` (`inprocess` | `ccxt`), `exchange_url` (no credentials), `clock` (`wall` | `simulated`) and
    `speed` say which path the session ran on: readiness counts only paper on the path live money takes
    (the Binance adapter against a simulator server, on the wall clock). NULL in sessions journaled before
    they were recorded (migration 0002), which readiness therefore does not count.

    `account` names the account the session traded, without secrets (runtime/account_name.py), so a restart
    finds the day's first equity of the same account (the daily loss limit's reference, migration 0005).
    """

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(16))
    settings: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(32))
    adapter: Mapped[str | None] = mapped_column(String(16), nullable=True)
    exchange_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    clock: Mapped[str | None] = mapped_column(String(16), nullable=True)
    speed: Mapped[str | None] = mapped_column(String(16), nullable=True)
    account: Mapped[str | None] = mapped_column(String(96), nullable=True)


class InstrumentRow(Base):
    """The filters of every symbol seen, as JSON text, so an audit can re-check rounding later."""

    __tablename__ = "instruments"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    filters: Mapped[str] = mapped_column(Text)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class SignalRow(Base):
    """A strategy's wish; the id is allocated by the writer so a risk decision can point at it in a batch."""

    __tablename__ = "signals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    session_id: Mapped[int | None] = _session_fk()
    symbol: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(64))
    reference_price: Mapped[Decimal | None] = mapped_column(DecimalText)
    reason: Mapped[str] = mapped_column(Text)
    time_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    #: A model's signal (migration 0003): EV per trade after fees (fraction of notional), the model file's
    #: version, and its reasons as JSON `[[feature, contribution], ...]`. NULL for other strategies.
    expected_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reasons: Mapped[str | None] = mapped_column(Text, nullable=True)


class RiskDecisionRow(Base):
    """Risk's answer; the signal's key fields are copied so a decision reads alone."""

    __tablename__ = "risk_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = _session_fk()
    signal_id: Mapped[int | None] = mapped_column(Integer, index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    confidence: Mapped[float] = mapped_column(Float)
    approved: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    trade_id: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[Decimal | None] = mapped_column(DecimalText)
    planned_stop: Mapped[Decimal | None] = mapped_column(DecimalText)
    planned_take_profit: Mapped[Decimal | None] = mapped_column(DecimalText)
    planned_loss: Mapped[Decimal | None] = mapped_column(DecimalText)
    leverage: Mapped[int | None] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class OrderRow(Base):
    """One row per client id: the intent's parameters plus the latest state the exchange reported."""

    __tablename__ = "orders"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int | None] = _session_fk()
    trade_id: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal | None] = mapped_column(DecimalText)
    price: Mapped[Decimal | None] = mapped_column(DecimalText)
    trigger_price: Mapped[Decimal | None] = mapped_column(DecimalText)
    reduce_only: Mapped[bool] = mapped_column(Boolean)
    close_position: Mapped[bool] = mapped_column(Boolean)
    working_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    venue_id: Mapped[str | None] = mapped_column(String(64))
    filled: Mapped[Decimal | None] = mapped_column(DecimalText)
    avg_price: Mapped[Decimal | None] = mapped_column(DecimalText)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    reject_code: Mapped[int | None] = mapped_column(Integer)
    reject_msg: Mapped[str | None] = mapped_column(Text)


class OrderEventRow(Base):
    """Every status change of an order, append-only (no foreign key: a fill may name an order we never sent)."""

    __tablename__ = "order_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = _session_fk()
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class FillRow(Base):
    """A trade print; `fill_id` is unique so a repeated fill (stream + poll) is recorded once."""

    __tablename__ = "fills"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = _session_fk()
    fill_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(DecimalText)
    price: Mapped[Decimal] = mapped_column(DecimalText)
    fee: Mapped[Decimal] = mapped_column(DecimalText)
    realized_pnl: Mapped[Decimal] = mapped_column(DecimalText)
    maker: Mapped[bool] = mapped_column(Boolean)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class PositionRow(Base):
    """One row per trade: opened by TradeOpened, its closing columns filled by TradeClosed."""

    __tablename__ = "positions"
    trade_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int | None] = _session_fk()
    symbol: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(DecimalText)
    entry: Mapped[Decimal] = mapped_column(DecimalText)
    planned_stop: Mapped[Decimal | None] = mapped_column(DecimalText)
    planned_take_profit: Mapped[Decimal | None] = mapped_column(DecimalText)
    planned_loss: Mapped[Decimal | None] = mapped_column(DecimalText)
    leverage: Mapped[int] = mapped_column(Integer)
    equity_at_entry: Mapped[Decimal] = mapped_column(DecimalText)
    confidence: Mapped[float | None] = mapped_column(Float)
    opened_ms: Mapped[int] = mapped_column(BigInteger)
    exit_price: Mapped[Decimal | None] = mapped_column(DecimalText)
    exit_reason: Mapped[str | None] = mapped_column(String(16))
    realized_pnl: Mapped[Decimal | None] = mapped_column(DecimalText)
    fees: Mapped[Decimal | None] = mapped_column(DecimalText)
    funding: Mapped[Decimal | None] = mapped_column(DecimalText)
    closed_ms: Mapped[int | None] = mapped_column(BigInteger, index=True)


class PositionChangeRow(Base):
    """The exchange's view of a position each time it changed (reconciliation evidence)."""

    __tablename__ = "position_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = _session_fk()
    symbol: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(DecimalText)
    entry: Mapped[Decimal] = mapped_column(DecimalText)
    mark: Mapped[Decimal] = mapped_column(DecimalText)
    unrealized: Mapped[Decimal] = mapped_column(DecimalText)
    leverage: Mapped[int] = mapped_column(Integer)
    margin_type: Mapped[str] = mapped_column(String(16))
    liquidation_price: Mapped[Decimal | None] = mapped_column(DecimalText)
    reason: Mapped[str] = mapped_column(Text)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class ProtectionActionRow(Base):
    """What was done to keep a position protected; a kill switch is recorded here as action `kill_switch`."""

    __tablename__ = "protection_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = _session_fk()
    symbol: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    trade_id: Mapped[str | None] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64))
    order_type: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[Decimal | None] = mapped_column(DecimalText)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class ErrorRow(Base):
    """A component's failure; `details` is JSON text."""

    __tablename__ = "errors"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = _session_fk()
    component: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)
    fatal: Mapped[bool] = mapped_column(Boolean)
    details: Mapped[str] = mapped_column(Text)
    time_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class EquitySnapshotRow(Base):
    """The equity curve and the monitor's heartbeat: `time_ms` is session time, `wall_ms` the wall clock when it
    was journaled (a simulated session's hour can pass in seconds; readiness measures its hour on `wall_ms`)."""

    __tablename__ = "equity_snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = _session_fk()
    wallet: Mapped[Decimal] = mapped_column(DecimalText)
    equity: Mapped[Decimal] = mapped_column(DecimalText)
    available: Mapped[Decimal] = mapped_column(DecimalText)
    open_positions: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    wall_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class JournalIdentityRow(Base):
    """One row, written by the migration that creates it: a random id no other journal has. The in-process
    paper account records it (runtime/paper_owner.py), so one journal never resumes another's account."""

    __tablename__ = "journal_identity"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
