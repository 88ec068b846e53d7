"""Fills: one execution against the book, the unit of fees and realised P&L."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .enums import PositionSide, Side
from .fast_init import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: Side
    position_side: PositionSide
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    realized_pnl: Decimal
    maker: bool
    time: int
    #: The exchange's close of a liquidated position (an `autoclose-` order): its fee is the liquidation fee, which
    #: Binance's income history lists as INSURANCE_CLEAR rather than COMMISSION.
    liquidation: bool = False

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty
