"""Sizing from planned loss (risk/sizing.py) and SL/TP placement on the tick grid (domain/stops.py)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from instrument_fixtures import bnb_like, btc_like

from quantum_trader.domain.events import Direction
from quantum_trader.domain.stops import protection_prices
from quantum_trader.risk.sizing import (
    SizingRefused,
    SizingRules,
    entry_liquidation_price,
    loss_per_unit,
    size_entry,
)
from quantum_trader.sim.universe import load_universe

D = Decimal
RULES = SizingRules(stop_loss_pct=D("2"), take_profit_pct=D("4"), risk_per_trade_pct=D("1"), leverage=5)


def test_loss_at_the_stop_is_the_budget_within_one_lot_step() -> None:
    inst = btc_like()
    sized = size_entry(inst, Direction.LONG, D("50000"), D("10000"), D("10000"), RULES)
    # stop 49000; per unit 1000 + 0.0005 × 99000 + 0.0005 × 49000 = 1074; 100 / 1074 = 0.0931.. → 0.093
    assert sized.stop == D("49000")
    assert sized.take_profit == D("52000")
    assert sized.quantity == D("0.093")
    assert sized.planned_loss == D("0.093") * D("1074")
    assert sized.notional == D("0.093") * D("50000")


@pytest.mark.parametrize("direction", [Direction.LONG, Direction.SHORT])
def test_rounding_down_never_exceeds_the_budget(direction: Direction) -> None:
    rng = random.Random(1)
    inst = bnb_like()
    step = inst.market_lot_size.step_size
    for _ in range(200):
        price = D(rng.randint(50_000, 200_000)) / 100
        equity = D(rng.randint(1_000, 1_000_000)) / 10
        sized = size_entry(inst, direction, price, equity, equity * 100, RULES)
        budget = equity / 100
        per_unit = loss_per_unit(price, sized.stop, RULES)
        assert sized.quantity % step == 0
        assert sized.planned_loss <= budget
        assert (sized.quantity + step) * per_unit > budget  # rounded DOWN by less than one step


def test_capped_by_available_margin_times_leverage() -> None:
    inst = btc_like()
    # budget alone would give 0.093; 100 USDT × 0.95 buffer × 5x / 50000 = 0.0095 → 0.009
    sized = size_entry(inst, Direction.LONG, D("50000"), D("10000"), D("100"), RULES)
    assert sized.quantity == D("0.009")
    assert sized.planned_loss < D("100")


def test_leverage_above_the_instrument_maximum_is_capped() -> None:
    inst = btc_like()  # max leverage 125
    # A 0.3 % stop: at 125x the position is liquidated about 0.4 % away (a 2 % stop is refused for that).
    rules = SizingRules(stop_loss_pct=D("0.3"), take_profit_pct=D("4"), risk_per_trade_pct=D("100"), leverage=500)
    sized = size_entry(inst, Direction.LONG, D("10000"), D("100000"), D("100"), rules)
    # 100 × 0.95 × 125 / 10000 = 1.1875 → 1.187 (not 500x → 4.75)
    assert sized.quantity == D("1.187")


def test_refusal_when_the_minimum_order_risks_more_than_planned() -> None:
    inst = btc_like()
    with pytest.raises(SizingRefused) as refused:
        size_entry(inst, Direction.LONG, D("50000"), D("100"), D("100"), RULES)  # budget 1 USDT, min risks 1.07
    message = str(refused.value)
    assert "BTCUSDT" in message
    assert "minimum order 0.001" in message
    assert "1.07 USDT" in message
    assert "more than the 1 USDT planned" in message


def test_refusal_when_margin_cannot_cover_the_minimum_order() -> None:
    inst = btc_like()
    with pytest.raises(SizingRefused, match="not enough margin"):
        size_entry(inst, Direction.SHORT, D("50000"), D("10000"), D("0.5"), RULES)


def test_min_notional_sets_the_minimum_on_the_real_btc_instrument() -> None:
    inst = load_universe().instrument("BTCUSDT")  # MIN_NOTIONAL 100 → at least 0.002 at 50000
    with pytest.raises(SizingRefused, match=r"minimum order 0\.002"):
        size_entry(inst, Direction.LONG, D("50000"), D("150"), D("150"), RULES)
    sized = size_entry(inst, Direction.LONG, D("50000"), D("10000"), D("10000"), RULES)
    assert sized.quantity == D("0.093")


@pytest.mark.parametrize(("price", "equity"), [(D("0"), D("100")), (D("-1"), D("100")), (D("100"), D("0"))])
def test_no_price_or_no_equity_is_refused(price: Decimal, equity: Decimal) -> None:
    with pytest.raises(SizingRefused, match="no price or no equity"):
        size_entry(btc_like(), Direction.LONG, price, equity, D("1000"), RULES)


def test_long_stop_rounds_up_and_take_profit_down() -> None:
    # raw stop 123.45 × 0.98 = 120.981 → 121.0; raw TP 123.45 × 1.04 = 128.388 → 128.3
    stop, take = protection_prices(btc_like(), Direction.LONG, D("123.45"), D("2"), D("4"))
    assert (stop, take) == (D("121.0"), D("128.3"))


def test_short_stop_rounds_down_and_take_profit_up() -> None:
    # raw stop 123.45 × 1.02 = 125.919 → 125.9; raw TP 123.45 × 0.96 = 118.512 → 118.6
    stop, take = protection_prices(btc_like(), Direction.SHORT, D("123.45"), D("2"), D("4"))
    assert (stop, take) == (D("125.9"), D("118.6"))


@pytest.mark.parametrize("direction", [Direction.LONG, Direction.SHORT])
def test_protection_prices_are_on_the_tick_and_toward_the_entry(direction: Direction) -> None:
    rng = random.Random(7)
    inst = bnb_like()
    tick = inst.tick_size
    for _ in range(300):
        entry = D(rng.randint(100_000, 2_000_000)) / 1000
        stop, take = protection_prices(inst, direction, entry, D("2"), D("4"))
        raw_stop = entry * (1 - direction.sign * D("0.02"))
        raw_take = entry * (1 + direction.sign * D("0.04"))
        assert stop % tick == 0 and take % tick == 0
        assert 0 <= abs(raw_stop - entry) - abs(stop - entry) < tick  # stop never further than configured
        assert 0 <= abs(raw_take - entry) - abs(take - entry) < tick


@pytest.mark.parametrize("direction", [Direction.LONG, Direction.SHORT])
def test_a_stop_beyond_the_liquidation_price_is_refused(direction: Direction) -> None:
    """At 50x an isolated position is liquidated about 1.6 % away: a 2 % stop would never fire."""
    inst = load_universe().instrument("BTCUSDT")
    rules = SizingRules(stop_loss_pct=D("2"), take_profit_pct=D("4"), risk_per_trade_pct=D("1"), leverage=50)
    with pytest.raises(SizingRefused, match=r"^BTCUSDT: at 50x the position would be liquidated at about [\d.]+, "
                                            r"before its 2% stop-loss at [\d.]+ could fire: lower QT_LEVERAGE "
                                            r"or QT_STOP_LOSS_PCT$"):
        size_entry(inst, direction, D("100000"), D("10000"), D("10000"), rules)
    tighter = SizingRules(stop_loss_pct=D("1"), take_profit_pct=D("4"), risk_per_trade_pct=D("1"), leverage=50)
    assert size_entry(inst, direction, D("100000"), D("10000"), D("10000"), tighter).quantity > 0


def test_a_refusal_has_a_kind_and_names_each_setting_as_it_was_given() -> None:
    """A backtest's `--param leverage=50` was told to "lower QT_LEVERAGE", a variable it had not set."""
    inst = load_universe().instrument("BTCUSDT")
    rules = SizingRules(stop_loss_pct=D("2"), take_profit_pct=D("4"), risk_per_trade_pct=D("1"), leverage=50,
                        setting_names={"leverage": "--param leverage"})
    with pytest.raises(SizingRefused, match=r"could fire: lower --param leverage or QT_STOP_LOSS_PCT$") as caught:
        size_entry(inst, Direction.LONG, D("100000"), D("10000"), D("10000"), rules)
    assert caught.value.kind == "stop_beyond_liquidation"
    with pytest.raises(SizingRefused, match=r"more than the 1 USDT planned: raise QT_RISK_PER_TRADE_PCT or the "
                                            r"balance$") as caught:
        size_entry(inst, Direction.LONG, D("100000"), D("100"), D("100"), RULES)
    assert caught.value.kind == "minimum_order_too_risky"


@pytest.mark.parametrize(("side", "direction"), [("BUY", Direction.LONG), ("SELL", Direction.SHORT)])
def test_the_liquidation_price_is_the_one_the_exchange_computes(side: str, direction: Direction) -> None:
    """The isolated position sizing reasons about, opened on the simulator: the same liquidation price, to the
    tick it is rounded to (the simulator shows the nearest tick; sizing takes the conservative one)."""
    from quantum_trader.domain.enums import MarginType
    from quantum_trader.sim.engine import ExchangeSimulator
    from quantum_trader.sim.state import SimConfig

    inst = load_universe().instrument("BTCUSDT")
    sim = ExchangeSimulator({"BTCUSDT": inst}, SimConfig(balance=D("100000")))
    sim.set_prices({"BTCUSDT": "100000"})
    sim.set_leverage("BTCUSDT", 40)
    sim.set_margin_type("BTCUSDT", MarginType.ISOLATED)
    sim.new_order({"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": "0.400"})
    shown = sim.liquidation_price("BTCUSDT")
    ours = entry_liquidation_price(inst, direction, sim.position("BTCUSDT").entry_price, D("0.400"), D(40),
                                   RULES.taker_fee)
    assert shown is not None and ours is not None
    assert abs(ours - shown) <= inst.tick_size
