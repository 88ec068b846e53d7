"""Why `download` found no data for some days, in words: the days, and the history the server has.

A user asked a replaying `sim-server` for days before its replay and read only "16 without data". An empty
day is nearly always one outside the history the server has: before the symbol's first bar there (a
sim-server replaying files has only the days it has played; Binance has bars from the listing on), after the
server's clock, or before the listing date exchangeInfo gives (`onboardDate`). What the server has is cheap
to read: its first bar (`startTime=0`, `limit=1`) and its latest (`limit=1`), weight 1 each, asked only for
a symbol that had an empty day. Days are grouped into spans with one reason each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DAY_MS = 86_400_000


@dataclass(frozen=True)
class History:
    """What the server has of one symbol: the open times of its first and latest bars (None: no bar at all),
    and the listing time exchangeInfo gave (None when it gave none)."""

    first_ms: int | None
    last_ms: int | None
    listed_ms: int | None


def utc_minute(time_ms: int) -> str:
    return dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _start_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def why_empty(day: dt.date, history: History, server_ms: int) -> str:
    """The likely reason a day has no bars on this server."""
    start = _start_ms(day)
    if history.listed_ms is not None and start + DAY_MS <= history.listed_ms:
        return f"before it was listed, {utc_minute(history.listed_ms)[:10]} (exchangeInfo onboardDate)"
    if start >= server_ms:
        return f"after the server's clock, {utc_minute(server_ms)} UTC"
    if history.first_ms is None or history.last_ms is None:
        return "the server has no bar of it at all"
    if start + DAY_MS <= history.first_ms:
        return "before the first bar the server has"
    if start > history.last_ms:
        return "after the last bar the server has"
    return "inside the history the server has: it has no bar that day"


def spans(days: Iterable[dt.date], history: History, server_ms: int) -> list[dict[str, Any]]:
    """Consecutive days with the same reason, as `{"first", "last", "days", "why"}` (ISO dates)."""
    out: list[dict[str, Any]] = []
    for day in sorted(set(days)):
        why = why_empty(day, history, server_ms)
        last = out[-1] if out else None
        if last is not None and last["why"] == why and dt.date.fromisoformat(last["last"]) + dt.timedelta(1) == day:
            last["last"], last["days"] = day.isoformat(), last["days"] + 1
        else:
            out.append({"first": day.isoformat(), "last": day.isoformat(), "days": 1, "why": why})
    return out


def no_data(symbol: str, days: Iterable[dt.date], history: History, server_ms: int) -> dict[str, Any]:
    """One symbol's entry of `download --json`'s `no_data`: its empty days, grouped with their reasons, and the
    history the server has (`server_has`: first and latest bar, UTC; null when it has none)."""
    has = (None if history.first_ms is None or history.last_ms is None
           else {"first": utc_minute(history.first_ms), "last": utc_minute(history.last_ms)})
    listed = None if history.listed_ms is None else utc_minute(history.listed_ms)[:10]
    return {"symbol": symbol, "spans": spans(days, history, server_ms), "server_has": has, "listed": listed}


def _span_text(span: dict[str, Any]) -> str:
    if span["days"] == 1:
        return f"{span['first']} ({span['why']})"
    return f"{span['first']}..{span['last']} ({span['days']} days, {span['why']})"


def no_data_line(entry: dict[str, Any]) -> str:
    """`BNBUSDT: no data for 2026-01-03..2026-01-04 (2 days, before the first bar the server has); the server
    has BNBUSDT from 2026-01-05 00:00 to 2026-01-07 00:00 UTC ...`: what the text summary says per symbol."""
    symbol, has = entry["symbol"], entry["server_has"]
    text = f"{symbol}: no data for " + ", ".join(_span_text(s) for s in entry["spans"])
    if has is None:
        return text + f"; the server has no bar of {symbol}: is it the exchange you meant?"
    return (text + f"; the server has {symbol} from {has['first']} to {has['last']} UTC: ask for days in that "
            "range (a sim-server replaying files has only the days it has played)")
