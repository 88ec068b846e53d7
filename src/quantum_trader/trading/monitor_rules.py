"""The monitor's judgement of one symbol, pure: which protection order counts, which are duplicates,
which are wrong, where a missing one goes and when a stop may trail.

Kept apart from the I/O (trading/monitor_repair.py) so each rule can be read and tested on its own
and the monitor only orchestrates. They are also the one definition of a working stop: the
protection view (`positions`, `orders`, the API, /health) judges orders with `defect` and positions
with `has_working_stop`, so the command line can never call protected what the monitor replaces. For
repairs, a stop whose trigger the mark has already crossed is still *the* stop (the software stop
watches it), because replacing it would only be refused with -2021; for the verdict it is not working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ..domain.enums import OrderType, Side
from ..domain.events import Direction
from ..domain.exchange_types import OrderSnapshot, PositionSnapshot
from ..domain.instrument import Instrument
from ..domain.money import Rounding
from ..domain.stops import protection_prices

HUNDRED = Decimal(100)
#: A trailing move smaller than this share of the price is not worth a replace (two orders, two requests).
MIN_TRAIL_STEP = Decimal("0.001")
SL, TP = "sl", "tp"
STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET})
TAKE_PROFIT_TYPES = frozenset({OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_MARKET})


class Defect(StrEnum):
    """Why a stop or take-profit order would not close its position at its level. The protection view
    shows these names as flags, so a person reads the monitor's own reason for replacing an order."""

    WRONG_SIDE = "wrong_side"
    NOT_REDUCE_ONLY = "not_reduce_only"
    STOP_LIMIT = "stop_limit"
    PARTIAL_QUANTITY = "partial_quantity"


@dataclass(frozen=True, slots=True)
class Levels:
    """Where a position's protection belongs and under which trade id repairs are sent."""

    trade_id: str
    direction: Direction
    stop: Decimal
    take: Decimal
    known: bool  # True: the bot's own trade (TradeOpened); False: adopted from the exchange


@dataclass(frozen=True, slots=True)
class SidePlan:
    """One role (stop-loss or take-profit) of one position: the order that counts and the rest."""

    keep: OrderSnapshot | None
    duplicates: tuple[OrderSnapshot, ...]
    wrong: tuple[tuple[OrderSnapshot, str], ...]


def direction_of(position: PositionSnapshot) -> Direction:
    return Direction.LONG if position.amount > 0 else Direction.SHORT


def default_levels(inst: Instrument, position: PositionSnapshot, stop_pct: Decimal, take_pct: Decimal,
                   trade_id: str) -> Levels:
    """A position the bot did not open: SL and TP at the configured distances from its entry price."""
    direction = direction_of(position)
    stop, take = protection_prices(inst, direction, position.entry, stop_pct, take_pct)
    return Levels(trade_id, direction, stop, take, known=False)


def external_trade_id(symbol: str, now_ms: int) -> str:
    return f"ext_{symbol}_{now_ms // 1000}"


def is_role(order: OrderSnapshot, role: str) -> bool:
    return order.type in (STOP_TYPES if role == SL else TAKE_PROFIT_TYPES)


def defect(order: OrderSnapshot, position: PositionSnapshot) -> tuple[Defect, str] | None:
    """Why a stop or take-profit order would not close this position at its level (None: it would)."""
    exit_side = Side.SELL if position.amount > 0 else Side.BUY
    if order.side is not exit_side:
        return Defect.WRONG_SIDE, f"wrong side: {order.side.value} for a {direction_of(position).value} position"
    if not (order.reduce_only or order.close_position):
        return Defect.NOT_REDUCE_ONLY, "neither reduceOnly nor closePosition: it could open a reverse position"
    if order.type.becomes_limit:
        return (Defect.STOP_LIMIT,
                f"{order.type.value} is a stop-limit: its limit order may rest unfilled after a gap")
    if not order.close_position and order.quantity < abs(position.amount):
        return (Defect.PARTIAL_QUANTITY,
                f"quantity {order.quantity} does not cover the position {abs(position.amount)}")
    return None


def wrong_reason(order: OrderSnapshot, position: PositionSnapshot) -> str | None:
    found = defect(order, position)
    return None if found is None else found[1]


def tighter(a: Decimal, b: Decimal, direction: Direction) -> bool:
    """True when stop `a` loses less than stop `b` (long: higher; short: lower)."""
    return a > b if direction is Direction.LONG else a < b


def tightest(a: Decimal, b: Decimal, direction: Direction) -> Decimal:
    return a if tighter(a, b, direction) else b


def _rank(order: OrderSnapshot, role: str, direction: Direction) -> tuple[int, Decimal]:
    """Sort key, best first: a stop's tightest trigger; a take-profit's nearest one; trailing stops last."""
    if order.trigger_price is None or order.type is OrderType.TRAILING_STOP_MARKET:
        return (1, Decimal(0))
    trigger = order.trigger_price
    higher_first = (direction is Direction.LONG) == (role == SL)
    return (0, -trigger if higher_first else trigger)


def plan_side(orders: Iterable[OrderSnapshot], position: PositionSnapshot, role: str) -> SidePlan:
    mine = [o for o in orders if o.status.is_open and is_role(o, role)]
    judged = [(o, wrong_reason(o, position)) for o in mine]
    valid = sorted((o for o, why in judged if why is None), key=lambda o: _rank(o, role, direction_of(position)))
    wrong = tuple((o, why) for o, why in judged if why is not None)
    return SidePlan(valid[0] if valid else None, tuple(valid[1:]), wrong)


def settled(orders: Sequence[OrderSnapshot], position: PositionSnapshot) -> bool:
    """Exactly one working stop (not crossed) and one take-profit, nothing wrong: no action can be needed."""
    sl, tp = plan_side(orders, position, SL), plan_side(orders, position, TP)
    if sl.keep is None or tp.keep is None or sl.duplicates or sl.wrong or tp.duplicates or tp.wrong:
        return False
    trigger = sl.keep.trigger_price
    return trigger is None or not stop_crossed(trigger, position.mark, direction_of(position))


def has_working_stop(position: PositionSnapshot, orders: Sequence[OrderSnapshot]) -> bool:
    """A stop that would close this position and that the mark has not already crossed: the verdict of
    the monitor's naked-time count and of the protection view alike."""
    keep = plan_side(orders, position, SL).keep
    if keep is None:
        return False
    return keep.trigger_price is None or not stop_crossed(keep.trigger_price, position.mark, direction_of(position))


def orphans(orders: Iterable[OrderSnapshot]) -> list[OrderSnapshot]:
    """Orders of a symbol without a position that could only ever close one: nothing left to close."""
    return [o for o in orders if o.status.is_open and (o.reduce_only or o.close_position)]


def stop_crossed(trigger: Decimal, mark: Decimal, direction: Direction) -> bool:
    """The software stop's condition: the mark is at or beyond the stop level."""
    return mark <= trigger if direction is Direction.LONG else mark >= trigger


def close_position_taken(orders: Sequence[OrderSnapshot], side: Side, kind: OrderType,
                         leaving: Iterable[str] = ()) -> bool:
    """-4130 guard: Binance allows one closePosition order of a type per direction."""
    gone = set(leaving)
    return any(o.status.is_open and o.close_position and o.type is kind and o.side is side
               and o.client_id not in gone for o in orders)


def wanted_stop(levels: Levels, plan: SidePlan) -> Decimal:
    """Where a replacement stop goes: the planned level, or a wrong stop's tighter level (never loosen)."""
    price = levels.stop
    for order, _ in plan.wrong:
        on_exit_side = order.side is levels.direction.exit_side
        if on_exit_side and order.trigger_price is not None and order.type is not OrderType.TRAILING_STOP_MARKET:
            price = tightest(order.trigger_price, price, levels.direction)
    return price


def trail_target(inst: Instrument, direction: Direction, mark: Decimal, current: Decimal,
                 pct: Decimal) -> Decimal | None:
    """The new stop when the mark has moved far enough in the position's favour, else None.

    `pct` is in percent, like QT_STOP_LOSS_PCT. The target rounds away from the mark (the stop never
    ends closer than asked), and a move must gain at least one tick and 0.1 % of the price.
    """
    if direction is Direction.LONG:
        target = inst.round_price(mark * (1 - pct / HUNDRED), Rounding.DOWN)
        gain = target - current
    else:
        target = inst.round_price(mark * (1 + pct / HUNDRED), Rounding.UP)
        gain = current - target
    if gain >= inst.tick_size and gain >= mark * MIN_TRAIL_STEP:
        return target
    return None
