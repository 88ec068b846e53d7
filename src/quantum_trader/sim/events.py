"""User-data-stream events in Binance's exact shapes (shared/binance_futures.md §7).

The event log is these dicts in order; rendering them with sorted keys gives the byte-identical log
that determinism is judged by. The same dicts feed the websocket stream of the simulator server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..domain.enums import ExecutionType
from ..domain.fills import Fill
from ..domain.money import fmt
from ..domain.orders import AlgoOrder, Order
from ..domain.position import Position

Event = dict[str, Any]
# Enum members are read through `_value_` (Enum's documented sunder attribute) rather than `.value`:
# `.value` is a descriptor call, and the two order events below read about a dozen per fill.


def order_trade_update(order: Order, execution: ExecutionType, now: int, fill: Fill | None = None,
                       *, realized: Decimal | None = None) -> Event:
    body: dict[str, Any] = {
        "s": order.symbol, "c": order.client_order_id, "S": order.side._value_, "o": order.type._value_,
        "f": order.time_in_force._value_, "q": fmt(order.orig_qty), "p": fmt(order.price),
        "ap": fmt(order.avg_price), "sp": fmt(order.stop_price), "x": execution._value_,
        "X": order.status._value_, "i": order.order_id,
        "l": fmt(fill.qty) if fill else "0", "z": fmt(order.executed_qty),
        "L": fmt(fill.price) if fill else "0", "T": now, "t": fill.trade_id if fill else 0,
        "b": "0", "a": "0", "m": bool(fill and fill.maker), "R": order.reduce_only,
        "wt": order.working_type._value_, "ot": order.orig_type._value_, "ps": order.position_side._value_,
        "cp": order.close_position, "rp": fmt(realized if realized is not None else Decimal(0)),
        "pP": order.price_protect, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE",
        "gtd": order.good_till_date,
    }
    if fill is not None:
        body["N"] = fill.commission_asset
        body["n"] = fmt(fill.commission)
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": body}


def algo_update(algo: AlgoOrder, now: int, *, avg_price: Decimal | None = None,
                executed: Decimal | None = None, actual_type: str = "") -> Event:
    body: dict[str, Any] = {
        "caid": algo.client_algo_id, "aid": algo.algo_id, "at": "CONDITIONAL",
        "o": algo.order_type._value_, "s": algo.symbol, "S": algo.side._value_,
        "ps": algo.position_side._value_, "f": algo.time_in_force._value_, "q": fmt(algo.quantity),
        "X": algo.status._value_,
        "ai": str(algo.actual_order_id) if algo.actual_order_id is not None else "",
        "ap": fmt(avg_price) if avg_price is not None else "0",
        "aq": fmt(executed) if executed is not None else "0", "act": actual_type,
        "tp": fmt(algo.trigger_price), "p": fmt(algo.price), "V": "EXPIRE_MAKER",
        "wt": algo.working_type._value_, "pm": "NONE", "cp": algo.close_position,
        "pP": algo.price_protect, "R": algo.reduce_only, "tt": algo.trigger_time,
        "gtd": algo.good_till_date, "rm": algo.reject_reason,
    }
    return {"e": "ALGO_UPDATE", "E": now, "T": now, "o": body}


def account_update(reason: str, now: int, wallet: Decimal, cross_wallet: Decimal,
                   balance_change: Decimal, positions: Iterable[tuple[Position, Decimal, Decimal]],
                   symbol: str | None = None) -> Event:
    """`positions` yields (position, unrealized P&L, break-even price) for the positions that changed."""
    body: dict[str, Any] = {
        "m": reason,
        "B": [{"a": "USDT", "wb": fmt(wallet), "cw": fmt(cross_wallet), "bc": fmt(balance_change)}],
        "P": [
            {"s": p.symbol, "pa": fmt(p.amount), "ep": fmt(p.entry_price), "bep": fmt(bep),
             "cr": "0", "up": fmt(upnl), "mt": p.margin_type.wire_lower, "iw": fmt(p.isolated_wallet),
             "ps": p.position_side.value, "ma": "USDT"}
            for p, upnl, bep in positions
        ],
    }
    if symbol is not None:
        body["S"] = symbol
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": body}


def sim_event(kind: str, now: int, **fields: Any) -> Event:
    """Simulator-only facts Binance has no stream event for (liquidation, funding, protection blocks)."""
    return {"e": kind, "E": now, **fields}


def render_log(events: Iterable[Event]) -> str:
    """One JSON document per line, keys sorted: the byte-comparable event log."""
    return "".join(json.dumps(event, sort_keys=True, separators=(",", ":"), default=str) + "\n"
                   for event in events)
