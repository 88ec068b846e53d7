"""sim.margin: maintenance/initial margin, leverage caps, open loss and the §8.6 liquidation price."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from instrument_fixtures import btc_like, make_instrument

from quantum_trader.domain.errors import OrderRejected
from quantum_trader.domain.money import Rounding
from quantum_trader.sim.margin import (
    assumed_market_price,
    check_leverage,
    initial_margin,
    liquidation_price,
    maintenance_margin,
    max_leverage_for_notional,
    max_notional_for_leverage,
    open_loss,
)

D = Decimal
BTC_CENTS = btc_like(tick="0.01")  # the §8.6 worked numbers are quoted to the cent


# --- maintenance and initial margin ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("notional", "expected"),
    [
        ("5000", "20"),  # 5 000 × 0.4 %
        ("49999.9", "199.9996"),
        ("50000", "200"),  # bracket 2 at its floor: 250 − 50, continuous with bracket 1
        ("100000", "450"),  # 100 000 × 0.5 % − 50
        ("250000", "1200"),  # bracket 3 at its floor: 2 500 − 1 300 = 1 250 − 50
        ("2000000", "18700"),  # beyond the last cap: the last bracket still applies
        ("-5000", "20"),  # sign of the notional does not matter
    ],
)
def test_maintenance_margin_uses_the_bracket_holding_the_notional(notional: str, expected: str) -> None:
    assert maintenance_margin(BTC_CENTS, D(notional)) == D(expected)


def test_maintenance_margin_without_brackets_falls_back_to_maint_margin_percent() -> None:
    bare = make_instrument(brackets=())
    assert maintenance_margin(bare, D("1000")) == D("25")  # 2.5 % of exchangeInfo's maintMarginPercent


def test_initial_margin_is_notional_over_leverage() -> None:
    assert initial_margin(D("5000"), 10) == D("500")
    assert initial_margin(D("-9253.30"), 20) == D("462.665")
    with pytest.raises(ValueError, match="leverage"):
        initial_margin(D("5000"), 0)


# --- leverage ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("notional", "expected"),
    [("0", 125), ("5000", 125), ("50000", 125), ("50000.01", 100), ("250000", 100), ("250001", 50),
     ("1000000", 50), ("5000000", 50)],
)
def test_max_leverage_for_notional(notional: str, expected: int) -> None:
    assert max_leverage_for_notional(BTC_CENTS, D(notional)) == expected


def test_max_notional_for_leverage_is_the_largest_cap_allowing_it() -> None:
    assert max_notional_for_leverage(BTC_CENTS, 125) == D("50000")
    assert max_notional_for_leverage(BTC_CENTS, 101) == D("50000")
    assert max_notional_for_leverage(BTC_CENTS, 100) == D("250000")
    assert max_notional_for_leverage(BTC_CENTS, 20) == D("1000000")
    assert max_notional_for_leverage(BTC_CENTS, 126) == D("0")


@pytest.mark.parametrize(("leverage", "notional"), [(125, "50000"), (100, "250000"), (1, "1000000"), (20, "0")])
def test_check_leverage_accepts_positions_within_the_cap(leverage: int, notional: str) -> None:
    check_leverage(BTC_CENTS, leverage, D(notional))


@pytest.mark.parametrize(("leverage", "notional"), [(125, "50000.1"), (100, "250000.1"), (50, "1000001")])
def test_check_leverage_rejects_a_position_above_the_leverage_cap_with_2027(leverage: int, notional: str) -> None:
    with pytest.raises(OrderRejected) as info:
        check_leverage(BTC_CENTS, leverage, D(notional))
    assert info.value.code == -2027
    assert info.value.msg == "Exceeded the maximum allowable position at current leverage."


@pytest.mark.parametrize("leverage", [0, -1, 126])
def test_check_leverage_rejects_leverage_outside_1_to_max_with_4028(leverage: int) -> None:
    with pytest.raises(OrderRejected) as info:
        check_leverage(BTC_CENTS, leverage, D("10"))
    assert info.value.code == -4028
    assert info.value.msg == f"Leverage {leverage} is not valid"


# --- open loss and assumed price (§8.4, FAQ example: order 9 253.30, mark 9 259.84) ---------------------
def test_open_loss_matches_the_faq_example() -> None:
    assert open_loss(1, D("1"), D("9259.84"), D("9253.30")) == D("0")  # buy below mark: no loss
    assert open_loss(-1, D("1"), D("9259.84"), D("9253.30")) == D("6.54")  # sell below mark
    assert open_loss(1, D("2"), D("100"), D("101")) == D("2")  # buy above mark
    assert open_loss(-1, D("-2"), D("100"), D("101")) == D("0")  # quantity sign ignored


def test_assumed_market_price_buffers_last_and_never_goes_below_mark() -> None:
    assert assumed_market_price(-1, D("9258.99"), D("9259.84")) == D("9258.99") * D("1.0015")
    assert assumed_market_price(1, D("9258.99"), D("9259.84")) == D("9258.99") * D("1.0015")
    assert assumed_market_price(-1, D("100"), D("101")) == D("101")
    assert assumed_market_price(1, D("100"), D("101")) == D("101")


def test_bad_side_sign_is_refused() -> None:
    with pytest.raises(ValueError, match="side_sign"):
        open_loss(0, D("1"), D("1"), D("1"))


# --- liquidation price (§8.6) ------------------------------------------------------------------------
def test_liquidation_worked_numbers_isolated_long() -> None:
    assert liquidation_price(1, D("0.1"), D("50000"), D("500"), BTC_CENTS) == D("45180.72")


def test_liquidation_worked_numbers_cross_long() -> None:
    assert liquidation_price(1, D("0.1"), D("50000"), D("1000"), BTC_CENTS) == D("40160.64")


def test_liquidation_worked_numbers_isolated_short() -> None:
    assert liquidation_price(-1, D("0.1"), D("50000"), D("500"), BTC_CENTS) == D("54780.88")


def test_liquidation_price_is_rounded_to_the_symbols_tick() -> None:
    btc = btc_like()  # tick 0.10
    assert liquidation_price(1, D("0.1"), D("50000"), D("500"), btc) == D("45180.7")
    assert liquidation_price(1, D("0.1"), D("50000"), D("500"), btc, rounding=Rounding.UP) == D("45180.8")
    assert liquidation_price(-1, D("0.1"), D("50000"), D("500"), btc, rounding=Rounding.DOWN) == D("54780.8")


def test_liquidation_price_counts_other_cross_positions() -> None:
    # (1 000 − 100 − 200 − 5 000) / (0.0004 − 0.1) = 43 172.69
    lp = liquidation_price(1, D("0.1"), D("50000"), D("1000"), BTC_CENTS, D("100"), D("-200"))
    assert lp == D("43172.69")


def test_liquidation_recomputes_with_the_bracket_at_the_liquidation_price_long() -> None:
    # 1.1 BTC @ 50 000 = 55 000 (bracket 2); at LP the notional is below 50 000 → bracket 1.
    naive = (D("5500") + 50 - D("55000")) / (D("1.1") * D("0.005") - D("1.1"))
    lp = liquidation_price(1, D("1.1"), D("50000"), D("5500"), BTC_CENTS)
    assert lp == D("45180.72")
    assert abs(naive - lp) > D("0.2")


def test_liquidation_recomputes_with_the_bracket_at_the_liquidation_price_short() -> None:
    # 0.95 BTC short @ 50 000 = 47 500 (bracket 1); at LP the notional is above 50 000 → bracket 2.
    lp = liquidation_price(-1, D("0.95"), D("50000"), D("4750"), BTC_CENTS)
    expected = (D("4750") + 50 + D("47500")) / (D("0.95") * D("0.005") + D("0.95"))
    assert lp == expected.quantize(D("0.01"))
    assert lp == D("54778.74")


def test_liquidation_price_found_in_a_lower_bracket_when_the_entry_bracket_gives_none() -> None:
    # Entry bracket 3 (cum 1 300) solves to a negative price; bracket 1 holds the real one.
    assert liquidation_price(1, D("10"), D("50000"), D("499990"), BTC_CENTS) == D("1.00")


def test_no_liquidation_price_when_flat_or_fully_collateralised() -> None:
    assert liquidation_price(1, D("0"), D("50000"), D("500"), BTC_CENTS) is None
    assert liquidation_price(1, D("0.1"), D("50000"), D("5000"), BTC_CENTS) is None  # 1× long: LP = 0
    assert liquidation_price(1, D("0.1"), D("50000"), D("8000"), BTC_CENTS) is None  # LP < 0


def _margin_gap(side: int, qty: Decimal, entry: Decimal, wallet: Decimal, lp: Decimal,
                other_mm: Decimal, other_upnl: Decimal) -> Decimal:
    margin_balance = wallet - other_mm + other_upnl + side * qty * (lp - entry)
    return margin_balance - maintenance_margin(BTC_CENTS, qty * lp)


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from([1, -1]),
    qty_units=st.integers(1, 30_000),  # 0.001 … 30 BTC: notionals across all three brackets
    entry_cents=st.integers(100_000, 10_000_000),  # 1 000.00 … 100 000.00
    wallet_permille=st.integers(5, 1_500),  # wallet = 0.5 % … 150 % of the entry notional
    other_mm_cents=st.integers(0, 100_000),
    other_upnl_cents=st.integers(-100_000, 100_000),
)
def test_at_the_liquidation_price_margin_balance_equals_maintenance_margin(
    side: int, qty_units: int, entry_cents: int, wallet_permille: int, other_mm_cents: int,
    other_upnl_cents: int,
) -> None:
    qty = D(qty_units) / 1000
    entry = D(entry_cents) / 100
    wallet = (qty * entry * wallet_permille / 1000).quantize(D("0.01"))
    other_mm, other_upnl = D(other_mm_cents) / 100, D(other_upnl_cents) / 100
    lp = liquidation_price(side, qty, entry, wallet, BTC_CENTS, other_mm, other_upnl)
    assume(lp is not None)
    assert lp is not None
    tick = BTC_CENTS.tick_size
    # Rounding LP by ≤ half a tick moves (margin balance − maintenance margin) by ≤ qty × tick.
    assert abs(_margin_gap(side, qty, entry, wallet, lp, other_mm, other_upnl)) <= qty * tick
    # And it is the boundary: one tick further the position is below maintenance, one tick back above.
    worse, better = lp - side * tick * 2, lp + side * tick * 2
    if worse > 0:
        assert _margin_gap(side, qty, entry, wallet, worse, other_mm, other_upnl) < 0
    assert _margin_gap(side, qty, entry, wallet, better, other_mm, other_upnl) > 0
