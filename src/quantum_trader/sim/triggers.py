"""Trigger predicates for resting conditional orders: exact in Decimal, and a vectorised float prefilter.

The exact predicates (`stop_triggered`, `trailing_triggered`) are binance_futures.md §2.1 verbatim and
decide every fill. They run only where the vectorised search says something *could* have triggered:
`first_trigger_bar` looks at a whole chunk of bars for all resting orders at once and returns the
first bar where any order's condition is met by that bar's range, so the engine's per-order Python
runs only on those bars (DESIGN.md, "Speed by design").

This module is the public face of trigger handling; import every trigger name from here. The code
is split along its seams so each module stays readable (style rule: past ~400 lines, split):

* triggers.py (here) - the exact Decimal predicates, and the re-exports below;
* trigger_table.py - `TriggerKind`, `trigger_direction` and `TriggerTable`, the column store of
  resting triggers the engine maintains (its sign conventions are documented there);
* trigger_search.py - `first_trigger_bar` / `triggered_now`, the conservative float64 prefilter,
  and `EPS_REL`, its relative slack.

Imports point one way (triggers -> trigger_search -> trigger_table, and triggers -> trigger_table),
so there is no cycle; the two split-out modules never import this one.
"""

from __future__ import annotations

from decimal import Decimal

from .trigger_search import EPS_REL, first_trigger_bar, triggered_now
from .trigger_table import TriggerKind, TriggerTable, check_side, trigger_direction

__all__ = [
    "EPS_REL",
    "TriggerKind",
    "TriggerTable",
    "first_trigger_bar",
    "stop_triggered",
    "trailing_triggered",
    "trigger_direction",
    "triggered_now",
]

_HUNDRED = Decimal(100)


def stop_triggered(kind: TriggerKind, side_sign: int, price: Decimal, trigger: Decimal) -> bool:
    """§2.1: STOP BUY on P ≥ trigger, SELL on P ≤; TAKE_PROFIT the reverse; LIQUIDATION like STOP."""
    if kind is TriggerKind.TRAILING:
        raise ValueError("a trailing stop has no fixed trigger; use trailing_triggered")
    if trigger_direction(kind, side_sign) > 0:
        return price >= trigger
    return price <= trigger


def trailing_triggered(
    side_sign: int, price: Decimal, extreme: Decimal, callback_rate: Decimal, activation: Decimal | None
) -> bool:
    """§2.1 TRAILING_STOP_MARKET at price P; `extreme` is the highest (SELL) / lowest (BUY) P so far.

    `extreme` is first extended by P itself; `callback_rate` is in percent, as on the wire (1 = 1 %).
    """
    check_side(side_sign)
    rate = callback_rate / _HUNDRED
    if side_sign < 0:
        highest = max(extreme, price)
        return (activation is None or highest >= activation) and price <= highest * (1 - rate)
    lowest = min(extreme, price)
    return (activation is None or lowest <= activation) and price >= lowest * (1 + rate)
