"""A backtest's equity curve is one closing equity per UTC day, from the starting balance, and its Sharpe
ratio is computed over all of those days (n/a below two weeks of them).

Before, the curve held the equity at each chunk's end (every 2,000 bars, about 1.4 days), keyed by the day
it fell in, so some days had no point and the returns spanned one or two days while the ratio was
annualised as daily; and the first day's return (from the balance) was left out, so a run that lost 8 %
on its first day and drifted back a little reported a positive Sharpe. The reference here is a run whose
chunks end exactly at midnight, where the old chunk-end snapshots were each day's close: cutting the same
bars into chunks of another size must give the same curve, point for point.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from quantum_trader.domain.events import EquitySnapshot, KillSwitch
from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.research.backtest import BacktestResult, run_backtest
from quantum_trader.risk.daily_loss import DailyLossGuard
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.signals.sma_cross import SmaCross
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.performance import max_drawdown, sharpe_ratio

SYMBOLS = ["BNBUSDT", "ETHUSDT"]
DAY = 86_400_000
MIDNIGHT = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BARS = 4 * 1440 + 300  # four whole days and five hours of the fifth
BALANCE = Decimal(10_000)


def _backtest(chunk_bars: int) -> BacktestResult:
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in SYMBOLS}
    prices = [float(instruments[s].typical_price) for s in SYMBOLS]
    chunks = synthetic_bars(SYMBOLS, prices, BARS, seed=4, chunk_bars=chunk_bars, vol=0.001, jump_prob=0.0005,
                            start_ms=MIDNIGHT)
    return asyncio.run(run_backtest(chunks, instruments, SmaCross(20, 60), TradingRules(max_positions=2),
                                    balance=BALANCE))


def test_the_curve_is_each_days_close_whatever_the_chunk_size() -> None:
    aligned, cut = _backtest(1440), _backtest(1000)
    assert [(t.trade_id, t.realized_pnl) for t in cut.trades] == [(t.trade_id, t.realized_pnl) for t in aligned.trades]
    assert cut.equity_curve == aligned.equity_curve
    days = [t for t, _ in cut.equity_curve]  # each read at the day's end: the start (the balance), then midnights
    assert days == [MIDNIGHT + i * DAY for i in range(5)] + [MIDNIGHT + BARS * 60_000]
    assert cut.equity_curve[0][1] == BALANCE
    assert len({e for _, e in cut.equity_curve}) > 3  # positions moved it: the comparison meant something


def test_sharpe_counts_every_days_return_from_the_balance() -> None:
    """Five days are too few for the ratio (n/a, with the count of returns, which includes the first day's);
    the figure it would be is the one over every day, the first day's return from the balance included."""
    result = _backtest(1000)
    equities = [equity for _, equity in result.equity_curve]
    performance = result.report["performance"]
    assert (performance["sharpe"], performance["sharpe_returns"]) == (None, len(equities) - 1) == (None, 5)
    assert performance["sharpe_na"].startswith("5 daily returns, fewer than the 14")
    every_day = sharpe_ratio(equities, periods_per_year=365.0, min_returns=2)
    without_first_day = sharpe_ratio(equities[1:], periods_per_year=365.0, min_returns=2)
    assert every_day is not None and without_first_day is not None
    assert abs(every_day - without_first_day) > 0.01  # the first day's return changes the figure: it is counted


def _without_the_hour_around_midnight(chunk: BarChunk) -> BarChunk:
    minute = chunk.open_time % DAY  # the first bar stays: the run starts at the first midnight
    keep = (chunk.open_time < MIDNIGHT + DAY - 1_800_000) | ((minute < DAY - 1_800_000) & (minute >= 1_800_000))
    return BarChunk(chunk.symbols, chunk.open_time[keep], chunk.open[keep], chunk.high[keep], chunk.low[keep],
                    chunk.close[keep], chunk.volume[keep], chunk.interval_ms)


@pytest.mark.parametrize("gap", [False, True])
def test_the_daily_loss_limit_measures_each_day_from_its_midnight_equity(monkeypatch: pytest.MonkeyPatch,
                                                                         gap: bool) -> None:
    """The guard's reference is the equity at the day's start: the balance on the first day, then each
    midnight's reading, which is the curve's close of the day before (it was the day's first chunk end).
    With no bars from 23:30 to 00:30 the day's last close is at 23:30: it is still read as the day's start
    (it was read at 23:30, so the day turned at the next reading, hours later, from another equity)."""
    starts: dict[int, Decimal] = {}
    check = DailyLossGuard.check

    def recording(self: DailyLossGuard, snapshot: EquitySnapshot) -> KillSwitch | None:
        kill = check(self, snapshot)
        if self.day is not None and self.start_equity is not None:
            starts.setdefault(self.day, self.start_equity)
        return kill

    monkeypatch.setattr(DailyLossGuard, "check", recording)
    universe = load_universe()
    instruments = {s: universe.instrument(s) for s in SYMBOLS}
    prices = [float(instruments[s].typical_price) for s in SYMBOLS]
    chunks = synthetic_bars(SYMBOLS, prices, BARS, seed=4, chunk_bars=1000, vol=0.001, jump_prob=0.0005,
                            start_ms=MIDNIGHT)
    if gap:
        chunks = (_without_the_hour_around_midnight(chunk) for chunk in chunks)
    result = asyncio.run(run_backtest(chunks, instruments, SmaCross(20, 60),
                                      TradingRules(max_positions=2, daily_loss_limit_pct=Decimal(50)),
                                      balance=BALANCE))
    closes = {(t - 1) // DAY: equity for t, equity in result.equity_curve}
    assert sorted(starts) == [MIDNIGHT // DAY + i for i in range(5)]
    assert all(starts[day] == closes[day - 1] for day in starts)
    assert starts[MIDNIGHT // DAY] == BALANCE


def _kill_switch_backtest(chunk_bars: int) -> BacktestResult:
    universe = load_universe()
    symbols = universe.top(3)
    instruments = {s: universe.instrument(s) for s in symbols}
    chunks = synthetic_bars(symbols, [float(instruments[s].typical_price) for s in symbols], 20_000, seed=3,
                            chunk_bars=chunk_bars, vol=0.0007, jump_prob=0.0005, start_ms=MIDNIGHT)
    rules = TradingRules(max_positions=2, daily_loss_limit_pct=Decimal(1))
    return asyncio.run(run_backtest(chunks, instruments, SmaCross(), rules, balance=Decimal(100_000)))


def _kill_switch_run(chunk_bars: int) -> list[tuple[str, str, str, int]]:
    result = _kill_switch_backtest(chunk_bars)
    return [(t.trade_id, t.exit_reason.value, str(t.exit_price), t.time_ms) for t in result.trades]


def test_the_max_drawdown_is_of_every_close_whatever_the_chunk_size() -> None:
    """The report's max drawdown reads the equity at every bar close (sim/replay_drawdown.py), not each day's
    close: deeper than the daily curve's, and the same however the data is cut (chunk ends are stretches'
    ends, kill switches re-read their close)."""
    short, long = _kill_switch_backtest(300), _kill_switch_backtest(2_000)
    keys = ("max_drawdown_usdt", "max_drawdown_pct")
    figures = [{k: r.report["performance"][k] for k in keys} for r in (short, long)]
    assert figures[0] == figures[1]
    daily = max_drawdown([e for _, e in long.equity_curve], start_equity=Decimal(100_000))
    assert Decimal(figures[0]["max_drawdown_usdt"]) > daily.usdt and Decimal(figures[0]["max_drawdown_pct"]) > daily.pct


def test_the_daily_loss_limit_acts_at_the_first_close_that_breaks_it_whatever_the_chunk_size() -> None:
    """A live session reads its equity every minute; a backtest read it only at chunk ends (and midnights),
    so the limit acted up to a chunk later, at a price that depended on how the data was cut. Now the
    replay suspends at the first close whose equity may break the limit: the same kills, at the same bars
    and prices, for chunks of 300 or 2,000 bars, and most of them between chunk ends."""
    short, long = _kill_switch_run(300), _kill_switch_run(2_000)
    assert short == long
    kills = [time_ms for _, reason, _, time_ms in short if reason == "kill_switch"]
    assert len(kills) >= 5, "the scenario must trip the limit"
    assert sum((time_ms - MIDNIGHT) % (300 * 60_000) != 0 for time_ms in kills) > len(kills) // 2
