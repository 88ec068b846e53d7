"""The journal writer: subscribes to the bus and records every non-market event.

Two durability policies, chosen by `batch_size`:
- `1` (paper, live, staging): each event is committed before its handler returns, and an intent is
  committed by `record_intent`, which execution calls before the order leaves the process and which
  raises when the write fails: the write-ahead guarantee a restart reconciles from.
- `N` (backtest): rows are buffered and written with executemany every N events and on flush/close;
  a crash loses at most the unflushed tail, which a backtest can simply re-run.

Market events (BarClosed) are not journaled: they are many and the feed can replay them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any, Self

from sqlalchemy import Engine, func, select

from ..core.bus import EventBus
from ..domain import events as ev
from ..domain.errors import JournalWriteError
from ..domain.exchange_types import BalanceUpdate
from . import codec
from .db import create_engine_for, migrate
from .identity import Identities, JournalConflict
from .models import SignalRow
from .statements import BulkExecutor

#: Signals remembered so a later RiskDecision can point at its signal's row.
SIGNAL_MEMORY = 4096


#: Orders whose last recorded state is remembered to drop repeats (old ones are forgotten first).
ORDER_STATE_MEMORY = 10_000
#: Statements that must come after others of their table in a batch; everything else keeps event order.
_LATER = frozenset({"position_close"})


def _in_phases(rows: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Opens before closes, each in event order: the same final rows (a close only updates its own
    trade's row, which its open created earlier in the batch or before), in two executemany calls
    instead of one per trade."""
    if not any(key in _LATER for key, _ in rows):
        return rows
    return [item for item in rows if item[0] not in _LATER] + [item for item in rows if item[0] in _LATER]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Journal:
    """Records events into the journal database; one writer per database."""

    def __init__(self, engine: Engine | str, *, batch_size: int = 1, now_ms: Callable[[], int] | None = None,
                 wall_ms: Callable[[], int] | None = None) -> None:
        """`now_ms` is the session's clock (simulated or wall); `wall_ms` the real one, stamped on each equity
        heartbeat so readiness can tell an hour of wall time from an hour of simulated time (tests inject it)."""
        if batch_size < 1:
            raise ValueError(f"batch_size: {batch_size} must be >= 1")
        self._owns_engine = not isinstance(engine, Engine)
        self.engine = create_engine_for(engine) if isinstance(engine, str) else engine
        self.batch_size = batch_size
        self._now_ms = now_ms or _wall_ms
        self._wall_ms = wall_ms or _wall_ms
        self._bulk = BulkExecutor(self.engine.dialect)
        self._pending: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._pending_events = 0
        self._session_id: int | None = None
        self._next_signal_id: int | None = None
        self._signal_ids: dict[ev.Signal, int] = {}
        self._closed = False
        self.events_recorded = 0
        self.rows_written = 0
        #: Failed flushes (the bus turns a handler's exception into an ErrorEvent and carries on).
        self.write_failures = 0
        self._order_states: dict[str, tuple[object, ...]] = {}  # client id → last recorded (status, filled, avg)
        #: One trade per trade id, one entry per client id (identity.py): a second one is refused.
        self.identities = Identities(self.engine)

    @classmethod
    def open(cls, url: str, *, batch_size: int = 1, now_ms: Callable[[], int] | None = None) -> Journal:
        """Migrate the schema to head, then open a writer on it (what a session start does)."""
        engine = create_engine_for(url)
        migrate(engine)
        journal = cls(engine, batch_size=batch_size, now_ms=now_ms)
        journal._owns_engine = True
        return journal

    @property
    def session_id(self) -> int | None:
        return self._session_id

    # --- wiring ---------------------------------------------------------------------------------
    def attach(self, bus: EventBus) -> None:
        """Subscribe to every non-market event; call before execution subscribes (write-ahead)."""
        handlers: list[tuple[type[Any], Callable[[Any], None]]] = [
            (ev.Signal, self.on_signal), (ev.RiskDecision, self.on_risk_decision),
            (ev.OrderNotSent, self._via(codec.not_sent_rows)),
            (ev.CancelNotSent, self._via(codec.cancel_not_sent_rows)),
            (ev.OrderRejectedEvent, self.on_rejected),
            (ev.OrderChanged, self.on_order_changed), (ev.FillEvent, self._via(codec.fill_rows)),
            (ev.PositionChanged, self._via(codec.position_changed_rows)),
            (ev.TradeOpened, self.on_trade_opened), (ev.TradeClosed, self.on_trade_closed),
            (ev.ProtectionAction, self._via(codec.protection_rows)),
            (ev.EquitySnapshot, self.on_equity), (ev.KillSwitch, self._via(codec.kill_switch_rows)),
            (ev.ErrorEvent, self._via(codec.error_rows)),
            (ev.ScannerSilent, self._via(codec.silent_rows)),
            (BalanceUpdate, self._via(codec.transfer_rows)),
        ]
        for event_type, handler in handlers:
            bus.subscribe(event_type, handler)

    def on_equity(self, event: ev.EquitySnapshot) -> None:
        """The monitor's heartbeat, stamped with the wall clock as well as the session's time."""
        rows = codec.equity_rows(event, self._session_id)
        for _, row in rows:
            row["wall_ms"] = self._wall_ms()
        self.record(rows)

    def on_order_changed(self, event: ev.OrderChanged) -> None:
        """Record a status change; the same state reported twice (the placement answer, then the stream's
        NEW) is one state, not two changes."""
        snap = event.snapshot
        state = (snap.status, snap.filled, snap.avg_price)
        if self._order_states.get(snap.client_id) == state:
            return
        self._order_states[snap.client_id] = state
        if len(self._order_states) > ORDER_STATE_MEMORY:
            del self._order_states[next(iter(self._order_states))]
        self.record(codec.order_changed_rows(event, self._session_id))

    def on_trade_opened(self, event: ev.TradeOpened) -> None:
        """Raises `JournalConflict` for a trade id already in the journal: the first trade's row stays as it is."""
        self.identities.check_opened(event)
        self.record(codec.trade_opened_rows(event, self._session_id))
        self.identities.opened(event.trade_id)

    def on_trade_closed(self, event: ev.TradeClosed) -> None:
        """Raises `JournalConflict` for a trade already closed: an exit and its P&L are written once."""
        self.identities.check_closed(event)
        self.record(codec.trade_closed_rows(event, self._session_id))
        self.identities.closed(event.trade_id)

    def on_rejected(self, event: ev.OrderRejectedEvent) -> None:
        """A refusal of an intent the journal itself refused goes to the order's history only: the order
        row under that client id belongs to the first order, which this refusal must not mark rejected."""
        rows = codec.rejected_rows(event, self._session_id)
        if event.intent.client_id in self.identities.refused:
            rows = [item for item in rows if item[0] != codec.ORDER_UPSERT]
        self.record(rows)

    def trade_ids_tagged(self, tag: str) -> set[str]:
        """Trade ids the journal holds with this allocator tag (risk/trade_ids.py skips them)."""
        return self.identities.trade_ids_tagged(tag)

    def _via(self, to_rows: Callable[[Any, int | None], codec.Rows]) -> Callable[[Any], None]:
        def handle(event: Any) -> None:
            self.record(to_rows(event, self._session_id))
        handle.__qualname__ = f"Journal.{to_rows.__name__}"
        return handle

    # --- explicit records -------------------------------------------------------------------------
    def record_intent(self, event: ev.OrderIntentRecorded) -> None:
        """Write-ahead: execution calls this before sending and sends only if it returns.

        With batch_size 1 (sessions) the intent is committed before the call returns, and a failed
        write raises `JournalWriteError`; a backtest's batch holds it like any row (a crash there is re-run).
        """
        try:
            self.identities.check_intent(event)  # a second entry under one client id: refused, so not sent
            self.record(codec.intent_rows(event, self._session_id))
        except JournalConflict:
            raise
        except Exception as exc:
            raise JournalWriteError(f"journal: the intent {event.intent.client_id} was not recorded: "
                                    f"{type(exc).__name__}") from exc
        self.identities.intent(event)

    def start_session(self, mode: str, settings_json: str, version: str, *, started_ms: int | None = None,
                      adapter: str | None = None, exchange_url: str | None = None, clock: str | None = None,
                      speed: str | None = None, account: str | None = None) -> int:
        """One row per start; later rows carry its id. Written at once whatever the batch size.

        `adapter`, `exchange_url` (without credentials), `clock` and `speed` record the path the session ran
        on (readmodels/evidence.py `session_path`); readiness counts a paper session only when they show the
        live path, so a caller that leaves them out journals a session readiness does not count. `account` names the
        account traded (runtime/account_name.py): a restart keeps the daily loss limit's day start of that account
        only."""
        self.flush()
        row = {"started_ms": self._now_ms() if started_ms is None else started_ms, "mode": mode,
               "settings": settings_json, "version": version, "adapter": adapter, "exchange_url": exchange_url,
               "clock": clock, "speed": speed, "account": account}
        with self.engine.begin() as conn:
            result = conn.execute(self._bulk.statements["sessions"][1], row)
            key = result.inserted_primary_key
        if key is None or key[0] is None:
            raise RuntimeError("journal: the database did not return the new session's id")
        self._session_id = int(key[0])
        return self._session_id

    def record_instrument(self, symbol: str, filters_json: str, time_ms: int) -> None:
        """Remember a symbol's filters (JSON text); the latest call for a symbol wins."""
        self.record([("instruments", {"symbol": symbol, "filters": filters_json, "updated_ms": time_ms})])

    def on_signal(self, event: ev.Signal) -> None:
        signal_id = self._allocate_signal_id()
        self._signal_ids[event] = signal_id
        if len(self._signal_ids) > SIGNAL_MEMORY:
            del self._signal_ids[next(iter(self._signal_ids))]
        self.record([("signals", codec.signal_row(event, signal_id, self._session_id))])

    def on_risk_decision(self, event: ev.RiskDecision) -> None:
        signal_id = self._signal_ids.get(event.signal)
        self.record([("risk_decisions", codec.risk_row(event, signal_id, self._session_id))])

    def _allocate_signal_id(self) -> int:
        """Ids come from the writer, not the database, so a buffered decision can name its signal."""
        if self._next_signal_id is None:
            with self.engine.connect() as conn:
                self._next_signal_id = int(conn.execute(select(func.coalesce(func.max(SignalRow.id), 0))).scalar_one())
        self._next_signal_id += 1
        return self._next_signal_id

    # --- durability -------------------------------------------------------------------------------
    def record(self, rows: codec.Rows) -> None:
        """Buffer one event's rows; write them now (batch_size=1) or when the batch is full."""
        if self._closed:
            raise RuntimeError("journal: closed")
        for key, row in rows:
            table = self._bulk.table_of(key)
            self._pending.setdefault(table, []).append((key, row))
        self._pending_events += 1
        self.events_recorded += 1
        if self._pending_events >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered in one transaction; rows of a table keep their event order, except
        that a position's opening row goes before any closing row of the batch (see `_in_phases`)."""
        if not self._pending:
            return
        pending, self._pending, self._pending_events = self._pending, {}, 0
        written = 0
        try:
            with self.engine.begin() as conn:
                for rows in pending.values():
                    for key, run in itertools.groupby(_in_phases(rows), key=lambda item: item[0]):
                        params = [row for _, row in run]
                        self._bulk.execute(conn, key, params)
                        written += len(params)
        except Exception:
            self.write_failures += 1
            raise
        self.rows_written += written

    def close(self) -> None:
        """Flush and release the engine (when the journal created it); idempotent."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            if self._owns_engine:
                self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
