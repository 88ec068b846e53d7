"""Instruments: one USDⓈ-M perpetual with every Binance filter, its leverage brackets and rounding rules.

Validation follows Binance's order of checks (shared/binance_futures.md §4.1): precision first (-1111),
then range and grid per filter. Rounding is explicit about direction because a stop rounded the
wrong way by one tick is a stop that risks more than planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from . import binance_errors as be
from .money import ZERO, Rounding, decimals_of, on_grid, round_to_grid


@dataclass(frozen=True, slots=True)
class PriceFilter:
    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class LotSize:
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal


@dataclass(frozen=True, slots=True)
class PercentPrice:
    multiplier_up: Decimal
    multiplier_down: Decimal
    multiplier_decimal: int


@dataclass(frozen=True, slots=True)
class LeverageBracket:
    """One notional tier: [notional_floor, notional_cap) at most `initial_leverage`, with MMR and cum."""

    bracket: int
    initial_leverage: int
    notional_cap: Decimal
    notional_floor: Decimal
    maint_margin_ratio: Decimal
    cum: Decimal


@dataclass(frozen=True, slots=True)
class Liquidity:
    """Typical order-book shape for the simulator's fill model (not a Binance field).

    `spread_bps` is the full bid-ask spread in calm markets; `depth_usdt` the notional resting within
    10 bps of the touch on each side. Both degrade as volatility rises (see sim.liquidity).
    """

    spread_bps: Decimal = Decimal("2")
    depth_usdt: Decimal = Decimal("250000")


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    price_precision: int
    quantity_precision: int
    price_filter: PriceFilter
    lot_size: LotSize
    market_lot_size: LotSize
    min_notional: Decimal
    percent_price: PercentPrice
    max_num_orders: int
    max_num_algo_orders: int
    trigger_protect: Decimal
    liquidation_fee: Decimal
    market_take_bound: Decimal
    brackets: tuple[LeverageBracket, ...]
    order_types: tuple[str, ...] = (
        "LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET",
    )
    time_in_force: tuple[str, ...] = ("GTC", "IOC", "FOK", "GTX", "GTD")
    onboard_date: int = 0
    maint_margin_percent: Decimal = Decimal("2.5000")
    required_margin_percent: Decimal = Decimal("5.0000")
    underlying_sub_type: tuple[str, ...] = ()
    #: Reference price used to seed synthetic markets (not a Binance field).
    typical_price: Decimal = ZERO
    liquidity: Liquidity = field(default_factory=Liquidity)

    # --- rounding ---------------------------------------------------------------------------------
    @property
    def tick_size(self) -> Decimal:
        return self.price_filter.tick_size

    @property
    def step_size(self) -> Decimal:
        return self.lot_size.step_size

    def round_price(self, price: Decimal, rounding: Rounding = Rounding.NEAREST) -> Decimal:
        return round_to_grid(price, self.tick_size, rounding, self.price_filter.min_price)

    def round_qty(self, qty: Decimal, rounding: Rounding = Rounding.DOWN, market: bool = False) -> Decimal:
        lot = self.market_lot_size if market else self.lot_size
        return round_to_grid(qty, lot.step_size, rounding, ZERO)

    def truncate_to_tick(self, price: Decimal) -> Decimal:
        """Binance compares a mark price truncated to the symbol's tick with a trigger (FAQ 360040016512)."""
        return round_to_grid(price, self.tick_size, Rounding.DOWN, ZERO)

    @property
    def max_leverage(self) -> int:
        return max(b.initial_leverage for b in self.brackets) if self.brackets else 20

    # --- validation (raise OrderRejected with Binance's code) --------------------------------------
    def check_price(self, price: Decimal) -> None:
        """Validate a limit price against precision and PRICE_FILTER."""
        self._check_price_like(price, stop=False)

    def check_stop_price(self, price: Decimal) -> None:
        self._check_price_like(price, stop=True)

    def _check_price_like(self, price: Decimal, *, stop: bool) -> None:
        if decimals_of(price) > self.price_precision:
            raise be.precision_over_maximum()
        pf = self.price_filter
        if pf.min_price != 0 and price < pf.min_price:
            raise be.stop_price_below_min() if stop else be.price_below_min()
        if pf.max_price != 0 and price > pf.max_price:
            raise be.stop_price_above_max() if stop else be.price_above_max()
        if not on_grid(price, pf.tick_size, pf.min_price):
            raise be.price_not_on_tick()

    def check_qty(self, qty: Decimal, *, market: bool) -> None:
        """Validate a quantity against precision, LOT_SIZE and, for MARKET orders, MARKET_LOT_SIZE."""
        if decimals_of(qty) > self.quantity_precision:
            raise be.precision_over_maximum()
        if qty <= 0:
            raise be.qty_not_positive()
        lot = self.market_lot_size if market else self.lot_size
        if lot.min_qty != 0 and qty < lot.min_qty:
            raise be.qty_below_min()
        if lot.max_qty != 0 and qty > lot.max_qty:
            raise be.qty_above_max()
        if not on_grid(qty, lot.step_size, lot.min_qty):
            raise be.qty_not_on_step()

    def check_min_notional(self, qty: Decimal, price: Decimal) -> None:
        if self.min_notional != 0 and qty * price < self.min_notional:
            raise be.min_notional(format(self.min_notional.normalize(), "f"))

    def check_percent_price(self, side_is_buy: bool, price: Decimal, mark: Decimal) -> None:
        """Limit prices must stay inside mark × [down, up] (-4016 above the cap, -4024 below the floor)."""
        pp = self.percent_price
        if side_is_buy and pp.multiplier_up != 0 and price > mark * pp.multiplier_up:
            raise be.price_above_multiplier_cap()
        if not side_is_buy and pp.multiplier_down != 0 and price < mark * pp.multiplier_down:
            raise be.price_below_multiplier_floor()

    def bracket_for_notional(self, notional: Decimal) -> LeverageBracket:
        """The bracket whose [floor, cap) holds |notional|; the last one beyond every cap."""
        amount = abs(notional)
        for bracket in self.brackets:
            if bracket.notional_floor <= amount < bracket.notional_cap:
                return bracket
        return self.brackets[-1]
