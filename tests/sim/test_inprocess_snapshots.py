"""The in-process adapter's fast path gives exactly the JSON path's snapshots, and the stream parser's
direct reading exactly the old dict-building one's.

A real simulator is driven through every order state (new, partially filled, filled, canceled, expired;
algo new, triggered with a resting or a filled child, finished, canceled, expired; reduce-only,
close-position, mark-price working type, trailing, integral quantities and prices that normalise to
an exponent); after every step each order and algo order the simulator knows is read both ways and
compared field by field, Decimal representation included (Decimal("1E+1") == Decimal("10") is
True, but they print differently, and snapshots end in journals and reports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from decimal import Decimal
from typing import Any

import pytest
from conftest import algo, limit, long, make_sim, market, px, short
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.domain.exchange_types import OrderSnapshot, PositionSnapshot
from quantum_trader.domain.instrument import Liquidity
from quantum_trader.domain.money import fmt, to_decimal
from quantum_trader.exchange import wire
from quantum_trader.exchange.inprocess_snapshots import algo_snapshot, order_snapshot, wire_decimal
from quantum_trader.sim import shapes
from quantum_trader.sim.engine import ExchangeSimulator

D = Decimal
#: A thin BNBUSDT book (as in test_orders_lifecycle.py): depth runs out, so orders fill partly.
THIN_BNB = {"BNBUSDT": Liquidity(spread_bps=D("2"), depth_usdt=D("6000"))}


def exact(value: Any) -> Any:
    """A record that tells apart what == does not: each field's type and repr."""
    if isinstance(value, OrderSnapshot | PositionSnapshot):
        return [(f.name, type(getattr(value, f.name)), repr(getattr(value, f.name))) for f in fields(value)]
    return (type(value), repr(value))


def read_both_ways(sim: ExchangeSimulator) -> Iterator[tuple[OrderSnapshot, OrderSnapshot]]:
    for o in sim.all_orders():
        yield order_snapshot(o), wire.order_from_json(shapes.order_json(o))
    for a in sim.all_algo_orders():
        child = shapes.spawned_order(a, sim)
        json_child = shapes.order_json(child) if child is not None else None
        yield algo_snapshot(a, child), wire.algo_from_json(shapes.algo_order_json(a, sim), json_child)


class Tour:
    """Runs steps on simulators and compares every order after each; records the states it saw."""

    def __init__(self) -> None:
        self.seen: set[tuple[bool, str, str]] = set()
        self.compared = 0
        self.sims: list[ExchangeSimulator] = []

    def check(self, sim: ExchangeSimulator) -> None:
        for fast, slow in read_both_ways(sim):
            assert exact(fast) == exact(slow), (fast, slow)
            self.compared += 1
        for a in sim.all_algo_orders():
            child = shapes.spawned_order(a, sim)
            self.seen.add((True, a.status.value, child.status.value if child is not None else "-"))
        self.seen |= {(False, o.status.value, o.type.value) for o in sim.all_orders()}

    def run(self, sim: ExchangeSimulator, *steps: Callable[[], Any]) -> None:
        self.sims.append(sim)
        self.check(sim)
        for step in steps:
            step()
            self.check(sim)


def bnb_steps(sim: ExchangeSimulator) -> list[Callable[[], Any]]:
    """Every order state on BNBUSDT, one step at a time (tests/sim/test_inprocess_events.py takes them too)."""
    return [
        lambda: long(sim, "BNBUSDT", "10", "600"),  # integral quantity: 1E+1 once normalised
        lambda: limit(sim, "BUY", "1", "590.10"),  # trailing zero in the price
        lambda: limit(sim, "BUY", "0.5", "580", newClientOrderId="to-cancel"),
        lambda: sim.cancel_order("BNBUSDT", client_order_id="to-cancel"),
        lambda: limit(sim, "BUY", "1", "599", timeInForce="IOC"),  # expires unfilled
        lambda: algo(sim, side="SELL", triggerPrice="570", closePosition=True, workingType="MARK_PRICE",
                     priceProtect=True),
        lambda: algo(sim, type="TAKE_PROFIT_MARKET", side="SELL", triggerPrice="640", quantity="2",
                     reduceOnly=True),
        lambda: algo(sim, type="STOP", side="SELL", triggerPrice="590", price="589", quantity="1"),
        lambda: algo(sim, type="TRAILING_STOP_MARKET", side="SELL", quantity="1", callbackRate="1",
                     activatePrice="600.01"),
        lambda: algo(sim, side="SELL", triggerPrice="500", quantity="1", clientAlgoId="algo-cancel"),
        lambda: sim.cancel_algo_order(client_algo_id="algo-cancel"),
        lambda: px(sim, "BNBUSDT", "605"),
        lambda: px(sim, "BNBUSDT", "585"),  # the stop-limit triggers; its child rests beyond its limit
        lambda: px(sim, "BNBUSDT", "588.5"),
        lambda: px(sim, "BNBUSDT", "589.5"),  # the child fills at its limit: the algo finishes
        lambda: px(sim, "BNBUSDT", "641", "641"),  # take-profit fires and fills
        lambda: market(sim, "SELL", "7", reduceOnly=True),  # the rest closes: close-position stops expire
    ]


def _bnb_tour(tour: Tour) -> None:
    sim = make_sim()
    tour.run(sim, *bnb_steps(sim))


def _other_symbols_tour(tour: Tour) -> None:
    sim = make_sim()
    tour.run(
        sim,
        lambda: short(sim, "BTCUSDT", "0.010", "100000"),
        lambda: algo(sim, symbol="BTCUSDT", side="BUY", triggerPrice="101000.0", closePosition=True),
        lambda: px(sim, "BTCUSDT", "101500"),  # the stop fires and fills: the algo snapshot is FILLED
        lambda: long(sim, "ETHUSDT", "0.123", "2500.37"),
        lambda: limit(sim, "SELL", "0.100", "2600.00", symbol="ETHUSDT", reduceOnly=True),
        lambda: px(sim, "ETHUSDT", "2610"),
    )


def _thin_book_tour(tour: Tour) -> None:
    sim = make_sim(liquidity=THIN_BNB)
    tour.run(
        sim,
        lambda: limit(sim, "BUY", "3", "600.12"),  # partially filled, rests with the remainder
        lambda: limit(sim, "BUY", "3", "600.12", timeInForce="IOC"),  # partly filled, the rest expires
        lambda: px(sim, "BNBUSDT", "600.1"),
        lambda: market(sim, "SELL", "2"),
    )


def full_tour() -> Tour:
    tour = Tour()
    _bnb_tour(tour)
    _other_symbols_tour(tour)
    _thin_book_tour(tour)
    return tour


def test_fast_snapshots_equal_the_json_path_in_every_order_state() -> None:
    tour = full_tour()
    classic = {status for conditional, status, _ in tour.seen if not conditional}
    assert classic >= {"NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED"}
    algos = {(status, child) for conditional, status, child in tour.seen if conditional}
    assert algos >= {("NEW", "-"), ("CANCELED", "-"), ("EXPIRED", "-"), ("TRIGGERED", "NEW"),
                     ("FINISHED", "FILLED")}
    assert tour.compared > 100


TRICKY = ["0", "-0", "0E-8", "0.000", "10", "1E+1", "100.00", "-2500", "600.10", "0.00012000", "1E-30",
          "123456789012345678901234567890.5", "9.99999999999999999999999999999E+40", "-7.5E-3", "5"]


@given(st.one_of(st.sampled_from(TRICKY).map(D),
                 st.decimals(allow_nan=False, allow_infinity=False),
                 st.integers(-10**12, 10**12).map(lambda n: D(n).scaleb(-4) * 1000)))
def test_wire_decimal_is_to_decimal_of_fmt(value: Decimal) -> None:
    assert exact(wire_decimal(value, "price")) == exact(to_decimal(fmt(value), "price"))


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_wire_decimal_refuses_what_the_json_path_refuses(value: str) -> None:
    with pytest.raises(ValueError, match=r"^price: ") as fast:
        wire_decimal(D(value), "price")
    with pytest.raises(ValueError, match=r"^price: ") as slow:
        to_decimal(fmt(D(value)), "price")
    assert str(fast.value) == str(slow.value)


# --- the stream parser: direct reading == the old reading through a REST-shaped dict ---------------
def old_dec(value: Any, field: str) -> Decimal:
    """wire's number rule before its inlined fast step: absent or "" is 0, else to_decimal."""
    if value is None or value == "":
        return D(0)
    return to_decimal(value, field)


@pytest.mark.parametrize("value", [*TRICKY, "1.50", "-0.000", "1e5", "+3", " 7 ", "", None, "abc", " ", "1_0",
                                   "NaN", "-Infinity", "sNaN", True, False, 0, 3, 2.5, float("nan"), [1],
                                   D("1.20"), D("NaN")])
def test_wire_numbers_parse_and_fail_as_to_decimal_does(value: Any) -> None:
    """The parse every wire field goes through (REST and stream, ccxt adapter included)."""
    assert outcome(lambda: wire._dec({"f": value}, "f")) == outcome(lambda: old_dec(value, "f"))


def old_order_from_stream(o: Any) -> OrderSnapshot:
    return wire.order_from_json({
        "clientOrderId": o["c"], "orderId": o["i"], "symbol": o["s"], "side": o["S"], "type": o["o"],
        "origType": o.get("ot"), "status": o["X"], "origQty": o.get("q"), "executedQty": o.get("z"),
        "avgPrice": o.get("ap"), "stopPrice": o.get("sp"), "price": o.get("p"), "reduceOnly": o.get("R"),
        "closePosition": o.get("cp"), "workingType": o.get("wt"), "updateTime": o.get("T"),
    })


def old_algo_from_stream(o: Any, event_time: int) -> OrderSnapshot:
    snapshot = wire.algo_from_json({
        "clientAlgoId": o["caid"], "algoId": o["aid"], "symbol": o["s"], "side": o["S"], "orderType": o["o"],
        "algoStatus": o["X"], "quantity": o.get("q"), "triggerPrice": o.get("tp"), "price": o.get("p"),
        "reduceOnly": o.get("R"), "closePosition": o.get("cp"), "workingType": o.get("wt"),
        "actualOrderId": o.get("ai"), "actualPrice": o.get("ap"), "updateTime": event_time,
    })
    filled = old_dec(o.get("aq"), "aq")
    return snapshot if filled == 0 else replace(snapshot, filled=filled)


def old_position_from_stream(row: Any, *, mark: Decimal, leverage: int,
                             liquidation: Decimal | None) -> PositionSnapshot:
    return wire.position_from_risk({
        "symbol": row["s"], "positionAmt": row["pa"], "entryPrice": row["ep"], "unRealizedProfit": row["up"],
        "marginType": row.get("mt", "cross"), "markPrice": mark, "leverage": leverage,
        "liquidationPrice": liquidation if liquidation is not None else 0,
    })


def outcome(call: Callable[[], Any]) -> Any:
    """What a call gives: its exact result, or the type and message of what it raised."""
    try:
        return exact(call())
    except (KeyError, ValueError, TypeError) as exc:
        return ("raised", type(exc), str(exc))


def test_stream_parsing_equals_the_old_reading_on_every_simulator_event() -> None:
    events = [e for sim in full_tour().sims for e in sim.events]
    kinds = {e["e"] for e in events}
    assert {"ORDER_TRADE_UPDATE", "ALGO_UPDATE", "ACCOUNT_UPDATE"} <= kinds
    for e in events:
        if e["e"] == "ORDER_TRADE_UPDATE":
            assert outcome(lambda e=e: wire.order_from_stream(e["o"])) == outcome(
                lambda e=e: old_order_from_stream(e["o"]))
        elif e["e"] == "ALGO_UPDATE":
            assert outcome(lambda e=e: wire.algo_from_stream(e["o"], e["E"])) == outcome(
                lambda e=e: old_algo_from_stream(e["o"], e["E"]))
        for row in e.get("a", {}).get("P", []):
            for liq in (None, D("512.30"), D(0)):
                kw: dict[str, Any] = {"mark": D("600.50"), "leverage": 20, "liquidation": liq}
                assert outcome(lambda row=row, kw=kw: wire.position_from_stream(row, **kw)) == outcome(
                    lambda row=row, kw=kw: old_position_from_stream(row, **kw))


ORDER_BODY: dict[str, Any] = {
    "s": "BNBUSDT", "c": "qt-T1-entry-0", "S": "BUY", "o": "MARKET", "q": "1.50", "p": "0", "ap": "600.1",
    "sp": "0", "x": "TRADE", "X": "FILLED", "i": 42, "l": "1.5", "z": "1.50", "L": "600.1", "T": 1700, "t": 9,
    "m": False, "R": "false", "wt": "CONTRACT_PRICE", "ot": "MARKET", "cp": False, "rp": "0", "n": "0.45",
}
ALGO_BODY: dict[str, Any] = {
    "caid": "qt-T1-sl-0", "aid": 7, "o": "STOP_MARKET", "s": "BNBUSDT", "S": "SELL", "q": "0", "X": "TRIGGERED",
    "ai": "43", "ap": "588.20", "aq": "1.5", "tp": "590", "p": "0", "wt": "MARK_PRICE", "cp": True, "R": "true",
}
POSITION_ROW: dict[str, Any] = {"s": "BNBUSDT", "pa": "1.5", "ep": "600.1", "up": "-0.3", "mt": "isolated"}
BAD_VALUES = ["", None, "abc", " 1.5 ", "1_0", "NaN", "Infinity", True, 3, 2.5, [1], D("1.20")]


@pytest.mark.parametrize("key", ["q", "z", "ap", "sp", "p", "R", "cp", "wt", "T", "ot", "o", "X", "S", "c"])
@pytest.mark.parametrize("value", [*BAD_VALUES, "missing"])
def test_order_stream_fields_fail_and_pass_as_before(key: str, value: Any) -> None:
    body = {k: v for k, v in ORDER_BODY.items() if not (k == key and value == "missing")}
    if value != "missing":
        body[key] = value
    assert outcome(lambda: wire.order_from_stream(body)) == outcome(lambda: old_order_from_stream(body))


@pytest.mark.parametrize("key", ["q", "ap", "aq", "tp", "p", "R", "cp", "wt", "ai", "o", "X", "S", "caid"])
@pytest.mark.parametrize("value", [*BAD_VALUES, "missing"])
def test_algo_stream_fields_fail_and_pass_as_before(key: str, value: Any) -> None:
    body = {k: v for k, v in ALGO_BODY.items() if not (k == key and value == "missing")}
    if value != "missing":
        body[key] = value
    assert outcome(lambda: wire.algo_from_stream(body, 1800)) == outcome(lambda: old_algo_from_stream(body, 1800))


@pytest.mark.parametrize("key", ["s", "pa", "ep", "up", "mt"])
@pytest.mark.parametrize("value", [*BAD_VALUES, "missing"])
def test_position_stream_fields_fail_and_pass_as_before(key: str, value: Any) -> None:
    row = {k: v for k, v in POSITION_ROW.items() if not (k == key and value == "missing")}
    if value != "missing":
        row[key] = value
    kw: dict[str, Any] = {"mark": D("601"), "leverage": 5, "liquidation": D("400.5")}
    assert outcome(lambda: wire.position_from_stream(row, **kw)) == outcome(
        lambda: old_position_from_stream(row, **kw))


def test_a_bad_stream_number_still_names_its_field() -> None:
    with pytest.raises(ValueError, match=r"^origQty: 'abc' is not a number$"):
        wire.order_from_stream({**ORDER_BODY, "q": "abc"})
    with pytest.raises(ValueError, match=r"^aq: "):
        wire.algo_from_stream({**ALGO_BODY, "aq": "NaN"}, 1800)
    with pytest.raises(ValueError, match=r"^l: "):
        wire.fill_from_stream({**ORDER_BODY, "l": "1..5"}, 1800)
