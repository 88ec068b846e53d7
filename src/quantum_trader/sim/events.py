"""User-data-stream events in Binance's exact shapes (shared/binance_futures.md §7).

Each event keeps the values it reports as they were when it was emitted (orders and positions change
afterwards) and renders Binance's dict from them with `wire()`. The event log is those dicts in order
(`SimState.events`, kept with `retain_history`); rendering them with sorted keys gives the byte-identical
log that determinism is judged by, and the same dicts feed the simulator server's websocket stream.
Listeners (`SimState.event_sink`) get the events themselves: the in-process adapter reads the port's events
straight off them (exchange/inprocess_events.py, held equal to parsing `wire()`), so a backtest, which
keeps no log, never builds the dicts (0.08 s of building and 0.17 s of parsing back in the peers' run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..domain.enums import (
    AlgoStatus,
    ExecutionType,
    MarginType,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
)
from ..domain.fills import Fill
from ..domain.money import ZERO, fmt
from ..domain.orders import AlgoOrder, Order
from ..domain.position import Position

Event = dict[str, Any]  # an event's wire form
# Enum members are read through `_value_` (Enum's documented sunder attribute) rather than `.value`:
# `.value` is a descriptor call, and the two order events below read about a dozen per fill.


class OrderTradeUpdate:
    """ORDER_TRADE_UPDATE: a classic order's values at the event, the fill it reports (if any)."""

    __slots__ = (
        "avg_price",
        "client_id",
        "close_position",
        "executed",
        "execution",
        "fill",
        "good_till_date",
        "now",
        "order_id",
        "orig_type",
        "position_side",
        "price",
        "price_protect",
        "quantity",
        "realized",
        "reduce_only",
        "side",
        "status",
        "stop_price",
        "symbol",
        "time_in_force",
        "type",
        "working_type",
    )
    funding = False
    position_symbols: tuple[str, ...] = ()

    def __init__(self, order: Order, execution: ExecutionType, now: int, fill: Fill | None,
                 realized: Decimal | None) -> None:
        self.symbol: str = order.symbol
        self.client_id: str = order.client_order_id
        self.side: Side = order.side
        self.type: OrderType = order.type
        self.time_in_force: TimeInForce = order.time_in_force
        self.quantity: Decimal = order.orig_qty
        self.price: Decimal = order.price
        self.avg_price: Decimal = order.avg_price
        self.stop_price: Decimal = order.stop_price
        self.status: OrderStatus = order.status
        self.order_id: int = order.order_id
        self.executed: Decimal = order.executed_qty
        self.reduce_only: bool = order.reduce_only
        self.working_type: WorkingType = order.working_type
        self.orig_type: OrderType = order.orig_type
        self.position_side: PositionSide = order.position_side
        self.close_position: bool = order.close_position
        self.price_protect: bool = order.price_protect
        self.good_till_date: int = order.good_till_date
        self.execution, self.now, self.fill, self.realized = execution, now, fill, realized

    def wire(self) -> Event:
        fill, now = self.fill, self.now
        realized = self.realized
        body: dict[str, Any] = {
            "s": self.symbol, "c": self.client_id, "S": self.side._value_, "o": self.type._value_,
            "f": self.time_in_force._value_, "q": fmt(self.quantity), "p": fmt(self.price),
            "ap": fmt(self.avg_price), "sp": fmt(self.stop_price), "x": self.execution._value_,
            "X": self.status._value_, "i": self.order_id,
            "l": fmt(fill.qty) if fill else "0", "z": fmt(self.executed),
            "L": fmt(fill.price) if fill else "0", "T": now, "t": fill.trade_id if fill else 0,
            "b": "0", "a": "0", "m": bool(fill and fill.maker), "R": self.reduce_only,
            "wt": self.working_type._value_, "ot": self.orig_type._value_, "ps": self.position_side._value_,
            "cp": self.close_position, "rp": fmt(realized if realized is not None else ZERO),
            "pP": self.price_protect, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE",
            "gtd": self.good_till_date,
        }
        if fill is not None:
            body["N"] = fill.commission_asset
            body["n"] = fmt(fill.commission)
        return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": body}


class AlgoUpdate:
    """ALGO_UPDATE: an algo order's values at the event (`avg_price`/`executed`: its spawned order's fill)."""

    __slots__ = (
        "actual_order_id",
        "actual_type",
        "algo_id",
        "avg_price",
        "client_id",
        "close_position",
        "executed",
        "good_till_date",
        "now",
        "position_side",
        "price",
        "price_protect",
        "quantity",
        "reduce_only",
        "reject_reason",
        "side",
        "status",
        "symbol",
        "time_in_force",
        "trigger_price",
        "trigger_time",
        "type",
        "working_type",
    )
    funding = False
    position_symbols: tuple[str, ...] = ()

    def __init__(self, algo: AlgoOrder, now: int, avg_price: Decimal | None, executed: Decimal | None,
                 actual_type: str) -> None:
        self.client_id: str = algo.client_algo_id
        self.algo_id: int = algo.algo_id
        self.type: OrderType = algo.order_type
        self.symbol: str = algo.symbol
        self.side: Side = algo.side
        self.position_side: PositionSide = algo.position_side
        self.time_in_force: TimeInForce = algo.time_in_force
        self.quantity: Decimal = algo.quantity
        self.status: AlgoStatus = algo.status
        self.actual_order_id: int | None = algo.actual_order_id
        self.avg_price, self.executed, self.actual_type = avg_price, executed, actual_type
        self.trigger_price: Decimal = algo.trigger_price
        self.price: Decimal = algo.price
        self.working_type: WorkingType = algo.working_type
        self.close_position: bool = algo.close_position
        self.price_protect: bool = algo.price_protect
        self.reduce_only: bool = algo.reduce_only
        self.trigger_time: int = algo.trigger_time
        self.good_till_date: int = algo.good_till_date
        self.reject_reason: str = algo.reject_reason
        self.now = now

    def wire(self) -> Event:
        avg_price, executed = self.avg_price, self.executed
        body: dict[str, Any] = {
            "caid": self.client_id, "aid": self.algo_id, "at": "CONDITIONAL",
            "o": self.type._value_, "s": self.symbol, "S": self.side._value_,
            "ps": self.position_side._value_, "f": self.time_in_force._value_, "q": fmt(self.quantity),
            "X": self.status._value_,
            "ai": str(self.actual_order_id) if self.actual_order_id is not None else "",
            "ap": fmt(avg_price) if avg_price is not None else "0",
            "aq": fmt(executed) if executed is not None else "0", "act": self.actual_type,
            "tp": fmt(self.trigger_price), "p": fmt(self.price), "V": "EXPIRE_MAKER",
            "wt": self.working_type._value_, "pm": "NONE", "cp": self.close_position,
            "pP": self.price_protect, "R": self.reduce_only, "tt": self.trigger_time,
            "gtd": self.good_till_date, "rm": self.reject_reason,
        }
        return {"e": "ALGO_UPDATE", "E": self.now, "T": self.now, "o": body}


class PositionRow:
    """One position of an ACCOUNT_UPDATE as it was then: amount, entry, unrealised P&L, break-even price."""

    __slots__ = (
        "amount",
        "break_even",
        "entry_price",
        "isolated_wallet",
        "margin_type",
        "position_side",
        "symbol",
        "unrealized",
    )

    def __init__(self, position: Position, unrealized: Decimal, break_even: Decimal) -> None:
        self.symbol: str = position.symbol
        self.amount: Decimal = position.amount
        self.entry_price: Decimal = position.entry_price
        self.break_even, self.unrealized = break_even, unrealized
        self.margin_type: MarginType = position.margin_type
        self.isolated_wallet: Decimal = position.isolated_wallet
        self.position_side: PositionSide = position.position_side

    def wire(self) -> dict[str, Any]:
        return {"s": self.symbol, "pa": fmt(self.amount), "ep": fmt(self.entry_price), "bep": fmt(self.break_even),
                "cr": "0", "up": fmt(self.unrealized), "mt": self.margin_type.wire_lower,
                "iw": fmt(self.isolated_wallet), "ps": self.position_side.value, "ma": "USDT"}


class AccountUpdate:
    """ACCOUNT_UPDATE: the wallet after it, why (`reason`), the balance change, and the positions it changed."""

    __slots__ = ("account_symbol", "balance_change", "cross_wallet", "now", "reason", "rows", "wallet")

    def __init__(self, reason: str, now: int, wallet: Decimal, cross_wallet: Decimal, balance_change: Decimal,
                 rows: tuple[PositionRow, ...], symbol: str | None) -> None:
        self.reason, self.now, self.wallet, self.cross_wallet = reason, now, wallet, cross_wallet
        self.balance_change, self.rows, self.account_symbol = balance_change, rows, symbol

    @property
    def symbol(self) -> str | None:
        """The first changed position's symbol (the replay's reading; a cross funding fee changes none)."""
        return self.rows[0].symbol if self.rows else None

    @property
    def funding(self) -> bool:
        """A funding payment moves an isolated margin (so a liquidation price), never an order."""
        return self.reason == "FUNDING_FEE"

    @property
    def position_symbols(self) -> tuple[str, ...]:
        """Every fill (a liquidation's too) emits an ACCOUNT_UPDATE with its position's row, as Binance's does."""
        return tuple(row.symbol for row in self.rows)

    def wire(self) -> Event:
        body: dict[str, Any] = {
            "m": self.reason,
            "B": [{"a": "USDT", "wb": fmt(self.wallet), "cw": fmt(self.cross_wallet),
                   "bc": fmt(self.balance_change)}],
            "P": [row.wire() for row in self.rows],
        }
        if self.account_symbol is not None:
            body["S"] = self.account_symbol
        return {"e": "ACCOUNT_UPDATE", "E": self.now, "T": self.now, "a": body}


class SimOnlyEvent:
    """A simulator-only fact Binance has no stream event for (liquidation, funding, protection blocks)."""

    __slots__ = ("fields", "kind", "now")
    funding = False
    position_symbols: tuple[str, ...] = ()

    def __init__(self, kind: str, now: int, fields: dict[str, Any]) -> None:
        self.kind, self.now, self.fields = kind, now, fields

    @property
    def symbol(self) -> str | None:
        symbol = self.fields.get("symbol")
        return str(symbol) if symbol is not None else None

    def wire(self) -> Event:
        return {"e": self.kind, "E": self.now, **self.fields}


SimEvent = OrderTradeUpdate | AlgoUpdate | AccountUpdate | SimOnlyEvent


def order_trade_update(order: Order, execution: ExecutionType, now: int, fill: Fill | None = None,
                       *, realized: Decimal | None = None) -> OrderTradeUpdate:
    return OrderTradeUpdate(order, execution, now, fill, realized)


def algo_update(algo: AlgoOrder, now: int, *, avg_price: Decimal | None = None,
                executed: Decimal | None = None, actual_type: str = "") -> AlgoUpdate:
    return AlgoUpdate(algo, now, avg_price, executed, actual_type)


def account_update(reason: str, now: int, wallet: Decimal, cross_wallet: Decimal,
                   balance_change: Decimal, positions: Iterable[tuple[Position, Decimal, Decimal]],
                   symbol: str | None = None) -> AccountUpdate:
    """`positions` yields (position, unrealized P&L, break-even price) for the positions that changed."""
    rows = tuple(PositionRow(p, upnl, bep) for p, upnl, bep in positions)
    return AccountUpdate(reason, now, wallet, cross_wallet, balance_change, rows, symbol)


def sim_event(kind: str, now: int, **fields: Any) -> SimOnlyEvent:
    """Simulator-only facts Binance has no stream event for (liquidation, funding, protection blocks)."""
    return SimOnlyEvent(kind, now, fields)


def render_log(events: Iterable[Event]) -> str:
    """One JSON document per line, keys sorted: the byte-comparable event log."""
    return "".join(json.dumps(event, sort_keys=True, separators=(",", ":"), default=str) + "\n"
                   for event in events)
