"""Which fills are a trade's exit: only those after its own entry, up to its quantity."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from quantum_trader.domain.enums import ExitReason, Side
from quantum_trader.domain.events import Direction, TradeOpened
from quantum_trader.domain.exchange_types import FillUpdate
from quantum_trader.trading.away_exits import from_fills, on_bot_clock
from quantum_trader.trading.trades import OpenTrade

T = 1_800_000_000_000


def opened(trade_id: str, time_ms: int = T) -> TradeOpened:
    return TradeOpened(trade_id=trade_id, symbol="BNBUSDT", direction=Direction.SHORT, quantity=D("2"),
                       entry_price=D("900"), planned_stop=D("918"), planned_take_profit=D("864"),
                       planned_loss=D("36"), leverage=5, equity=D("10000"), time_ms=time_ms)


def fill(n: int, client_id: str, side: Side, qty: str, price: str, *, fee: str | None = "0.1",
         pnl: str = "0") -> FillUpdate:
    return FillUpdate(fill_id=f"BNBUSDT:{n}", symbol="BNBUSDT", client_id=client_id, side=side, quantity=D(qty),
                      price=D(price), fee=None if fee is None else D(fee), realized_pnl=D(pnl), maker=False,
                      time_ms=T + n)


def test_a_trade_opened_in_the_second_another_closed_does_not_take_its_exit() -> None:
    fills = [fill(1, "qt-BNBUSDT_1_1-entry-0", Side.SELL, "2", "900"),
             fill(2, "qt-BNBUSDT_1_k2-kill-0", Side.BUY, "2", "901", pnl="-2"),  # closes trade 1
             fill(3, "qt-BNBUSDT_1_3-entry-0", Side.SELL, "2", "901"),
             fill(4, "qt-BNBUSDT_1_3-sl-0", Side.BUY, "1.5", "919", pnl="-27"),
             fill(5, "qt-BNBUSDT_1_3-sl-0", Side.BUY, "0.5", "920", pnl="-9.5")]
    found = from_fills(opened("BNBUSDT_1_3", T), fills)
    assert found is not None
    assert (found.reason, found.price, found.time_ms) == (ExitReason.STOP_LOSS, D("919.25"), T + 5)
    assert (found.fees, found.realized_pnl) == (D("0.3"), D("-36.5"))  # entry + two exit fills; the venue's P&L
    first = from_fills(opened("BNBUSDT_1_1", T), fills)
    assert first is not None and (first.reason, first.price) == (ExitReason.KILL_SWITCH, D("901"))


def test_fills_without_an_order_id_give_real_figures_but_an_unknown_reason() -> None:
    found = from_fills(opened("BNBUSDT_1_1", T), [fill(7, "", Side.BUY, "2", "905", fee=None)])
    assert found is not None
    assert (found.reason, found.price, found.fees) == (ExitReason.UNKNOWN, D("905"), D(0))
    assert "did not name" in found.note and "fees not reported" in found.note


def test_no_exit_fill_after_the_entry_is_no_exit() -> None:
    fills = [fill(1, "qt-BNBUSDT_1_1-entry-0", Side.SELL, "2", "900"),
             fill(2, "somebody", Side.BUY, "2", "890", fee="0.1")]
    assert from_fills(opened("BNBUSDT_1_1", T + 10), fills[1:]) is None  # before the trade: someone else's
    found = from_fills(opened("BNBUSDT_1_1", T), fills)
    assert found is not None and found.reason is ExitReason.MANUAL  # after it, by a hand-placed order


def test_an_exit_time_off_the_bots_clock_keeps_its_distance_from_the_entry() -> None:
    """The exchange's clock may be its own (a replay of a past month): an exit stamped outside the trade's life on
    the bot's clock is placed at its distance from the entry fill, between the opening and now."""
    entry, stop = fill(1, "qt-BNBUSDT_1_1-entry-0", Side.SELL, "2", "900"), fill(90, "x", Side.BUY, "2", "918")
    ahead = 300 * 86_400_000
    trade = OpenTrade.restored(opened("BNBUSDT_1_1", T + ahead), [])
    found = from_fills(trade.opened, [entry, stop], T)
    assert found is not None and found.time_ms == T + 90  # the exchange's own time
    assert on_bot_clock(trade, found, T + ahead + 600_000) == T + ahead + 89  # 89 ms after the entry, on the bot's
    assert on_bot_clock(trade, found, T + ahead + 50) == T + ahead + 50  # never after now
    same = OpenTrade.restored(opened("BNBUSDT_1_1", T + 60), [])  # one clock: a fill stamped before the opening
    assert on_bot_clock(same, dataclasses.replace(found, time_ms=T + 70), T + 600) == T + 70  # taken as it is
