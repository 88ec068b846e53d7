"""TradeTracker: entry → exit fills + flat position → one TradeClosed with price, reason, fees and funding."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.enums import ExitReason, MarginType, Side
from quantum_trader.domain.events import Direction, FillEvent, PositionChanged, TradeClosed, TradeOpened
from quantum_trader.domain.exchange_types import BalanceUpdate, PositionSnapshot
from quantum_trader.trading.trades import TradeTracker, exit_reason_for

D = Decimal
SYM = "BTCUSDT"


def opened(direction: Direction = Direction.LONG, qty: str = "0.010", entry: str = "50000") -> TradeOpened:
    return TradeOpened(trade_id="BTCUSDT_100", symbol=SYM, direction=direction, quantity=D(qty),
                       entry_price=D(entry), planned_stop=D("49000"), planned_take_profit=D("52000"),
                       planned_loss=D("10.74"), leverage=5, equity=D("1000"), time_ms=100_000)


def fill(fill_id: str, client_id: str, side: Side, qty: str, price: str, fee: str = "0.1",
         symbol: str = SYM) -> FillEvent:
    return FillEvent(fill_id=fill_id, symbol=symbol, client_id=client_id, side=side, quantity=D(qty),
                     price=D(price), fee=D(fee), realized_pnl=D(0), time_ms=200_000)


def position(amount: str, mark: str = "49500", time_ms: int = 300_000) -> PositionChanged:
    snap = PositionSnapshot(symbol=SYM, amount=D(amount), entry=D("50000"), mark=D(mark), unrealized=D(0),
                            leverage=5, margin_type=MarginType.ISOLATED, liquidation_price=None)
    return PositionChanged(snapshot=snap, reason="test", time_ms=time_ms)


def entry_fill(qty: str = "0.010", side: Side = Side.BUY) -> FillEvent:
    return fill("e1", "qt-BTCUSDT_100-entry-0", side, qty, "50000", fee="0.25")


class Harness:
    def __init__(self) -> None:
        self.bus = EventBus()
        self.tracker = TradeTracker(self.bus)
        self.tracker.attach()
        self.closed: list[TradeClosed] = []
        self.bus.subscribe(TradeClosed, self.closed.append)

    def send(self, *events: object) -> None:
        async def main() -> None:
            for event in events:
                await self.bus.publish(event)

        asyncio.run(main())


@pytest.mark.parametrize(("client_id", "reason"), [
    ("qt-X_1-sl-0", ExitReason.STOP_LOSS),
    ("qt-X_1-tp-2", ExitReason.TAKE_PROFIT),
    ("qt-X_1-em-0", ExitReason.EMERGENCY),
    ("qt-X_1-kill-0", ExitReason.KILL_SWITCH),
    ("autoclose-1700000000", ExitReason.LIQUIDATION),
    ("web_abc123", ExitReason.MANUAL),
    ("qt-X_1-entry-0", ExitReason.MANUAL),
    (None, ExitReason.MANUAL),
])
def test_exit_reason_from_client_id(client_id: str | None, reason: ExitReason) -> None:
    assert exit_reason_for(client_id) is reason


def test_stop_fill_then_flat_closes_the_trade() -> None:
    h = Harness()
    h.send(opened(), entry_fill(), fill("x1", "qt-BTCUSDT_100-sl-0", Side.SELL, "0.010", "49000"))
    assert h.closed == []  # not flat yet
    h.send(position("0"))
    assert len(h.closed) == 1
    closed = h.closed[0]
    assert closed.exit_reason is ExitReason.STOP_LOSS
    assert closed.exit_price == D("49000")
    assert closed.realized_pnl == D("-10.000")
    assert closed.fees == D("0.35")
    assert (closed.trade_id, closed.opened_ms, closed.time_ms) == ("BTCUSDT_100", 100_000, 300_000)
    assert closed.planned_stop == D("49000") and closed.equity_at_entry == D("1000")
    assert SYM not in h.tracker.open


def test_flat_before_the_exit_fill_binance_order() -> None:
    h = Harness()
    h.send(opened(Direction.SHORT), entry_fill(side=Side.SELL), position("0", mark="47000"))
    assert h.closed == []  # flat alone is not enough: the fill is still coming
    h.send(fill("x1", "qt-BTCUSDT_100-tp-0", Side.BUY, "0.010", "48000", fee="0.2"))
    assert len(h.closed) == 1
    closed = h.closed[0]
    assert closed.exit_reason is ExitReason.TAKE_PROFIT
    assert closed.exit_price == D("48000")  # the fill price, not the mark
    assert closed.realized_pnl == D("20.000")
    assert closed.fees == D("0.45")


def test_exit_price_is_the_average_of_partial_exit_fills() -> None:
    h = Harness()
    h.send(opened(), entry_fill(),
           fill("x1", "qt-BTCUSDT_100-em-0", Side.SELL, "0.004", "49000", fee="0"),
           fill("x2", "qt-BTCUSDT_100-em-0", Side.SELL, "0.006", "48000", fee="0"),
           position("0"))
    assert h.closed[0].exit_price == D("48400")
    assert h.closed[0].exit_reason is ExitReason.EMERGENCY


def test_a_duplicate_fill_id_is_counted_once() -> None:
    h = Harness()
    stop = fill("x1", "qt-BTCUSDT_100-sl-0", Side.SELL, "0.005", "49000", fee="0.1")
    h.send(opened(), entry_fill(), stop, stop, position("0"))
    assert h.closed == []  # only half the position exited: the repeat does not complete it
    h.send(fill("x2", "qt-BTCUSDT_100-sl-0", Side.SELL, "0.005", "49000", fee="0.1"))
    assert len(h.closed) == 1
    assert h.closed[0].fees == D("0.45")
    assert h.closed[0].exit_price == D("49000")


def test_liquidation_and_manual_reasons_on_close() -> None:
    for client_id, reason in (("autoclose-123", ExitReason.LIQUIDATION), ("android_xyz", ExitReason.MANUAL),
                              ("qt-BTCUSDT_100-kill-0", ExitReason.KILL_SWITCH)):
        h = Harness()
        h.send(opened(), entry_fill(), fill("x1", client_id, Side.SELL, "0.010", "40000"), position("0"))
        assert [c.exit_reason for c in h.closed] == [reason]


def test_funding_is_attributed_to_the_open_trade_of_its_symbol() -> None:
    h = Harness()
    h.send(opened(), entry_fill(),
           BalanceUpdate(change=D("-0.12"), reason="FUNDING_FEE", symbol=SYM, time_ms=1),
           BalanceUpdate(change=D("0.05"), reason="FUNDING_FEE", symbol=SYM, time_ms=2),
           BalanceUpdate(change=D("-3"), reason="FUNDING_FEE", symbol="ETHUSDT", time_ms=3),
           BalanceUpdate(change=D("-9"), reason="REALIZED_PNL", symbol=SYM, time_ms=4),
           fill("x1", "qt-BTCUSDT_100-tp-0", Side.SELL, "0.010", "52000"), position("0"))
    assert h.closed[0].funding == D("-0.07")
    assert h.tracker.funding_total == D("-3.07")


def test_non_zero_position_change_does_not_close() -> None:
    h = Harness()
    h.send(opened(), entry_fill(), position("0.010"), fill("x1", "qt-BTCUSDT_100-sl-0", Side.SELL, "0.004", "49000"),
           position("0.006"))
    assert h.closed == []
    assert SYM in h.tracker.open


def test_fills_before_trade_opened_are_applied_when_it_opens() -> None:
    h = Harness()
    h.send(entry_fill(), opened(), fill("x1", "qt-BTCUSDT_100-sl-0", Side.SELL, "0.010", "49000"), position("0"))
    assert len(h.closed) == 1
    assert h.closed[0].fees == D("0.35")  # the early entry fill's fee counts


def test_flat_whose_fills_never_come_closes_at_mark_on_next_entry() -> None:
    h = Harness()
    h.send(opened(), entry_fill(), position("0", mark="49500"))
    assert h.closed == []
    h.send(fill("e2", "qt-BTCUSDT_200-entry-0", Side.BUY, "0.020", "49600"))  # a new trade's entry
    assert len(h.closed) == 1
    assert h.closed[0].exit_price == D("49500")
    assert h.closed[0].exit_reason is ExitReason.MANUAL


def test_position_for_an_untracked_symbol_is_ignored() -> None:
    h = Harness()
    h.send(position("0"))
    assert h.closed == [] and h.tracker.closed == 0
