"""One conformance suite for every `Exchange` adapter: what the bot relies on, proven per venue.

The scenarios are the protected-trade round trip: a market entry, a closePosition STOP_MARKET and
TAKE_PROFIT_MARKET on the Algo Order API that show up as conditional open orders, queries by client
id, cancels, Binance's rejection codes, Decimal money, and an event stream that sees fills.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from exchange_venues import CcxtVenue, InProcessVenue

from quantum_trader.domain.enums import MarginType, OrderType, Side, TimeInForce, WorkingType
from quantum_trader.domain.errors import OrderRejected
from quantum_trader.domain.exchange_types import (
    BalanceUpdate,
    ExchangeEvent,
    FillUpdate,
    OrderIntent,
    OrderSnapshot,
    OrderUpdate,
    PositionUpdate,
    SnapshotStatus,
)
from quantum_trader.exchange.ids import client_id_for
from quantum_trader.exchange.port import Exchange

Venue = InProcessVenue | CcxtVenue
SYMBOL = "BNBUSDT"  # starts at 600 in the harness


def market(trade: str, side: Side = Side.BUY, qty: str = "1") -> OrderIntent:
    return OrderIntent(client_id=client_id_for(trade, "entry"), symbol=SYMBOL, side=side, type=OrderType.MARKET,
                       quantity=Decimal(qty))


def protection(trade: str, kind: OrderType, trigger: str, side: Side = Side.SELL) -> OrderIntent:
    purpose = "sl" if kind is OrderType.STOP_MARKET else "tp"
    return OrderIntent(client_id=client_id_for(trade, purpose), symbol=SYMBOL, side=side, type=kind,
                       trigger_price=Decimal(trigger), close_position=True, working_type=WorkingType.MARK_PRICE)


def test_market_entry_fills_and_opens_a_position(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        entry = await ex.place(market("T1"))
        assert (entry.status, entry.filled, entry.conditional) == (SnapshotStatus.FILLED, Decimal(1), False)
        assert isinstance(entry.avg_price, Decimal) and entry.avg_price > 0
        [position] = await ex.positions()
        assert (position.symbol, position.amount) == (SYMBOL, Decimal(1))
        assert isinstance(position.entry, Decimal) and position.entry == entry.avg_price
        assert position.mark == Decimal(600)

    venue.run(body)


def test_protection_orders_are_conditional_and_listed(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        await ex.place(market("T2"))
        stop = await ex.place(protection("T2", OrderType.STOP_MARKET, "570"))
        take = await ex.place(protection("T2", OrderType.TAKE_PROFIT_MARKET, "650"))
        for snap, trigger in ((stop, "570"), (take, "650")):
            assert (snap.status, snap.conditional, snap.close_position) == (SnapshotStatus.OPEN, True, True)
            assert snap.trigger_price == Decimal(trigger) and snap.working_type is WorkingType.MARK_PRICE
        listed = {o.client_id: o for o in await ex.open_orders(SYMBOL)}
        assert set(listed) == {stop.client_id, take.client_id}
        assert all(o.conditional for o in listed.values())
        assert {o.client_id for o in await ex.open_orders()} == set(listed)

    venue.run(body)


def test_query_by_client_id_finds_classic_and_conditional_orders(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        entry = await ex.place(market("T3"))
        stop = await ex.place(protection("T3", OrderType.STOP_MARKET, "570"))
        found_entry = await ex.query(SYMBOL, entry.client_id)
        found_stop = await ex.query(SYMBOL, stop.client_id)
        assert found_entry is not None and found_stop is not None
        assert (found_entry.venue_id, found_entry.conditional, found_entry.status) == (
            entry.venue_id, False, SnapshotStatus.FILLED)
        assert (found_stop.venue_id, found_stop.conditional, found_stop.status) == (
            stop.venue_id, True, SnapshotStatus.OPEN)
        assert await ex.query(SYMBOL, client_id_for("never", "sl")) is None

    venue.run(body)


def test_cancel_removes_a_conditional_order(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        await ex.place(market("T4"))
        stop = await ex.place(protection("T4", OrderType.STOP_MARKET, "570"))
        cancelled = await ex.cancel(SYMBOL, stop.client_id)
        assert (cancelled.venue_id, cancelled.status) == (stop.venue_id, SnapshotStatus.CANCELED)
        assert await ex.open_orders(SYMBOL) == []
        after = await ex.query(SYMBOL, stop.client_id)
        assert after is not None and after.status is SnapshotStatus.CANCELED
        with pytest.raises(OrderRejected) as info:
            await ex.cancel(SYMBOL, stop.client_id)
        assert info.value.code in (-2011, -2013)

    venue.run(body)


def test_cancel_of_a_resting_limit_order(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        limit = OrderIntent(client_id=client_id_for("T5", "entry"), symbol=SYMBOL, side=Side.BUY,
                            type=OrderType.LIMIT, quantity=Decimal(1), price=Decimal(590),
                            time_in_force=TimeInForce.GTC)
        placed = await ex.place(limit)
        assert (placed.status, placed.conditional, placed.price) == (SnapshotStatus.OPEN, False, Decimal(590))
        assert [o.client_id for o in await ex.open_orders(SYMBOL)] == [limit.client_id]
        cancelled = await ex.cancel(SYMBOL, limit.client_id)
        assert cancelled.status is SnapshotStatus.CANCELED

    venue.run(body)


def test_a_stop_that_would_trigger_at_once_is_rejected_with_its_code(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        await ex.place(market("T6"))
        with pytest.raises(OrderRejected) as info:
            await ex.place(protection("T6", OrderType.STOP_MARKET, "610"))  # a long's stop above mark
        assert info.value.code == -2021
        assert await ex.open_orders(SYMBOL) == []

    venue.run(body)


def test_an_invalid_quantity_is_rejected_with_its_code(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        with pytest.raises(OrderRejected) as info:
            await ex.place(market("T7", qty="0.0000001"))
        assert info.value.code == -1111
        assert await ex.positions() == []

    venue.run(body)


def test_account_and_prices_are_decimal(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        account = await ex.account()
        assert (account.wallet, account.equity, account.available) == (Decimal(10000),) * 3
        marks = await ex.mark_prices([SYMBOL, "ETHUSDT"])
        assert marks == {SYMBOL: Decimal(600), "ETHUSDT": Decimal(2500)}
        instruments = await ex.instruments()
        assert instruments[SYMBOL].tick_size == Decimal("0.01")

    venue.run(body)


def test_leverage_and_margin_type(venue: Venue) -> None:
    async def body(ex: Exchange) -> None:
        assert await ex.set_leverage(SYMBOL, 7) == 7
        await ex.set_margin_type(SYMBOL, MarginType.ISOLATED)
        await ex.set_margin_type(SYMBOL, MarginType.ISOLATED)  # already set: not an error
        await ex.place(market("T8"))
        [position] = await ex.positions()
        assert (position.leverage, position.margin_type) == (7, MarginType.ISOLATED)
        assert position.liquidation_price is not None and position.liquidation_price < Decimal(600)

    venue.run(body)


async def _collect_until(ex: Exchange, done: asyncio.Event, seen: list[ExchangeEvent]) -> None:
    async for event in ex.events():
        seen.append(event)
        if done.is_set():
            return


def test_event_stream_sees_the_entry_and_the_stop_fill(venue: Venue) -> None:
    async def body(ex: Exchange) -> list[ExchangeEvent]:
        seen: list[ExchangeEvent] = []
        done = asyncio.Event()
        task = asyncio.create_task(_collect_until(ex, done, seen))
        await asyncio.sleep(0.1)
        entry = await ex.place(market("T9"))
        stop = await ex.place(protection("T9", OrderType.STOP_MARKET, "570"))
        await _wait_for(seen, lambda e: _order(e, entry.client_id, SnapshotStatus.FILLED))
        await asyncio.to_thread(venue.move, {SYMBOL: "550"})
        await _wait_for(seen, lambda e: _order(e, stop.client_id, SnapshotStatus.FILLED)
                        or _order(e, stop.client_id, SnapshotStatus.TRIGGERED))
        await _wait_for(seen, lambda e: isinstance(e, PositionUpdate) and e.snapshot.amount == 0)
        done.set()
        await ex.close()
        await asyncio.wait_for(task, 5)
        return seen

    seen = venue.run(body)
    assert any(isinstance(e, PositionUpdate) and e.snapshot.amount == 1 for e in seen)


def test_account_trades_name_the_orders_that_opened_and_closed_a_position(venue: Venue) -> None:
    """What a restart reads to learn how a trade closed while the bot was away (trading/away_exits.py)."""
    async def body(ex: Exchange) -> tuple[list[FillUpdate], list[FillUpdate]]:
        before = await ex.account_trades(SYMBOL, 0)
        entry = await ex.place(market("T10"))
        await ex.place(protection("T10", OrderType.STOP_MARKET, "570"))
        await asyncio.to_thread(venue.move, {SYMBOL: "550"})
        for _ in range(100):
            if not await ex.positions(SYMBOL):
                break
            await asyncio.sleep(0.02)
        return before, await ex.account_trades(SYMBOL, entry.update_time - 1)

    before, fills = venue.run(body)
    assert before == []
    assert [(f.client_id, f.side, f.quantity) for f in fills] == [
        (client_id_for("T10", "entry"), Side.BUY, Decimal(1)), (client_id_for("T10", "sl"), Side.SELL, Decimal(1))]
    entry_fill, stop_fill = fills
    assert stop_fill.time_ms >= entry_fill.time_ms and stop_fill.price <= Decimal(570)
    assert stop_fill.fee is not None and stop_fill.fee > 0 and stop_fill.realized_pnl < 0
    assert all(isinstance(f.price, Decimal) for f in fills)


def test_transfers_list_money_moved_in_and_out_of_the_wallet_from_a_time_on(venue: Venue) -> None:
    """What a restart reads so a transfer made while the bot was stopped is no loss for the daily loss limit
    (runtime/startup.py `count_transfers_while_away`): Binance's income history, its transfer kinds."""
    async def body(ex: Exchange) -> tuple[list[BalanceUpdate], ...]:
        before = await ex.income(0)
        await asyncio.to_thread(venue.transfer, "-250.5")
        await asyncio.to_thread(venue.transfer, "100")
        moves = await ex.income(0)
        return before, moves, await ex.income(moves[-1].time_ms + 1), await ex.income(0, "FUNDING_FEE")

    before, moves, later, funding = venue.run(body)
    assert before == [] and later == [] and funding == []
    assert [(m.change, m.reason, m.symbol) for m in moves] == [(Decimal("-250.5"), "TRANSFER", None),
                                                               (Decimal(100), "TRANSFER", None)]
    assert moves[0].time_ms <= moves[1].time_ms


def test_funding_paid_is_listed_under_its_symbol_with_the_transfers(venue: Venue) -> None:
    """What a restart reads so an open trade keeps the funding it paid while the bot was stopped (trading/
    away_funding.py): Binance's income history lists each payment as FUNDING_FEE, signed, with its symbol, at the
    funding time; the fills' own rows (realised P&L, fees) are not wallet changes the stream tells apart."""
    async def body(ex: Exchange) -> tuple[list[BalanceUpdate], ...]:
        await ex.place(market("T11"))  # long 1 BNB at 600: pays 0.01 % of 600 at each funding
        await asyncio.to_thread(venue.transfer, "-10")
        await asyncio.to_thread(venue.advance, 16 * 3600)  # two funding times at least
        everything = await ex.income(0)
        funding = await ex.income(0, "FUNDING_FEE")
        return everything, funding, await ex.income(funding[-1].time_ms + 1, "FUNDING_FEE")

    everything, funding, later = venue.run(body)
    assert later == [] and len(funding) == 2
    assert [(f.change, f.reason, f.symbol) for f in funding] == [(Decimal("-0.06"), "FUNDING_FEE", SYMBOL)] * 2
    assert all(f.time_ms % (8 * 3_600_000) == 0 for f in funding)  # at 00:00, 08:00, 16:00 UTC
    assert funding[1].time_ms - funding[0].time_ms == 8 * 3_600_000
    assert [u for u in everything if u.reason == "FUNDING_FEE"] == funding
    assert [(u.change, u.reason) for u in everything if u.is_transfer] == [(Decimal(-10), "TRANSFER")]
    assert len(everything) == 3


def test_hedge_mode_tells_the_accounts_position_mode(venue: Venue) -> None:
    """What start-up reads to refuse an account in Hedge Mode (runtime/startup.py `refuse_hedge_mode`): the bot's
    orders are One-way Mode's, which Binance refuses there."""
    async def body(ex: Exchange) -> tuple[bool, bool, bool]:
        one_way = await ex.hedge_mode()
        await asyncio.to_thread(venue.position_mode, True)
        hedge = await ex.hedge_mode()
        await asyncio.to_thread(venue.position_mode, False)
        return one_way, hedge, await ex.hedge_mode()

    assert venue.run(body) == (False, True, False)


def _order(event: ExchangeEvent, client_id: str, status: SnapshotStatus) -> bool:
    return isinstance(event, OrderUpdate) and event.snapshot.client_id == client_id and event.snapshot.status is status


async def _wait_for(seen: list[ExchangeEvent], predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(predicate(e) for e in seen):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no matching event within {timeout}s; saw {[_describe(e) for e in seen]}")
        await asyncio.sleep(0.02)


def _describe(event: ExchangeEvent) -> str:
    if isinstance(event, OrderUpdate):
        snap: OrderSnapshot = event.snapshot
        return f"order {snap.client_id} {snap.status} ({event.reason})"
    return f"position {event.snapshot.symbol} {event.snapshot.amount} ({event.reason})"
