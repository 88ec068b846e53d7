"""Margin maths of a USDⓈ-M position: maintenance and initial margin, leverage caps, open loss, liquidation.

Pure functions of Decimals and an `Instrument` (shared/binance_futures.md §8.4-§8.6). They hold no state
so the account, the order checks and the liquidation engine all compute the same number the same way:
a liquidation price that disagrees by one bracket with the maintenance margin it is derived from is a
stop that fires at the wrong place.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ..domain import binance_errors as be
from ..domain.instrument import Instrument, LeverageBracket
from ..domain.money import HUNDRED, ONE, ZERO, Rounding, round_to_grid

#: Buffer Binance adds to the last price when it prices a MARKET order for the margin check (§8.4).
MARKET_PRICE_BUFFER = Decimal("0.0015")

#: Bracket re-evaluations before falling back to a scan of every bracket (the FAQ's "recompute with the
#: bracket at LP" converges in one or two steps for real tables; the bound only guards odd tables).
_MAX_BRACKET_ITERATIONS = 8

_Solver = Callable[[LeverageBracket], "Decimal | None"]


def _bracket(instrument: Instrument, notional_abs: Decimal) -> LeverageBracket:
    """The bracket holding |notional|; an instrument without brackets gets one open-ended tier.

    That fallback uses exchangeInfo's `maintMarginPercent` and the instrument's max leverage, so an
    instrument loaded without a leverageBracket snapshot still has a maintenance margin.
    """
    if instrument.brackets:
        return instrument.bracket_for_notional(notional_abs)
    return LeverageBracket(
        bracket=1,
        initial_leverage=instrument.max_leverage,
        notional_cap=Decimal("Infinity"),
        notional_floor=ZERO,
        maint_margin_ratio=instrument.maint_margin_percent / HUNDRED,
        cum=ZERO,
    )


def maintenance_margin(instrument: Instrument, notional_abs: Decimal) -> Decimal:
    """|notional| × MMR − cum with the bracket whose [floor, cap) holds the notional (§8.5).

    `cum` makes the function continuous across bracket boundaries, so the margin never jumps when a
    position grows by one step across a floor.
    """
    amount = abs(notional_abs)
    bracket = _bracket(instrument, amount)
    return amount * bracket.maint_margin_ratio - bracket.cum


def initial_margin(notional_abs: Decimal, leverage: int) -> Decimal:
    """|notional| / leverage (§8.4): the margin locked when a position is opened or an order rests."""
    if leverage < 1:
        raise ValueError(f"leverage must be >= 1, got {leverage}")
    return abs(notional_abs) / Decimal(leverage)


def max_notional_for_leverage(instrument: Instrument, leverage: int) -> Decimal:
    """Largest position notional Binance allows at `leverage` (the `maxNotionalValue` of §6.9).

    It is the highest `notionalCap` among brackets whose `initialLeverage` is at least `leverage`;
    zero when no bracket allows that much leverage.
    """
    if not instrument.brackets:
        return Decimal("Infinity") if leverage <= instrument.max_leverage else ZERO
    caps = [b.notional_cap for b in instrument.brackets if b.initial_leverage >= leverage]
    return max(caps) if caps else ZERO


def max_leverage_for_notional(instrument: Instrument, notional_abs: Decimal) -> int:
    """Highest leverage at which a position of |notional| is allowed (notional ≤ that bracket's cap).

    Consistent with `check_leverage`: leverage L is accepted for a notional iff L ≤ this value. A
    notional exactly at a cap is still allowed at that bracket's leverage (Binance checks
    notional ≤ maxNotionalValue). Beyond the last cap no leverage is allowed; the last bracket's
    leverage is returned and `check_leverage` still rejects the position.
    """
    amount = abs(notional_abs)
    if not instrument.brackets:
        return instrument.max_leverage
    allowed = [b.initial_leverage for b in instrument.brackets if amount <= b.notional_cap]
    return max(allowed) if allowed else instrument.brackets[-1].initial_leverage


def check_leverage(instrument: Instrument, leverage: int, notional_abs: Decimal) -> None:
    """Raise Binance's error for a leverage the symbol or the position size does not allow.

    -4028 for leverage < 1 or above the symbol's maximum (checked first: it is a parameter error);
    -2027 when the position notional exceeds what that leverage's bracket allows.
    """
    if leverage < 1 or leverage > instrument.max_leverage:
        raise be.invalid_leverage(str(leverage))
    if abs(notional_abs) > max_notional_for_leverage(instrument, leverage):
        raise be.exceeded_max_position()


def open_loss(side_sign: int, qty: Decimal, mark: Decimal, order_price: Decimal) -> Decimal:
    """qty × |min(0, dir × (mark − orderPrice))| (§8.4): the loss an order is born with.

    A BUY priced above mark (or a SELL below mark) starts underwater at mark; Binance charges that
    difference up front so the new position is not liquidated the moment it opens.
    """
    _check_side(side_sign)
    return abs(qty) * abs(min(ZERO, side_sign * (mark - order_price)))


def assumed_market_price(side_sign: int, last: Decimal, mark: Decimal) -> Decimal:
    """The price Binance assumes for a MARKET order when it checks margin (§8.4).

    SELL (short): max(last × (1 + 0.15 %), mark), as the FAQ gives it. The FAQ gives no MARKET rule
    for a BUY; we use the same expression, which is the conservative side for a buyer twice over: a
    buyer fills above last, and a higher assumed price raises both the initial margin and the open
    loss against mark. (Binance-derived venues document ask[0] × (1 + 0.05 %) for longs; with a
    calm spread under 20 bps, last × 1.0015 is at least that.)
    """
    _check_side(side_sign)
    return max(last * (ONE + MARKET_PRICE_BUFFER), mark)


def liquidation_price(
    side_sign: int,
    qty_abs: Decimal,
    entry_price: Decimal,
    wallet_balance: Decimal,
    instrument: Instrument,
    other_maint_margin: Decimal = ZERO,
    other_unrealized: Decimal = ZERO,
    *,
    rounding: Rounding = Rounding.NEAREST,
) -> Decimal | None:
    """One-way-mode liquidation price (§8.6), or None when flat or when no positive price liquidates.

    LP = (WB − TMM1 + UPNL1 + cum − Side·Q·EP) / (Q·MMR − Side·Q), i.e. the mark at which margin
    balance equals maintenance margin. Isolated: `wallet_balance` is the isolated wallet and the
    other_* terms are 0. Cross: the cross wallet, with TMM1/UPNL1 of every other position.

    The bracket is first taken at the entry notional and, as the FAQ prescribes, recomputed with the
    bracket at LP's notional until it is stable; if an odd table made that oscillate, every bracket
    is tried and the one whose range holds its own solution wins (there is exactly one for a table
    with consistent cum, since margin balance minus maintenance margin is strictly monotone in price).

    The result is rounded to the tick, to the NEAREST tick by default: that is how Binance shows it
    (at price precision) and reproduces the FAQ's worked numbers; pass Rounding.UP for a long /
    DOWN for a short to get the conservative side instead. A result that rounds to ≤ 0 is None
    (Binance's UI shows "--", positionRisk "0").
    """
    _check_side(side_sign)
    qty = abs(qty_abs)
    if qty == 0:
        return None
    base = wallet_balance - other_maint_margin + other_unrealized - side_sign * qty * entry_price

    def solve(bracket: LeverageBracket) -> Decimal | None:
        denominator = qty * bracket.maint_margin_ratio - side_sign * qty
        if denominator == 0:
            return None
        return (base + bracket.cum) / denominator

    bracket = _bracket(instrument, qty * entry_price)
    raw: Decimal | None = None
    for _ in range(_MAX_BRACKET_ITERATIONS):
        raw = solve(bracket)
        if raw is None:
            return None
        # A non-positive solution with a high bracket's cum may still have a positive one in a lower
        # bracket, so look it up at notional 0 rather than giving up.
        at_lp = _bracket(instrument, qty * max(raw, ZERO))
        if at_lp == bracket:
            break
        bracket = at_lp
    else:
        raw = _scan_brackets(instrument, qty, solve) or raw
    if raw is None or raw <= 0:
        return None
    rounded = round_to_grid(raw, instrument.tick_size, rounding, ZERO)
    return rounded if rounded > 0 else None


def _scan_brackets(instrument: Instrument, qty: Decimal, solve: _Solver) -> Decimal | None:
    """The solution that lies inside its own bracket's notional range, if any."""
    for bracket in instrument.brackets:
        candidate = solve(bracket)
        if candidate is not None and candidate > 0 and _bracket(instrument, qty * candidate) == bracket:
            return candidate
    return None


def _check_side(side_sign: int) -> None:
    if side_sign not in (1, -1):
        raise ValueError(f"side_sign must be +1 (long/BUY) or -1 (short/SELL), got {side_sign}")
