"""Why `download` found no data for a day (download/gaps.py): each reason, and days grouped into spans."""

from __future__ import annotations

import datetime as dt

from quantum_trader.download.gaps import History, no_data, no_data_line, why_empty

DAY = 86_400_000
JAN_5 = 1_767_571_200_000  # 2026-01-05 00:00 UTC
HELD = History(first_ms=JAN_5, last_ms=JAN_5 + 2 * DAY, listed_ms=JAN_5 - 30 * DAY)


def day(n: int) -> dt.date:
    return dt.date(2026, 1, n)


def test_each_reason_a_day_is_empty() -> None:
    clock = JAN_5 + 2 * DAY + 60_000
    assert why_empty(dt.date(2025, 12, 1), HELD, clock) == "before it was listed, 2025-12-06 (exchangeInfo onboardDate)"
    assert why_empty(day(4), HELD, clock) == "before the first bar the server has"
    assert why_empty(day(6), HELD, clock) == "inside the history the server has: it has no bar that day"
    assert why_empty(day(8), HELD, clock) == "after the server's clock, 2026-01-07 00:01 UTC"
    assert why_empty(day(8), HELD, JAN_5 + 10 * DAY) == "after the last bar the server has"
    assert why_empty(day(6), History(None, None, None), clock) == "the server has no bar of it at all"


def test_days_group_into_spans_and_a_line_names_them_with_the_history() -> None:
    entry = no_data("BNBUSDT", [day(3), day(1), day(2), day(8), day(9)], HELD, JAN_5 + 3 * DAY)
    assert entry["server_has"] == {"first": "2026-01-05 00:00", "last": "2026-01-07 00:00"}
    assert [(s["first"], s["last"], s["days"]) for s in entry["spans"]] == [
        ("2026-01-01", "2026-01-03", 3), ("2026-01-08", "2026-01-09", 2)]
    assert no_data_line(entry) == (
        "BNBUSDT: no data for 2026-01-01..2026-01-03 (3 days, before the first bar the server has), "
        "2026-01-08..2026-01-09 (2 days, after the server's clock, 2026-01-08 00:00 UTC); the server has BNBUSDT "
        "from 2026-01-05 00:00 to 2026-01-07 00:00 UTC: ask for days in that range (a sim-server replaying files "
        "has only the days it has played)")
    nothing = no_data("XUSDT", [day(1)], History(None, None, None), JAN_5)
    assert no_data_line(nothing).endswith("; the server has no bar of XUSDT: is it the exchange you meant?")
