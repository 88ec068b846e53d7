"""The journal's write statements, built once per dialect.

Upserts use `INSERT ... ON CONFLICT`, which SQLite and PostgreSQL spell the same way, so one
statement handles both "first sight" and "update" and a batch of them runs as one executemany.

Order rows merge two kinds of column: what the intent said (kept once known, `COALESCE(old, new)`)
and what the exchange reports (`COALESCE(new, old)`: a later report wins, an absent field keeps
the old value). That lets an intent, a rejection and every status change share one statement.
"""

from __future__ import annotations

import operator
from typing import Any

from sqlalchemy import Connection, Dialect, Insert, Table, and_, case, func, literal_column, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import ColumnClause

from ..domain.exchange_types import SnapshotStatus
from .codec import ORDER_UPSERT
from .models import (
    DecimalText,
    EquitySnapshotRow,
    ErrorRow,
    FillRow,
    InstrumentRow,
    OrderEventRow,
    OrderRow,
    PositionChangeRow,
    PositionRow,
    ProtectionActionRow,
    RiskDecisionRow,
    SessionRow,
    SignalRow,
    money_to_text,
)

FILLED, TRIGGERED = str(SnapshotStatus.FILLED), str(SnapshotStatus.TRIGGERED)
ORDER_REPORTED = ("status", "venue_id", "filled", "avg_price", "reject_code", "reject_msg")
#: Order columns the statement keeps once known (what the intent said): every column but these.
ORDER_NOT_KEPT = frozenset({*ORDER_REPORTED, "client_id", "updated_ms", "dry_run"})
POSITION_CLOSING = ("exit_price", "exit_reason", "realized_pnl", "fees", "funding", "closed_ms")


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


def _insert(dialect: Dialect, table: Table) -> Any:
    """The dialect's own insert (it has `on_conflict_*`); refuses a backend we do not test."""
    if dialect.name == "sqlite":
        return sqlite.insert(table)
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"journal: unsupported database dialect {dialect.name!r} (use sqlite or postgresql)")


def _order_upsert(dialect: Dialect) -> Insert:
    table = _table(OrderRow)
    stmt = _insert(dialect, table)
    new = stmt.excluded
    kept = {c.name: func.coalesce(c, new[c.name]) for c in table.columns if c.name not in ORDER_NOT_KEPT}
    reported: dict[str, Any] = {name: func.coalesce(new[name], table.c[name]) for name in ORDER_REPORTED}
    # A stop's own last update (the algo order FINISHED, reported TRIGGERED) comes after the fill of the order
    # it spawned, which carries its client id: a stop that filled stays FILLED, not "triggered". (Constants as
    # SQL literals: the statement is executed with the rows' parameters only.)
    filled: ColumnClause[str] = literal_column(f"'{FILLED}'")
    triggered: ColumnClause[str] = literal_column(f"'{TRIGGERED}'")
    reported["status"] = case((and_(table.c.status == filled, new.status == triggered), table.c.status),
                              else_=reported["status"])
    set_: dict[str, Any] = {**kept, **reported, "updated_ms": new.updated_ms,
                            "dry_run": or_(table.c.dry_run, new.dry_run)}
    result: Insert = stmt.on_conflict_do_update(index_elements=[table.c.client_id], set_=set_)
    return result


def _position_close(dialect: Dialect) -> Insert:
    table = _table(PositionRow)
    stmt = _insert(dialect, table)
    set_ = {name: stmt.excluded[name] for name in POSITION_CLOSING}
    # Only an open row takes a close: a closed trade's exit and P&L are never overwritten (identity.py
    # refuses a second close before it gets here; this holds even for a second writer on the database).
    # Closed means an exit reason: an unknown exit has no `closed_ms` (codec.py `trade_closed_rows`).
    result: Insert = stmt.on_conflict_do_update(index_elements=[table.c.trade_id], set_=set_,
                                                where=table.c.exit_reason.is_(None))
    return result


def _ignore_duplicate(dialect: Dialect, model: Any, key: str) -> Insert:
    table = _table(model)
    result: Insert = _insert(dialect, table).on_conflict_do_nothing(index_elements=[table.c[key]])
    return result


def _instrument_upsert(dialect: Dialect) -> Insert:
    table = _table(InstrumentRow)
    stmt = _insert(dialect, table)
    set_ = {"filters": stmt.excluded.filters, "updated_ms": stmt.excluded.updated_ms}
    result: Insert = stmt.on_conflict_do_update(index_elements=[table.c.symbol], set_=set_)
    return result


def build_statements(dialect: Dialect) -> dict[str, tuple[str, Insert]]:
    """statement key -> (table name, statement). Rows of one table keep their order when flushed."""
    plain = {model.__tablename__: model for model in (
        SignalRow, RiskDecisionRow, OrderEventRow, PositionChangeRow, ProtectionActionRow, ErrorRow,
        EquitySnapshotRow, SessionRow)}
    statements: dict[str, tuple[str, Insert]] = {
        name: (name, _table(model).insert()) for name, model in plain.items()}
    statements[ORDER_UPSERT] = ("orders", _order_upsert(dialect))
    statements["fills"] = ("fills", _ignore_duplicate(dialect, FillRow, "fill_id"))
    statements["position_open"] = ("positions", _ignore_duplicate(dialect, PositionRow, "trade_id"))
    statements["position_close"] = ("positions", _position_close(dialect))
    statements["instruments"] = ("instruments", _instrument_upsert(dialect))
    return statements


class BulkExecutor:
    """Runs a batch of rows of one statement as a single DBAPI executemany.

    SQLAlchemy's per-row parameter processing costs more than SQLite's insert itself, so each
    statement is compiled once per set of columns and its rows go to the driver as plain tuples
    (or dicts for named paramstyles), money converted by the same `money_to_text` DecimalText uses.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.statements = build_statements(dialect)
        self._compiled: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}
        self._money = {name: frozenset(c.name for c in stmt.table.columns if isinstance(c.type, DecimalText))
                       for name, (_, stmt) in self.statements.items()}

    def table_of(self, key: str) -> str:
        return self.statements[key][0]

    def _compile(self, key: str, columns: tuple[str, ...]) -> tuple[str, tuple[str, ...] | None]:
        found = self._compiled.get((key, columns))
        if found is None:
            compiled = self.statements[key][1].compile(dialect=self.dialect, column_keys=list(columns))
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            found = self._compiled[(key, columns)] = (compiled.string, order)
        return found

    def execute(self, conn: Connection, key: str, rows: list[dict[str, Any]]) -> None:
        """Rows of one run share their columns (one codec function made them all); they are consumed."""
        columns = tuple(rows[0])
        if key == ORDER_UPSERT:
            rows = merged_order_upserts(rows, columns)
        sql, order = self._compile(key, columns)
        money = [name for name in columns if name in self._money[key]]
        for row in rows:
            for name in money:
                value = row[name]
                if value is not None:
                    row[name] = money_to_text(value)
        if order is None:
            params: list[Any] = rows
        else:
            pick = operator.itemgetter(*order)
            params = [pick(row) for row in rows] if len(order) > 1 else [(pick(row),) for row in rows]
        conn.exec_driver_sql(sql, params if len(params) > 1 else params[0])


def merged_order_upserts(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The same final order rows from fewer upserts: a backtest's batch holds each order's intent and every
    status change after it (four or five rows an order), and the upsert that finds its row is SQLite's
    costliest statement by far. An order's later row is folded into its first row of the batch, column by
    column as `_order_upsert` would update it (intent columns: the first known; reported ones: the last
    known; `updated_ms` the last; `dry_run` any), so the first row then does what the run of upserts did,
    whether it inserts or updates. The one step the fold cannot hold (a TRIGGERED after a status other than
    FILLED, which keeps a stored FILLED only) starts a new row. First rows keep their places: orders are
    inserted in the same order. The rows are consumed."""
    kept = [name for name in columns if name not in ORDER_NOT_KEPT]
    reported = [name for name in columns if name in ORDER_REPORTED and name != "status"]
    merged: list[dict[str, Any]] = []
    first: dict[str, dict[str, Any]] = {}  # client id: the row its later rows fold into
    for row in rows:
        client_id = row["client_id"]
        into = first.get(client_id)
        status = row["status"]
        if into is None or (status == TRIGGERED and into["status"] not in (FILLED, TRIGGERED)):
            first[client_id] = row
            merged.append(row)
            continue
        for name in kept:
            if into[name] is None:
                into[name] = row[name]
        for name in reported:
            value = row[name]
            if value is not None:
                into[name] = value
        if status is not None and not (status == TRIGGERED and into["status"] == FILLED):
            into["status"] = status
        into["updated_ms"] = row["updated_ms"]
        into["dry_run"] = into["dry_run"] or row["dry_run"]
    return merged
