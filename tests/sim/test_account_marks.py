"""Equity reads each open position at its market's mark, and asks `mark_of` for a symbol without a market.

A restored paper account can hold a position whose market was not saved (an older state file): the sum
must then take the simulator's own answer for it, not fail or skip it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from quantum_trader.domain.enums import MarginType, PositionSide, Side
from quantum_trader.sim.account import Account


@dataclass
class _Market:
    mark: Decimal


class _Marks:
    def __init__(self, markets: Mapping[str, _Market], fallback: Mapping[str, Decimal]) -> None:
        self.markets = markets
        self.fallback = fallback
        self.asked: list[str] = []

    def mark_of(self, symbol: str) -> Decimal:
        self.asked.append(symbol)
        return self.fallback[symbol]


def _account() -> Account:
    account = Account(Decimal("1000"))
    account.margin_type["ETHUSDT"] = MarginType.ISOLATED
    account.apply_fill("BTCUSDT", PositionSide.BOTH, Side.BUY, Decimal("0.010"), Decimal("60000.0"), Decimal(0))
    account.apply_fill("ETHUSDT", PositionSide.BOTH, Side.SELL, Decimal("0.500"), Decimal("3000.00"), Decimal(0))
    return account


def test_each_position_is_read_at_its_markets_mark() -> None:
    marks = _Marks({"BTCUSDT": _Market(Decimal("61000.0")), "ETHUSDT": _Market(Decimal("2900.00"))}, {})
    account = _account()
    # 0.010 x (61000 - 60000) + (-0.5) x (2900 - 3000) = 10 + 50
    assert account.unrealized(marks) == Decimal("60")
    assert account.margin_balance(marks) == Decimal("1060")
    assert account.unrealized(marks, cross_only=True) == Decimal("10")
    assert marks.asked == []


def test_a_position_without_a_market_is_read_at_mark_of() -> None:
    marks = _Marks({"BTCUSDT": _Market(Decimal("59000.0"))}, {"ETHUSDT": Decimal("3100.00")})
    account = _account()
    assert account.unrealized(marks) == Decimal("-10") + Decimal("-50")
    assert marks.asked == ["ETHUSDT"]
