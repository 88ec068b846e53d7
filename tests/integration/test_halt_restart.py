"""A halt of entries survives a restart: a restart is not the manual reset.

A manual kill switch halts entries until `resume`; the daily loss limit until the UTC day ends (or a resume).
Both used to last only as long as the process: the next start on the same journal traded again. Here each
"session" is the engine as `run` wires it (real SQLite journal, in-process simulator, the real daily loss
guard and kill-switch handler writing their rows) and each restart replays the journal as `run` does
(runtime/startup.py `restore_halt`). test_halt_restart_run.py is the tester's report as it happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.events import EquitySnapshot, KillSwitch
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.risk.daily_loss import DAY_MS
from quantum_trader.runtime.startup import restore_halt, resume_entries
from quantum_trader.runtime.wiring import Engine, TradingRules, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig

D = Decimal
DAY0 = 20_454 * DAY_MS  # 2026-01-01 00:00 UTC
HOUR = 3_600_000
Steps = Callable[[Engine], Awaitable[None]]


def snap(equity: str, time_ms: int) -> EquitySnapshot:
    return EquitySnapshot(wallet=D(equity), equity=D(equity), available=D(equity), open_positions=0, time_ms=time_ms)


class Bot:
    """One journal and one paper account; `start` runs a session on them at a given time."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'journal.db'}"
        sim = ExchangeSimulator({"BNBUSDT": load_universe().instrument("BNBUSDT")}, SimConfig(start_time_ms=DAY0))
        sim.set_prices({"BNBUSDT": "900"})
        self.exchange = InProcessExchange(sim)

    def start(self, now_ms: int, steps: Steps | None = None, *, mode: str = "paper") -> tuple[str, str | None,
                                                                                             int | None]:
        """Start (restoring the halt from the journal), run `steps`, stop; the risk state at the stop."""
        async def main() -> tuple[str, str | None, int | None]:
            clock = SimulatedClock(now_ms)
            with Journal.open(self.url, now_ms=clock.now_ms) as journal:
                journal.start_session(mode, "{}", "test")
                engine = wire_engine(clock, self.exchange, dict(self.exchange.sim.state.instruments),
                                     TradingRules(daily_loss_limit_pct=D("5")), journal=journal)
                protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=False)
                reader = JournalReader(self.url)
                try:
                    restore_halt(engine, reader)
                finally:
                    reader.close()
                if steps is not None:
                    await steps(engine)
                risk = engine.risk
                return risk.state, risk.halted_reason, risk.halted_until_ms
        return asyncio.run(main())


def publish(*events: KillSwitch | EquitySnapshot) -> Steps:
    """Each event at its own time on the session's clock."""
    async def steps(engine: Engine) -> None:
        for event in events:
            assert isinstance(engine.clock, SimulatedClock)
            engine.clock.advance_to(event.time_ms)
            await engine.bus.publish(event)
    return steps


async def resume(engine: Engine) -> None:
    await resume_entries(engine)


def test_a_manual_kill_switch_holds_across_restarts_until_resumed(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    assert bot.start(DAY0, publish(KillSwitch("manual kill switch", DAY0 + 1))) == ("HALTED", "manual kill switch",
                                                                                     None)
    assert bot.start(DAY0 + 3 * DAY_MS) == ("HALTED", "manual kill switch", None)  # days later: still
    assert bot.start(DAY0 + 4 * DAY_MS, resume) == ("ACTIVE", None, None)
    assert bot.start(DAY0 + 4 * DAY_MS + 1) == ("ACTIVE", None, None)


def test_a_daily_loss_halt_holds_across_a_restart_until_the_utc_day_ends(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    day_end = DAY0 + DAY_MS
    state, reason, until = bot.start(DAY0 + HOUR, publish(snap("10000", DAY0 + HOUR), snap("9400", DAY0 + 2 * HOUR)))
    assert (state, until) == ("HALTED", day_end) and reason is not None and reason.startswith("daily loss limit: ")
    # Restarted the same day: halted until midnight, and the day's kill switch is not fired a second time.
    kills: list[KillSwitch] = []

    async def lose_more(engine: Engine) -> None:
        engine.bus.subscribe(KillSwitch, kills.append)
        await publish(snap("9400", DAY0 + 3 * HOUR), snap("8000", DAY0 + 4 * HOUR))(engine)

    assert bot.start(DAY0 + 3 * HOUR, lose_more) == ("HALTED", reason, day_end)
    assert kills == []
    assert bot.start(day_end) == ("ACTIVE", None, None)  # the next UTC day


def test_a_daily_loss_halt_resumed_by_hand_stays_resumed(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.start(DAY0 + HOUR, publish(snap("10000", DAY0 + HOUR), snap("9000", DAY0 + 2 * HOUR)))
    assert bot.start(DAY0 + 3 * HOUR, resume) == ("ACTIVE", None, None)
    assert bot.start(DAY0 + 4 * HOUR) == ("ACTIVE", None, None)


def test_a_daily_breach_during_a_manual_halt_does_not_make_it_expire_after_a_restart(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.start(DAY0 + HOUR, publish(snap("10000", DAY0 + HOUR), KillSwitch("manual kill switch", DAY0 + 2 * HOUR),
                                   snap("9000", DAY0 + 3 * HOUR)))  # the guard still fires, after the manual one
    assert bot.start(DAY0 + 2 * DAY_MS) == ("HALTED", "manual kill switch", None)


def test_a_backtest_journaled_into_the_same_database_halts_nothing(tmp_path: Path) -> None:
    bot = Bot(tmp_path)
    bot.start(DAY0 + HOUR, publish(snap("10000", DAY0 + HOUR), snap("9000", DAY0 + 2 * HOUR)), mode="backtest")
    assert bot.start(DAY0 + 3 * HOUR) == ("ACTIVE", None, None)
