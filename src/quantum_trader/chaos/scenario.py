"""One chaos scenario: the real bot over the in-process simulator while the world misbehaves.

Per step (one monitor interval of simulated time): the clock and the simulator advance together;
a dead bot is restarted (fresh bus, risk, execution, tracker, monitor: no journal, the exchange is
the source of truth, so the new monitor's start-up sweep must find and protect what is open); every
symbol gets one bar of a seeded path with gaps (`apply_bar`: a jump to the open, then a continuous
move); drained exchange events go to the bus (a faulty stream may drop them); the monitor sweeps;
then random things happen: a forced entry, a protection order cancelled by hand on the exchange, a
kill of the bot between steps. The faulty exchange adds rejects, 5xx, 429, timeouts after acceptance
and kills in the middle of a call. The observer (chaos_report.py) looks at the simulator after
each step. Everything is seeded from (campaign seed, scenario index), so a scenario replays exactly.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..core.clock import SimulatedClock
from ..core.metrics import Metrics
from ..domain.errors import ExchangeError
from ..domain.events import FORCED, Direction, ErrorEvent, Signal, TradeClosed
from ..domain.instrument import Instrument
from ..domain.money import from_float
from ..exchange.inprocess import InProcessExchange
from ..exchange.retry import RetryingExchange, RetryPolicy
from ..marketdata.bars import BarChunk, synthetic_bars
from ..runtime.pump import publish_all
from ..runtime.wiring import Engine, TradingRules, announce_positions, protect_engine, wire_engine
from ..sim.engine import ExchangeSimulator
from ..sim.state import SimConfig
from ..sim.universe import load_universe
from ..trading.kill_switch import KillSwitchHandler
from ..trading.monitor import MonitorConfig, PositionMonitor
from .faults import BotKilled, FaultRates, FaultyExchange
from .report import Observer, ScenarioResult

START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
#: The symbols a scenario draws from (liquid ones: their filters accept the sizes risk computes).
SYMBOL_POOL = 20
#: ErrorEvent messages start with the exception's type name; these are what the faults cause.
EXPECTED_ERRORS = ("BotKilled", "RetryableExchangeError", "OrderRejected")
DEFAULT_FAULTS = FaultRates(reject=0.01, server_error=0.03, rate_limit=0.02, timeout_after=0.03, crash_before=0.004,
                            crash_after=0.004, drop_events=0.02, drop_window=3)


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    steps: int = 200
    monitor_interval_s: float = 1.0
    faults: FaultRates = DEFAULT_FAULTS
    entry_prob: float = 0.08
    manual_cancel_prob: float = 0.03
    kill_prob: float = 0.01
    balance: Decimal = Decimal(10_000)
    rules: TradingRules = field(default_factory=lambda: TradingRules(min_confidence=0.0))
    #: Per-step volatility and gaps of the price path (a stress path: stops and take-profits do fire).
    vol: float = 0.003
    jump_prob: float = 0.01
    jump_vol: float = 0.03
    #: Test hook: a bot without its monitor (the campaign must then fail).
    monitor_enabled: bool = True

    @classmethod
    def calm(cls) -> ChaosConfig:
        """No injected faults, no cancels, no kills: what the bot must pass even without repairs."""
        return cls(faults=FaultRates.none(), manual_cancel_prob=0.0, kill_prob=0.0)


async def _no_sleep(_: float) -> None:
    """Retry backoff in a simulation costs no wall time (and the clock does not move during a call)."""


@dataclass
class Bot:
    engine: Engine
    monitor: PositionMonitor | None
    kill_switch: KillSwitchHandler
    faulty: FaultyExchange

    async def sweep(self) -> None:
        if self.monitor is not None:
            await self.monitor.sweep()

    async def start(self) -> None:
        """What a session does at start-up: learn the open positions, then the monitor's first sweep."""
        with contextlib.suppress(ExchangeError, BotKilled):
            await announce_positions(self.engine)
        await self.sweep()

    def known_symbols(self) -> set[str]:
        """Symbols the bot knows it holds: its open trades plus what its monitor adopted."""
        adopted = self.monitor.adopted if self.monitor is not None else frozenset()
        return set(self.engine.trades.open) | adopted


def build_bot(clock: SimulatedClock, faulty: FaultyExchange, instruments: Mapping[str, Instrument],
              rules: TradingRules, *, monitor_enabled: bool = True, monitor_interval_s: float = 1.0) -> Bot:
    """The bot as a session wires it, minus the journal and the feed; the ONE place that builds the monitor."""
    exchange = RetryingExchange(faulty, RetryPolicy(), sleep=_no_sleep)
    engine = wire_engine(clock, exchange, instruments, rules)
    monitor, kill = protect_engine(engine, Metrics(), MonitorConfig(interval_s=monitor_interval_s),
                                   with_monitor=monitor_enabled)
    return Bot(engine=engine, monitor=monitor, kill_switch=kill, faulty=faulty)


class Scenario:
    def __init__(self, index: int, campaign_seed: int, config: ChaosConfig) -> None:
        self.index, self.config = index, config
        self.seed = campaign_seed * 1_000_003 + index
        base = random.Random(self.seed)
        self.actions_rng = random.Random(base.getrandbits(64))
        self.faults_rng = random.Random(base.getrandbits(64))
        universe = load_universe()
        self.symbols = tuple(sorted(self.actions_rng.sample(universe.top(SYMBOL_POOL), self.actions_rng.randint(2, 4))))
        self.instruments = {s: universe.instrument(s) for s in self.symbols}
        self.sim = ExchangeSimulator(self.instruments, SimConfig(
            seed=base.getrandbits(31), balance=config.balance, default_leverage=config.rules.leverage,
            start_time_ms=START_MS))
        self.clock = SimulatedClock(START_MS)
        self.adapter = InProcessExchange(self.sim)
        self.adapter.drain()  # start the event record
        self.observer = Observer(self.sim, self.symbols, START_MS)
        self.bars = self._bars(base.getrandbits(31))
        self.sim.set_prices({s: from_float(self.bars.open[0, i]) for i, s in enumerate(self.symbols)})
        self.faults: list[FaultyExchange] = []
        self.restarts = self.manual_cancels = 0
        self.actions: list[tuple[int, str]] = []
        self.unexpected_errors: list[str] = []
        self.bot = self._start_bot()

    def _bars(self, seed: int) -> BarChunk:
        c = self.config
        prices = [float(self.instruments[s].typical_price or 100) for s in self.symbols]
        decimals = [max(0, -int(self.instruments[s].tick_size.normalize().as_tuple().exponent))
                    for s in self.symbols]
        return next(synthetic_bars(self.symbols, prices, c.steps + 1, int(c.monitor_interval_s * 1000), seed=seed,
                                   chunk_bars=c.steps + 1, vol=c.vol, jump_prob=c.jump_prob, jump_vol=c.jump_vol,
                                   start_ms=START_MS, price_decimals=decimals))

    def _start_bot(self) -> Bot:
        faulty = FaultyExchange(self.adapter, self.faults_rng, self.config.faults)
        self.faults.append(faulty)
        bot = build_bot(self.clock, faulty, self.instruments, self.config.rules,
                        monitor_enabled=self.config.monitor_enabled,
                        monitor_interval_s=self.config.monitor_interval_s)
        bot.engine.bus.subscribe(TradeClosed, self.observer.on_closed)
        bot.engine.bus.subscribe(ErrorEvent, self._on_error)
        return bot

    def _on_error(self, event: ErrorEvent) -> None:
        """Errors the injected faults do not explain: a component crashed on something else."""
        if not event.message.startswith(EXPECTED_ERRORS):
            self.unexpected_errors.append(f"{event.component}: {event.message}"[:200])

    def _note(self, text: str) -> None:
        self.actions.append((self.clock.now_ms(), text))

    # --- the run ------------------------------------------------------------------------------------
    async def run(self) -> ScenarioResult:
        await self.bot.start()  # start-up: learn the open positions, then sweep
        for t in range(1, self.config.steps + 1):
            await self._step(t)
        await self._final()
        return self._result()

    async def _step(self, t: int) -> None:
        ms = int(self.config.monitor_interval_s * 1000)
        self.sim.advance(Decimal(ms) / 1000)
        self.clock.advance_to(self.sim.now_ms)
        if self.bot.faulty.dead:
            await self._restart("after a kill")
        self._move_market(t)
        await self._pump()
        if not self.bot.faulty.dead:
            await self.bot.sweep()
        await self._random_actions()
        await self._pump()
        self.observer.observe(self.clock.now_ms())

    async def _restart(self, why: str) -> None:
        self.restarts += 1
        self._note(f"restart {why}")
        self.bot.faulty.dead = True
        lost = self.adapter.drain()  # what happened while the process was down is never seen
        self.bot.faulty.dropped_events += len(lost)
        self.bot = self._start_bot()
        await self.bot.start()

    def _move_market(self, t: int) -> None:
        b = self.bars
        for i, symbol in enumerate(self.symbols):
            before = self.sim.mark_price(symbol)
            o, h, lo, c = (from_float(x[t, i]) for x in (b.open, b.high, b.low, b.close))
            self.observer.record_step(symbol, self.clock.now_ms(), before, o)
            self.sim.apply_bar(symbol, o, h, lo, c)

    async def _pump(self) -> None:
        events = self.bot.faulty.drain()
        if self.bot.faulty.dead:  # nobody is listening
            self.bot.faulty.dropped_events += len(events)
            return
        await publish_all(self.bot.engine.bus, self.clock, events)

    async def _random_actions(self) -> None:
        rng, c = self.actions_rng, self.config
        if rng.random() < c.entry_prob and not self.bot.faulty.dead:
            symbol, direction = rng.choice(self.symbols), rng.choice((Direction.LONG, Direction.SHORT))
            self._note(f"force {direction.value} {symbol}")
            await self.bot.engine.bus.publish(Signal(
                symbol=symbol, direction=direction, confidence=1.0, source=FORCED, time_ms=self.clock.now_ms(),
                reference_price=self.sim.mark_price(symbol), reason="chaos"))
        if rng.random() < c.manual_cancel_prob:
            self._manual_cancel(rng)
        if rng.random() < c.kill_prob and not self.bot.faulty.dead:
            self._note("kill between steps")
            self.bot.faulty.dead = True

    def _manual_cancel(self, rng: random.Random) -> None:
        algos = self.sim.open_algo_orders()
        if algos:
            algo = rng.choice(algos)
            self._note(f"cancel by hand {algo.client_algo_id} ({algo.order_type.value})")
            self.sim.cancel_algo_order(client_algo_id=algo.client_algo_id)
            self.manual_cancels += 1

    async def _final(self) -> None:
        """A dead bot is restarted once more so that `unknown positions` judges a running bot."""
        if self.bot.faulty.dead:
            await self._restart("at the end")
            await self._pump()
            self.observer.observe(self.clock.now_ms())
        self.observer.finish(self.clock.now_ms())

    def _result(self) -> ScenarioResult:
        obs = self.observer
        known = self.bot.known_symbols()
        unknown = [s for s in self.symbols if self.sim.position(s).amount != 0 and s not in known]
        breaches, unexplained = obs.breaches()
        faults: Counter[str] = Counter()
        for f in self.faults:
            faults.update(f.injected)
        longest = obs.longest
        return ScenarioResult(
            index=self.index, seed=self.seed, symbols=self.symbols, positions_opened=obs.opened,
            longest_unprotected_s=longest.seconds if longest else 0.0,
            longest_symbol=longest.symbol if longest else None,
            longest_from_s=(longest.from_ms - START_MS) / 1000 if longest else None,
            duplicates=obs.duplicates(), unknown_positions=unknown, breaches=breaches, unexplained=unexplained,
            faults=faults, restarts=self.restarts, manual_cancels=self.manual_cancels, trades_closed=len(obs.trades),
            unexpected_errors=self.unexpected_errors, events_lost=sum(f.dropped_events for f in self.faults),
            recent_actions=self._actions_before(longest.from_ms if longest else None))

    def _actions_before(self, when_ms: int | None) -> list[str]:
        """The last chaos actions up to the start of the worst stretch: usually its cause."""
        upto = [(t, a) for t, a in self.actions if when_ms is None or t <= when_ms]
        return [f"t={(t - START_MS) / 1000:g}s {a}" for t, a in upto[-5:]]


async def run_scenario(index: int, campaign_seed: int, config: ChaosConfig) -> ScenarioResult:
    return await Scenario(index, campaign_seed, config).run()
