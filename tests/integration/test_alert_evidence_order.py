"""The exit alert's verdict is the audit's whichever the exchange reports first: the close or the stop's trigger.

On the REST-polling path (ccxt, no user stream) a sweep reads the orders, then the positions. A stop that fires
between those two reads leaves the position read flat while the stop still looked open; the next sweep reads
the stop's fill and, with it, the stop's FILLED report (exchange/ccxt_poll.py: the fill comes first). So the
trade closes on the fill, and only then does the stop witness hear its stop fired and read the mark. The
alert used to judge at the close, before the witness: plain `BREACH`, while `quantum-trader audit`, reading
the journal afterwards, said `BREACH (gap)`.

Here the real poller diffs scripted readings of a venue, and the real bus, trade tracker, stop witness and
journal hear its events as a session does (alerts first); the alert's verdict is compared with the audit of
the journal the same events wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.events import Direction, OrderIntentRecorded, TradeOpened
from quantum_trader.domain.exchange_types import HeldMark, OrderIntent, OrderSnapshot, SnapshotStatus
from quantum_trader.exchange.ccxt_poll import CcxtPoller
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.notify.alerts import Alerts
from quantum_trader.notify.messages import Message
from quantum_trader.readmodels.journal import audit_from_journal
from quantum_trader.risk.daily_loss import REASON_PREFIX
from quantum_trader.runtime.pump import publish_all
from quantum_trader.trading.audit import audit_row
from quantum_trader.trading.stop_witness import ACTION as STOP_WITNESSED
from quantum_trader.trading.stop_witness import StopWitness
from quantum_trader.trading.trades import TradeTracker

D = Decimal
T0 = 1_800_000_000_000
SYMBOL = "BNBUSDT"
TRADE = "BNBUSDT_1_1"
STOP = f"qt-{TRADE}-sl-0"
#: The trial's short: 7.5 BNB at 658, its stop's trigger 670.99, the market jumped through it to 675.
TRIGGER, JUMPED_TO = D("670.99"), D("675")


def stop(status: SnapshotStatus) -> OrderSnapshot:
    """The short's stop-market (an algo order) as a REST read reports it: open, or filled at 675."""
    filled = status is SnapshotStatus.FILLED
    return OrderSnapshot(client_id=STOP, venue_id="1", symbol=SYMBOL, side=Side.BUY, type=OrderType.STOP_MARKET,
                         status=status, conditional=True, quantity=D(0), filled=D("7.5") if filled else D(0),
                         avg_price=JUMPED_TO if filled else D(0), trigger_price=TRIGGER, price=None,
                         reduce_only=True, close_position=True, working_type=WorkingType.MARK_PRICE,
                         update_time=T0 + 60_000)


def short_row() -> dict[str, Any]:
    return {"symbol": SYMBOL, "positionAmt": "-7.5", "entryPrice": "658", "markPrice": "660", "unRealizedProfit": "-15",
            "leverage": "5", "marginType": "cross", "liquidationPrice": "780"}


@dataclass
class Venue:
    """What each sweep reads: the open orders, the stop when asked for it, the positions (exchange/ccxt_poll.py)."""

    reads: list[tuple[list[OrderSnapshot], list[dict[str, Any]]]]
    now: tuple[list[OrderSnapshot], list[dict[str, Any]]] = field(default_factory=lambda: ([], []))

    def next_sweep(self) -> None:
        self.now = self.reads.pop(0)

    async def open_orders(self) -> list[OrderSnapshot]:
        return [o for o in self.now[0] if o.status.is_open]

    async def query(self, symbol: str, client_id: str) -> OrderSnapshot | None:
        return next((o for o in self.now[0] if o.client_id == client_id), None)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        assert method == "fapiPrivateV2GetPositionRisk"
        return self.now[1]

    def mark_since(self, symbol: str, since_ms: int) -> HeldMark | None:
        """No market stream on this path: the witness reads the mark over REST."""
        return None

    async def mark_prices(self, symbols: Iterable[str] | None = None) -> dict[str, Decimal]:
        """The stop witness's one read: the mark just after the jump."""
        return dict.fromkeys(symbols or (), JUMPED_TO)


def opened() -> TradeOpened:
    return TradeOpened(trade_id=TRADE, symbol=SYMBOL, direction=Direction.SHORT, quantity=D("7.5"),
                       entry_price=D("658"), planned_stop=D("670.9"), planned_take_profit=D("632"),
                       planned_loss=D("100"), leverage=5, equity=D("10000"), time_ms=T0)


async def polled(url: str, venue: Venue, sweeps: int) -> list[Message]:
    """The short, then `sweeps` REST sweeps of `venue`; returns the alerts (all sent once the events are heard)."""
    got: list[Message] = []
    clock = SimulatedClock(T0)
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test", started_ms=T0)
        bus = EventBus(clock.now_ms)
        Alerts(got.append, judge=audit_row, daily_loss_prefix=REASON_PREFIX, stop_witnessed=STOP_WITNESSED).attach(bus)
        journal.attach(bus)
        TradeTracker(bus).attach()
        witness = StopWitness(bus, clock, venue)  # type: ignore[arg-type]  # reads only the mark
        witness.attach()
        intent = OrderIntentRecorded(OrderIntent(client_id=STOP, symbol=SYMBOL, side=Side.BUY,
                                                 type=OrderType.STOP_MARKET, trigger_price=TRIGGER,
                                                 close_position=True, working_type=WorkingType.MARK_PRICE),
                                     TRADE, "sl", T0)
        journal.record_intent(intent)  # execution's write-ahead, as a session journals it
        await bus.publish(intent)
        await bus.publish(opened())
        poller = CcxtPoller(venue, interval=1.0)  # type: ignore[arg-type]  # the three reads a sweep makes
        for _ in range(sweeps):
            clock.advance(1.0)
            venue.next_sweep()
            await publish_all(bus, clock, await poller.reconcile())
        await witness.finish()  # as a session's stop does: the read it made off the bus is journaled
    return got


def audited(url: str) -> dict[str, Any]:
    reader = JournalReader(url)
    try:
        [row] = audit_from_journal(reader)[1]["positions"]
    finally:
        reader.close()
    return row


def exit_title(got: list[Message]) -> str:
    exits = [m for m in got if m.kind.startswith("exit")]
    assert len(exits) == 1, [m.title for m in got]
    return exits[0].title


def test_a_close_heard_before_its_stops_trigger_is_judged_as_the_audit_judges_it(tmp_path: Path) -> None:
    """Sweep 2 reads the stop still open, then the position flat (the stop fired between the two reads); sweep 3
    reads the stop's fill: the trade closes on it, and the stop's FILLED report (the witness's cue) comes after."""
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    venue = Venue([([stop(SnapshotStatus.OPEN)], [short_row()]), ([stop(SnapshotStatus.OPEN)], []),
                   ([stop(SnapshotStatus.FILLED)], [])])
    title = exit_title(asyncio.run(polled(url, venue, sweeps=3)))
    row = audited(url)
    assert (row["breach"], row["gap_explained"], row["price_after_trigger"]) == (True, True, "675")
    assert title.startswith("BREACH (gap) Exit BNBUSDT short (stop_loss)"), title


def test_a_stop_heard_firing_before_the_close_is_still_judged_at_once(tmp_path: Path) -> None:
    """The usual order: one sweep reads the stop filled, then the position flat."""
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    venue = Venue([([stop(SnapshotStatus.OPEN)], [short_row()]), ([stop(SnapshotStatus.FILLED)], [])])
    title = exit_title(asyncio.run(polled(url, venue, sweeps=2)))
    assert audited(url)["gap_explained"] is True
    assert title.startswith("BREACH (gap) Exit BNBUSDT short (stop_loss)"), title
