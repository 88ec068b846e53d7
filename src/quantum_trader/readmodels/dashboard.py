"""What the dashboard shows live, read from memory: the monitor's last view, not the exchange.

The dashboard's stream (`GET /api/v1/stream`) sends this document about twice a second to every open
page. Asking the exchange each time would spend the live path's request budget on people looking at a
page, so positions and orders come from the view the monitor built at its last sweep (stream-fed,
re-read over REST on its own schedule). Only before the first sweep is the exchange asked.

`revision` counts the journal-worthy events seen on the bus (trades, protection actions, signals,
errors, equity): a page refetches its heavier panels (audit, readiness, signals, activity) only when
it moves, so an idle bot costs an idle page nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..core.bus import EventBus
from ..domain.events import (
    ErrorEvent,
    KillSwitch,
    ProtectionAction,
    ScannerSilent,
    Signal,
    TradeClosed,
    TradeOpened,
)
from ..domain.money import fmt, pct_text
from ..trading.monitor_state import MonitorState

JSON = dict[str, Any]  # as runtime/service.py's: the API returns these documents as they are

DAY_MS = 86_400_000
#: Events after which the page's slower panels are out of date.
REVISING_EVENTS: tuple[type, ...] = (TradeOpened, TradeClosed, ProtectionAction, Signal, ErrorEvent, KillSwitch,
                                     ScannerSilent)


class Revision:
    """A counter of the events that change what the journal-backed panels show."""

    def __init__(self, bus: EventBus) -> None:
        self.value = 0
        for event_type in REVISING_EVENTS:
            bus.subscribe(event_type, self._bump)

    def _bump(self, _event: object) -> None:
        self.value += 1


@dataclass
class DayStart:
    """Equity at the start of the current UTC day (of the engine's clock), moved by the day's transfers, for
    "today's P&L".

    The day's first equity snapshot of the account traded, from the journal, plus the transfers journaled since
    (protection action `transfer`): a withdrawal to spot is no loss of the day, a deposit no gain. The daily
    loss limit's reference (risk/daily_loss.py) is the same until a resume after its kill switch renews that
    one. A restart keeps the day, and a fresh paper account after `paper-reset` starts a day of its own instead
    of counting the old account's equity as its loss or gain. Until that snapshot is journaled (the first
    seconds of a day, or of a session), the equity now. Cached: the stream asks twice a second, the first
    snapshot changes once a day and the transfers when `transfer_seen` says so.
    """

    #: The account's first equity snapshot (equity, time_ms) in the UTC day starting at the given time.
    first_of_day: Callable[[int], tuple[Decimal, int] | None]
    #: The account's net transfers journaled in [start_ms, end_ms).
    moved_between: Callable[[int, int], Decimal]
    _day: int | None = None
    _first: tuple[Decimal, int] | None = None
    _moved: Decimal | None = None

    def equity(self, now_ms: int, current: Decimal) -> Decimal:
        day = now_ms // DAY_MS
        if day != self._day:
            self._day, self._first, self._moved = day, None, None
        if self._first is None:
            self._first = self.first_of_day(day * DAY_MS)
        if self._first is None:
            return current
        equity, since_ms = self._first
        if self._moved is None:
            self._moved = self.moved_between(since_ms, (day + 1) * DAY_MS)
        return equity + self._moved

    def transfer_seen(self, _event: object = None) -> None:
        """A transfer reached the journal: the next answer reads the day's transfers again."""
        self._moved = None


def pnl_today(start: Decimal, equity: Decimal) -> JSON:
    """The day's P&L in USDT and in % of the day's start, a percentage as every other (`pct_text`: a 0.20 USDT
    loss on 10,000 reads `-0.0020`, where it read `0`)."""
    change = equity - start
    pct = pct_text(change / start * 100) if start > 0 else None
    return {"usdt": fmt(change), "pct": pct, "since_equity": fmt(start)}


def unprotected_seconds(state: MonitorState, now_ms: int) -> dict[str, float]:
    """Seconds each position has been without a working stop, as the monitor measures it (its clock)."""
    return {symbol: round(max(now_ms - since, 0) / 1000, 1) for symbol, since in state.unprotected_since_ms.items()}


def mark_unprotected(positions: JSON, naked: dict[str, float]) -> JSON:
    """The view as of the last finished sweep, corrected by the monitor's naked timer, which starts the
    moment a sweep finds a position without a working stop, before its repairs (which may take seconds
    of retries against a failing exchange) finish and publish the next view."""
    rows = [dict(p, status="UNPROTECTED") if p["symbol"] in naked else p for p in positions["positions"]]
    return {**positions, "positions": rows, "unprotected": sum(1 for p in rows if p["status"] == "UNPROTECTED")}
