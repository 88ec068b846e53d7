"""The protection view: for every open position, is there a working stop-loss and take-profit?

Pure (no I/O) so the application service, the `positions`/`orders` commands and the tests all read
the exchange's snapshots through the same rules, and the API can never disagree with the CLI. The
rules are the monitor's own (trading/monitor_rules.py): an order counts as protection only if the
monitor would keep it, so a stop on the entry side, a stop without reduceOnly/closePosition, a
stop-limit (`STOP`, `TAKE_PROFIT`: triggered, it rests as a limit order that a gap leaves unfilled), a
reduceOnly stop for less than the position, or a stop whose trigger the mark has already crossed is
flagged with the monitor's reason rather than counted. A position is UNPROTECTED exactly when the
monitor counts it naked (`has_working_stop`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ..domain.enums import SPOT_ONLY_ORDER_TYPES, OrderType, Side
from ..domain.exchange_types import AccountSnapshot, OrderSnapshot, PositionSnapshot
from ..domain.instrument import Instrument
from ..domain.money import ZERO, fmt, pct_text
from ..domain.position import LossReport
from .monitor_rules import (
    SL,
    STOP_TYPES,
    TAKE_PROFIT_TYPES,
    TP,
    Defect,
    defect,
    direction_of,
    has_working_stop,
    plan_side,
    stop_crossed,
)

JSON = dict[str, Any]


class Status(StrEnum):
    PROTECTED = "PROTECTED"
    UNPROTECTED = "UNPROTECTED"  # no working stop-loss
    NO_TAKE_PROFIT = "NO_TAKE_PROFIT"  # stop-loss in place, take-profit missing


class Role(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    EXIT = "exit"  # reduce-only classic order: closes but at no guaranteed loss limit
    ENTRY = "entry"
    INEFFECTIVE = "ineffective"  # looks like protection but protects nothing (see flags)
    ORPHAN = "orphan"


class Flag(StrEnum):
    NO_STOP_LOSS = "no_stop_loss"
    NO_TAKE_PROFIT = "no_take_profit"
    WRONG_SIDE = Defect.WRONG_SIDE.value
    DUPLICATE_STOP_LOSS = "duplicate_stop_loss"
    DUPLICATE_TAKE_PROFIT = "duplicate_take_profit"
    NOT_REDUCE_ONLY = Defect.NOT_REDUCE_ONLY.value
    STOP_LIMIT = Defect.STOP_LIMIT.value  # STOP / TAKE_PROFIT: rests as a limit order once triggered
    PARTIAL_QUANTITY = Defect.PARTIAL_QUANTITY.value  # reduceOnly for less than the position
    TRIGGER_CROSSED = "trigger_crossed"
    ORPHAN = "orphan"
    UNKNOWN_SYMBOL = "unknown_symbol"


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


@dataclass(frozen=True, slots=True)
class OrderView:
    """One open order with the role it plays for its symbol's position and what is wrong with it."""

    order: OrderSnapshot
    role: Role
    flags: tuple[Flag, ...] = ()
    #: In words, why it does not protect (the monitor's reason when it would replace it).
    reason: str | None = None

    def to_json(self) -> JSON:
        o = self.order
        return {"client_id": o.client_id, "venue_id": o.venue_id, "symbol": o.symbol, "side": o.side.value,
                "type": o.type.value, "conditional": o.conditional, "status": o.status.value,
                "quantity": fmt(o.quantity), "price": _opt(o.price), "trigger_price": _opt(o.trigger_price),
                "reduce_only": o.reduce_only, "close_position": o.close_position,
                "working_type": o.working_type.value, "role": self.role.value,
                "flags": [flag.value for flag in self.flags], "reason": self.reason}

    def issue_json(self) -> JSON:
        """The short form a position lists among its protection issues (`kind`: what it was meant to be)."""
        o = self.order
        kind = Role.STOP_LOSS if o.type in STOP_TYPES else Role.TAKE_PROFIT
        return {"kind": kind.value, "client_id": o.client_id, "type": o.type.value,
                "trigger_price": _opt(o.trigger_price),
                "flags": [flag.value for flag in self.flags], "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Protection:
    """The stop-loss or take-profit that counts: of duplicates, the one the monitor keeps (monitor_rules.py)."""

    type: str
    trigger_price: Decimal | None
    client_id: str

    def to_json(self) -> JSON:
        return {"type": self.type, "trigger_price": _opt(self.trigger_price), "client_id": self.client_id}


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    side: str
    size: Decimal
    entry: Decimal
    mark: Decimal
    leverage: int
    margin_type: str
    #: size × entry: what % notional and the margin (so ROE) are measured on, as the audit measures a
    #: realised loss and Binance's ROE is on the initial margin at entry.
    entry_notional: Decimal
    #: size × mark: the exposure now (Binance's positionRisk `notional`).
    notional: Decimal
    margin: Decimal
    pnl: LossReport
    liquidation_price: Decimal | None
    stop_loss: Protection | None
    take_profit: Protection | None
    status: Status
    flags: tuple[Flag, ...]
    #: Stop-loss and take-profit orders of this position that do not count, each with why.
    issues: tuple[OrderView, ...] = ()

    def to_json(self) -> JSON:
        return {"symbol": self.symbol, "side": self.side, "size": fmt(self.size), "entry": fmt(self.entry),
                "mark": fmt(self.mark), "leverage": self.leverage, "margin_type": self.margin_type,
                "notional": fmt(self.notional), "entry_notional": fmt(self.entry_notional),
                "margin": fmt(self.margin), "unrealized_pnl": fmt(self.pnl.usdt),
                "pnl_pct_notional": pct_text(self.pnl.pct_notional), "roe_pct": pct_text(self.pnl.pct_margin),
                "pnl_pct_equity": pct_text(self.pnl.pct_equity), "liquidation_price": _opt(self.liquidation_price),
                "stop_loss": self.stop_loss.to_json() if self.stop_loss else None,
                "take_profit": self.take_profit.to_json() if self.take_profit else None,
                "status": self.status.value, "flags": [flag.value for flag in self.flags],
                "protection_issues": [issue.issue_json() for issue in self.issues]}


@dataclass(frozen=True, slots=True)
class OrderGroup:
    """All open orders of one symbol; `position` is None for symbols with orders but no position."""

    symbol: str
    position: PositionView | None
    orders: tuple[OrderView, ...]

    def to_json(self) -> JSON:
        pos = self.position
        return {"symbol": self.symbol, "position_side": pos.side if pos else None,
                "position_size": fmt(pos.size) if pos else None, "status": pos.status.value if pos else None,
                "flags": [flag.value for flag in pos.flags] if pos else [],
                "orders": [order.to_json() for order in self.orders]}


@dataclass(frozen=True, slots=True)
class ProtectionView:
    positions: tuple[PositionView, ...]
    groups: tuple[OrderGroup, ...]
    orphans: tuple[OrderView, ...]
    rejected_types: tuple[JSON, ...]
    account: AccountSnapshot

    @property
    def unprotected(self) -> int:
        return sum(1 for p in self.positions if p.status is Status.UNPROTECTED)

    def positions_json(self) -> JSON:
        """The document of `GET /api/v1/positions` and `quantum-trader positions --json`."""
        return {"positions": [p.to_json() for p in self.positions], "count": len(self.positions),
                "unprotected": self.unprotected, "equity": fmt(self.account.equity),
                "wallet": fmt(self.account.wallet), "available": fmt(self.account.available)}

    def orders_json(self) -> JSON:
        """The document of `GET /api/v1/orders` and `quantum-trader orders --json`."""
        return {"groups": [g.to_json() for g in self.groups], "orphans": [o.to_json() for o in self.orphans],
                "rejected_types": list(self.rejected_types), "count": len(self.positions),
                "unprotected": self.unprotected}

    def to_json(self) -> JSON:
        return {**self.positions_json(), **self.orders_json()}


def classify(order: OrderSnapshot, position: PositionSnapshot) -> OrderView:
    """The role of one open order for a position in one-way mode (amount > 0 long, < 0 short)."""
    exit_side = Side.SELL if position.amount > 0 else Side.BUY
    closes = order.reduce_only or order.close_position
    if order.type in STOP_TYPES or order.type in TAKE_PROFIT_TYPES:
        role = Role.STOP_LOSS if order.type in STOP_TYPES else Role.TAKE_PROFIT
        found = defect(order, position)
        if found is not None:
            return OrderView(order, Role.INEFFECTIVE, (Flag(found[0].value),), found[1])
        if _crossed(order, role, position):
            return OrderView(order, Role.INEFFECTIVE, (Flag.TRIGGER_CROSSED,),
                             f"the mark {fmt(position.mark)} is already at or beyond its trigger "
                             f"{_opt(order.trigger_price)}")
        return OrderView(order, role)
    if closes:
        if order.side is exit_side:
            return OrderView(order, Role.EXIT)
        return OrderView(order, Role.INEFFECTIVE, (Flag.WRONG_SIDE,),
                         f"wrong side: {order.side.value} for a {direction_of(position).value} position")
    return OrderView(order, Role.ENTRY)


def _crossed(order: OrderSnapshot, role: Role, position: PositionSnapshot) -> bool:
    """A stop must sit on the losing side of the mark, by the monitor's own test (`stop_crossed`, which
    `has_working_stop` applies to any stop with a trigger); a take-profit on the winning side."""
    trigger = order.trigger_price
    if trigger is None:
        return False
    if role is Role.STOP_LOSS:
        return stop_crossed(trigger, position.mark, direction_of(position))
    return (trigger < position.mark) is (position.amount > 0)


def _position_flags(views: Sequence[OrderView], working_stop: bool) -> tuple[Flag, ...]:
    """The position's flags: what is missing or doubled, then every flag of an order that does not count."""
    stops = sum(1 for o in views if o.role is Role.STOP_LOSS)
    takes = sum(1 for o in views if o.role is Role.TAKE_PROFIT)
    wanted = ((Flag.NO_STOP_LOSS, not working_stop), (Flag.NO_TAKE_PROFIT, not takes),
              (Flag.DUPLICATE_STOP_LOSS, stops > 1), (Flag.DUPLICATE_TAKE_PROFIT, takes > 1))
    flags = [flag for flag, on in wanted if on]
    for view in views:
        if view.role is Role.INEFFECTIVE:
            flags.extend(flag for flag in view.flags if flag not in flags)
    return tuple(flags)


def _position_view(pos: PositionSnapshot, views: Sequence[OrderView], equity: Decimal) -> PositionView:
    orders = [v.order for v in views]
    working_stop = has_working_stop(pos, orders)
    stop_loss = _protection(pos, views, SL, Role.STOP_LOSS) if working_stop else None
    take_profit = _protection(pos, views, TP, Role.TAKE_PROFIT)
    status = Status.UNPROTECTED if not working_stop else Status.NO_TAKE_PROFIT if take_profit is None else (
        Status.PROTECTED)
    size = abs(pos.amount)
    entry_notional = size * pos.entry
    margin = entry_notional / Decimal(pos.leverage) if pos.leverage else ZERO
    pnl = LossReport.of(pos.unrealized, entry_notional, margin, equity)
    issues = tuple(v for v in views if v.role is Role.INEFFECTIVE and v.order.type in STOP_TYPES | TAKE_PROFIT_TYPES)
    return PositionView(
        symbol=pos.symbol, side="long" if pos.amount > 0 else "short", size=size, entry=pos.entry, mark=pos.mark,
        leverage=pos.leverage, margin_type=pos.margin_type.value, entry_notional=entry_notional,
        notional=size * pos.mark, margin=margin, pnl=pnl,
        liquidation_price=pos.liquidation_price, stop_loss=stop_loss, take_profit=take_profit,
        status=status, flags=_position_flags(views, working_stop), issues=issues)


def _protection(pos: PositionSnapshot, views: Sequence[OrderView], side: str, role: Role) -> Protection | None:
    """The order that counts, as the monitor ranks them (tightest stop, nearest take-profit)."""
    plan = plan_side((v.order for v in views), pos, side)
    counted = {id(v.order) for v in views if v.role is role}
    order = next((o for o in (plan.keep, *plan.duplicates) if o is not None and id(o) in counted), None)
    return None if order is None else Protection(order.type.value, order.trigger_price, order.client_id)


def _no_position_view(order: OrderSnapshot) -> OrderView:
    if order.reduce_only or order.close_position:
        return OrderView(order, Role.ORPHAN, (Flag.ORPHAN,))
    return OrderView(order, Role.ENTRY)


def rejected_types(desired_types: Iterable[str]) -> tuple[JSON, ...]:
    """Journaled or configured order types that Binance futures would refuse (-1116), once each."""
    futures = {t.value for t in OrderType}
    seen: dict[str, JSON] = {}
    for raw in desired_types:
        name = raw.strip().upper()
        if name in futures or name in seen:
            continue
        reason = "spot-only order type" if name in SPOT_ONLY_ORDER_TYPES else "unknown order type"
        seen[name] = {"type": name, "code": -1116, "reason": f"{reason}; futures answer -1116 Invalid orderType"}
    return tuple(seen.values())


def build_view(positions: Iterable[PositionSnapshot], open_orders: Iterable[OrderSnapshot],
               account: AccountSnapshot, instruments: Mapping[str, Instrument] | None = None,
               desired_types: Iterable[str] = ()) -> ProtectionView:
    """Group the open orders by position and judge each position's protection."""
    by_symbol: dict[str, PositionSnapshot] = {p.symbol: p for p in positions if p.amount != 0}
    orders = [o for o in open_orders if o.status.is_open]
    symbols = sorted(set(by_symbol) | {o.symbol for o in orders})
    views: list[PositionView] = []
    groups: list[OrderGroup] = []
    orphans: list[OrderView] = []
    for symbol in symbols:
        pos = by_symbol.get(symbol)
        mine = [_with_symbol_check(classify(o, pos) if pos else _no_position_view(o), instruments)
                for o in orders if o.symbol == symbol]
        orphans.extend(o for o in mine if o.role is Role.ORPHAN)
        pview = _position_view(pos, mine, account.equity) if pos else None
        if pview is not None:
            views.append(pview)
        groups.append(OrderGroup(symbol, pview, tuple(mine)))
    return ProtectionView(tuple(views), tuple(groups), tuple(orphans), rejected_types(desired_types), account)


def _with_symbol_check(view: OrderView, instruments: Mapping[str, Instrument] | None) -> OrderView:
    if instruments is None or view.order.symbol in instruments:
        return view
    return OrderView(view.order, view.role, (*view.flags, Flag.UNKNOWN_SYMBOL))
