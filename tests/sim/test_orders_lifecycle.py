"""What each order type does once accepted: fills, prices, fees, triggers, stream events (binance_futures.md).

Fresh `sim` per test: BNBUSDT last = mark = 600 (tick 0.01), BTCUSDT 100 000, ETHUSDT 2 500, wallet
10 000 USDT, one-way, cross, leverage 20, VIP 0 fees (maker 0.02 %, taker 0.05 %).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from conftest import (
    MAKER,
    TAKER,
    D,
    algo,
    algo_statuses,
    commission,
    events_of,
    fills_of,
    limit,
    long,
    make_sim,
    market,
    order_updates,
    pos_amount,
    px,
    rejects,
    short,
)

from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.instrument import Liquidity
from quantum_trader.domain.money import Rounding, round_to_grid
from quantum_trader.sim.engine import ExchangeSimulator

#: A thin BNBUSDT book: 2 bps spread, 600 USDT per level, levels 0.06 apart → best ask 600.06 holding
#: 0.99 BNB, then 600.12 (0.99), 600.18, ... (mirror on the bid). Used where depth must run out.
THIN = {"BNBUSDT": Liquidity(spread_bps=D("2"), depth_usdt=D("6000"))}


def thin_sim() -> ExchangeSimulator:
    return make_sim(liquidity=THIN)


def assert_fees_exact(sim: ExchangeSimulator, order_id: int, maker: bool) -> None:
    fills = fills_of(sim, order_id)
    assert fills, "expected at least one fill"
    for f in fills:
        assert f.maker is maker
        assert f.commission == commission(f.price, f.qty, MAKER if maker else TAKER)
        assert f.commission_asset == "USDT"


# --- MARKET -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("side", "qty", "symbol", "last"), [
    ("BUY", "1", "BNBUSDT", "600"), ("SELL", "1", "BNBUSDT", "600"),
    ("BUY", "0.37", "BNBUSDT", "600"), ("SELL", "2.5", "ETHUSDT", "2500"),
    ("BUY", "0.013", "BTCUSDT", "100000"), ("SELL", "0.013", "BTCUSDT", "100000"),
])
def test_market_fills_at_once_worse_than_last_and_pays_taker_fee(
    sim: ExchangeSimulator, side: str, qty: str, symbol: str, last: str
) -> None:
    wallet = sim.wallet_balance
    o = market(sim, side, qty, symbol)
    fills = fills_of(sim, o.order_id)
    assert (o.status.value, o.executed_qty) == ("FILLED", D(qty))
    assert sum(f.qty for f in fills) == D(qty)
    for f in fills:
        if side == "BUY":
            assert D(last) < f.price <= D(last) * D("1.001")
        else:
            assert D(last) * D("0.999") <= f.price < D(last)
    assert_fees_exact(sim, o.order_id, maker=False)
    fee = sum(f.commission for f in fills)
    assert fee == sum(commission(f.price, f.qty, TAKER) for f in fills) > 0
    assert sim.wallet_balance == wallet - fee
    pos = sim.position(symbol)
    assert pos.amount == (D(qty) if side == "BUY" else -D(qty))
    assert pos.entry_price == o.avg_price
    assert order_updates(sim.events, o.order_id)[0] == ("NEW", "NEW")
    assert order_updates(sim.events, o.order_id)[-1] == ("TRADE", "FILLED")
    assert sim.open_orders() == []


def test_market_fill_event_carries_fill_and_commission(sim: ExchangeSimulator) -> None:
    o = market(sim, "BUY", "1")
    (f,) = fills_of(sim, o.order_id)
    trade = [e["o"] for e in events_of(sim.events, "ORDER_TRADE_UPDATE") if e["o"]["x"] == "TRADE"][-1]
    assert trade["L"] == format(f.price.normalize(), "f") and trade["l"] == "1" and trade["z"] == "1"
    assert D(trade["n"]) == f.commission == commission(f.price, D(1), TAKER)
    assert trade["N"] == "USDT" and trade["m"] is False and trade["o"] == "MARKET"


def test_closing_a_position_realises_pnl_net_of_both_fees(sim: ExchangeSimulator) -> None:
    buy = long(sim, "BNBUSDT", "2", "600")
    px(sim, "BNBUSDT", "610")
    sell = market(sim, "SELL", "2")
    (b,), (s,) = fills_of(sim, buy.order_id), fills_of(sim, sell.order_id)
    assert s.realized_pnl == 2 * (s.price - b.price)
    assert sim.wallet_balance == D(10000) + s.realized_pnl - b.commission - s.commission
    assert pos_amount(sim) == 0


# --- LIMIT and timeInForce --------------------------------------------------------------------------
@pytest.mark.parametrize(("side", "price", "not_yet", "through"), [
    ("BUY", "590", "590.01", "589"),
    ("BUY", "590", "595", "590"),
    ("SELL", "610", "609.99", "611"),
    ("SELL", "610", "605", "610"),
])
def test_limit_gtc_rests_then_fills_at_its_price_as_maker(
    sim: ExchangeSimulator, side: str, price: str, not_yet: str, through: str
) -> None:
    o = limit(sim, side, "1.5", price)
    assert o.status.value == "NEW" and [x.order_id for x in sim.open_orders()] == [o.order_id]
    assert sim.state.fills == []
    px(sim, "BNBUSDT", not_yet)
    assert o.status.value == "NEW" and sim.state.fills == []
    px(sim, "BNBUSDT", through)
    assert o.status.value == "FILLED"
    (f,) = fills_of(sim, o.order_id)
    assert (f.price, f.qty) == (D(price), D("1.5"))
    assert f.commission == commission(D(price), D("1.5"), MAKER)
    assert_fees_exact(sim, o.order_id, maker=True)
    assert order_updates(sim.events, o.order_id) == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert sim.open_orders() == []


def test_marketable_limit_takes_the_book_as_taker_no_worse_than_its_price(sim: ExchangeSimulator) -> None:
    o = limit(sim, "BUY", "1", "605")
    assert o.status.value == "FILLED"
    (f,) = fills_of(sim, o.order_id)
    assert D(600) < f.price <= D(605)
    assert_fees_exact(sim, o.order_id, maker=False)


def test_ioc_fills_what_the_book_allows_and_expires_the_rest() -> None:
    sim = thin_sim()
    o = limit(sim, "BUY", "3", "600.12", timeInForce="IOC")
    fills = fills_of(sim, o.order_id)
    assert o.status.value == "EXPIRED"
    assert D(0) < o.executed_qty < D(3)
    assert o.executed_qty == sum(f.qty for f in fills) == pos_amount(sim)
    assert all(f.price <= D("600.12") for f in fills)
    updates = order_updates(sim.events, o.order_id)
    assert updates[0] == ("NEW", "NEW") and updates[-1] == ("EXPIRED", "EXPIRED")
    assert set(updates[1:-1]) == {("TRADE", "PARTIALLY_FILLED")}
    assert sim.open_orders() == []
    assert_fees_exact(sim, o.order_id, maker=False)


def test_ioc_that_cannot_fill_expires_without_trades(sim: ExchangeSimulator) -> None:
    o = limit(sim, "BUY", "1", "599", timeInForce="IOC")
    assert (o.status.value, o.executed_qty) == ("EXPIRED", 0)
    assert order_updates(sim.events, o.order_id) == [("NEW", "NEW"), ("EXPIRED", "EXPIRED")]
    assert events_of(sim.events, "ACCOUNT_UPDATE") == []


def test_fok_fills_completely_or_is_rejected() -> None:
    sim = thin_sim()
    rejects(lambda: limit(sim, "BUY", "3", "600.12", timeInForce="FOK"), -5021,
            "Due to the order could not be filled immediately, the FOK order has been rejected.")
    assert sim.state.fills == [] and pos_amount(sim) == 0
    o = limit(sim, "BUY", "3", "600.30", timeInForce="FOK")
    assert (o.status.value, o.executed_qty) == ("FILLED", D(3))
    assert all(f.price <= D("600.30") for f in fills_of(sim, o.order_id))
    assert order_updates(sim.events, o.order_id)[-1] == ("TRADE", "FILLED")


@pytest.mark.parametrize(("side", "price", "through"), [("BUY", "599.99", "599.99"), ("SELL", "600.01", "600.5")])
def test_gtx_post_only_rests_and_fills_as_maker(sim: ExchangeSimulator, side: str, price: str, through: str) -> None:
    o = limit(sim, side, "1", price, timeInForce="GTX")
    assert o.status.value == "NEW" and o.time_in_force.value == "GTX"
    px(sim, "BNBUSDT", through)
    (f,) = fills_of(sim, o.order_id)
    assert (o.status.value, f.price) == ("FILLED", D(price))
    assert_fees_exact(sim, o.order_id, maker=True)


def test_cancel_resting_limit(sim: ExchangeSimulator) -> None:
    o = limit(sim, "BUY", "1", "590")
    assert sim.cancel_order("BNBUSDT", o.order_id) is o
    assert o.status.value == "CANCELED" and sim.open_orders() == []
    assert order_updates(sim.events, o.order_id) == [("NEW", "NEW"), ("CANCELED", "CANCELED")]
    assert events_of(sim.events, "ACCOUNT_UPDATE") == []  # §7.3: no ACCOUNT_UPDATE for place/cancel
    px(sim, "BNBUSDT", "580")
    assert sim.state.fills == []


def test_partial_fill_of_resting_order_keeps_it_open() -> None:
    """A marketable GTC limit takes what its price allows and rests with the remainder (§7.2 sequence)."""
    sim = thin_sim()
    o = limit(sim, "BUY", "3", "600.12")
    assert o.status.value == "PARTIALLY_FILLED"
    assert [x.order_id for x in sim.open_orders()] == [o.order_id]
    filled = o.executed_qty
    assert D(0) < filled < D(3)
    px(sim, "BNBUSDT", "600.1")
    assert o.status.value == "FILLED"
    last = fills_of(sim, o.order_id)[-1]
    assert (last.price, last.qty, last.maker) == (D("600.12"), D(3) - filled, True)
    updates = order_updates(sim.events, o.order_id)
    assert updates[0] == ("NEW", "NEW") and updates[-1] == ("TRADE", "FILLED")
    assert set(updates[1:-1]) == {("TRADE", "PARTIALLY_FILLED")}


# --- conditional orders: trigger directions (§2.1) --------------------------------------------------
TRIGGER_TABLE = [
    # type, side, workingType, trigger, (last, mark) that must not fire, (last, mark) that fires
    ("STOP_MARKET", "BUY", "CONTRACT_PRICE", "610", ("609.99", "620"), ("610", "600")),
    ("STOP_MARKET", "SELL", "CONTRACT_PRICE", "590", ("590.01", "580"), ("590", "600")),
    ("STOP_MARKET", "BUY", "MARK_PRICE", "610", ("620", "609.99"), ("600", "610")),
    ("STOP_MARKET", "SELL", "MARK_PRICE", "590", ("580", "590.01"), ("600", "590")),
    ("TAKE_PROFIT_MARKET", "BUY", "CONTRACT_PRICE", "590", ("590.01", "580"), ("590", "600")),
    ("TAKE_PROFIT_MARKET", "SELL", "CONTRACT_PRICE", "610", ("609.99", "620"), ("610", "600")),
    ("TAKE_PROFIT_MARKET", "BUY", "MARK_PRICE", "590", ("580", "590.01"), ("600", "590")),
    ("TAKE_PROFIT_MARKET", "SELL", "MARK_PRICE", "610", ("620", "609.99"), ("600", "610")),
    # Mark truncated down to the 0.01 tick before comparing (FAQ 360040016512).
    ("STOP_MARKET", "SELL", "MARK_PRICE", "590", ("600", "590.0101"), ("600", "590.0099")),
    ("STOP_MARKET", "BUY", "MARK_PRICE", "610", ("600", "609.99999"), ("600", "610.00001")),
    ("TAKE_PROFIT_MARKET", "SELL", "MARK_PRICE", "600.05", ("600", "600.048914"), ("600", "600.05000001")),
    ("TAKE_PROFIT_MARKET", "BUY", "MARK_PRICE", "590", ("600", "590.01"), ("600", "590.0099")),
]


@pytest.mark.parametrize(("type_", "side", "working", "trigger", "quiet", "fire"), TRIGGER_TABLE,
                         ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[3]}-{r[5][1]}" for r in TRIGGER_TABLE])
def test_conditional_trigger_direction(sim: ExchangeSimulator, type_: str, side: str, working: str, trigger: str,
                                       quiet: tuple[str, str], fire: tuple[str, str]) -> None:
    a = algo(sim, type=type_, side=side, workingType=working, triggerPrice=trigger, quantity="1")
    px(sim, "BNBUSDT", *quiet)
    assert a.status.value == "NEW"
    assert sim.state.fills == [] and pos_amount(sim) == 0
    px(sim, "BNBUSDT", *fire)
    assert a.status.value == "FINISHED"
    spawned = sim.query_order("BNBUSDT", a.actual_order_id)
    assert (spawned.type.value, spawned.orig_type.value, spawned.status.value) == ("MARKET", type_, "FILLED")
    assert pos_amount(sim) == (1 if side == "BUY" else -1)
    last = D(fire[0])
    for f in fills_of(sim, spawned.order_id):  # a triggered market order meets the book at last, not at mark
        assert (last < f.price <= last * D("1.001")) if side == "BUY" else (last * D("0.999") <= f.price < last)
    assert_fees_exact(sim, spawned.order_id, maker=False)


def test_algo_update_sequence_new_triggering_triggered_finished(sim: ExchangeSimulator) -> None:
    """§2.5/§7.4: TRIGGERING (ai "") → TRIGGERED (ai = new orderId, act MARKET) → order events → FINISHED."""
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, side="SELL", triggerPrice="590", quantity="1", reduceOnly=True, clientAlgoId="my-sl")
    start = len(sim.events)
    px(sim, "BNBUSDT", "589")
    step = sim.events[start:]
    kinds = [(e["e"], e["o"]["X"] if "o" in e else e["a"]["m"]) for e in step]
    assert kinds == [("ALGO_UPDATE", "TRIGGERING"), ("ALGO_UPDATE", "TRIGGERED"), ("ORDER_TRADE_UPDATE", "NEW"),
                     ("ACCOUNT_UPDATE", "ORDER"), ("ORDER_TRADE_UPDATE", "FILLED"), ("ALGO_UPDATE", "FINISHED")]
    triggering, triggered, finished = (e["o"] for e in events_of(step, "ALGO_UPDATE"))
    spawned = sim.query_order("BNBUSDT", a.actual_order_id)
    assert triggering["ai"] == "" and triggering["aid"] == a.algo_id and triggering["tt"] > 0
    assert triggered["ai"] == str(spawned.order_id) and triggered["act"] == "MARKET"
    assert spawned.order_id != a.algo_id
    assert spawned.client_order_id == "my-sl" == finished["caid"]
    assert D(finished["ap"]) == spawned.avg_price and finished["aq"] == "1"
    assert algo_statuses(sim.events, a.algo_id) == ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]
    otu = [e["o"] for e in events_of(step, "ORDER_TRADE_UPDATE")]
    assert {(o["o"], o["ot"], o["sp"], o["i"]) for o in otu} == {("MARKET", "STOP_MARKET", "590", spawned.order_id)}
    assert a not in sim.open_algo_orders() and sim.open_orders() == []


def test_cancelled_algo_order_emits_canceled_and_never_fires(sim: ExchangeSimulator) -> None:
    a = algo(sim, side="SELL", triggerPrice="590", quantity="1")
    sim.cancel_algo_order(a.algo_id)
    px(sim, "BNBUSDT", "580")
    assert algo_statuses(sim.events, a.algo_id) == ["NEW", "CANCELED"]
    assert sim.state.fills == [] and sim.open_algo_orders() == []
    rejects(lambda: sim.cancel_algo_order(a.algo_id), -2011, "Unknown order sent.")


def test_deferred_margin_check_rejects_at_trigger(sim: ExchangeSimulator) -> None:
    """§2.4/§8.4: an unaffordable conditional order is accepted, then REJECTED with a reason when it fires."""
    a = algo(sim, side="BUY", triggerPrice="610", quantity="1000")
    step = px(sim, "BNBUSDT", "611")
    assert [(e["e"], e["o"]["X"]) for e in step] == [("ALGO_UPDATE", "TRIGGERING"), ("ALGO_UPDATE", "REJECTED")]
    assert step[-1]["o"]["rm"] == "Margin is insufficient."
    assert a.status.value == "REJECTED" and a not in sim.open_algo_orders()
    assert sim.state.fills == [] and pos_amount(sim) == 0


def test_price_protect_holds_the_trigger_while_mark_and_last_diverge(sim: ExchangeSimulator) -> None:
    """§2.3: with priceProtect the stop fires only while |mark − last| / mark ≤ triggerProtect (BNB 0.05)."""
    long(sim, "BNBUSDT", "1", "600")
    protected = algo(sim, side="SELL", triggerPrice="590", quantity="1", reduceOnly=True, priceProtect=True)
    px(sim, "BNBUSDT", "580", "615")  # last crossed 590, but |615 − 580| / 615 = 5.7 % > 5 %
    assert protected.status.value == "NEW" and pos_amount(sim) == 1
    px(sim, "BNBUSDT", "580", "585")
    assert protected.status.value == "FINISHED" and pos_amount(sim) == 0


def test_unprotected_stop_fires_on_the_same_divergent_step(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    plain = algo(sim, side="SELL", triggerPrice="590", quantity="1", reduceOnly=True)
    px(sim, "BNBUSDT", "580", "615")
    assert plain.status.value == "FINISHED" and pos_amount(sim) == 0


# --- stop-limit vs stop-market in gaps (§2.4) --------------------------------------------------------
@pytest.mark.parametrize(("type_", "side", "trigger", "limit_price", "gap", "beyond", "back", "opener"), [
    ("STOP", "SELL", "590", "589", "585", "588.99", "589.5", long),
    ("STOP", "BUY", "610", "611", "615", "611.01", "610.5", short),
    ("TAKE_PROFIT", "SELL", "610", "611", "610.5", "610.99", "611.2", long),
])
def test_stop_limit_rests_while_price_is_beyond_its_limit_then_fills_at_the_limit(
    sim: ExchangeSimulator, type_: str, side: str, trigger: str, limit_price: str, gap: str, beyond: str,
    back: str, opener: Any,
) -> None:
    opener(sim, "BNBUSDT", "1", "600")
    if type_ == "TAKE_PROFIT":
        px(sim, "BNBUSDT", "609")
    a = algo(sim, type=type_, side=side, triggerPrice=trigger, price=limit_price, quantity="1")
    fills = len(sim.state.fills)
    px(sim, "BNBUSDT", gap)
    assert a.status.value == "TRIGGERED"
    (resting,) = sim.open_orders()
    assert (resting.type.value, resting.orig_type.value, resting.price) == ("LIMIT", type_, D(limit_price))
    assert resting.order_id == a.actual_order_id and len(sim.state.fills) == fills
    assert events_of(sim.events, "STOP_LIMIT_RESTING")
    px(sim, "BNBUSDT", beyond)
    assert resting.status.value == "NEW" and len(sim.state.fills) == fills
    px(sim, "BNBUSDT", back)
    (f,) = fills_of(sim, resting.order_id)
    assert (f.price, f.qty, f.maker) == (D(limit_price), D(1), True)
    assert a.status.value == "FINISHED" and pos_amount(sim) == 0
    assert_fees_exact(sim, resting.order_id, maker=True)


def test_triggered_stop_limit_is_cancelled_through_the_order_api_with_its_client_id(
    sim: ExchangeSimulator,
) -> None:
    """§2.5: the triggered order is a regular order carrying the clientAlgoId; cancelling it finishes the algo."""
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, type="STOP", side="SELL", triggerPrice="590", price="589", quantity="1", clientAlgoId="stop-lim")
    px(sim, "BNBUSDT", "585")
    (resting,) = sim.open_orders()
    assert sim.query_order("BNBUSDT", client_order_id="stop-lim") is resting
    sim.cancel_order("BNBUSDT", client_order_id="stop-lim")
    assert resting.status.value == "CANCELED" and a.status.value == "FINISHED"
    finished = events_of(sim.events, "ALGO_UPDATE")[-1]["o"]
    assert (finished["X"], finished["aq"], finished["ai"]) == ("FINISHED", "0", str(resting.order_id))
    px(sim, "BNBUSDT", "595")
    assert pos_amount(sim) == 1


def test_stop_market_in_a_gap_fills_after_the_jump_not_at_the_stop(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    px(sim, "BNBUSDT", "580")
    (f,) = sim.state.fills[1:]
    assert D("579") <= f.price <= D(580)  # the first price after the jump, minus the spread
    assert pos_amount(sim) == 0


def test_stop_market_reached_by_small_steps_fills_near_the_stop(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    for p in ("595", "591", "590.5"):
        px(sim, "BNBUSDT", p)
    assert len(sim.state.fills) == 1
    px(sim, "BNBUSDT", "590")
    (f,) = sim.state.fills[1:]
    assert D("589.8") <= f.price < D(590)


# --- bar mode ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("bar", "low_fill", "high_fill"), [
    # open 600 = previous close; the bar crosses 590 on the way from 601 to 585: fills near 590
    (("600", "601", "585", "588"), "589.5", "590"),
    # the bar opens at 580, below the stop (gap from the 600 close): fills at the open, not at 590 or 575
    (("580", "582", "575", "578"), "579.5", "580"),
], ids=["smooth-cross", "gap-open"])
def test_bar_stop_fills_near_stop_when_crossed_smoothly_and_at_open_after_a_gap(
    sim: ExchangeSimulator, bar: tuple[str, ...], low_fill: str, high_fill: str
) -> None:
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    sim.apply_bar("BNBUSDT", *(D(x) for x in bar))
    (f,) = sim.state.fills[1:]
    assert D(low_fill) <= f.price <= D(high_fill)
    assert a.status.value == "FINISHED" and pos_amount(sim) == 0
    assert sim.last_price("BNBUSDT") == D(bar[3])


def test_bar_fills_a_resting_limit_at_its_price_when_the_range_trades_through(sim: ExchangeSimulator) -> None:
    buy = limit(sim, "BUY", "1", "590")
    sell = limit(sim, "SELL", "1", "604")
    sim.apply_bar("BNBUSDT", D(600), D("603.99"), D(585), D(588))
    (f,) = fills_of(sim, buy.order_id)
    assert (f.price, f.maker) == (D(590), True)
    assert sell.status.value == "NEW"


@pytest.mark.parametrize(("bar", "fills"), [
    (("600", "601", "585", "588"), True),   # crossed smoothly: the limit at 589 is still marketable at 590
    (("580", "582", "575", "578"), False),  # gapped below 589 and never back: the stop-limit rests unfilled
], ids=["smooth", "gap"])
def test_bar_stop_limit_fills_when_crossed_smoothly_and_rests_after_a_gap(
    sim: ExchangeSimulator, bar: tuple[str, ...], fills: bool
) -> None:
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, type="STOP", side="SELL", triggerPrice="590", price="589", quantity="1")
    sim.apply_bar("BNBUSDT", *(D(x) for x in bar))
    spawned = sim.query_order("BNBUSDT", a.actual_order_id)
    if fills:
        (f,) = fills_of(sim, spawned.order_id)
        assert D(589) <= f.price <= D(590) and not f.maker
        assert pos_amount(sim) == 0 and a.status.value == "FINISHED"
    else:
        assert spawned.status.value == "NEW" and fills_of(sim, spawned.order_id) == []
        assert pos_amount(sim) == 1 and a.status.value == "TRIGGERED"


def test_bar_buy_stop_for_a_short_gap_up_fills_at_the_open(sim: ExchangeSimulator) -> None:
    short(sim, "BNBUSDT", "1", "600")
    algo(sim, side="BUY", triggerPrice="610", closePosition=True)
    sim.apply_bar("BNBUSDT", D(620), D(625), D(618), D(621))
    (f,) = sim.state.fills[1:]
    assert D(620) <= f.price <= D("620.5")
    assert pos_amount(sim) == 0


def test_bar_visits_nearer_extreme_first(sim: ExchangeSimulator) -> None:
    """Open 600, high 603 (3 away), low 590 (10 away): the path goes up first, so the long's TP at 602
    fires before its SL at 591 (barpath rule)."""
    long(sim, "BNBUSDT", "1", "600")
    sl = algo(sim, side="SELL", triggerPrice="591", closePosition=True)
    tp = algo(sim, type="TAKE_PROFIT_MARKET", side="SELL", triggerPrice="602", closePosition=True)
    sim.apply_bar("BNBUSDT", D(600), D(603), D(590), D(595))
    assert (tp.status.value, sl.status.value) == ("FINISHED", "EXPIRED")
    (f,) = sim.state.fills[1:]
    assert D("601.5") <= f.price < D(602)


# --- trailing stop (§2.1) ----------------------------------------------------------------------------
def test_trailing_sell_activates_at_activation_price_and_fires_on_callback(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, type="TRAILING_STOP_MARKET", side="SELL", callbackRate="1", activatePrice="610", quantity="1",
             reduceOnly=True)
    for p in ("605", "609.99", "610", "620", "614", "613.81"):  # highest 620 → fires at ≤ 620 × 0.99 = 613.8
        px(sim, "BNBUSDT", p)
        assert a.status.value == "NEW", p
    px(sim, "BNBUSDT", "613.8")
    assert a.status.value == "FINISHED" and pos_amount(sim) == 0
    (f,) = sim.state.fills[1:]
    assert D("613.5") <= f.price < D("613.8")


def test_trailing_sell_never_fires_before_activation(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, type="TRAILING_STOP_MARKET", side="SELL", callbackRate="1", activatePrice="610", quantity="1",
             reduceOnly=True)
    for p in ("609", "580", "560"):  # a 1 % callback from 609 would have fired, but 610 was never reached
        px(sim, "BNBUSDT", p)
    assert a.status.value == "NEW" and pos_amount(sim) == 1


def test_trailing_buy_without_activation_tracks_lowest_since_placement(sim: ExchangeSimulator) -> None:
    short(sim, "BNBUSDT", "1", "600")
    a = algo(sim, type="TRAILING_STOP_MARKET", side="BUY", callbackRate="2", quantity="1", reduceOnly=True)
    for p in ("611.99", "590", "580", "591.59"):  # lowest 580 → fires at ≥ 580 × 1.02 = 591.6
        px(sim, "BNBUSDT", p)
        assert a.status.value == "NEW", p
    px(sim, "BNBUSDT", "591.6")
    assert a.status.value == "FINISHED" and pos_amount(sim) == 0


def test_trailing_on_bars_uses_the_bar_high_then_the_callback(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, type="TRAILING_STOP_MARKET", side="SELL", callbackRate="1", activatePrice="605", quantity="1",
             reduceOnly=True)
    sim.apply_bar("BNBUSDT", D(600), D(620), D(599), D(618))  # low first (to 599), then high 620, close 618
    assert a.status.value == "NEW"
    sim.apply_bar("BNBUSDT", D(618), D(619), D(610), D(612))  # falls through 613.8 smoothly
    assert a.status.value == "FINISHED"
    (f,) = sim.state.fills[1:]
    assert D("613.5") <= f.price < D("613.8")


# --- closePosition / reduceOnly (§3.1, §3.2) ----------------------------------------------------------
def test_close_position_closes_the_whole_position_existing_at_trigger_time(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    assert a.quantity == 0 and a.time_in_force.value == "GTE_GTC"
    market(sim, "BUY", "1.5")
    assert pos_amount(sim) == D("2.5")
    px(sim, "BNBUSDT", "589")
    spawned = sim.query_order("BNBUSDT", a.actual_order_id)
    assert (spawned.orig_qty, spawned.executed_qty) == (D("2.5"), D("2.5"))
    assert spawned.close_position and spawned.reduce_only
    assert pos_amount(sim) == 0


@pytest.mark.parametrize(("opener", "closer_side"), [(long, "SELL"), (short, "BUY")])
def test_close_position_stops_expire_when_position_goes_flat_another_way(
    sim: ExchangeSimulator, opener: Any, closer_side: str
) -> None:
    opener(sim, "BNBUSDT", "1", "600")
    sl_trigger, tp_trigger = ("590", "620") if closer_side == "SELL" else ("610", "580")
    sl = algo(sim, side=closer_side, triggerPrice=sl_trigger, closePosition=True)
    tp = algo(sim, type="TAKE_PROFIT_MARKET", side=closer_side, triggerPrice=tp_trigger, closePosition=True)
    market(sim, closer_side, "1")
    assert pos_amount(sim) == 0
    assert algo_statuses(sim.events, sl.algo_id) == ["NEW", "EXPIRED"]
    assert algo_statuses(sim.events, tp.algo_id) == ["NEW", "EXPIRED"]
    assert sim.open_algo_orders() == []
    px(sim, "BNBUSDT", sl_trigger)
    px(sim, "BNBUSDT", tp_trigger)
    assert len(sim.state.fills) == 2 and pos_amount(sim) == 0


def test_close_position_stop_does_not_expire_on_a_partial_close(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "2", "600")
    sl = algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    market(sim, "SELL", "1")
    assert sl.status.value == "NEW"
    px(sim, "BNBUSDT", "589")
    assert sl.status.value == "FINISHED" and pos_amount(sim) == 0


def test_reduce_only_market_is_capped_at_the_position(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    o = market(sim, "SELL", "3", reduceOnly=True)
    assert o.executed_qty == 1 and pos_amount(sim) == 0
    assert o.status.value != "FILLED"


def test_reduce_only_limit_is_capped_at_the_position(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    o = limit(sim, "SELL", "3", "610", reduceOnly=True)
    px(sim, "BNBUSDT", "611")
    assert o.executed_qty == 1 and pos_amount(sim) == 0 and not o.is_open


def test_reduce_only_stop_is_capped_at_the_position_at_trigger(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    a = algo(sim, side="SELL", triggerPrice="590", quantity="5", reduceOnly=True)
    market(sim, "SELL", "0.4")
    px(sim, "BNBUSDT", "589")
    assert sim.query_order("BNBUSDT", a.actual_order_id).executed_qty == D("0.6")
    assert pos_amount(sim) == 0


def test_plain_stop_market_can_reverse_the_position(sim: ExchangeSimulator) -> None:
    """Without reduceOnly/closePosition a SELL stop of 3 against a long of 1 leaves a short of 2."""
    long(sim, "BNBUSDT", "1", "600")
    algo(sim, side="SELL", triggerPrice="590", quantity="3")
    px(sim, "BNBUSDT", "589")
    assert pos_amount(sim) == -2


# --- ORDER_TRADE_UPDATE sequences (§7.2) --------------------------------------------------------------
def test_order_trade_update_sequences(sim: ExchangeSimulator) -> None:
    m = market(sim, "BUY", "1")
    rest = limit(sim, "BUY", "1", "595")
    cancel = limit(sim, "BUY", "1", "590")
    sim.cancel_order("BNBUSDT", cancel.order_id)
    ioc = limit(sim, "SELL", "1", "650", timeInForce="IOC")
    px(sim, "BNBUSDT", "595")
    assert order_updates(sim.events, m.order_id) == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert order_updates(sim.events, rest.order_id) == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert order_updates(sim.events, cancel.order_id) == [("NEW", "NEW"), ("CANCELED", "CANCELED")]
    assert order_updates(sim.events, ioc.order_id) == [("NEW", "NEW"), ("EXPIRED", "EXPIRED")]
    # one ACCOUNT_UPDATE (m=ORDER) per fill, none for placing, cancelling or expiring
    assert len(events_of(sim.events, "ACCOUNT_UPDATE")) == len(sim.state.fills) == 2


def test_account_update_reports_position_after_fill(sim: ExchangeSimulator) -> None:
    o = market(sim, "SELL", "2")
    (acct,) = events_of(sim.events, "ACCOUNT_UPDATE")
    (p,) = acct["a"]["P"]
    assert (p["s"], p["pa"], p["ps"], p["mt"]) == ("BNBUSDT", "-2", "BOTH", "cross")
    assert D(p["ep"]) == o.avg_price
    assert D(acct["a"]["B"][0]["wb"]) == sim.wallet_balance


# --- hedge mode (§3.3) ------------------------------------------------------------------------------
def test_hedge_mode_keeps_long_and_short_apart(sim: ExchangeSimulator) -> None:
    sim.set_position_mode(True)
    market(sim, "BUY", "1", positionSide="LONG")
    market(sim, "SELL", "0.5", positionSide="SHORT")
    LONG, SHORT = PositionSide.LONG, PositionSide.SHORT  # noqa: N806
    assert (pos_amount(sim, "BNBUSDT", LONG), pos_amount(sim, "BNBUSDT", SHORT)) == (1, D("-0.5"))
    assert pos_amount(sim) == 0
    market(sim, "BUY", "0.5", positionSide="LONG")
    assert pos_amount(sim, "BNBUSDT", LONG) == D("1.5")
    close = market(sim, "SELL", "1.5", positionSide="LONG")
    assert fills_of(sim, close.order_id)[0].position_side is LONG
    assert (pos_amount(sim, "BNBUSDT", LONG), pos_amount(sim, "BNBUSDT", SHORT)) == (0, D("-0.5"))


def test_hedge_mode_close_position_stop_closes_only_its_side(sim: ExchangeSimulator) -> None:
    sim.set_position_mode(True)
    market(sim, "BUY", "1", positionSide="LONG")
    market(sim, "SELL", "0.5", positionSide="SHORT")
    long_sl = algo(sim, side="SELL", positionSide="LONG", triggerPrice="590", closePosition=True)
    short_sl = algo(sim, side="BUY", positionSide="SHORT", triggerPrice="610", closePosition=True)
    px(sim, "BNBUSDT", "589")
    assert (long_sl.status.value, short_sl.status.value) == ("FINISHED", "NEW")
    assert pos_amount(sim, "BNBUSDT", PositionSide.LONG) == 0
    assert pos_amount(sim, "BNBUSDT", PositionSide.SHORT) == D("-0.5")
    rejects(lambda: algo(sim, side="BUY", positionSide="LONG", triggerPrice="600", closePosition=True), -1106,
            "Parameter 'closePosition' sent when not required.")


# --- liquidation (§8.6) -------------------------------------------------------------------------------
def expected_lp(sim: ExchangeSimulator, symbol: str, wallet: Decimal) -> Decimal:
    """LP = (WB + cum − Side·Q·EP) / (Q·MMR − Side·Q), one position, bracket at the entry notional."""
    pos = sim.position(symbol)
    inst = sim.instrument(symbol)
    side, q, ep = pos.side_sign, abs(pos.amount), pos.entry_price
    b = inst.bracket_for_notional(q * ep)
    raw = (wallet + b.cum - side * q * ep) / (q * b.maint_margin_ratio - side * q)
    assert inst.bracket_for_notional(q * raw) == b, "test assumes LP stays in the entry bracket"
    return round_to_grid(raw, inst.tick_size, Rounding.NEAREST)


def test_isolated_liquidation_at_the_liquidation_price_loses_exactly_the_isolated_margin(
    sim: ExchangeSimulator,
) -> None:
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    long(sim, "BNBUSDT", "1", "600")
    pos = sim.position("BNBUSDT")
    iw, wallet = pos.isolated_wallet, sim.wallet_balance
    assert iw > 0
    lp = sim.liquidation_price("BNBUSDT")
    assert lp == expected_lp(sim, "BNBUSDT", iw)
    sim.apply_bar("BNBUSDT", D(600), D(601), D(560), D(565))
    (liq,) = events_of(sim.events, "LIQUIDATION")
    assert (liq["symbol"], D(liq["qty"]), D(liq["price"]), D(liq["liquidationPrice"])) == ("BNBUSDT", 1, lp, lp)
    assert pos_amount(sim) == 0 and sim.position("BNBUSDT").isolated_wallet == 0
    assert sim.wallet_balance == wallet - iw  # all of the isolated margin, not a cent more
    calc = [e["o"] for e in events_of(sim.events, "ORDER_TRADE_UPDATE") if e["o"]["x"] == "CALCULATED"]
    assert len(calc) == 1 and calc[0]["c"].startswith("autoclose-") and calc[0]["X"] == "FILLED"
    assert (calc[0]["f"], calc[0]["o"], calc[0]["S"], calc[0]["z"]) == ("IOC", "MARKET", "SELL", "1")


def test_isolated_loss_capped_at_isolated_margin_after_a_gap(sim: ExchangeSimulator) -> None:
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    long(sim, "BNBUSDT", "1", "600")
    iw, wallet = sim.position("BNBUSDT").isolated_wallet, sim.wallet_balance
    px(sim, "BNBUSDT", "450")  # gap far through the liquidation price (≈ 573): 150 USDT of price loss
    assert len(events_of(sim.events, "LIQUIDATION")) == 1 and pos_amount(sim) == 0
    assert sim.wallet_balance == wallet - iw


def test_isolated_short_liquidation(sim: ExchangeSimulator) -> None:
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    short(sim, "BNBUSDT", "1", "600")
    iw, wallet = sim.position("BNBUSDT").isolated_wallet, sim.wallet_balance
    lp = sim.liquidation_price("BNBUSDT")
    assert lp == expected_lp(sim, "BNBUSDT", iw) and lp > 600
    px(sim, "BNBUSDT", str(lp - D("0.01")))
    assert pos_amount(sim) == -1
    px(sim, "BNBUSDT", str(lp))
    assert pos_amount(sim) == 0 and sim.wallet_balance == wallet - iw


def test_cross_liquidation_price_uses_the_cross_wallet_and_closes_at_it(sim: ExchangeSimulator) -> None:
    long(sim, "BTCUSDT", "0.4", "100000")
    lp = sim.liquidation_price("BTCUSDT")
    assert lp == expected_lp(sim, "BTCUSDT", sim.account.cross_wallet)
    px(sim, "BTCUSDT", str(lp + D("0.1")))
    assert sim.position("BTCUSDT").amount == D("0.4") and not events_of(sim.events, "LIQUIDATION")
    sim.apply_bar("BTCUSDT", lp + D("0.1"), lp + D("0.1"), D(70000), D(71000))
    (liq,) = events_of(sim.events, "LIQUIDATION")
    assert D(liq["price"]) == lp and sim.position("BTCUSDT").amount == 0


def test_cross_liquidation_price_counts_other_positions(sim: ExchangeSimulator) -> None:
    """§8.6 cross: LP = (WB − TMM1 + UPNL1 + cum − Side·Q·EP) / (Q·MMR − Side·Q), TMM1/UPNL1 of the others."""
    short(sim, "ETHUSDT", "2", "2500")
    long(sim, "BTCUSDT", "0.4", "100000")
    px(sim, "ETHUSDT", "2400", "2410")
    eth, inst = sim.position("ETHUSDT"), sim.instrument("ETHUSDT")
    eth_notional = abs(eth.amount) * D(2410)
    b = inst.bracket_for_notional(eth_notional)
    tmm1 = eth_notional * b.maint_margin_ratio - b.cum
    upnl1 = eth.amount * (D(2410) - eth.entry_price)
    assert upnl1 > 0
    lp = sim.liquidation_price("BTCUSDT")
    assert lp == expected_lp(sim, "BTCUSDT", sim.account.cross_wallet - tmm1 + upnl1)
    alone = make_sim()
    long(alone, "BTCUSDT", "0.4", "100000")
    assert lp is not None and lp < alone.liquidation_price("BTCUSDT")  # the ETH profit supports the BTC long


def test_isolated_liquidates_closer_to_entry_than_cross() -> None:
    cross, iso = make_sim(), make_sim()
    iso.set_margin_type("BTCUSDT", "ISOLATED")
    for s in (cross, iso):
        long(s, "BTCUSDT", "0.4", "100000")
    cross_lp, iso_lp = cross.liquidation_price("BTCUSDT"), iso.liquidation_price("BTCUSDT")
    assert cross_lp is not None and iso_lp is not None
    assert cross_lp < iso_lp < D(100000)


def test_cross_liquidation_never_leaves_a_negative_wallet(sim: ExchangeSimulator) -> None:
    long(sim, "BTCUSDT", "0.4", "100000")
    sim.apply_bar("BTCUSDT", D(100000), D(100000), D(70000), D(71000))
    assert events_of(sim.events, "LIQUIDATION")
    assert sim.wallet_balance >= 0
    assert sim.position("BTCUSDT").amount == 0


# --- funding (§8.2) ---------------------------------------------------------------------------------
EIGHT_HOURS = 8 * 3600


@pytest.mark.parametrize(("opener", "qty", "rate", "last", "mark", "expected"), [
    (long, "1", None, "600", "600", "-0.06"),         # default 0.01 %: long pays mark × size × rate
    (short, "1", None, "600", "600", "0.06"),         # short receives
    (long, "2", "-0.0003", "600", "600", "0.36"),     # negative rate: long receives
    (short, "2", "-0.0003", "600", "600", "-0.36"),   # ...and short pays
    (long, "1", None, "601", "600", "-0.06"),         # at the mark, not at last
    (long, "0.37", "0.00012345", "600", "612.34", "-0.02796955"),  # 8 decimals, half-up
])
def test_funding_every_eight_hours_at_mark(sim: ExchangeSimulator, opener: Any, qty: str, rate: str | None,
                                           last: str, mark: str, expected: str) -> None:
    if rate is not None:
        sim.state.funding_rates.set_constant("BNBUSDT", D(rate))
    opener(sim, "BNBUSDT", qty, "600")
    px(sim, "BNBUSDT", last, mark)
    wallet = sim.wallet_balance
    assert sim.advance(EIGHT_HOURS - 1) == []
    (ev,) = sim.advance(1)
    assert ev["e"] == "ACCOUNT_UPDATE" and ev["a"]["m"] == "FUNDING_FEE" and ev["a"]["S"] == "BNBUSDT"
    assert D(ev["a"]["B"][0]["bc"]) == D(expected)
    assert sim.wallet_balance == wallet + D(expected)
    assert ev["E"] == sim.now_ms == 1_767_225_600_000 + EIGHT_HOURS * 1000


def test_isolated_funding_event_carries_balance_and_that_position(sim: ExchangeSimulator) -> None:
    """§7.3: an isolated funding fee sends B plus that one position, and moves the isolated wallet."""
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    long(sim, "BNBUSDT", "1", "600")
    iw = sim.position("BNBUSDT").isolated_wallet
    (ev,) = sim.advance(EIGHT_HOURS)
    (p,) = ev["a"]["P"]
    assert (p["s"], p["pa"], p["mt"]) == ("BNBUSDT", "1", "isolated")
    assert D(p["iw"]) == iw - D("0.06") == sim.position("BNBUSDT").isolated_wallet


def test_cross_funding_event_carries_balance_only(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    (ev,) = sim.advance(EIGHT_HOURS)
    assert ev["a"]["m"] == "FUNDING_FEE" and len(ev["a"]["B"]) == 1
    assert ev["a"]["P"] == []


def test_funding_event_reports_the_break_even_price_of_the_open_position(sim: ExchangeSimulator) -> None:
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    long(sim, "BNBUSDT", "1", "600")
    order_bep = events_of(sim.events, "ACCOUNT_UPDATE")[-1]["a"]["P"][0]["bep"]
    (ev,) = sim.advance(EIGHT_HOURS)
    assert ev["a"]["P"][0]["bep"] == order_bep != "0"


def test_funding_three_times_a_day_and_only_for_open_positions(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")
    wallet = sim.wallet_balance
    fundings = [e for e in sim.advance(24 * 3600) if e["a"]["m"] == "FUNDING_FEE"]
    assert [e["E"] for e in fundings] == [1_767_225_600_000 + h * 3_600_000 for h in (8, 16, 24)]
    assert sim.wallet_balance == wallet - 3 * D("0.06")
    market(sim, "SELL", "1")
    assert sim.advance(24 * 3600) == []


# --- determinism --------------------------------------------------------------------------------------
def scenario() -> str:
    sim = make_sim()
    long(sim, "BNBUSDT", "1", "600")
    algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    algo(sim, type="TAKE_PROFIT_MARKET", side="SELL", triggerPrice="630", closePosition=True)
    limit(sim, "BUY", "0.5", "595")
    algo(sim, type="TRAILING_STOP_MARKET", side="SELL", callbackRate="1", quantity="0.2", reduceOnly=True)
    short(sim, "ETHUSDT", "0.3", "2500")
    long(sim, "BTCUSDT", "0.005", "100000")
    algo(sim, symbol="ETHUSDT", type="STOP", side="BUY", triggerPrice="2550", price="2560", quantity="0.3")
    for p in ("598", "594", "603", "611", "602"):
        px(sim, "BNBUSDT", p)
    sim.apply_bar("ETHUSDT", D(2500), D(2570), D(2490), D(2565))
    sim.apply_bar("BNBUSDT", D(602), D(604), D(585), D(588))
    sim.advance(EIGHT_HOURS)
    return sim.event_log()


def test_event_log_is_identical_for_identical_runs() -> None:
    first, second = scenario(), scenario()
    assert first == second
    assert first.count("\n") > 20
    assert '"X":"FINISHED"' in first and "FUNDING_FEE" in first
