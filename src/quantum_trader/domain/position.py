"""Position maths for one symbol and side: average entry, realised and unrealised P&L, margin, loss units.

A 2% price move is 20% of margin at 10x: every loss is therefore reportable in USDT, % of notional,
% of margin (ROE) and % of equity, so nobody has to guess whether a stop "worked".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .enums import MarginType, PositionSide
from .money import ZERO, pct


@dataclass(frozen=True, slots=True)
class LossReport:
    """A P&L figure in the four units a trader needs (negative numbers are losses)."""

    usdt: Decimal
    pct_notional: Decimal
    pct_margin: Decimal
    pct_equity: Decimal

    @classmethod
    def of(cls, pnl: Decimal, notional: Decimal, margin: Decimal, equity: Decimal) -> LossReport:
        return cls(pnl, pct(pnl, abs(notional)), pct(pnl, margin), pct(pnl, equity))


@dataclass(slots=True)
class Position:
    """Signed amount (`amount` > 0 long, < 0 short) with its average entry price."""

    symbol: str
    position_side: PositionSide = PositionSide.BOTH
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    leverage: int = 20
    margin_type: MarginType = MarginType.CROSSED
    #: Isolated mode: margin set aside for this position (initial margin + realised P&L - fees).
    isolated_wallet: Decimal = ZERO
    update_time: int = 0

    @property
    def is_open(self) -> bool:
        return self.amount != 0

    @property
    def side_sign(self) -> int:
        return 1 if self.amount > 0 else -1 if self.amount < 0 else 0

    def notional(self, mark: Decimal) -> Decimal:
        """Signed notional at `mark` (Binance reports it signed in positionRisk)."""
        return self.amount * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return self.amount * (mark - self.entry_price) if self.amount else ZERO

    def initial_margin(self, mark: Decimal) -> Decimal:
        return abs(self.amount) * mark / Decimal(self.leverage)

    def apply_fill(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Add a signed fill; return the realised P&L of the part that reduced the position.

        Reducing keeps the entry price; crossing through zero opens the remainder at the fill price,
        exactly as Binance's one-way mode does.
        """
        if signed_qty == 0:
            return ZERO
        realized = ZERO
        if self.amount == 0 or (self.amount > 0) == (signed_qty > 0):
            total = self.amount + signed_qty
            self.entry_price = (self.amount * self.entry_price + signed_qty * price) / total
            self.amount = total
            return realized
        closing = min(abs(signed_qty), abs(self.amount))
        realized = closing * (price - self.entry_price) * self.side_sign
        remainder = signed_qty + (closing if signed_qty < 0 else -closing)
        self.amount += signed_qty if abs(signed_qty) <= abs(self.amount) else -self.amount
        if self.amount == 0:
            self.entry_price = ZERO
        if remainder != 0 and self.amount == 0:
            self.amount = remainder
            self.entry_price = price
        return realized

    def break_even_price(self, taker_fee: Decimal) -> Decimal:
        """Entry moved by the round-trip taker fee (an approximation of Binance's breakEvenPrice)."""
        if not self.amount:
            return ZERO
        return self.entry_price * (1 + taker_fee * self.side_sign * 2)
