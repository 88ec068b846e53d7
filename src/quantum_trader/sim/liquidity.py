"""The fill model for takers: market orders and triggered stop-markets walk a synthetic order book.

A stop is only as good as the price it fills at. Filling every market order at the last price hides
the two costs that matter when a stop fires: size (a large order eats through several levels) and
stress (in a fast market spreads widen and depth thins, and a gap means the book is met at the first
price after the jump, not at the trigger; shared/binance_futures.md §2.4). The model is deterministic:
the same order in the same market always gets the same fills, so a backtest is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain.instrument import Instrument
from ..domain.money import ZERO, Rounding, round_to_grid

_BPS = Decimal(10_000)


def limit_fillable(side_sign: int, limit_price: Decimal, last_price: Decimal) -> bool:
    """Whether a resting LIMIT fills (at its own price) once the market trades at `last_price`.

    BUY fills when last ≤ limit, SELL when last ≥ limit: the market traded through (or at) the
    order's price. A limit left behind by a gap (a stop-limit's usual fate, §2.4) never fills.
    """
    _check_side(side_sign)
    return last_price <= limit_price if side_sign > 0 else last_price >= limit_price


def average_price(levels: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Quantity-weighted average price of (price, qty) slices (Binance's `avgPrice`), unrounded."""
    total_qty = sum((qty for _, qty in levels), ZERO)
    if total_qty == 0:
        raise ValueError("average_price needs at least one slice with a non-zero quantity")
    return sum((price * qty for price, qty in levels), ZERO) / total_qty


@dataclass(slots=True)
class VolatilityTracker:
    """Per-symbol EWMA of |log return| between successive last prices, in units of "per update".

    α = 1 − 2^(−1/half_life_updates): a move's weight halves after `half_life_updates` updates, so a
    gap raises volatility at once and a calm spell brings it back within a few half-lives. A symbol
    starts at `initial` (the calm baseline, not zero: no history is not evidence of a calm market)
    and never reads below `floor`, so a flat feed cannot make the book look infinitely deep.
    """

    half_life_updates: float = 20.0
    floor: float = 1e-5
    initial: float = 5e-4
    _ewma: dict[str, float] = field(default_factory=dict)
    _last: dict[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.half_life_updates <= 0:
            raise ValueError(f"half_life_updates must be > 0, got {self.half_life_updates}")

    @property
    def alpha(self) -> float:
        return 1.0 - math.pow(0.5, 1.0 / self.half_life_updates)

    def update(self, symbol: str, price: Decimal) -> float:
        """Record a new last price; returns the symbol's volatility after it. Non-positive prices raise."""
        if price <= 0:
            raise ValueError(f"{symbol}: price must be positive, got {price}")
        previous = self._last.get(symbol)
        self._last[symbol] = price
        if previous is not None:
            move = abs(math.log(float(price / previous)))
            current = self._ewma.get(symbol, self.initial)
            self._ewma[symbol] = current + self.alpha * (move - current)
        return self.volatility(symbol)

    def set_ewma(self, symbol: str, value: float, last: Decimal) -> None:
        """Set the estimate and the price it was measured up to: a bar replay computes both from its
        arrays (sim/replay_volatility.py) instead of from the updates it happened to see."""
        self._ewma[symbol] = value
        self._last[symbol] = last

    def volatility(self, symbol: str) -> float:
        return max(self.floor, self._ewma.get(symbol, self.initial))


@dataclass(frozen=True, slots=True)
class LiquidityModel:
    """A depth ladder on the taker's side of the book, shaped by the instrument's `Liquidity`.

    Book (per instrument; `w` = widening, see below):
    * touch: reference ± half spread, half spread = reference × spread_bps / 2 / 10 000 × w;
    * levels every `band_bps / levels_in_band` of the reference (at least one tick) beyond the
      touch, each holding depth_usdt / levels_in_band / w of notional: `depth_usdt` is the notional
      within `band_bps` (10 bps) of the touch, as `Liquidity` defines it. Past the band the ladder
      keeps the same per-level depth, so a very large order pays a linearly growing impact;
    * w = clamp(volatility / vol_ref, 1, max_widening): at or below the calm baseline `vol_ref` the
      book has its nominal shape; above it the spread widens and the depth thins in proportion.

    Prices are rounded to the tick against the taker (a buyer pays up, a seller gets less),
    quantities to the market lot step (at least one step per level); the last slice takes the
    remainder so slices always sum to the order quantity. `max_levels` bounds the walk: the last
    allowed level takes whatever is left.
    """

    vol_ref: float = 5e-4
    band_bps: Decimal = Decimal(10)
    levels_in_band: int = 10
    max_widening: float = 50.0
    max_levels: int = 2_000

    def widening(self, volatility: float) -> Decimal:
        """The spread multiplier and depth divisor for `volatility` (≥ 1, ≤ max_widening)."""
        ratio = volatility / self.vol_ref if self.vol_ref > 0 else 1.0
        if not math.isfinite(ratio):
            ratio = self.max_widening
        return Decimal(f"{min(max(ratio, 1.0), self.max_widening):.6f}")

    def fill_levels(
        self,
        instrument: Instrument,
        side_sign: int,
        qty: Decimal,
        reference_price: Decimal,
        volatility: float,
    ) -> list[tuple[Decimal, Decimal]]:
        """(price, qty) slices, best first, for a taker of `qty` meeting the book at `reference_price`.

        `reference_price` is where the order meets the book: the last price for a market order, the
        first price after the jump for a stop-market gapped through.
        """
        _check_side(side_sign)
        if qty <= 0:
            raise ValueError(f"qty must be positive, got {qty}")
        if reference_price <= 0:
            raise ValueError(f"reference_price must be positive, got {reference_price}")
        tick = instrument.tick_size
        step = instrument.market_lot_size.step_size or instrument.lot_size.step_size
        widen = self.widening(volatility)
        liquidity = instrument.liquidity
        half_spread = reference_price * liquidity.spread_bps / 2 / _BPS * widen
        level_gap = max(tick, reference_price * self.band_bps / _BPS / self.levels_in_band)
        level_notional = liquidity.depth_usdt / self.levels_in_band / widen
        adverse = Rounding.UP if side_sign > 0 else Rounding.DOWN
        lowest = tick if tick > 0 else Decimal("1E-8")

        slices: list[tuple[Decimal, Decimal]] = []
        remaining = qty
        for level in range(self.max_levels):
            raw = reference_price + side_sign * (half_spread + level * level_gap)
            price = max(round_to_grid(raw, tick, adverse, ZERO), lowest)
            if level == self.max_levels - 1:
                take = remaining
            else:
                capacity = round_to_grid(level_notional / price, step, Rounding.DOWN, ZERO)
                take = min(remaining, max(capacity, step) if step > 0 else capacity)
            if slices and slices[-1][0] == price:  # only when a seller's walk hits the price floor
                slices[-1] = (price, slices[-1][1] + take)
            else:
                slices.append((price, take))
            remaining -= take
            if remaining <= 0:
                break
        return slices

    limit_fillable = staticmethod(limit_fillable)
    average_price = staticmethod(average_price)


def _check_side(side_sign: int) -> None:
    if side_sign not in (1, -1):
        raise ValueError(f"side_sign must be +1 (BUY) or -1 (SELL), got {side_sign}")
