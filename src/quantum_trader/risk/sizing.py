"""Position size from planned loss: lose `risk %` of equity if the stop fills at its price.

The loss per unit counts the stop distance, taker fees on the way in and out, and an allowance for
slippage on the stop's market fill; the size is then capped by leverage and available margin (and the
leverage bracket's notional cap) and rounded DOWN to the market lot step, so rounding never adds
risk. When even the symbol's minimum order would risk more than planned, the answer is a refusal
with the figures, never a bigger trade.

Optionally (QT_EV_FULL_SIZE_PCT, off by default) the planned loss shrinks with the signal's expected edge:
a scanner signal whose expected value per trade after fees is half of `ev_full_size_pct` risks half the
planned loss; at or above it, the full planned loss, never more (issue 11: "size may scale with the
expected edge, capped by the planned-loss sizing"). So the scaling can only take risk away. A signal
without an expected value (sma-cross, a forced entry) is sized as before; one with no positive edge is
refused when the scaling is on, since it would size to nothing.

An entry whose stop lies at or beyond its own liquidation price is refused: the position is isolated
(execution sets it so), its margin is notional / leverage, and at high leverage the exchange would
liquidate it (at a worse price, with the liquidation fee) before the stop could fire: a position without
a working stop, which is what this bot exists to prevent.

Every refusal carries a `kind` (one word per reason, e.g. `stop_beyond_liquidation`), so a backtest can count
its refusals by reason, and names the setting to change as the user gave it (`SizingRules.setting_names`:
`--param leverage` in a backtest that set it so, `QT_LEVERAGE` otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..domain.errors import OrderRejected
from ..domain.events import Direction
from ..domain.instrument import Instrument
from ..domain.money import ZERO, Rounding, fmt
from ..domain.stops import protection_prices
from ..sim.margin import liquidation_price
from .rules import setting_name

HUNDRED = Decimal(100)
#: A stop closer than this many ticks to the price is refused: on a coarse grid (a 0.00085 price with
#: a 0.00001 tick is 1.2 % per tick) one tick of slippage doubles the loss, and the spread alone can
#: put the stop beyond the mark, so it "would immediately trigger" (-2021) and the entry is undone.
MIN_STOP_TICKS = 5


@dataclass(frozen=True, slots=True)
class SizingRules:
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    risk_per_trade_pct: Decimal
    leverage: int
    taker_fee: Decimal = Decimal("0.0005")
    #: Expected adverse slippage of the stop's market fill, as a fraction of price (5 bps).
    slippage: Decimal = Decimal("0.0005")
    #: Keep this share of available margin unused (fees, price moving before the fill).
    margin_buffer: Decimal = Decimal("0.95")
    #: QT_EV_FULL_SIZE_PCT: the expected value per trade (% of notional, after fees) that earns the full planned
    #: loss; smaller edges risk proportionally less. None: no scaling.
    ev_full_size_pct: Decimal | None = None
    #: How a refusal names a setting (by Settings field) that was not given as its variable: a backtest's
    #: `--param leverage`. A setting not listed is named as its variable (`QT_LEVERAGE`).
    setting_names: Mapping[str, str] = field(default_factory=dict)

    def named(self, setting: str) -> str:
        """The setting as the user gave it: its option where one is listed, else its variable."""
        return setting_name(self.setting_names, setting)


@dataclass(frozen=True, slots=True)
class Sizing:
    quantity: Decimal
    stop: Decimal
    take_profit: Decimal
    planned_loss: Decimal
    notional: Decimal


class SizingRefused(ValueError):
    """The trade cannot be sized within the rules; the message is the reason shown to the user, `kind` the
    reason in one word (what a backtest counts its refusals by)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def loss_per_unit(entry: Decimal, stop: Decimal, rules: SizingRules) -> Decimal:
    return abs(entry - stop) + rules.taker_fee * (entry + stop) + rules.slippage * stop


def edge_scale(expected_value: float | None, rules: SizingRules) -> Decimal:
    """The share of the planned loss a signal may risk, in (0, 1]: its expected value (a fraction of notional)
    over `ev_full_size_pct`, capped at 1; 1 when the scaling is off or the signal carries no expected value."""
    if rules.ev_full_size_pct is None or expected_value is None:
        return Decimal(1)
    edge_pct = Decimal(repr(float(expected_value))) * HUNDRED
    if not edge_pct > 0:
        raise SizingRefused(f"expected value {edge_pct:.3f}% per trade after fees: no edge to size "
                            f"({rules.named('ev_full_size_pct')}={fmt(rules.ev_full_size_pct)})", "no_edge")
    return min(Decimal(1), edge_pct / rules.ev_full_size_pct)


def size_entry(inst: Instrument, direction: Direction, price: Decimal, equity: Decimal, available: Decimal,
               rules: SizingRules, *, expected_value: float | None = None) -> Sizing:
    if price <= 0 or equity <= 0:
        raise SizingRefused(f"no price or no equity (price {fmt(price)}, equity {fmt(equity)})", "no_price_or_equity")
    stop, take = protection_prices(inst, direction, price, rules.stop_loss_pct, rules.take_profit_pct)
    for name, level in (("stop-loss", stop), ("take-profit", take)):
        try:
            inst.check_stop_price(level)
        except OrderRejected as refused:  # the exchange would refuse the protection: never enter
            raise SizingRefused(f"{inst.symbol}: the {name} at {fmt(level)} would be refused "
                                f"({refused.code} {refused.msg})", "protection_refused") from None
    ticks = abs(price - stop) / inst.tick_size
    if ticks < MIN_STOP_TICKS:
        raise SizingRefused(f"{inst.symbol}: a {fmt(rules.stop_loss_pct)}% stop is only {ticks:.0f} tick(s) of "
                            f"{fmt(inst.tick_size)} from {fmt(price)}; at least {MIN_STOP_TICKS} are needed to "
                            f"protect: raise {rules.named('stop_loss_pct')}", "stop_too_close")
    budget = equity * rules.risk_per_trade_pct / HUNDRED * edge_scale(expected_value, rules)
    per_unit = loss_per_unit(price, stop, rules)
    leverage = Decimal(effective_leverage(inst, rules))
    cap_notional = min(max(available, ZERO) * rules.margin_buffer * leverage, _bracket_cap(inst, leverage))
    qty = min(budget / per_unit, cap_notional / price, inst.market_lot_size.max_qty)
    qty = inst.round_qty(qty, Rounding.DOWN, market=True)
    minimum = _minimum_qty(inst, price)
    if qty < minimum:
        at_min = minimum * per_unit
        if at_min > budget:
            raise SizingRefused(f"{inst.symbol}: the minimum order {fmt(minimum)} would risk {_usdt(at_min)} USDT, "
                                f"more than the {_usdt(budget)} USDT planned: raise {rules.named('risk_per_trade_pct')}"
                                " or the balance", "minimum_order_too_risky")
        raise SizingRefused(f"{inst.symbol}: not enough margin for the minimum order {fmt(minimum)} "
                            f"(available {fmt(available)} USDT at {leverage}x)", "no_margin")
    _check_stop_before_liquidation(inst, direction, price, qty, stop, leverage, rules)
    return Sizing(quantity=qty, stop=stop, take_profit=take, planned_loss=qty * per_unit, notional=qty * price)


def entry_liquidation_price(inst: Instrument, direction: Direction, price: Decimal, qty: Decimal,
                            leverage: Decimal, taker_fee: Decimal) -> Decimal | None:
    """The liquidation price of an isolated position just opened at `price` (its margin: notional / leverage,
    less the opening fee, as the exchange books it), on its conservative tick (up for a long, down for a
    short); None where no positive price liquidates it."""
    long = direction is Direction.LONG
    notional = qty * price
    return liquidation_price(1 if long else -1, qty, price, notional / leverage - notional * taker_fee, inst,
                             rounding=Rounding.UP if long else Rounding.DOWN)


def _check_stop_before_liquidation(inst: Instrument, direction: Direction, price: Decimal, qty: Decimal,
                                   stop: Decimal, leverage: Decimal, rules: SizingRules) -> None:
    """SizingRefused when the isolated position's liquidation price (on its conservative tick) is reached
    before the stop: a long's at or above the stop, a short's at or below it."""
    long = direction is Direction.LONG
    liquidation = entry_liquidation_price(inst, direction, price, qty, leverage, rules.taker_fee)
    if liquidation is None or (liquidation < stop if long else liquidation > stop):
        return
    raise SizingRefused(f"{inst.symbol}: at {leverage}x the position would be liquidated at about {fmt(liquidation)}, "
                        f"before its {fmt(rules.stop_loss_pct)}% stop-loss at {fmt(stop)} could fire: lower "
                        f"{rules.named('leverage')} or {rules.named('stop_loss_pct')}", "stop_beyond_liquidation")


def effective_leverage(inst: Instrument, rules: SizingRules) -> int:
    """QT_LEVERAGE, capped at the symbol's largest (its first bracket's): what the entry is sized with and what
    execution must set, since the exchange refuses more with -4028 (a 125 setting on a 75x symbol)."""
    return min(rules.leverage, inst.max_leverage)


def _bracket_cap(inst: Instrument, leverage: Decimal) -> Decimal:
    """The largest notional the leverage brackets allow at this leverage (-2027 beyond it)."""
    caps = [b.notional_cap for b in inst.brackets if b.initial_leverage >= leverage]
    return max(caps) if caps else Decimal("Infinity")


def _minimum_qty(inst: Instrument, price: Decimal) -> Decimal:
    """The smallest market quantity passing both the lot filter and MIN_NOTIONAL at `price`."""
    by_notional = inst.round_qty(inst.min_notional / price, Rounding.UP, market=True)
    return max(inst.market_lot_size.min_qty, by_notional)


def _usdt(value: Decimal) -> str:
    return fmt(value.quantize(Decimal("0.01")))
