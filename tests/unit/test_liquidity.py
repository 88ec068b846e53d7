"""sim.liquidity: volatility tracking and the taker fill model (size and stress cost slippage)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from instrument_fixtures import bnb_like, btc_like

from quantum_trader.domain.money import on_grid
from quantum_trader.sim.liquidity import (
    LiquidityModel,
    VolatilityTracker,
    average_price,
    limit_fillable,
)

D = Decimal
BTC = btc_like()  # tick 0.10, step 0.001, spread 2 bps, 250 000 USDT within 10 bps
BNB = bnb_like()  # tick 0.010, step 0.01, spread 0.5 bp, 1 000 000 USDT within 10 bps
MODEL = LiquidityModel()
CALM = MODEL.vol_ref


def fill(side: int, qty: str, ref: str = "50000", vol: float = CALM, inst: object = BTC) -> list[tuple[D, D]]:
    return MODEL.fill_levels(inst, side, D(qty), D(ref), vol)  # type: ignore[arg-type]


# --- VolatilityTracker -----------------------------------------------------------------------------------
def test_volatility_starts_at_the_calm_baseline_and_first_price_is_no_return() -> None:
    tracker = VolatilityTracker()
    assert tracker.volatility("BTCUSDT") == tracker.initial
    assert tracker.update("BTCUSDT", D("50000")) == tracker.initial


def test_volatility_halves_after_half_life_updates_of_flat_prices() -> None:
    tracker = VolatilityTracker(half_life_updates=10, initial=1e-3, floor=1e-9)
    for _ in range(11):  # the first update only records the price
        tracker.update("X", D("100"))
    assert tracker.volatility("X") == pytest.approx(5e-4, rel=1e-9)


def test_a_jump_raises_volatility_by_alpha_times_the_log_move() -> None:
    tracker = VolatilityTracker(half_life_updates=20, initial=5e-4)
    tracker.update("X", D("100"))
    after = tracker.update("X", D("95"))
    expected = 5e-4 + tracker.alpha * (abs(math.log(0.95)) - 5e-4)
    assert after == pytest.approx(expected, rel=1e-12)
    assert after > 5 * 5e-4 / 2  # a 5 % gap is felt at once
    assert tracker.volatility("Y") == 5e-4  # symbols are independent


def test_volatility_never_reads_below_its_floor() -> None:
    tracker = VolatilityTracker(half_life_updates=1, floor=2e-4)
    for _ in range(50):
        tracker.update("X", D("100"))
    assert tracker.volatility("X") == 2e-4


def test_volatility_refuses_non_positive_prices_and_half_life() -> None:
    with pytest.raises(ValueError, match="positive"):
        VolatilityTracker().update("X", D("0"))
    with pytest.raises(ValueError, match="half_life"):
        VolatilityTracker(half_life_updates=0)


# --- fill_levels: shape ------------------------------------------------------------------------------------
def test_small_order_in_a_deep_book_pays_half_the_spread() -> None:
    levels = fill(1, "0.001")
    assert levels == [(D("50005.0"), D("0.001"))]  # 50 000 × 2 bps / 2 = 5.0
    assert fill(-1, "0.001") == [(D("49995.0"), D("0.001"))]


def test_bnb_like_buy_of_1_15_fills_at_or_above_920_within_a_few_ticks() -> None:
    levels = fill(1, "1.15", "920", inst=BNB)
    avg = average_price(levels)
    assert sum(q for _, q in levels) == D("1.15")
    assert D("920") <= avg <= D("920") + 5 * BNB.tick_size
    assert levels == [(D("920.030"), D("1.15"))]  # half spread 0.023 rounded up to the tick


def test_large_order_walks_the_ladder_in_level_sized_slices() -> None:
    levels = fill(1, "2")
    # 25 000 USDT per level (250 000 / 10), one level per bp (5.0) beyond the touch.
    assert levels == [
        (D("50005.0"), D("0.499")),
        (D("50010.0"), D("0.499")),
        (D("50015.0"), D("0.499")),
        (D("50020.0"), D("0.499")),
        (D("50025.0"), D("0.004")),
    ]


def test_sell_walk_mirrors_the_buy_walk() -> None:
    levels = fill(-1, "1.2")  # a seller's level holds slightly more base (25 000 / 49 995 → 0.500)
    assert levels == [(D("49995.0"), D("0.5")), (D("49990.0"), D("0.5")), (D("49985.0"), D("0.2"))]


def test_prices_are_rounded_against_the_taker() -> None:
    # Reference off the grid: 50 000.03 ± 5.000003 → the buyer pays 50 005.1, the seller gets 49 995.0.
    assert fill(1, "0.001", "50000.03")[0][0] == D("50005.1")
    assert fill(-1, "0.001", "50000.03")[0][0] == D("49995.0")
    assert fill(-1, "0.001", "50000.07")[0][0] == D("49995.0")  # 49 995.069993 rounds down, not to 49 995.1


def test_remainder_goes_to_the_last_level_when_the_walk_is_capped() -> None:
    model = LiquidityModel(max_levels=3)
    levels = model.fill_levels(BTC, 1, D("10"), D("50000"), CALM)
    assert len(levels) == 3
    assert levels[-1] == (D("50015.0"), D("10") - 2 * D("0.499"))


def test_fill_is_deterministic() -> None:
    assert fill(1, "3.333", vol=0.004) == fill(1, "3.333", vol=0.004)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="qty"):
        fill(1, "0")
    with pytest.raises(ValueError, match="side_sign"):
        fill(0, "1")
    with pytest.raises(ValueError, match="reference_price"):
        fill(1, "1", "0")


# --- fill_levels: economics -----------------------------------------------------------------------------
def test_larger_orders_get_worse_average_prices() -> None:
    sizes = ["0.001", "0.5", "1", "2", "5", "20", "100"]
    buys = [average_price(fill(1, s)) for s in sizes]
    sells = [average_price(fill(-1, s)) for s in sizes]
    assert buys == sorted(buys)
    assert buys[0] < buys[-1]
    assert sells == sorted(sells, reverse=True)
    assert sells[0] > sells[-1]
    assert buys[-1] - D("50000") > 10 * (buys[2] - D("50000"))  # 100 BTC ≫ 1 BTC impact


def test_higher_volatility_gives_worse_average_prices() -> None:
    vols = [CALM, 2 * CALM, 5 * CALM, 20 * CALM]
    for side in (1, -1):
        avgs = [average_price(fill(side, "3", vol=v)) for v in vols]
        adverse = [side * (a - D("50000")) for a in avgs]
        assert adverse == sorted(adverse)
        assert len(set(adverse)) == len(adverse)  # strictly worse at each step


def test_stress_widens_the_spread_in_proportion() -> None:
    assert fill(1, "0.001", vol=4 * CALM) == [(D("50020.0"), D("0.001"))]  # 4 × the 5.0 half spread


def test_below_the_calm_baseline_the_book_keeps_its_nominal_shape() -> None:
    assert fill(1, "2", vol=CALM / 10) == fill(1, "2", vol=CALM)
    assert MODEL.widening(0.0) == D(1)
    assert MODEL.widening(1e9) == MODEL.widening(float("inf")) == D(50)  # capped at max_widening


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from([1, -1]),
    qty_units=st.integers(1, 500_000),  # 0.001 … 500 BTC
    ref_tenths=st.integers(10_000, 2_000_000),  # 1 000.0 … 200 000.0
    vol=st.floats(0.0, 0.05),
)
def test_slices_sum_to_qty_on_grid_and_never_beat_the_reference(
    side: int, qty_units: int, ref_tenths: int, vol: float
) -> None:
    qty, ref = D(qty_units) / 1000, D(ref_tenths) / 10
    levels = MODEL.fill_levels(BTC, side, qty, ref, vol)
    assert sum(q for _, q in levels) == qty
    assert all(q > 0 and on_grid(q, BTC.step_size) for _, q in levels)
    assert all(on_grid(p, BTC.tick_size) for p, _ in levels)
    assert all(side * (p - ref) >= 0 for p, _ in levels)  # at least as bad as the reference
    prices = [p for p, _ in levels]
    assert prices == sorted(prices, reverse=side < 0)  # best first
    assert len(set(prices)) == len(prices)


# --- helpers ---------------------------------------------------------------------------------------------
def test_average_price_is_quantity_weighted() -> None:
    assert average_price([(D("100"), D("1")), (D("110"), D("3"))]) == D("107.5")
    with pytest.raises(ValueError, match="slice"):
        average_price([])


@pytest.mark.parametrize(
    ("side", "limit", "last", "fills"),
    [
        (1, "100", "99.9", True),
        (1, "100", "100", True),
        (1, "100", "100.1", False),
        (-1, "100", "100.1", True),
        (-1, "100", "100", True),
        (-1, "100", "99.9", False),
    ],
)
def test_limit_fills_only_when_the_market_trades_through(side: int, limit: str, last: str, fills: bool) -> None:
    assert limit_fillable(side, D(limit), D(last)) is fills
    assert LiquidityModel.limit_fillable(side, D(limit), D(last)) is fills
