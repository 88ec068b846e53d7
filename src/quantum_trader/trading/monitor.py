"""The position monitor: read positions and open orders (classic AND algo) back from the exchange,
judge every position's protection and repair it.

It runs at start-up (reconciliation), every QT_MONITOR_INTERVAL seconds of the session's clock
(`sweep()`), after a reconnect (the session calls `sweep()` again), and at once for one symbol when
the exchange reports a protection order cancelled/expired/rejected or a position opened, resized or
closed (`attach()`). Every interval its rules run: on a REST reading of the whole account when one is
due (`reading_pace_s`: every interval in process, every QT_RECONCILE_INTERVAL on the live path while
the user-data stream is up) and the request budget affords it, else on the view the exchange's events
keep (monitor_view.py), where anything unsettled is read back for its symbol at once.
Its results feed `/health`, `/metrics` and the journal. The rules for one symbol live in
monitor_guard.py, the pure judgements in monitor_rules.py, the order handling in monitor_repair.py
and each position's planned levels in monitor_levels.py; this module schedules them, guards against
re-entrancy (its own placements echo back as events) and measures how long each position has been
without a working stop.

It does not pause for the kill switch: that leaves each position's stop-loss in place until the position is
read back flat (trading/kill_switch.py), so there is no cancelled stop for a repair to race, and a position
the kill switch could not close (its exit refused) is kept protected like any other, at once.

Without an `Execution` it only measures, as a read-only view needs. It reads through an
`ExchangeReader` and changes orders only through execution, so in staging (a gateway that sends
nothing) it reports what it would place or cancel, for every position including ones opened by hand.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from functools import partial

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.loggers import get_logger
from ..core.monitor_metrics import MonitorMetrics
from ..domain.events import (
    EquitySnapshot,
    ErrorEvent,
    OrderChanged,
    OrderIntentRecorded,
    OrderNotSent,
    OrderRejectedEvent,
    PositionChanged,
    ProtectionAction,
    TradeClosed,
    TradeOpened,
)
from ..domain.exchange_types import AccountSnapshot, OrderSnapshot, PositionSnapshot, SnapshotStatus, WalletUpdate
from ..exchange.budget import held_back, reading_affordable, reading_pace_s
from ..exchange.port import ExchangeReader
from .execution import Execution
from .monitor_config import EQUITY_EVERY_MS as EQUITY_EVERY_MS  # re-exported: readiness reads it
from .monitor_config import EquityBeat
from .monitor_config import MonitorConfig as MonitorConfig  # re-exported: the wiring builds it
from .monitor_guard import GuardConfig, SymbolGuard
from .monitor_levels import PlannedLevels
from .monitor_repair import Repairer
from .monitor_rules import STOP_TYPES, TAKE_PROFIT_TYPES, Levels, external_trade_id, orphans, settled
from .monitor_state import MonitorState as MonitorState  # re-exported: the session and /health read it
from .monitor_state import NakedTimer
from .monitor_view import StreamView
from .protection_state import Cause, Phase, ProtectionBook
from .protection_view import ProtectionView, build_view

log = get_logger(__name__)
ENDED = frozenset({SnapshotStatus.CANCELED, SnapshotStatus.EXPIRED, SnapshotStatus.REJECTED})
#: When readings are paced, the account (5 weight) is read at most this often; equity in between is
#: the last wallet plus the positions' unrealised P&L.
ACCOUNT_EVERY_S = 30.0
#: A sweep this close to the pace counts as due (the interval's sleep is never exact).
PACE_TOLERANCE_S = 0.05


class PositionMonitor:
    def __init__(self, bus: EventBus, clock: Clock, exchange: ExchangeReader, metrics: MonitorMetrics,
                 execution: Execution | None = None, config: MonitorConfig | None = None, *,
                 new_trade_id: Callable[[str], str] | None = None) -> None:
        """`new_trade_id(symbol)` names a position found without a trade (opened by hand), under which its
        protection is placed; without it, `ext_<symbol>_<second>`."""
        self.bus, self.clock, self.exchange, self.metrics = bus, clock, exchange, metrics
        self.execution, self.config = execution, config or MonitorConfig()
        self.state = MonitorState()
        self.timer = NakedTimer(self.state, clock, metrics)
        self._equity_beat = EquityBeat()
        #: Positions and open orders as the last reading and the events since describe them.
        self.stream = StreamView()
        self._account_read_at: float | None = None
        self._account_positions = 0  # open positions at that reading
        #: Each position's planned levels and trade (monitor_levels.py).
        self.levels = PlannedLevels(execution, new_trade_id or (
            lambda symbol: external_trade_id(symbol, self.clock.now_ms())))
        #: Each position's protection phase and what it needs to remember (protection_state.py).
        self.book = ProtectionBook()
        self._busy: set[str] = set()
        #: Trade ids of the positions found without a trade that this monitor recorded (`PlannedLevels.record`).
        self._recorded: set[str] = set()
        self._dirty: set[str] = set()
        self.repair = Repairer(bus, clock, execution, self.book) if execution is not None else None
        self.guard = None if execution is None or self.repair is None else SymbolGuard(
            clock, exchange, execution, self.repair, self.book,
            GuardConfig(grace_ms=self.config.grace_ms, trailing_stop_pct=self.config.trailing_stop_pct))

    # --- wiring -----------------------------------------------------------------------------------
    def attach(self) -> None:
        """React to the exchange's order and position events (and learn the bot's trades)."""
        self.bus.subscribe(OrderChanged, self._on_order)
        self.bus.subscribe(PositionChanged, self._on_position)
        self.bus.subscribe(TradeOpened, self._on_trade_opened)
        self.bus.subscribe(TradeClosed, self._on_trade_closed)
        self.bus.subscribe(OrderIntentRecorded, self._on_intent)
        self.bus.subscribe(OrderRejectedEvent, self._on_rejected)
        self.bus.subscribe(OrderNotSent, self._on_rejected)
        self.bus.subscribe(ProtectionAction, self._on_protection)
        self.bus.subscribe(WalletUpdate, self._on_wallet)

    def _on_wallet(self, event: WalletUpdate) -> None:
        self.stream.apply_wallet(event.wallet)

    @property
    def adopted(self) -> frozenset[str]:
        """Symbols whose position the monitor has taken charge of (the bot's trades and positions found without)."""
        return self.levels.symbols

    def adopt(self, opened: TradeOpened) -> None:
        """A trade known from the journal after a restart: repairs use its planned levels and trade id."""
        self.levels.adopt(opened)

    async def _on_order(self, event: OrderChanged) -> None:
        snap = event.snapshot
        self.stream.apply_order(snap)
        if snap.status not in ENDED or (self.repair is not None and snap.client_id in self.repair.own_cancels):
            return
        if not (snap.type in STOP_TYPES or snap.type in TAKE_PROFIT_TYPES or snap.reduce_only or snap.close_position):
            return
        if snap.symbol in self.stream.positions:
            await self.sweep_symbol(snap.symbol, f"{snap.type.value} {snap.client_id} {snap.status.value}")

    async def _on_position(self, event: PositionChanged) -> None:
        symbol = event.snapshot.symbol
        previous = self.stream.positions.get(symbol)
        self.stream.apply_position(event.snapshot)
        if (previous.amount if previous is not None else Decimal(0)) != event.snapshot.amount:
            if self.book.verified_at_entry(symbol, self.clock.now_ms(), abs(event.snapshot.amount)):
                return  # the entry this event reports was protected and read back a moment ago
            await self.sweep_symbol(symbol, f"position {event.reason}: {event.snapshot.amount}")

    async def _on_trade_opened(self, event: TradeOpened) -> None:
        if event.trade_id in self._recorded:
            return  # a position found without a trade, recorded by this monitor inside its own run
        self.adopt(event)
        now = self.clock.now_ms()
        if {"STOP_MARKET", "TAKE_PROFIT_MARKET"} <= self.book[event.symbol].read_back:
            self.book.apply(event.symbol, Cause.ENTRY_PROTECTED, now)
            self.book[event.symbol].verified_size = event.quantity
            return  # execution has just read both back from the exchange: a sweep would read the same
        self.book.apply(event.symbol, Cause.ENTRY_ENDED, now)
        await self.sweep_symbol(event.symbol, f"trade {event.trade_id} opened")

    def _on_protection(self, event: ProtectionAction) -> None:
        """Remember what execution verified for an entry being opened (its TradeOpened follows at once)."""
        if event.action == "verified" and event.order_type and self.book.phase(event.symbol) is Phase.PLACING:
            self.book[event.symbol].read_back.add(event.order_type)

    def _on_trade_closed(self, event: TradeClosed) -> None:
        self.levels.forget(event)

    def _on_intent(self, event: OrderIntentRecorded) -> None:
        if event.purpose == "entry":
            self.book.apply(event.intent.symbol, Cause.ENTRY_SENT, self.clock.now_ms())

    def _on_rejected(self, event: OrderRejectedEvent | OrderNotSent) -> None:
        symbol = event.intent.symbol
        if event.purpose == "entry" and self.book.phase(symbol) is Phase.PLACING:
            self.book.apply(symbol, Cause.ENTRY_ENDED, self.clock.now_ms())
            if symbol not in self.stream.positions:
                self.book.flat(symbol)  # no position came of it

    # --- sweeps -----------------------------------------------------------------------------------
    async def sweep(self, *, reading: bool = False) -> ProtectionView | None:
        """Every position and open order of the account: judge, repair, measure.

        On a REST reading when one is due (or `reading` forces it: start-up, reconnect) and the adapter's
        request budget affords it; otherwise on the stream-fed view (counted in `stream_sweeps`, and in
        `rest_skipped` when a due reading was refused for the budget, before it began or part-way), so the rules
        still run every interval and the next affordable reading reconciles everything. A routine read refused
        for the budget is no monitor error; a refused protection read or order is."""
        if reading or self._reading_due():
            if reading_affordable(self.exchange):
                return await self._read_and_judge()
            self.state.skip_rest()
        return await self._judge_stream_view()

    def _reading_due(self) -> bool:
        age = self.state.rest_age_s()
        return age is None or age >= reading_pace_s(self.exchange) - PACE_TOLERANCE_S

    def _account_due(self, open_positions: int) -> bool:
        """Every reading in process; on the live path every `ACCOUNT_EVERY_S`, and at the first reading after the
        number of open positions changed: a close realises P&L that the stream's wallet may not have told (REST
        polling has no wallet updates), and the equity point of that moment must hold it."""
        read_at = self._account_read_at
        return (read_at is None or reading_pace_s(self.exchange) <= 0 or open_positions != self._account_positions
                or time.monotonic() - read_at >= ACCOUNT_EVERY_S)

    async def _read_and_judge(self) -> ProtectionView | None:
        started = time.perf_counter()
        placing = self._placing()  # before reading: see `_handle`
        try:
            positions = await self.exchange.positions()
            orders = await self.exchange.open_orders()
            acted = self.guard is not None and await self._repair_all(positions, orders, placing)
            if acted or (placing and self._placing() != placing):  # repaired, or execution finished meanwhile
                positions = await self.exchange.positions()
                orders = await self.exchange.open_orders()
            open_positions = sum(1 for p in positions if p.amount != 0)
            account = await self.exchange.account() if self._account_due(open_positions) else None
        except Exception as exc:  # the monitor must keep running whatever the exchange does
            if not held_back(exc):  # a routine read the budget refused part-way: skipped, as designed
                await self._error(exc)
                return None
            self.state.skip_rest(str(exc))
            return await self._judge_stream_view()
        if account is not None:
            self._account_read_at, self._account_positions = time.monotonic(), open_positions
        self.stream.reset(positions, orders, account)
        account = account or self.stream.estimated_account()
        assert account is not None  # the first reading always reads the account
        self.timer.measure_all(positions, orders)
        self.state.last_rest_monotonic = time.monotonic()
        self.state.sweeps += 1
        return await self._publish_view(build_view(positions, orders, account), account, started)

    async def _judge_stream_view(self) -> ProtectionView | None:
        """The rules on the events' view: measure every position, and read back at once (per symbol, over
        REST) any symbol an event left unsettled that no reading has looked at since."""
        started = time.perf_counter()
        if self.guard is not None:
            for symbol in sorted(self.stream.changed):
                if self._needs_look(symbol):
                    await self.sweep_symbol(symbol, "stream view: protection not settled")
        account = self.stream.estimated_account()
        if account is None:
            return self.state.view  # nothing read yet: the start-up reading comes first
        positions, orders = list(self.stream.positions.values()), self.stream.all_orders()
        self.timer.measure_all(positions, orders)
        self.state.stream_sweeps += 1
        return await self._publish_view(build_view(positions, orders, account), account, started)

    def _needs_look(self, symbol: str) -> bool:
        position = self.stream.positions.get(symbol)
        orders = self.stream.orders_of(symbol)
        return bool(orphans(orders)) if position is None else not settled(orders, position)

    async def _publish_view(self, view: ProtectionView, account: AccountSnapshot, started: float) -> ProtectionView:
        self.state.view = view
        self.state.last_sweep_monotonic = time.monotonic()
        self.state.last_duration_s = time.perf_counter() - started
        self.metrics.set_equity(account.equity)
        self.metrics.set_positions(len(view.positions), view.unprotected)
        self.metrics.observe_sweep(self.state.last_duration_s)
        self.metrics.set_sweep_age(0.0)
        await self._maybe_equity(account, len(view.positions))
        return view

    async def _repair_all(self, positions: Sequence[PositionSnapshot], orders: Sequence[OrderSnapshot],
                          placing: frozenset[str]) -> bool:
        by_symbol = {p.symbol: p for p in positions}
        self.timer.measure_all(positions, orders)  # before repairs: a position found naked starts its count now
        acted = False
        for symbol in sorted(set(by_symbol) | {o.symbol for o in orders}):
            mine = [o for o in orders if o.symbol == symbol]
            run = partial(self._guarded, symbol, by_symbol.get(symbol), mine, symbol in placing)
            acted = await self._exclusive(symbol, run) or acted
        return acted

    async def _guarded(self, symbol: str, position: PositionSnapshot | None, orders: Sequence[OrderSnapshot],
                       read_while_placing: bool = False) -> bool:
        """One symbol's failure is counted and reported; the other symbols are still looked after."""
        try:
            return await self._handle(symbol, position, orders, read_while_placing)
        except Exception as exc:
            await self._error(exc)
            return False

    async def sweep_symbol(self, symbol: str, why: str = "") -> None:
        """A reactive run for one symbol: its open orders and the latest known position (cheap)."""
        if self.guard is None:
            return
        log.debug("monitor symbol sweep", symbol=symbol, why=why)
        await self._exclusive(symbol, partial(self._sweep_one, symbol))

    async def _sweep_one(self, symbol: str) -> bool:
        placing = self.book.phase(symbol) is Phase.PLACING  # before reading: see `_handle`
        try:
            orders = await self.exchange.open_orders(symbol)
            position = self.stream.positions.get(symbol)
            if position is None or not self._cached_enough(position, orders):
                position = next(iter(await self.exchange.positions(symbol)), None)
        except Exception as exc:
            await self._error(exc)
            return False
        self.stream.reset_symbol(symbol, position, orders)
        return await self._guarded(symbol, position, orders, placing)

    def _placing(self) -> frozenset[str]:
        return frozenset(s for s, phase in self.book.phases().items() if phase is Phase.PLACING)

    def _cached_enough(self, position: PositionSnapshot, orders: Sequence[OrderSnapshot]) -> bool:
        """The last PositionChanged may be stale (events arrive late): act only on a fresh position.

        Reading it costs one request, spent only when something may need doing (or the stop trails,
        which needs a fresh mark), so the common reactive run stays at one `open_orders(symbol)`.
        """
        if position.amount == 0:
            return not orphans(orders)
        return self.config.trailing_stop_pct is None and settled(orders, position)

    async def _exclusive(self, symbol: str, run: Callable[[], Awaitable[bool]]) -> bool:
        """One run per symbol at a time; an event during a run marks it dirty for exactly one re-run,
        which reads the symbol afresh (what the first run read may be what changed)."""
        if symbol in self._busy:
            self._dirty.add(symbol)
            return False
        self._busy.add(symbol)
        try:
            self._dirty.discard(symbol)
            acted = await run()
            if symbol in self._dirty:
                self._dirty.discard(symbol)
                acted = await self._sweep_one(symbol) or acted
        finally:
            self._busy.discard(symbol)
            self._dirty.discard(symbol)
        return acted

    async def _handle(self, symbol: str, position: PositionSnapshot | None, orders: Sequence[OrderSnapshot],
                      read_while_placing: bool = False) -> bool:
        """`read_while_placing`: the reading began while execution was placing this symbol's protection.
        If execution has finished since, the reading may show the position without the orders execution
        read back after it (judging it would "repair" a take-profit that is there), or, read positions
        first, those orders without the position (they would be cancelled as orphans). It is judged again
        on a fresh reading instead (`_exclusive` re-runs a symbol marked dirty); while execution is still
        at work, such a reading is left alone."""
        assert self.guard is not None
        now = self.clock.now_ms()
        if read_while_placing and self.book.phase(symbol) is not Phase.PLACING:
            self._dirty.add(symbol)
            return False
        if position is None or position.amount == 0:
            self.timer.measure(symbol, None, orders)
            if read_while_placing:
                return False  # the entry is in flight: what this reading calls orphans may be its new protection
            if not self.book.leaves_to_execution(symbol, now, self._entry_grace_ms):
                self.book.flat(symbol)  # (an entry in flight has no position yet: its phase stays)
                self.levels.flat(symbol)
            return await self.guard.flat(symbol, orders)
        self.timer.measure(symbol, position, orders)
        if self.book.leaves_to_execution(symbol, now, self._entry_grace_ms):
            return False  # execution is placing this position's protection right now
        in_flight = self.book.phase(symbol) is Phase.PLACING  # the bot's entry, its grace run out
        self.book.apply(symbol, Cause.ENTRY_ENDED, now)  # a grace that ran out ends execution's turn
        levels = self.levels.for_position(position)
        if not levels.known:
            await self._record(levels, position, in_flight)
        acted = await self.guard.guard(levels, position, orders)
        if acted:  # read back what the repairs left: an emergency exit may have closed the position
            self.state.actions += 1
            orders = await self.exchange.open_orders(symbol)
            position = next(iter(await self.exchange.positions(symbol)), None)
            self.stream.reset_symbol(symbol, position, orders)
        self.timer.measure(symbol, position, orders)
        return acted

    @property
    def _entry_grace_ms(self) -> int:
        return round(self.config.entry_grace_s * 1000)

    # --- helpers ----------------------------------------------------------------------------------
    async def _record(self, levels: Levels, position: PositionSnapshot, entry_in_flight: bool) -> None:
        """A position found without a trade becomes one (monitor_levels.py `PlannedLevels.record`)."""
        account = self.stream.estimated_account() or await self.exchange.account()
        opened = self.levels.record(levels, position, account.equity, self.clock.now_ms(),
                                    entry_in_flight=entry_in_flight)
        if opened is None:
            return
        self._recorded.add(opened.trade_id)
        log.warning("a position the bot did not open is adopted as a trade", trade_id=opened.trade_id,
                    symbol=opened.symbol, quantity=str(opened.quantity), entry=str(opened.entry_price))
        await self.bus.publish(opened)

    async def _error(self, exc: Exception) -> None:
        self.state.errors += 1
        self.metrics.error("monitor")
        log.warning("monitor error", error=f"{type(exc).__name__}: {exc}")
        await self.bus.publish(ErrorEvent(component="monitor", message=f"{type(exc).__name__}: {exc}",
                                          time_ms=self.clock.now_ms()))

    async def _maybe_equity(self, account: AccountSnapshot, open_positions: int) -> None:
        """An equity point every minute of session time (the curve, and the monitor's heartbeat in the journal),
        and at once when the number of open positions changed: a stop-out realises its loss in that moment, and
        the daily loss limit (which reads these points) must not learn of it up to a minute later."""
        now = self.clock.now_ms()
        if not self._equity_beat.due(now, open_positions):
            return
        await self.bus.publish(EquitySnapshot(wallet=account.wallet, equity=account.equity,
                                              available=account.available, open_positions=open_positions, time_ms=now))

