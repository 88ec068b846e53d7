"""The engine's components wired on one bus, the same for backtest, paper, staging and live.

Subscription order is the order of delivery, and it is chosen here once: the journal first, then
the trade tracker (trades close before risk frees the slot), then risk and execution. Execution
writes each intent to the journal by an explicit call before sending it (write-ahead). Only the
clock, the exchange adapter, the order gateway and the feed differ between modes; they are passed in:
staging is the same engine with a gateway that sends nothing (exchange/staging_gateway.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.monitor_metrics import MonitorMetrics
from ..domain.events import PositionChanged
from ..domain.exchange_types import AT_STARTUP, AccountSnapshot
from ..domain.instrument import Instrument
from ..exchange.budget import urgent
from ..exchange.port import Exchange, ExchangeReader, OrderGateway
from ..notify.alerts import Alerts
from ..notify.sender import Notifier
from ..risk.daily_loss import REASON_PREFIX
from ..risk.manager import RiskLimits, RiskManager
from ..risk.sizing import SizingRules
from ..risk.trade_ids import TradeIds
from ..settings.model import Settings
from ..trading.audit import audit_row
from ..trading.execution import Execution, ExecutionConfig, IntentLog
from ..trading.exit_lookup import ExitLookup
from ..trading.exit_words import SENT_WORDING, ExitLog, ExitWording
from ..trading.kill_switch import KillSwitchHandler
from ..trading.monitor import MonitorConfig, PositionMonitor
from ..trading.stop_witness import ACTION as STOP_WITNESSED
from ..trading.stop_witness import StopWitness
from ..trading.trades import TradeTracker


class JournalLike(IntentLog, Protocol):
    def attach(self, bus: EventBus) -> None: ...

    def flush(self) -> None: ...

    @property
    def session_id(self) -> int | None: ...

    def trade_ids_tagged(self, tag: str) -> set[str]: ...


def trade_ids_for(clock: Clock, journal: JournalLike | None) -> TradeIds:
    """A journaled session's ids carry its session number (unique in the journal, so across restarts),
    skipping any the journal already holds; without a session, the clock's second tags them."""
    if journal is not None and journal.session_id is not None:
        return TradeIds.for_session(journal.session_id, journal.trade_ids_tagged)
    return TradeIds.from_clock(clock.now_ms())


@dataclass(frozen=True, slots=True)
class TradingRules:
    """The settings the engine trades by (a subset of `Settings`, so backtests need no environment)."""

    stop_loss_pct: Decimal = Decimal("2.0")
    take_profit_pct: Decimal = Decimal("4.0")
    risk_per_trade_pct: Decimal = Decimal("1.0")
    leverage: int = 5
    max_positions: int = 4
    min_confidence: float = 0.65
    cooldown_s: float = 0.0
    #: QT_DAILY_LOSS_LIMIT_PCT (None: no daily kill switch).
    daily_loss_limit_pct: Decimal | None = None
    #: Live only: when live trading began, for the first-day cap QT_LIVE_MAX_POSITIONS.
    live_since_ms: int | None = None
    live_max_positions: int = 2
    #: QT_EV_FULL_SIZE_PCT (None: size by planned loss alone; risk/sizing.py `edge_scale`).
    ev_full_size_pct: Decimal | None = None
    #: How risk's refusals name a setting given otherwise than as its variable (a backtest's `--param leverage`,
    #: `--param max_positions`), by Settings field: the fix they print is then the option the user typed
    #: (risk/rules.py `setting_name`).
    setting_names: Mapping[str, str] = field(default_factory=dict)


class ExchangeAccountView:
    """Risk's view of the account, read through the exchange port.

    Sizing an entry reads at protection priority: a signal risk would approve must not be lost because
    routine reconciliation used the minute's share of request weight (the reads are small: 5 and 1)."""

    def __init__(self, exchange: ExchangeReader) -> None:
        self.exchange = exchange

    async def account(self) -> AccountSnapshot:
        with urgent():
            return await self.exchange.account()

    async def price(self, symbol: str) -> Decimal:
        with urgent():
            return (await self.exchange.mark_prices([symbol]))[symbol]


@dataclass
class Engine:
    bus: EventBus
    clock: Clock
    #: Read-only on purpose: only `execution` (through its gateway) changes orders.
    exchange: ExchangeReader
    risk: RiskManager
    execution: Execution
    trades: TradeTracker
    #: Set by `protect_engine` where it wires one: a session's stop lets it finish the witnesses still waiting.
    witness: StopWitness | None = None


async def announce_positions(engine: Engine) -> int:
    """Start-up: tell the engine about every position already open on the exchange (risk counts it, the
    trade tracker and the monitor see it), as if each had just changed. Returns how many."""
    positions = await engine.exchange.positions()
    for position in positions:
        await engine.bus.publish(PositionChanged(snapshot=position, reason=AT_STARTUP, time_ms=engine.clock.now_ms()))
    return len(positions)


def wire_engine(clock: Clock, exchange: Exchange, instruments: Mapping[str, Instrument], rules: TradingRules, *,
                journal: JournalLike | None = None, gateway: OrderGateway | None = None,
                exit_wording: ExitWording = SENT_WORDING, exit_log: ExitLog | None = None,
                trade_ids: TradeIds | None = None, observers: Sequence[Callable[[EventBus], None]] = ()) -> Engine:
    """`gateway` None: the adapter's own (paper, live); staging passes one that sends nothing, with
    `exit_wording=DRY_RUN_WORDING` (what execution announces before sending says "would"). `exit_log` None:
    one warning per exit (every session); the research commands pass their own (research/kill_digest.py).
    `trade_ids` None: `trade_ids_for` (the journal's session, else the clock). `observers` subscribe
    before everything else (alerts: they see events in publication order; they only read, never publish)."""
    bus = EventBus(clock.now_ms)
    for observe in observers:
        observe(bus)
    if journal is not None:
        journal.attach(bus)
    trades = TradeTracker(bus)
    trades.attach()
    risk = RiskManager(bus, clock, instruments, ExchangeAccountView(exchange),
                       SizingRules(stop_loss_pct=rules.stop_loss_pct, take_profit_pct=rules.take_profit_pct,
                                   risk_per_trade_pct=rules.risk_per_trade_pct, leverage=rules.leverage,
                                   ev_full_size_pct=rules.ev_full_size_pct, setting_names=rules.setting_names),
                       RiskLimits(max_positions=rules.max_positions, min_confidence=rules.min_confidence,
                                  cooldown_s=rules.cooldown_s, daily_loss_limit_pct=rules.daily_loss_limit_pct,
                                  live_since_ms=rules.live_since_ms, live_max_positions=rules.live_max_positions,
                                  setting_names=rules.setting_names),
                       trade_ids=trade_ids or trade_ids_for(clock, journal))
    risk.attach()
    execution = Execution(bus, clock, gateway if gateway is not None else exchange, exchange, instruments,
                          ExecutionConfig(stop_loss_pct=rules.stop_loss_pct, take_profit_pct=rules.take_profit_pct),
                          intents=journal, exit_wording=exit_wording, exit_log=exit_log)
    execution.attach()
    return Engine(bus=bus, clock=clock, exchange=exchange, risk=risk, execution=execution, trades=trades)


def protect_engine(engine: Engine, metrics: MonitorMetrics, config: MonitorConfig, *, with_monitor: bool = True,
                   with_stop_witness: bool = True, with_exit_lookup: bool = True,
                   ) -> tuple[PositionMonitor | None, KillSwitchHandler]:
    """The protection monitor, the kill switch and the stop witness (the mark each stop-loss met when it fired,
    for the audit: trading/stop_witness.py), as every mode wires them. A backtest leaves the witness out: on
    whole bars it could only read the bar's close, its own audit does not read the journal, and the read
    per stop-out cost about 3 % of the peers' run. It leaves the exit lookup out too (trading/exit_lookup.py:
    exits whose fills never reached the bot): the in-process simulator always delivers them.

    The monitor does not pause while the kill switch flattens: the kill switch keeps every stop-loss until its
    position is read back flat, so a position it could not close is repaired as any other. A position the bot
    did not open gets its trade id from the engine's allocator (`x`: found by the monitor, `k`: closed by
    the kill switch), so those ids never collide either; a known trade is killed under its own id.
    """
    ids = engine.risk.trade_ids
    monitor = None
    if with_monitor:
        monitor = PositionMonitor(engine.bus, engine.clock, engine.exchange, metrics, execution=engine.execution,
                                  config=config, new_trade_id=lambda symbol: ids.next(symbol, "x"))
        monitor.attach()
    kill = KillSwitchHandler(engine.bus, engine.clock, engine.exchange, engine.execution, trades=engine.trades,
                             new_trade_id=ids.next_kill)
    kill.attach()
    if with_exit_lookup:
        ExitLookup(engine.bus, engine.clock, engine.exchange, engine.trades,
                   held=None if monitor is None else held_by(monitor)).attach()
    if with_stop_witness:
        engine.witness = StopWitness(engine.bus, engine.clock, engine.exchange)
        engine.witness.attach()  # last: it hears a stop fired after the others have reacted to it
    return monitor, kill


def held_by(monitor: PositionMonitor) -> Callable[[], frozenset[str] | None]:
    """The symbols the monitor's latest reading holds a position in (None before its first reading)."""
    def held() -> frozenset[str] | None:
        view = monitor.state.view
        return None if view is None else frozenset(p.symbol for p in view.positions)
    return held


def alerts_for(notifier: Notifier) -> Alerts:
    """The alerts of a session with QT_NOTIFY_URLS: exits judged by the stop audit's own figures and tolerance,
    on the audit's evidence (the stop witness's mark), a kill switch told apart as the daily loss limit's by its
    reason (notify may not import trading or risk)."""
    return Alerts(notifier.submit, judge=audit_row, daily_loss_prefix=REASON_PREFIX, stop_witnessed=STOP_WITNESSED)


def rules_from(settings: Settings, *, live_since_ms: int | None = None) -> TradingRules:
    return TradingRules(stop_loss_pct=settings.stop_loss_pct, take_profit_pct=settings.take_profit_pct,
                        risk_per_trade_pct=settings.risk_per_trade_pct, leverage=settings.leverage,
                        max_positions=settings.max_positions, min_confidence=settings.min_confidence,
                        cooldown_s=settings.cooldown_s, daily_loss_limit_pct=settings.daily_loss_limit_pct,
                        live_since_ms=live_since_ms, live_max_positions=settings.live_max_positions,
                        ev_full_size_pct=settings.ev_full_size_pct)  # task M: edge-scaled sizing, off by default
