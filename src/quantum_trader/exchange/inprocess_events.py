"""The port's events straight from the simulator's stream events: the in-process adapter's fast path.

The wire path (the event's Binance dict, `sim/events.py` `wire()`, parsed by `wire.user_events`, as the ccxt
adapter parses the simulator server's stream) stays the definition: every function here returns exactly what
that parse returns, Decimal representation included (`inprocess_snapshots.wire_decimal`), and
tests/sim/test_inprocess_events.py drives a real simulator through fills, cancels, expiries, triggers,
funding and liquidations to prove it. What is skipped is the detour: a dict of thirty fields per event, each
number written as text and read back (about 13 events a trade).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ..domain.exchange_types import (
    FUNDING_FEE,
    BalanceUpdate,
    ExchangeEvent,
    FillUpdate,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    PositionUpdate,
    WalletUpdate,
)
from ..domain.money import ZERO
from ..sim.events import AccountUpdate, AlgoUpdate, OrderTradeUpdate, PositionRow, SimEvent
from .inprocess_snapshots import wire_decimal, wire_price
from .wire import ALGO_STATUS, CLASSIC_STATUS, FILL_EXECUTIONS

#: What the adapter knows of a position beyond an ACCOUNT_UPDATE row (mark, leverage, liquidation price).
PositionAt = Callable[[PositionRow], PositionSnapshot]


def port_events(event: SimEvent, position_at: PositionAt) -> list[ExchangeEvent]:
    """`wire.user_events(event.wire(), ...)`: a fill before its order update; an account update's balance change
    and wallet before its positions (none for a funding fee); nothing for a simulator-only event."""
    if isinstance(event, OrderTradeUpdate):
        update = OrderUpdate(_order(event), event.execution._value_)
        fill = _fill(event)
        return [update] if fill is None else [fill, update]
    if isinstance(event, AlgoUpdate):
        return [OrderUpdate(_algo(event), event.status._value_)]
    if isinstance(event, AccountUpdate):
        return _account(event, position_at)
    return []


def _order(event: OrderTradeUpdate) -> OrderSnapshot:
    """wire.order_from_stream of the event's `o` body."""
    return OrderSnapshot(
        client_id=event.client_id, venue_id=str(event.order_id), symbol=event.symbol, side=event.side,
        type=event.orig_type, status=CLASSIC_STATUS[event.status], conditional=False,
        quantity=wire_decimal(event.quantity, "origQty"), filled=wire_decimal(event.executed, "executedQty"),
        avg_price=wire_decimal(event.avg_price, "avgPrice"), trigger_price=wire_price(event.stop_price, "stopPrice"),
        price=wire_price(event.price, "price"), reduce_only=event.reduce_only, close_position=event.close_position,
        working_type=event.working_type, update_time=event.now,
    )


def _fill(event: OrderTradeUpdate) -> FillUpdate | None:
    """wire.fill_from_stream: a trade's fill, or a liquidation's (`CALCULATED` with a quantity)."""
    execution, fill = event.execution._value_, event.fill
    quantity = wire_decimal(fill.qty, "l") if fill is not None else ZERO
    if execution not in FILL_EXECUTIONS or (execution == "CALCULATED" and quantity == 0):
        return None
    realized = event.realized
    return FillUpdate(
        fill_id=f"{event.symbol}:{fill.trade_id if fill is not None else 0}", symbol=event.symbol,
        client_id=event.client_id, side=event.side, quantity=quantity,
        price=wire_decimal(fill.price, "L") if fill is not None else ZERO,
        fee=wire_decimal(fill.commission, "n") if fill is not None else None,
        realized_pnl=wire_decimal(realized if realized is not None else ZERO, "rp"),
        maker=bool(fill is not None and fill.maker), time_ms=event.now,
    )


def _algo(event: AlgoUpdate) -> OrderSnapshot:
    """wire.algo_from_stream of the event's `o` body (`aq`/`ap`: the spawned order's fill)."""
    actual = event.actual_order_id
    return OrderSnapshot(
        client_id=event.client_id, venue_id=str(event.algo_id), symbol=event.symbol, side=event.side,
        type=event.type, status=ALGO_STATUS[event.status], conditional=True,
        quantity=wire_decimal(event.quantity, "quantity"),
        filled=wire_decimal(event.executed, "aq") if event.executed is not None else ZERO,
        avg_price=wire_decimal(event.avg_price, "actualPrice") if event.avg_price is not None else ZERO,
        trigger_price=wire_price(event.trigger_price, "triggerPrice"), price=wire_price(event.price, "price"),
        reduce_only=event.reduce_only, close_position=event.close_position, working_type=event.working_type,
        update_time=event.now, triggered_order_id=str(actual) if actual is not None else None,
    )


def _account(event: AccountUpdate, position_at: PositionAt) -> list[ExchangeEvent]:
    """wire.user_events of an ACCOUNT_UPDATE: balance_from_account_update, wallet_from_account_update, then
    each position row's PositionUpdate (but for a funding fee, which moves margin, not the position)."""
    reason, at = event.reason, event.now
    found: list[ExchangeEvent] = []
    if reason != "ORDER":
        change = ZERO + wire_decimal(event.balance_change, "bc")  # the wire's sum over its one USDT row
        if change != 0:
            rows = event.rows
            symbol = event.account_symbol or (rows[0].symbol if len(rows) == 1 else None)
            found.append(BalanceUpdate(change=change, reason=reason, symbol=symbol or None, time_ms=at))
    found.append(WalletUpdate(wallet=wire_decimal(event.wallet, "wb"), time_ms=at,
                              cross_wallet=wire_decimal(event.cross_wallet, "cw")))
    if reason == FUNDING_FEE:
        return found
    found.extend(PositionUpdate(position_at(row), reason) for row in event.rows)
    return found


def position_from_row(row: PositionRow, *, mark: Decimal, leverage: int,
                      liquidation: Decimal | None) -> PositionSnapshot:
    """wire.position_from_stream of the row's wire form, with what the adapter knows beside it."""
    liq = liquidation if liquidation is not None else ZERO
    return PositionSnapshot(
        symbol=row.symbol, amount=wire_decimal(row.amount, "positionAmt"),
        entry=wire_decimal(row.entry_price, "entryPrice"), mark=mark,
        unrealized=wire_decimal(row.unrealized, "unRealizedProfit"), leverage=int(leverage),
        margin_type=row.margin_type, liquidation_price=liq if liq > 0 else None,
    )
