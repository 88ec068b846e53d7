"""A replay stops at a hole in its data (no bar for any symbol for over a day): `run`'s feed and the
simulator server's feed, as the backtest does. Two months three years apart in one folder played on
as one stream jumped the clock three years and charged funding for all of it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.errors import ConfigError
from quantum_trader.feeds.market_feed import BarFeed
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.marketdata.holes import DataHole, check_gap, first_hole, refuse_holes
from quantum_trader.runtime.paper_account import open_paper_account
from quantum_trader.settings.model import load_settings
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

START = 1_675_209_600_000  # 2023-02-01T00:00:00Z
LATER = 1_769_904_000_000  # 2026-02-01T00:00:00Z
SYMBOL = "BNBUSDT"


def _chunk(start_ms: int, bars: int, step_ms: int = 60_000) -> BarChunk:
    prices = np.full((bars, 1), 600.0)
    return BarChunk((SYMBOL,), start_ms + step_ms * np.arange(bars, dtype=np.int64), prices, prices + 1, prices - 1,
                    prices, np.ones_like(prices), 60_000)


def test_a_day_without_any_bar_is_a_hole_and_says_where() -> None:
    check_gap(None, _chunk(START, 5))
    check_gap(START, _chunk(START + 86_400_000, 5))  # exactly a day: a quiet market, not a hole
    with pytest.raises(DataHole, match=r"\(25\.0 hours\)$"):  # said "(1.0 days)"
        check_gap(START, _chunk(START + 25 * 3_600_000, 5))
    with pytest.raises(DataHole, match=r"between 2023-02-01 00:04 UTC and 2026-02-01 00:00 UTC \(1,096\.0 days\)"):
        list(refuse_holes([_chunk(START, 5), _chunk(LATER, 5)]))
    inside = _chunk(START, 4)
    inside.open_time[2:] += LATER - START  # inside one chunk too
    with pytest.raises(DataHole, match="2026-02-01 00:02 UTC"):
        check_gap(None, inside)
    found = first_hole(None, inside)
    assert found is not None and found[0] == 2  # two bars before it
    parts = refuse_holes([inside])
    assert list(next(parts).open_time) == list(inside.open_time[:2])  # what comes before the hole is played
    with pytest.raises(DataHole):
        next(parts)


def test_runs_feed_stops_at_the_hole_and_says_why_in_its_status() -> None:
    universe = load_universe()
    sim = ExchangeSimulator({SYMBOL: universe.instrument(SYMBOL)}, SimConfig(start_time_ms=START))
    clock = SimulatedClock(START)
    feed = BarFeed("replay:test", lambda: iter([_chunk(START, 4), _chunk(LATER, 4)]), speed=None, clock=clock,
                   sim=sim)
    played: list[int] = []

    async def on_bar(bar: BarChunk) -> None:
        played.append(int(bar.open_time[0]))

    asyncio.run(feed.run(on_bar, asyncio.Event()))
    assert played == [START + i * 60_000 for i in range(4)]
    assert feed.status.done and feed.status.stopped is not None
    assert "1,096.0 days" in feed.status.stopped and "each period on its own" in feed.status.stopped
    assert sim.now_ms < LATER and clock.now_ms() < LATER  # the clock never jumped across


def test_a_resumed_session_does_not_jump_to_data_a_hole_away_from_its_clock() -> None:
    """A paper account kept at 2023-02's end and restarted on the same folder: the next bar is in 2026."""
    universe = load_universe()
    sim = ExchangeSimulator({SYMBOL: universe.instrument(SYMBOL)}, SimConfig(start_time_ms=START))
    feed = BarFeed("replay:test", lambda: iter([_chunk(LATER, 4)]), speed=None, clock=SimulatedClock(START), sim=sim)
    played: list[int] = []

    async def on_bar(bar: BarChunk) -> None:
        played.append(int(bar.open_time[0]))

    asyncio.run(feed.run(on_bar, asyncio.Event()))
    assert played == [] and feed.status.stopped is not None and sim.now_ms < LATER


def test_a_paper_account_is_not_resumed_on_replay_data_a_hole_after_it(tmp_path: Path) -> None:
    """An account saved holding 10 BNB in 2023-02, restarted on a folder whose data starts in 2026: resuming
    moved its clock three years and charged 2,110 USDT of funding without a word (found in review)."""
    (tmp_path / "BNBUSDT-1m-2026-02.csv").write_text(f"{LATER},600,601,599,600,10,{LATER + 59_999},6000,5,5,3000,0\n")
    env = {"QT_DB_URL": f"sqlite:///{tmp_path / 'journal.db'}", "QT_SYMBOLS": SYMBOL,
           "QT_FEED": f"replay:{tmp_path}", "QT_PAPER_STATE": str(tmp_path / "paper")}
    settings = load_settings(env=env)
    instruments = {SYMBOL: load_universe().instrument(SYMBOL)}
    first = open_paper_account(settings, instruments, START)
    first.sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "10"})
    wallet = first.sim.wallet_balance
    first.sim.detach_listener()
    with pytest.raises(ConfigError, match=r"stopped at the start of a hole in the data: .*paper-reset"):
        open_paper_account(settings, instruments, LATER)
    again = open_paper_account(settings, instruments, START + 60_000)  # data that continues from it: resumed
    assert again.resumed and again.sim.wallet_balance == wallet
    again.sim.detach_listener()


def test_a_clock_at_a_bars_close_measures_the_hole_from_that_bars_open() -> None:
    """Daily bars: the clock stands at the last bar's close (its open + 1 day); a next bar three days after
    that open misses two days, more than two bars: a hole, as it is between two bars of one file."""
    day = 86_400_000
    prices = np.full((1, 1), 600.0)

    def daily(open_ms: int) -> BarChunk:
        return BarChunk((SYMBOL,), np.array([open_ms], np.int64), prices, prices, prices, prices, prices, day)

    with pytest.raises(DataHole):
        list(refuse_holes([daily(START + 3 * day)], after_ms=START + day))
    assert len(list(refuse_holes([daily(START + 2 * day)], after_ms=START + day))) == 1  # one missing day: no
