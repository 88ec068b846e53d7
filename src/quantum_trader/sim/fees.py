"""Trading fees: maker/taker rates per symbol and the commission of one fill (shared/binance_futures.md §8.3).

Fees are a cost every round trip pays twice; a backtest that rounds them away, or charges maker rates
to a stop-market, overstates every edge. Rates default to Binance's VIP 0 USDⓈ-M schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from ..domain.fast_init import fast_init

#: Binance reports `commission` (userTrades) and `n` (ORDER_TRADE_UPDATE) with 8 decimal places.
COMMISSION_QUANTUM = Decimal("1E-8")


@fast_init
@dataclass(frozen=True, slots=True)
class FeeRates:
    """A maker/taker pair, as `GET /fapi/v1/commissionRate` returns it for one symbol."""

    maker: Decimal
    taker: Decimal


@dataclass(frozen=True, slots=True)
class FeeModel:
    """Default maker/taker rates (VIP 0: 0.02 % / 0.05 %) with optional per-symbol overrides.

    Overrides model symbols on promotion or an account's own commissionRate answer (for example the
    testnet's 0.04 % taker). A negative rate is a rebate and yields a negative commission.
    """

    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")
    overrides: Mapping[str, FeeRates] = field(default_factory=dict)

    def rates(self, symbol: str) -> FeeRates:
        """The symbol's maker/taker pair (its override, else the defaults)."""
        return self.overrides.get(symbol) or FeeRates(self.maker, self.taker)

    def rate(self, symbol: str, maker: bool) -> Decimal:
        """The rate charged on `symbol` to the maker (resting) or taker (crossing) side of a fill."""
        rates = self.rates(symbol)
        return rates.maker if maker else rates.taker

    def commission(self, symbol: str, price: Decimal, qty: Decimal, maker: bool) -> Decimal:
        """Fill notional (price × |qty|) × rate, in USDT, kept to 8 decimal places, rounded half-up.

        Eight places is what Binance reports for a fill's commission (e.g. 103.8625 × 0.0004 →
        "0.04154500"), so nothing is rounded away: at 0.05 % even a 0.01 USDT fill keeps its fee.
        Half-up (away from zero on a tie) is the usual exchange convention; it is unconfirmed for
        Binance, where ties at the 9th decimal are rare.
        """
        fee = price * abs(qty) * self.rate(symbol, maker)
        return fee.quantize(COMMISSION_QUANTUM, rounding=ROUND_HALF_UP)
