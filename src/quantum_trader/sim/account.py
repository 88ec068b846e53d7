"""The simulated USDT-margined account: wallet, per-symbol settings and positions.

The wallet balance includes isolated wallets; the cross wallet is what is left. A fill moves margin
into an isolated wallet when it opens exposure and back out (with its realised P&L) when it closes,
so an isolated position can never lose more than what was put into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from ..domain.enums import MarginType, PositionSide, Side
from ..domain.money import ZERO
from ..domain.position import Position

#: Iterating an Enum class is slow (a generator over its members); positions_of runs on every settle.
_SIDES = tuple(PositionSide)


class Marked(Protocol):
    """A market as the account reads it: its mark price."""

    @property
    def mark(self) -> Decimal: ...


class Marks(Protocol):
    """Where the account reads marks: the simulator's markets, and `mark_of` for a symbol that has none yet.

    The markets are read directly on the hot path (equity sums every open position for every sized
    signal); a call per position was a fifth of the sum."""

    @property
    def markets(self) -> Mapping[str, Marked]: ...

    def mark_of(self, symbol: str) -> Decimal: ...


@dataclass(slots=True)
class FillOutcome:
    realized_pnl: Decimal
    closed_qty: Decimal
    position_flat: bool


@dataclass(slots=True)
class Account:
    wallet_balance: Decimal
    default_leverage: int = 20
    dual_side: bool = False
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, MarginType] = field(default_factory=dict)
    positions: dict[tuple[str, PositionSide], Position] = field(default_factory=dict)
    total_fees: Decimal = ZERO
    total_realized: Decimal = ZERO
    total_funding: Decimal = ZERO
    #: Symbols whose settings or positions were touched (v3 endpoints list only these).
    touched: set[str] = field(default_factory=set)
    #: Open positions by margin type, and the running sum of isolated wallets: the hot path of every
    #: fill and margin check reads these instead of scanning every symbol.
    _open_cross: dict[tuple[str, PositionSide], Position] = field(default_factory=dict)
    _open_isolated: dict[tuple[str, PositionSide], Position] = field(default_factory=dict)
    _isolated_total: Decimal = ZERO

    # --- settings ---------------------------------------------------------------------------------
    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.default_leverage)

    def margin_type_of(self, symbol: str) -> MarginType:
        return self.margin_type.get(symbol, MarginType.CROSSED)

    # --- positions --------------------------------------------------------------------------------
    def position(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> Position:
        key = (symbol, side)
        pos = self.positions.get(key)
        if pos is None:
            pos = Position(symbol, side, leverage=self.leverage_of(symbol), margin_type=self.margin_type_of(symbol))
            self.positions[key] = pos
        return pos

    def open_positions(self) -> Iterator[Position]:
        return (p for p in self.positions.values() if p.amount != 0)

    def _open_of(self, cross_only: bool) -> Iterable[Position]:
        if cross_only:
            return self._open_cross.values()
        return [*self._open_cross.values(), *self._open_isolated.values()]

    def _reindex(self, pos: Position) -> None:
        key = (pos.symbol, pos.position_side)
        self._open_cross.pop(key, None)
        self._open_isolated.pop(key, None)
        if pos.amount != 0:
            (self._open_cross if pos.margin_type is MarginType.CROSSED else self._open_isolated)[key] = pos

    def _set_isolated_wallet(self, pos: Position, value: Decimal) -> None:
        self._isolated_total += value - pos.isolated_wallet
        pos.isolated_wallet = value

    def positions_of(self, symbol: str) -> list[Position]:
        get = self.positions.get
        return [p for p in (get((symbol, side)) for side in _SIDES) if p is not None]

    def has_position(self, symbol: str) -> bool:
        return any(p.amount != 0 for p in self.positions_of(symbol))

    def holds(self, symbol: str) -> bool:
        """`has_position` from the open-position index, without reading a position (asked at every price step)."""
        cross, isolated = self._open_cross, self._open_isolated
        for side in _SIDES:
            key = (symbol, side)
            if key in cross or key in isolated:
                return True
        return False

    # --- balances ---------------------------------------------------------------------------------
    @property
    def isolated_total(self) -> Decimal:
        return self._isolated_total

    @property
    def cross_wallet(self) -> Decimal:
        return self.wallet_balance - self.isolated_total

    def unrealized(self, marks: Marks, *, cross_only: bool = False) -> Decimal:
        """Σ `Position.unrealized_pnl`, inlined and added in the same order (so the same Decimal): equity
        is read for every sized signal, and with hundreds of positions open the calls were the cost."""
        total = ZERO
        markets = marks.markets
        for p in self._open_of(cross_only):
            market = markets.get(p.symbol)
            mark = market.mark if market is not None else marks.mark_of(p.symbol)
            amount = p.amount
            total += amount * (mark - p.entry_price) if amount else ZERO
        return total

    def position_initial_margin(self, marks: Marks, *, cross_only: bool = False) -> Decimal:
        return sum((p.initial_margin(marks.mark_of(p.symbol)) for p in self._open_of(cross_only)), ZERO)

    def margin_balance(self, marks: Marks) -> Decimal:
        return self.wallet_balance + self.unrealized(marks)

    def available_balance(self, marks: Marks, open_order_margin: Decimal) -> Decimal:
        """Cross wallet + cross P&L − cross initial margin − margin held by open orders (never < 0)."""
        available = (self.cross_wallet + self.unrealized(marks, cross_only=True)
                     - self.position_initial_margin(marks, cross_only=True) - open_order_margin)
        return max(available, ZERO)

    # --- money movements --------------------------------------------------------------------------
    def apply_fill(self, symbol: str, position_side: PositionSide, side: Side, qty: Decimal,
                   price: Decimal, commission: Decimal, time: int = 0) -> FillOutcome:
        pos = self.position(symbol, position_side)
        self.touched.add(symbol)
        before = pos.amount
        signed = qty * side.sign
        realized = pos.apply_fill(signed, price)
        pos.update_time = time
        closed = min(abs(before), qty) if before and (before > 0) != (signed > 0) else ZERO
        self.wallet_balance += realized - commission
        self.total_realized += realized
        self.total_fees += commission
        if pos.margin_type is MarginType.ISOLATED:
            self._move_isolated(pos, before, closed, qty - closed, price, realized - commission)
        self._reindex(pos)
        return FillOutcome(realized, closed, pos.amount == 0)

    def _move_isolated(self, pos: Position, before: Decimal, closed: Decimal, opened: Decimal,
                       price: Decimal, pnl_after_fee: Decimal) -> None:
        wallet = pos.isolated_wallet + pnl_after_fee
        if closed and before:
            wallet -= wallet * closed / abs(before) if pos.amount else wallet
        if opened:
            wallet += opened * price / Decimal(pos.leverage)
        self._set_isolated_wallet(pos, ZERO if pos.amount == 0 else wallet)

    def apply_funding(self, pos: Position, payment: Decimal) -> None:
        self.wallet_balance += payment
        self.total_funding += payment
        if pos.margin_type is MarginType.ISOLATED:
            self._set_isolated_wallet(pos, pos.isolated_wallet + payment)
