"""Exits whose fills never reached the bot, looked up on the exchange instead of made up.

The exchange reports a position flat (ACCOUNT_UPDATE, or a REST reading) and, a few milliseconds later,
the fills that flattened it. Sometimes those never come: the user stream dropped them while it was
reconnecting and the catch-up reading sees only the orders this adapter placed (a stop that fired spawns
an order of its own; a liquidation is the exchange's `autoclose-` order), or a hand-placed order closed
it. The trade tracker used to close such a trade at the mark as `manual`, so the stop audit misread a
stop-loss or a liquidation as a manual exit at a price nobody traded. Now the tracker hands it over
(`TradeTracker.take`: at once when something new happens on the symbol, otherwise once the
fills are `GRACE_S` late, or once the monitor's reading no longer holds the position: a kill switch at
start-up flattens before the stream listens, and nothing ever reports that position flat), and this asks
the exchange for the account's fills on the symbol, then the trade's own exit orders
(trading/away_exits.py `find_exit`, as a restart does for exits while away), and publishes what it found,
or `unknown` with no price claimed.

It runs on the monitor's heartbeat (`EquitySnapshot`, every minute of session time), so a missing fill is
resolved within about a minute and a look-up never holds the bus for a fill that is merely late. A lookup
the exchange fails (an outage) is retried at the next heartbeat. Backtests leave it out: the in-process
simulator always delivers its fills with the flat position.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.loggers import get_logger
from ..domain.enums import ExitReason
from ..domain.errors import ExchangeError
from ..domain.events import EquitySnapshot, ProtectionAction
from ..exchange.port import ExchangeReader
from .away_exits import find_exit
from .reconcile import closed_as_found
from .trades import OpenTrade, TradeTracker

log = get_logger(__name__)
#: How long (wall-clock seconds, from the first heartbeat that saw it) a trade may look closed before its fills
#: arrive, before the exchange is asked: fills are late in network time, whatever the session's speed.
GRACE_S = 15.0
UNSEEN = "closed on the exchange, but its fills never reached the bot"


class ExitLookup:
    def __init__(self, bus: EventBus, clock: Clock, exchange: ExchangeReader, tracker: TradeTracker, *,
                 grace_s: float = GRACE_S, held: Callable[[], Collection[str] | None] | None = None,
                 wall: Callable[[], float] = time.monotonic) -> None:
        """`held`: the symbols the exchange's latest reading (the monitor's view) holds a position in, or None
        before its first reading: a trade whose position is gone from it is looked up too. `wall`: the clock
        the grace runs on (monotonic seconds)."""
        self.bus, self.clock, self.exchange, self.tracker = bus, clock, exchange, tracker
        self.grace_s, self.held, self.wall = grace_s, held, wall
        #: Trade id → when a heartbeat first saw it as a candidate (`TradeTracker.exit_candidates`).
        self._since: dict[str, float] = {}

    def attach(self) -> None:
        self.tracker.lookup_missing = True
        self.bus.subscribe(EquitySnapshot, self._on_heartbeat)

    async def _on_heartbeat(self, _snapshot: EquitySnapshot) -> None:
        await self.resolve()

    def _due(self) -> list[OpenTrade]:
        """The candidates seen for the whole grace: a REST reading runs ahead of the stream, and at --speed max
        a session's 15 s pass in milliseconds, so the grace is wall time from the first sighting."""
        now = self.wall()
        candidates = self.tracker.exit_candidates(None if self.held is None else self.held())
        since = {t.opened.trade_id: self._since.get(t.opened.trade_id, now) for t in candidates}
        self._since = since
        return [t for t in candidates if now - since[t.opened.trade_id] >= self.grace_s]

    async def resolve(self) -> int:
        """Look up and close every trade the tracker handed over or that is due; returns how many were closed."""
        closed = 0
        for trade in self.tracker.take(self._due()):
            self._since.pop(trade.opened.trade_id, None)
            if await self._close(trade):
                closed += 1
            else:
                self.tracker.unresolved.append(trade)  # the exchange did not answer: the next heartbeat asks again
        return closed

    async def _close(self, trade: OpenTrade) -> bool:
        opened, now = trade.opened, self.clock.now_ms()
        try:
            found = await find_exit(self.exchange, trade, now, why_unseen=UNSEEN)
        except ExchangeError as exc:
            log.warning("looking up a closed trade's exit failed; retrying at the next heartbeat",
                        trade_id=opened.trade_id, symbol=opened.symbol, error=str(exc))
            return False
        unknown = found.reason is ExitReason.UNKNOWN
        await self.bus.publish(ProtectionAction(
            symbol=opened.symbol, action="exit_unknown" if unknown else "exit_found", reason=found.note,
            time_ms=now, trade_id=opened.trade_id, price=None if unknown else found.price))
        self.tracker.closed += 1
        await self.bus.publish(closed_as_found(trade, found, now))  # with the fees and funding the tracker counted
        return True
