"""/health's `scanner.stale`: a scanner that stopped scoring says so, by a rule that follows the session's clock.

The dashboard showed `strategy_status` but not when the scanner last scored; a scanner that had silently stopped
looked like one that scored nothing confident. It is stale after `STALE_BARS` bars of the clock in wall time
without a scan, never sooner than `STALE_MIN_S` (the feed's floor): one-minute bars at `--speed 1` or live,
180 s; at `--speed 60` or `max`, 30 s. Before the first scan the time since start counts; a feed that ended
(a replay played out) leaves nothing to scan, so nothing is stale. The service is built as the runtime builds it,
on the in-process simulator.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_notify_health import SYMBOL, T0

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.exchange.budget import WeightBudget
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.feeds.market_feed import FeedStatus
from quantum_trader.journal.reader import JournalReader
from quantum_trader.runtime.app_service import SessionService
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.settings.model import load_settings
from quantum_trader.signals.scanner_health import ScannerStats, stale_after_s
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig


class Scanner:
    """A strategy with the AI scanner's counters, as /health reads them."""

    def __init__(self) -> None:
        self.stats = ScannerStats()


async def health(speed: str, *, scanned_s_ago: float | None, up_s: float, feed_done: bool = False,
                 budget_418_s: float | None = None) -> dict[str, Any]:
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=T0))
    sim.set_prices({SYMBOL: "896.80"})
    engine = wire_engine(SimulatedClock(T0), InProcessExchange(sim), dict(sim.state.instruments), TradingRules())
    metrics = Metrics()
    monitor, kill = protect_engine(engine, metrics, MonitorConfig())
    assert monitor is not None
    await monitor.sweep(reading=True)
    strategy = Scanner()
    svc = SessionService(load_settings(env={"QT_SPEED": speed}), engine, monitor, kill, JournalReader("sqlite://"),
                         metrics, FeedStatus("synthetic", done=feed_done), strategy=strategy)
    svc.started = time.monotonic() - up_s
    if budget_418_s is not None:  # a budget banned by the exchange for that long, its clock standing still
        now = time.time()
        svc.budget = WeightBudget(limit=2400, clock=lambda: now)
        svc.budget.rate_limited(418, budget_418_s)
    if scanned_s_ago is not None:
        strategy.stats.last_scan_ms = time.time_ns() // 1_000_000 - int(scanned_s_ago * 1000)
    body: dict[str, Any] = await svc.health()
    return body


async def scanner_health(speed: str, *, scanned_s_ago: float | None, up_s: float, feed_done: bool = False,
                         ) -> dict[str, Any]:
    scanner: dict[str, Any] = (await health(speed, scanned_s_ago=scanned_s_ago, up_s=up_s,
                                            feed_done=feed_done))["scanner"]
    return scanner


@pytest.mark.parametrize(("speed", "scanned_s_ago", "up_s", "stale_after", "stale"), [
    ("1", 170.0, 600.0, 180.0, False),   # one-minute bars in real time: three bars is 180 s
    ("1", 190.0, 600.0, 180.0, True),
    ("60", 20.0, 600.0, 30.0, False),    # a bar a second: the 30 s floor
    ("60", 40.0, 600.0, 30.0, True),
    ("max", 40.0, 600.0, 30.0, True),    # bars take no wall time: the floor
    ("max", None, 10.0, 30.0, False),    # just started, nothing scanned yet
    ("max", None, 40.0, 30.0, True),     # 40 s since start and still no scan
])
def test_the_scanner_is_stale_after_three_bars_of_wall_time_at_least_30_s(
        speed: str, scanned_s_ago: float | None, up_s: float, stale_after: float, stale: bool) -> None:
    scanner = asyncio.run(scanner_health(speed, scanned_s_ago=scanned_s_ago, up_s=up_s))
    assert (scanner["stale_after_s"], scanner["stale"]) == (stale_after, stale)


def test_a_feed_that_ended_leaves_nothing_to_scan_so_nothing_is_stale() -> None:
    scanner = asyncio.run(scanner_health("max", scanned_s_ago=300.0, up_s=600.0, feed_done=True))
    assert scanner["stale"] is False and scanner["last_scan_age_s"] >= 300


def test_the_rule_reads_the_bar_interval_and_the_clocks_speed() -> None:
    assert stale_after_s(60_000, 1.0) == 180.0 and stale_after_s(300_000, 1.0) == 900.0  # 5m bars live: 15 min
    assert stale_after_s(60_000, 2.0) == 90.0 and stale_after_s(60_000, None) == 30.0


@pytest.mark.parametrize(("scanned_s_ago", "status"), [(10.0, "healthy"), (40.0, "degraded")])
def test_a_stale_scanner_makes_a_healthy_bot_degraded(scanned_s_ago: float, status: str) -> None:
    """Its stops are not affected (never unhealthy), but a scanner that stopped must not read as healthy."""
    body = asyncio.run(health("max", scanned_s_ago=scanned_s_ago, up_s=600.0))
    assert body["status"] == status
    age = body["scanner"]["last_scan_age_s"]
    assert body["reasons"] == ([] if status == "healthy" else
                               [f"the AI scanner has not scanned for {age} s (limit 30.0 s)"])
