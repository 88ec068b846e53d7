"""The dashboard's read model: the bar tape behind its price chart, today's P&L, and the naked timer's
correction of the last sweep's view (readmodels/bar_tape.py, readmodels/dashboard.py)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.readmodels.bar_tape import BarTape
from quantum_trader.readmodels.dashboard import DAY_MS, DayStart, mark_unprotected, pnl_today

MINUTE = 60_000


def chunk(symbols: tuple[str, ...], first_open_ms: int, closes: list[list[float]]) -> BarChunk:
    close = np.asarray(closes, dtype=np.float64)
    times = np.arange(len(close), dtype=np.int64) * MINUTE + first_open_ms
    return BarChunk(symbols, times, close - 0.5, close + 1.0, close - 1.0, close, np.ones_like(close), MINUTE)


def test_the_tape_keeps_the_last_bars_per_symbol_oldest_first_on_the_tick() -> None:
    tape = BarTape(("BTCUSDT", "ETHUSDT"), depth=3, ticks={"BTCUSDT": Decimal("0.1")})
    warm = chunk(("BTCUSDT", "ETHUSDT"), 0, [[100.04, 10.0], [101.06, 11.0]])
    tape.record(warm, slice(0, 2))
    for t in range(2, 5):  # three live bars: the ring keeps the last three of five
        tape.record(chunk(("BTCUSDT", "ETHUSDT"), t * MINUTE, [[100.0 + t, 10.0 + t]]))
    btc = tape.candles("BTCUSDT")
    assert [c["time"] for c in btc] == [120, 180, 240]
    assert [c["close"] for c in btc] == ["102", "103", "104"]
    assert btc[0]["high"] == "103" and btc[0]["open"] == "101.5"  # quantized to the 0.1 tick, plain notation
    assert [c["close"] for c in tape.candles("ETHUSDT", limit=2)] == ["13", "14"]
    assert tape.candles("XRPUSDT") == [] and tape.last_open_time_ms == 4 * MINUTE


def test_a_bar_already_on_the_tape_is_not_recorded_twice_and_missing_bars_are_left_out() -> None:
    tape = BarTape(("BTCUSDT", "ETHUSDT"), depth=10)
    tape.record(chunk(("BTCUSDT", "ETHUSDT"), 0, [[100.0, 10.0], [101.0, 11.0]]), slice(0, 2))
    tape.record(chunk(("BTCUSDT", "ETHUSDT"), MINUTE, [[101.0, 11.0]]))  # the feed's first bar = the warm-up's last
    tape.record(chunk(("ETHUSDT",), 2 * MINUTE, [[12.0]]))  # a chunk without BTC: BTC has no bar there
    assert [c["time"] for c in tape.candles("BTCUSDT")] == [0, 60]
    assert [c["time"] for c in tape.candles("ETHUSDT")] == [0, 60, 120]


def test_today_starts_from_the_accounts_first_journaled_equity_of_the_day_or_the_equity_now() -> None:
    asked: list[int] = []
    journaled: dict[int, tuple[Decimal, int]] = {DAY_MS: (Decimal("1000"), DAY_MS + 1)}

    def first_of_day(ms: int) -> tuple[Decimal, int] | None:
        asked.append(ms)
        return journaled.get(ms)

    start = DayStart(first_of_day, lambda _start, _end: Decimal(0))
    assert start.equity(DAY_MS + 5, Decimal("990")) == Decimal("1000")
    assert start.equity(DAY_MS + 9, Decimal("980")) == Decimal("1000") and asked == [DAY_MS]  # cached for the day
    assert start.equity(2 * DAY_MS + 1, Decimal("970")) == Decimal("970")  # nothing journaled yet: the equity now
    journaled[2 * DAY_MS] = (Decimal("975"), 2 * DAY_MS + 1)  # the day's first snapshot reaches the journal
    assert start.equity(2 * DAY_MS + 60_000, Decimal("960")) == Decimal("975")
    assert asked == [DAY_MS, 2 * DAY_MS, 2 * DAY_MS]
    assert pnl_today(Decimal("1000"), Decimal("990")) == {"usdt": "-10", "pct": "-1.00", "since_equity": "1000"}
    assert pnl_today(Decimal("10000"), Decimal("9999.80"))["pct"] == "-0.0020"  # a small loss never reads 0 %
    assert pnl_today(Decimal("0"), Decimal("5"))["pct"] is None


def test_today_leaves_out_the_days_transfers_read_again_only_when_one_is_seen() -> None:
    """A withdrawal to spot is no loss of the day (it used to show as one on the dashboard)."""
    moves: list[tuple[int, int]] = []
    journaled = [Decimal(0)]

    def moved_between(start_ms: int, end_ms: int) -> Decimal:
        moves.append((start_ms, end_ms))
        return journaled[0]

    start = DayStart(lambda _ms: (Decimal("10000"), DAY_MS + 60_000), moved_between)
    assert start.equity(DAY_MS + 120_000, Decimal("9990")) == Decimal("10000")
    journaled[0] = Decimal("-1500")
    assert start.equity(DAY_MS + 130_000, Decimal("8490")) == Decimal("10000")  # cached until a transfer is seen
    start.transfer_seen()
    assert start.equity(DAY_MS + 140_000, Decimal("8490")) == Decimal("8500")
    assert moves == [(DAY_MS + 60_000, 2 * DAY_MS)] * 2  # from the day's first snapshot to its end
    assert pnl_today(Decimal("8500"), Decimal("8490"))["usdt"] == "-10"


def test_a_position_the_naked_timer_has_seen_is_unprotected_even_if_the_last_view_said_protected() -> None:
    doc = {"positions": [{"symbol": "BNBUSDT", "status": "PROTECTED"}, {"symbol": "ETHUSDT", "status": "PROTECTED"}],
           "unprotected": 0, "equity": "1000"}
    marked = mark_unprotected(doc, {"ETHUSDT": 0.4})
    assert [p["status"] for p in marked["positions"]] == ["PROTECTED", "UNPROTECTED"]
    assert marked["unprotected"] == 1 and marked["equity"] == "1000"
    assert doc["positions"][1]["status"] == "PROTECTED"  # the view itself is not changed
