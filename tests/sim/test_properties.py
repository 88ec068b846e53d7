"""Properties of random trading sessions: money is conserved, fees are exact, refusals change nothing.

A session is a random list of actions on BNBUSDT and ETHUSDT (market/limit/IOC/FOK/GTX orders,
reduce-only orders, the five conditional types with or without closePosition, cancels, garbage
requests, price ticks with a separate mark, OHLC bars and the passage of time). Many requests are
refused (-2021, -2022, -4164, -5021, -5022, -4130, ...): that is intended, each refusal is checked.

Examples per test: QT_SIM_EXAMPLES (default 60); derandomized so the suite is reproducible (QT_SIM_RANDOM=1
explores fresh examples).
"""

from __future__ import annotations

import contextlib
import os
from decimal import Decimal
from typing import Any

from conftest import MAKER, TAKER, D, commission, make_sim, snapshot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from quantum_trader.domain.enums import PositionSide
from quantum_trader.domain.errors import ExchangeError
from quantum_trader.domain.money import Rounding
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.market import PriceUpdate

EXAMPLES = int(os.environ.get("QT_SIM_EXAMPLES", "60"))
#: Set QT_SIM_RANDOM=1 to explore new examples on each run instead of the fixed, reproducible set.
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("QT_SIM_RANDOM"),
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SYMBOLS = ("BNBUSDT", "ETHUSDT")
#: Quantity unit (one step) and a step count range per symbol: BNB 0.01..3, ETH 0.001..1.2.
STEP = {"BNBUSDT": (D("0.01"), 300), "ETHUSDT": (D("0.001"), 1200)}
CONDITIONAL = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET")
GARBAGE: list[tuple[str, dict[str, str]]] = [
    ("order", {"symbol": "BNBUSDT", "side": "BUY", "type": "STOP_LOSS", "quantity": "1", "stopPrice": "610"}),
    ("order", {"symbol": "BNBUSDT", "side": "BUY", "type": "STOP_MARKET", "quantity": "1", "stopPrice": "610"}),
    ("order", {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}),
    ("order", {"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "600.005",
               "timeInForce": "GTC"}),
    ("order", {"symbol": "BNBUSDT", "side": "SELL", "type": "MARKET"}),
    ("order", {"symbol": "XYZUSDT", "side": "SELL", "type": "MARKET", "quantity": "1"}),
    ("order", {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", "positionSide": "LONG"}),
    ("algo", {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET",
              "triggerPrice": "1", "quantity": "1"}),
    ("algo", {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET",
              "triggerPrice": "500", "quantity": "1", "closePosition": "true"}),
    ("algo", {"algoType": "OTO", "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET",
              "triggerPrice": "500", "quantity": "1"}),
    ("algo", {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL", "type": "STOP",
              "triggerPrice": "500", "quantity": "1"}),
    ("algo", {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "BUY", "type": "TRAILING_STOP_MARKET",
              "quantity": "1", "callbackRate": "50"}),
]

symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from(("BUY", "SELL"))
bps = st.integers(-400, 400)
rarely = st.sampled_from((False, False, False, True))

actions = st.one_of(
    st.tuples(st.just("market"), symbols, sides, st.integers(1, 300), rarely),
    st.tuples(st.just("limit"), symbols, sides, st.integers(1, 300), bps,
              st.sampled_from(("GTC", "GTC", "IOC", "FOK", "GTX")), rarely),
    st.tuples(st.just("algo"), symbols, sides, st.integers(1, 300), st.sampled_from(CONDITIONAL),
              st.integers(-250, 250), st.integers(-50, 50),
              st.sampled_from(("plain", "plain", "reduceOnly", "closePosition")),
              st.sampled_from(("CONTRACT_PRICE", "MARK_PRICE")), st.integers(1, 50), st.booleans()),
    st.tuples(st.just("bracket"), symbols, sides, st.integers(1, 300), st.integers(20, 200), st.integers(20, 200)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("garbage"), st.integers(0, len(GARBAGE) - 1)),
    *[st.tuples(st.just("px"), symbols, bps, st.one_of(st.none(), st.integers(-60, 60)))] * 3,
    *[st.tuples(st.just("bar"), symbols, st.integers(-150, 150), st.integers(0, 300), st.integers(0, 300),
                st.integers(0, 1000))] * 2,
    st.tuples(st.just("advance"), st.integers(1, 10)),
)
sessions = st.lists(actions, min_size=3, max_size=30)


def _price(sim: ExchangeSimulator, symbol: str, offset_bps: int, base: Decimal | None = None) -> Decimal:
    base = sim.last_price(symbol) if base is None else base
    return sim.instrument(symbol).round_price(base * (1 + D(offset_bps) / 10_000), Rounding.NEAREST)


def _qty(symbol: str, steps: int) -> str:
    return str(STEP[symbol][0] * steps)


def requests_for(sim: ExchangeSimulator, action: tuple[Any, ...]) -> list[tuple[str, dict[str, str]]]:
    """The wire requests an action sends, built lazily against the market at send time (none for moves)."""
    if action[0] != "bracket":
        request = request_for(sim, action)
        return [] if request is None else [request]
    _, symbol, side, steps, sl_bps, tp_bps = action
    exit_side = "SELL" if side == "BUY" else "BUY"
    sign = 1 if side == "BUY" else -1
    base = {"algoType": "CONDITIONAL", "symbol": symbol, "side": exit_side, "closePosition": "true"}
    return [("order", {"symbol": symbol, "side": side, "type": "MARKET", "quantity": _qty(symbol, steps)}),
            ("algo", {**base, "type": "STOP_MARKET", "triggerPrice": str(_price(sim, symbol, -sign * sl_bps))}),
            ("algo", {**base, "type": "TAKE_PROFIT_MARKET", "triggerPrice": str(_price(sim, symbol, sign * tp_bps))})]


def request_for(sim: ExchangeSimulator, action: tuple[Any, ...]) -> tuple[str, dict[str, str]] | None:
    """The wire request an order action sends (None for market moves and cancels)."""
    kind = action[0]
    if kind == "market":
        _, symbol, side, steps, reduce = action
        params = {"symbol": symbol, "side": side, "type": "MARKET", "quantity": _qty(symbol, steps)}
        if reduce:
            params["reduceOnly"] = "true"
        return "order", params
    if kind == "limit":
        _, symbol, side, steps, off, tif, reduce = action
        params = {"symbol": symbol, "side": side, "type": "LIMIT", "quantity": _qty(symbol, steps),
                  "price": str(_price(sim, symbol, off)), "timeInForce": tif}
        if reduce:
            params["reduceOnly"] = "true"
        return "order", params
    if kind == "algo":
        _, symbol, side, steps, type_, off, limit_off, sizing, working, rate, with_activation = action
        trigger = _price(sim, symbol, off)
        params = {"algoType": "CONDITIONAL", "symbol": symbol, "side": side, "type": type_, "workingType": working}
        if type_ == "TRAILING_STOP_MARKET":
            params["callbackRate"] = str(D(rate) / 10)
            if with_activation:
                params["activatePrice"] = str(trigger)
        else:
            params["triggerPrice"] = str(trigger)
        if type_ in ("STOP", "TAKE_PROFIT"):
            params["price"] = str(_price(sim, symbol, limit_off, trigger))
        if sizing == "closePosition":
            params["closePosition"] = "true"
        else:
            params["quantity"] = _qty(symbol, steps)
            if sizing == "reduceOnly":
                params["reduceOnly"] = "true"
        return "algo", params
    if kind == "garbage":
        return GARBAGE[action[1]]
    return None


def apply_market_action(sim: ExchangeSimulator, action: tuple[Any, ...]) -> None:
    kind = action[0]
    if kind == "px":
        _, symbol, off, mark_off = action
        last = _price(sim, symbol, off)
        mark = last if mark_off is None else _price(sim, symbol, mark_off, last)
        sim.set_prices({symbol: PriceUpdate(last, mark)})
    elif kind == "bar":
        _, symbol, open_off, up, down, close_pos = action
        o = _price(sim, symbol, open_off)
        h, low = _price(sim, symbol, up, o), _price(sim, symbol, -down, o)
        c = low + (h - low) * D(close_pos) / 1000
        sim.apply_bar(symbol, o, h, low, sim.instrument(symbol).round_price(c, Rounding.NEAREST))
    elif kind == "advance":
        sim.advance(action[1] * 3600)
    elif kind == "cancel":
        live: list[Any] = [*sim.open_orders(), *(a for a in sim.open_algo_orders() if a.status.value == "NEW")]
        if live:
            target = live[action[1] % len(live)]
            if hasattr(target, "algo_id") and not hasattr(target, "order_id"):
                sim.cancel_algo_order(target.algo_id)
            else:
                sim.cancel_order(target.symbol, target.order_id)


def run(actions_: list[tuple[Any, ...]], *, check: bool = True) -> ExchangeSimulator:
    """Play a session; with `check`, verify the per-request properties on the way."""
    sim = make_sim()
    for action in actions_:
        if action[0] not in ("market", "limit", "algo", "garbage", "bracket"):
            apply_market_action(sim, action)
            continue
        for endpoint, params in requests_for(sim, action):
            place(sim, endpoint, params, check)
    return sim


def place(sim: ExchangeSimulator, endpoint: str, params: dict[str, str], check: bool) -> None:
    """Send one request; a refusal must leave the snapshot as it was, a reduceOnly order must not add."""
    before = snapshot(sim)
    amounts = {s: sim.position(s).amount for s in SYMBOLS}
    try:
        placed = sim.new_order(params) if endpoint == "order" else sim.new_algo_order(params)
    except ExchangeError:
        if check:
            assert snapshot(sim) == before, f"refused {params} changed state"
        return
    if check and endpoint == "order" and params.get("reduceOnly") == "true":
        symbol = params["symbol"]
        old, new = amounts[symbol], sim.position(symbol).amount
        assert abs(new) <= abs(old) and new * old >= 0, f"reduceOnly {placed} moved {old} → {new}"


def replay_fills(sim: ExchangeSimulator) -> dict[tuple[str, PositionSide], Decimal]:
    """Positions rebuilt from the fills, checking every reduce-only and closePosition fill on the way."""
    orders = {o.order_id: o for o in sim.all_orders()}
    amounts: dict[tuple[str, PositionSide], Decimal] = {}
    done: dict[int, Decimal] = {}
    for f in sim.state.fills:
        key = (f.symbol, f.position_side)
        before = amounts.get(key, D(0))
        after = before + f.qty * f.side.sign
        o = orders[f.order_id]
        if o.reduce_only or o.close_position:
            assert before * f.side.sign < 0 and f.qty <= abs(before), f"reduce-only fill {f} against {before}"
        done[o.order_id] = done.get(o.order_id, D(0)) + f.qty
        if o.close_position and done[o.order_id] == o.orig_qty:
            assert after == 0, f"closePosition order {o.order_id} left {after}"
        amounts[key] = after
    return amounts


def check_account(sim: ExchangeSimulator) -> None:
    account = sim.account
    marks = {s: sim.mark_price(s) for s in SYMBOLS}
    # equity == wallet + Σ unrealised P&L at mark
    upnl = sum((p.amount * (marks[p.symbol] - p.entry_price) for p in account.positions.values() if p.amount),
               D(0))
    assert sim.equity == sim.wallet_balance + upnl
    # fees: every fill's commission is notional × rate; the account's total is their sum
    fills = sim.state.fills
    orders = {o.order_id: o for o in sim.all_orders()}
    for f in fills:
        if orders[f.order_id].client_order_id.startswith("autoclose-"):
            continue  # liquidation: charged the symbol's liquidationFee instead
        assert f.commission == commission(f.price, f.qty, MAKER if f.maker else TAKER), f
        assert f.commission > 0
    total_fees = sum((f.commission for f in fills), D(0))
    assert account.total_fees == total_fees
    if fills:
        assert total_fees > 0
    # money: wallet == start + realised − fees + funding (+ what an insurance clear gave back)
    funding = sum((D(e["a"]["B"][0]["bc"]) for e in sim.events
                   if e["e"] == "ACCOUNT_UPDATE" and e["a"]["m"] in ("FUNDING_FEE", "INSURANCE_CLEAR")), D(0))
    realized = sum((f.realized_pnl for f in fills), D(0))
    # (average entry prices are unrounded 28-digit Decimals, so sums may differ in the last digit)
    assert abs(sim.wallet_balance - (D(10000) + realized - total_fees + funding)) <= D("1E-18")
    # positions equal the fills replayed
    replayed = replay_fills(sim)
    for (symbol, side), pos in account.positions.items():
        assert pos.amount == replayed.get((symbol, side), D(0))
    # open orders / algos are in open states only
    assert all(o.status.value in ("NEW", "PARTIALLY_FILLED") for o in sim.open_orders())
    assert all(a.status.value in ("NEW", "TRIGGERING") for a in sim.open_algo_orders())


@SETTINGS
@given(sessions)
def test_random_sessions_keep_money_fees_and_positions_consistent(session: list[tuple[Any, ...]]) -> None:
    sim = run(session)
    check_account(sim)


@settings(SETTINGS, max_examples=max(10, EXAMPLES // 3))
@given(sessions)
def test_same_inputs_give_the_same_event_log(session: list[tuple[Any, ...]]) -> None:
    first = run(session, check=False).event_log()
    second = run(session, check=False).event_log()
    assert first == second


@SETTINGS
@given(st.lists(st.tuples(sides, st.integers(1, 300)), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(-100, 100), st.integers(-60, 60)), max_size=8),
       st.integers(1, 300))
def test_close_position_always_ends_flat(opens: list[tuple[str, int]], wander: list[tuple[int, int]],
                                         beyond_bps: int) -> None:
    """Whatever the position when it fires, a closePosition stop leaves exactly zero.

    The price wanders while the position grows or shrinks (the stop's size is whatever the position is
    when it fires), then, if the stop has not fired yet, one step crosses it by `beyond_bps`: every
    example fires the stop, so every example checks the property."""
    sim = make_sim()
    for side, steps in opens:
        with contextlib.suppress(ExchangeError):
            sim.new_order({"symbol": "BNBUSDT", "side": side, "type": "MARKET", "quantity": _qty("BNBUSDT", steps)})
    if sim.position("BNBUSDT").amount == 0:  # the opens netted out: hold the first one alone
        side, steps = opens[0]
        sim.new_order({"symbol": "BNBUSDT", "side": side, "type": "MARKET", "quantity": _qty("BNBUSDT", steps)})
    long = sim.position("BNBUSDT").amount > 0
    exit_side, sign = ("SELL", 1) if long else ("BUY", -1)
    trigger = _price(sim, "BNBUSDT", -150 * sign)
    stop = sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": exit_side,
                               "type": "STOP_MARKET", "triggerPrice": str(trigger), "closePosition": "true"})
    for off, change in wander:
        sim.set_prices({"BNBUSDT": str(_price(sim, "BNBUSDT", off))})
        if stop.status.value == "FINISHED":
            event("fired while wandering")
            break
        _resize(sim, long, change)
    else:
        sim.set_prices({"BNBUSDT": str(_price(sim, "BNBUSDT", -beyond_bps * sign, trigger))})
        event("fired by the crossing step")
    assert stop.status.value == "FINISHED", "the stop was crossed but did not fire"
    assert sim.position("BNBUSDT").amount == 0
    replay_fills(sim)


def _resize(sim: ExchangeSimulator, long: bool, change: int) -> None:
    """Add `change` steps to the position (change > 0) or take up to `-change` off it, never flipping it."""
    amount, step = abs(sim.position("BNBUSDT").amount), STEP["BNBUSDT"][0]
    qty = step * change if change > 0 else min(step * -change, amount - step)
    if qty <= 0:
        return
    side = ("BUY" if long else "SELL") if change > 0 else ("SELL" if long else "BUY")
    params = {"symbol": "BNBUSDT", "side": side, "type": "MARKET", "quantity": str(qty)}
    if change < 0:
        params["reduceOnly"] = "true"
    with contextlib.suppress(ExchangeError):
        sim.new_order(params)


@SETTINGS
@given(st.sampled_from(("ISOLATED", "CROSSED")), st.sampled_from((5, 10, 20, 50, 75)), sides,
       st.integers(1, 1500),
       st.lists(st.tuples(st.booleans(), st.integers(-900, 900), st.integers(0, 400), st.integers(0, 400)),
                min_size=1, max_size=12))
def test_liquidation_loses_at_most_the_margin_backing_the_position(
    margin_type: str, leverage: int, side: str, steps: int, path: list[tuple[bool, int, int, int]]
) -> None:
    """Isolated: never more than the isolated wallet; cross: never more than the wallet (§8.6)."""
    sim = make_sim()
    if margin_type == "ISOLATED":
        sim.set_margin_type("BNBUSDT", "ISOLATED")
    sim.set_leverage("BNBUSDT", leverage)
    try:
        sim.new_order({"symbol": "BNBUSDT", "side": side, "type": "MARKET", "quantity": _qty("BNBUSDT", steps)})
    except ExchangeError:
        return
    pos = sim.position("BNBUSDT")
    backing = pos.isolated_wallet if margin_type == "ISOLATED" else sim.account.cross_wallet
    wallet = sim.wallet_balance
    assert backing > 0
    for is_bar, off, up, down in path:
        if is_bar:
            o = _price(sim, "BNBUSDT", off)
            sim.apply_bar("BNBUSDT", o, _price(sim, "BNBUSDT", up, o), _price(sim, "BNBUSDT", -down, o), o)
        else:
            sim.set_prices({"BNBUSDT": str(_price(sim, "BNBUSDT", off))})
        assert sim.wallet_balance >= wallet - backing
        if sim.position("BNBUSDT").amount == 0:
            assert [e["e"] for e in sim.events].count("LIQUIDATION") == 1
            assert sim.wallet_balance >= 0
            break
    check_account(sim)
