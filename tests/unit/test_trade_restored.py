"""A trade adopted after a restart keeps what it paid before it: the fills and funding the journal holds for it.

`OpenTrade.restored` picks the trade's fills among the symbol's journaled ones as the tracker counted them (its
own orders', and from its entry on the fills of orders that carry no trade id: a stop's, a liquidation's, a
hand-placed one's); a fill heard again after the restart counts once. `fees_of` merges the exchange's record of
an exit looked up on the exchange with the fills the bot heard, each fill once.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from test_trade_tracker import SYM, Harness, entry_fill, fill, opened, position

from quantum_trader.domain.enums import ExitReason, Side
from quantum_trader.domain.events import FUNDING, FillEvent, ProtectionAction
from quantum_trader.domain.exchange_types import BalanceUpdate, FillUpdate
from quantum_trader.trading.away_exits import FoundExit
from quantum_trader.trading.reconcile import closed_as_found, fees_of
from quantum_trader.trading.trades import OpenTrade, own_fills

D = Decimal


def journaled() -> list[FillEvent]:
    """The symbol's journaled fills around the trade, in the order heard."""
    return [fill("p1", "qt-BTCUSDT_99-sl-0", Side.SELL, "0.010", "49900", fee="9"),  # the trade before's exit
            entry_fill(),
            fill("h1", "android_abc", Side.SELL, "0.004", "50500", fee="0.08"),  # a hand-placed partial close
            fill("o1", "qt-BTCUSDT_98-em-0", Side.SELL, "0.001", "50400", fee="7")]  # another trade's: never


def test_the_trades_own_fills_and_the_untagged_ones_after_its_entry_are_restored() -> None:
    assert [f.fill_id for f in own_fills(opened(), journaled())] == ["e1", "h1"]
    trade = OpenTrade.restored(opened(), journaled(), funding=[(1, D("-0.3"))])
    assert (trade.fees, trade.funding, trade.exit_qty, trade.last_exit_client) == (
        D("0.33"), D("-0.3"), D("0.004"), "android_abc")


def test_without_its_own_fills_a_trade_takes_the_fills_from_its_opening_on() -> None:
    before = dataclasses.replace(fill("a0", "android_abc", Side.SELL, "0.004", "50500"), time_ms=50_000)
    after = fill("a1", "android_abc", Side.SELL, "0.004", "50500")
    assert [f.fill_id for f in own_fills(opened(), [before, after])] == ["a1"]


def test_an_adopted_trade_closes_with_its_fees_and_funding_from_before_the_restart_each_fill_once() -> None:
    h = Harness()
    h.tracker.adopt(OpenTrade.restored(opened(), journaled(), funding=[(1, D("-0.3"))]))
    h.send(entry_fill(),  # heard again after the restart (a catch-up): counted once
           fill("x1", "qt-BTCUSDT_100-kill-0", Side.SELL, "0.006", "50000", fee="0.15"), position("0"))
    [closed] = h.closed
    assert (closed.fees, closed.funding, closed.exit_reason) == (D("0.48"), D("-0.3"), ExitReason.KILL_SWITCH)
    assert closed.exit_price == D("50200")  # the hand-placed part before the restart and the kill switch's after


def test_funding_is_published_under_the_trade_for_the_journal() -> None:
    h = Harness()
    actions: list[ProtectionAction] = []
    h.bus.subscribe(ProtectionAction, actions.append)
    h.send(opened(), entry_fill(), BalanceUpdate(change=D("-0.12"), reason="FUNDING_FEE", symbol=SYM, time_ms=7),
           BalanceUpdate(change=D("-3"), reason="FUNDING_FEE", symbol="ETHUSDT", time_ms=8))
    assert [(a.action, a.symbol, a.trade_id, a.price, a.time_ms) for a in actions] == [
        (FUNDING, SYM, "BTCUSDT_100", D("-0.12"), 7)]  # a position the bot does not trade: not a trade's


def _venue(fill_id: str, client_id: str, side: Side, fee: str | None) -> FillUpdate:
    return FillUpdate(fill_id=fill_id, symbol=SYM, client_id=client_id, side=side, quantity=D("0.010"),
                      price=D("49000"), fee=None if fee is None else D(fee), realized_pnl=D("-10"), maker=False,
                      time_ms=250_000)


def _found(*fills: FillUpdate) -> FoundExit:
    return FoundExit(ExitReason.STOP_LOSS, D("49000"), 250_000, D(0), D("-10"), "test", fills)


def test_an_exit_found_on_the_exchange_keeps_the_entry_fee_its_list_lacks() -> None:
    trade = OpenTrade.restored(opened(), [entry_fill()])
    stop = _venue("BTCUSDT:9", "qt-BTCUSDT_100-sl-0", Side.SELL, "0.2")
    assert fees_of(trade, _found(stop)) == D("0.45")  # the venue listed the stop's fill only (entry too long ago)
    listed_entry = _venue("e1", "qt-BTCUSDT_100-entry-0", Side.BUY, None)  # listed, its fee not reported
    assert fees_of(trade, _found(listed_entry, stop)) == D("0.45")  # the fee the bot heard for it, once
    polled = _venue("BTCUSDT:1", "qt-BTCUSDT_100-entry-0", Side.BUY, "0.24")  # the same order under the venue's id
    assert fees_of(trade, _found(polled, stop)) == D("0.44")  # the venue's own figure, not both
    closed = closed_as_found(trade, _found(stop), 300_000)
    assert (closed.fees, closed.funding, closed.exit_price) == (D("0.45"), D(0), D("49000"))
