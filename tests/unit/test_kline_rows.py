"""MinuteRows: closed klines arriving per symbol, out of step, twice or late, released as one row per minute,
in order, each minute once; a late symbol gets NaN only when the feed forces the row."""

from __future__ import annotations

import math
from decimal import Decimal

from quantum_trader.domain.kline import Kline, kline_from_row, kline_from_stream
from quantum_trader.marketdata.kline_rows import MinuteRows

M = 60_000
T0 = 1_767_225_600_000


def k(t: int, close: str = "10") -> Kline:
    c = Decimal(close)
    return Kline(t, c, c + 1, c - 1, c, Decimal("2"), t + M - 1)


def test_a_row_waits_for_every_symbol_and_rows_come_out_in_order() -> None:
    rows = MinuteRows(("A", "B"), M, T0)
    assert rows.add("A", k(T0 + M, "11")) and rows.add("A", k(T0))
    assert rows.ready() == []  # B has nothing yet
    assert rows.missing() == ("B",)
    assert rows.add("B", k(T0 + M, "12"))
    assert rows.ready() == []  # T0 still lacks B: T0 + M may not overtake it
    assert rows.add("B", k(T0, "13"))
    out = rows.ready()
    assert [int(c.open_time[0]) for c in out] == [T0, T0 + M]
    assert [c.close[0].tolist() for c in out] == [[10.0, 13.0], [11.0, 12.0]]
    assert out[0].high[0].tolist() == [11.0, 14.0] and out[0].volume[0].tolist() == [2.0, 2.0]
    assert rows.next_open == T0 + 2 * M


def test_a_bar_already_held_or_released_is_never_delivered_again() -> None:
    rows = MinuteRows(("A",), M, T0)
    assert rows.add("A", k(T0))
    assert not rows.add("A", k(T0, "99"))  # a backfill overlapping the stream
    [chunk] = rows.ready()
    assert chunk.close[0, 0] == 10.0
    assert not rows.add("A", k(T0))  # after release
    assert not rows.add("A", k(T0 - M))  # before the start
    assert not rows.add("ZZZ", k(T0 + M))  # not in the universe
    assert rows.duplicates == 3 and rows.ready() == []


def test_behind_names_the_first_minute_a_symbol_lacks() -> None:
    rows = MinuteRows(("A", "B"), M, T0)
    rows.add("A", k(T0))
    rows.add("A", k(T0 + M))
    rows.add("A", k(T0 + 3 * M))
    assert rows.behind("A") == T0 + 2 * M  # a stream bar at T0 + 3M reveals the gap at T0 + 2M
    assert rows.behind("B") == T0


def test_force_releases_the_oldest_row_with_nan_for_a_late_symbol_and_drops_its_late_bar() -> None:
    rows = MinuteRows(("A", "B"), M, T0)
    rows.add("A", k(T0, "10"))
    chunk = rows.force()
    assert chunk.close[0, 0] == 10.0 and math.isnan(chunk.close[0, 1]) and math.isnan(chunk.volume[0, 1])
    assert rows.forced_missing == 1
    assert not rows.add("B", k(T0))  # too late: T0 was delivered already
    assert rows.next_open == T0 + M


def test_rest_rows_and_stream_messages_parse_to_the_same_kline() -> None:
    row = [T0, "600.1", "601", "599.5", "600.2", "3.5", T0 + M - 1, "0", 0, "0", "0", "0"]
    stream = {"t": T0, "T": T0 + M - 1, "s": "BNBUSDT", "i": "1m", "o": "600.1", "h": "601", "l": "599.5",
              "c": "600.2", "v": "3.5", "x": True}
    assert kline_from_row(row) == kline_from_stream(stream)
    assert kline_from_row(row).close == Decimal("600.2")
