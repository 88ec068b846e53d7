"""The protection view: which open orders really protect a position, and what is flagged."""

from __future__ import annotations

import itertools
from decimal import Decimal as D
from typing import Any

import pytest

from quantum_trader.domain.enums import MarginType, OrderType, Side, WorkingType
from quantum_trader.domain.exchange_types import AccountSnapshot, OrderSnapshot, PositionSnapshot, SnapshotStatus
from quantum_trader.trading.monitor_rules import has_working_stop, wrong_reason
from quantum_trader.trading.protection_view import Flag, Role, Status, build_view, classify

ACCOUNT = AccountSnapshot(wallet=D("1000"), equity=D("1000"), available=D("800"))
_ids = iter(range(1, 10_000))


def position(amount: str, entry: str = "100", mark: str = "100", leverage: int = 10,
             symbol: str = "BNBUSDT") -> PositionSnapshot:
    amt, e, m = D(amount), D(entry), D(mark)
    return PositionSnapshot(symbol=symbol, amount=amt, entry=e, mark=m, unrealized=amt * (m - e), leverage=leverage,
                            margin_type=MarginType.ISOLATED, liquidation_price=D("50"))


def order(side: str, type_: str, trigger: str | None = None, *, reduce: bool = False, close: bool = True,
          symbol: str = "BNBUSDT", status: SnapshotStatus = SnapshotStatus.OPEN, qty: str = "1") -> OrderSnapshot:
    kind = OrderType(type_)
    n = next(_ids)
    return OrderSnapshot(client_id=f"c{n}", venue_id=str(n), symbol=symbol, side=Side(side), type=kind,
                         status=status, conditional=kind.is_conditional, quantity=D("0") if close else D(qty),
                         filled=D("0"), avg_price=D("0"), trigger_price=D(trigger) if trigger else None,
                         price=None, reduce_only=reduce, close_position=close, working_type=WorkingType.MARK_PRICE,
                         update_time=0)


LONG, SHORT = "1", "-1"
SL_LONG, TP_LONG = ("SELL", "STOP_MARKET", "98"), ("SELL", "TAKE_PROFIT_MARKET", "104")
SL_SHORT, TP_SHORT = ("BUY", "STOP_MARKET", "102"), ("BUY", "TAKE_PROFIT_MARKET", "96")

# (name, position amount, orders as (side, type, trigger), expected status, expected position flags)
CASES: list[tuple[str, str, list[tuple[str, str, str]], Status, set[Flag]]] = [
    ("long SL+TP", LONG, [SL_LONG, TP_LONG], Status.PROTECTED, set()),
    ("short SL+TP", SHORT, [SL_SHORT, TP_SHORT], Status.PROTECTED, set()),
    ("long SL only", LONG, [SL_LONG], Status.NO_TAKE_PROFIT, {Flag.NO_TAKE_PROFIT}),
    ("short SL only", SHORT, [SL_SHORT], Status.NO_TAKE_PROFIT, {Flag.NO_TAKE_PROFIT}),
    ("long nothing", LONG, [], Status.UNPROTECTED, {Flag.NO_STOP_LOSS, Flag.NO_TAKE_PROFIT}),
    ("short TP only", SHORT, [TP_SHORT], Status.UNPROTECTED, {Flag.NO_STOP_LOSS}),
    ("long stop on entry side", LONG, [("BUY", "STOP_MARKET", "102"), TP_LONG], Status.UNPROTECTED,
     {Flag.NO_STOP_LOSS, Flag.WRONG_SIDE}),
    ("short stop on entry side", SHORT, [("SELL", "STOP_MARKET", "98"), TP_SHORT], Status.UNPROTECTED,
     {Flag.NO_STOP_LOSS, Flag.WRONG_SIDE}),
    ("long duplicate stop", LONG, [SL_LONG, ("SELL", "STOP_MARKET", "97"), TP_LONG], Status.PROTECTED,
     {Flag.DUPLICATE_STOP_LOSS}),
    ("short duplicate stop", SHORT, [SL_SHORT, ("BUY", "STOP_MARKET", "103"), TP_SHORT], Status.PROTECTED,
     {Flag.DUPLICATE_STOP_LOSS}),
    ("long duplicate TP", LONG, [SL_LONG, TP_LONG, ("SELL", "TAKE_PROFIT_MARKET", "105")], Status.PROTECTED,
     {Flag.DUPLICATE_TAKE_PROFIT}),
    # A stop-limit triggers into a resting limit order a gap leaves unfilled: the monitor replaces it.
    ("long stop-limit is no stop", LONG, [("SELL", "STOP", "98"), TP_LONG], Status.UNPROTECTED,
     {Flag.NO_STOP_LOSS, Flag.STOP_LIMIT}),
    ("short stop-limit is no stop", SHORT, [("BUY", "STOP", "102"), TP_SHORT], Status.UNPROTECTED,
     {Flag.NO_STOP_LOSS, Flag.STOP_LIMIT}),
    ("stop-limit beside a stop", SHORT, [SL_SHORT, ("BUY", "STOP", "101"), TP_SHORT], Status.PROTECTED,
     {Flag.STOP_LIMIT}),
    ("long take-profit limit is no take-profit", LONG, [SL_LONG, ("SELL", "TAKE_PROFIT", "104")],
     Status.NO_TAKE_PROFIT, {Flag.NO_TAKE_PROFIT, Flag.STOP_LIMIT}),
    ("long trailing stop counts", LONG, [("SELL", "TRAILING_STOP_MARKET", "99"), TP_LONG], Status.PROTECTED, set()),
    ("long stop above mark protects nothing", LONG, [("SELL", "STOP_MARKET", "101"), TP_LONG], Status.UNPROTECTED,
     {Flag.NO_STOP_LOSS, Flag.TRIGGER_CROSSED}),
    ("short stop below mark protects nothing", SHORT, [("BUY", "STOP_MARKET", "99"), TP_SHORT],
     Status.UNPROTECTED, {Flag.NO_STOP_LOSS, Flag.TRIGGER_CROSSED}),
    ("short TP on entry side", SHORT, [SL_SHORT, ("SELL", "TAKE_PROFIT_MARKET", "104")], Status.NO_TAKE_PROFIT,
     {Flag.NO_TAKE_PROFIT, Flag.WRONG_SIDE}),
]


@pytest.mark.parametrize(("name", "amount", "orders", "status", "flags"), CASES, ids=[c[0] for c in CASES])
def test_position_status(name: str, amount: str, orders: list[tuple[str, str, str]], status: Status,
                         flags: set[Flag]) -> None:
    view = build_view([position(amount)], [order(*o) for o in orders], ACCOUNT)
    (pos,) = view.positions
    assert pos.status is status, name
    assert set(pos.flags) == flags, name
    assert view.unprotected == (1 if status is Status.UNPROTECTED else 0)


def test_stop_loss_and_take_profit_are_reported_with_type_and_price() -> None:
    pos = build_view([position(LONG)], [order(*SL_LONG), order(*TP_LONG)], ACCOUNT).positions_json()["positions"][0]
    assert pos["stop_loss"]["type"] == "STOP_MARKET" and pos["stop_loss"]["trigger_price"] == "98"
    assert pos["take_profit"]["type"] == "TAKE_PROFIT_MARKET" and pos["take_profit"]["trigger_price"] == "104"
    missing = build_view([position(LONG)], [], ACCOUNT).positions_json()["positions"][0]
    assert missing["stop_loss"] is None and missing["take_profit"] is None
    assert missing["status"] == "UNPROTECTED"


def test_stop_without_reduce_only_or_close_position_does_not_count() -> None:
    stop = order("SELL", "STOP_MARKET", "98", reduce=False, close=False)
    assert classify(stop, position(LONG)).flags == (Flag.NOT_REDUCE_ONLY,)
    reduce_only = order("SELL", "STOP_MARKET", "98", reduce=True, close=False)
    assert classify(reduce_only, position(LONG)).role is Role.STOP_LOSS


def test_triggered_or_cancelled_stops_are_not_working_protection() -> None:
    stop = order(*SL_LONG, status=SnapshotStatus.TRIGGERED)
    assert build_view([position(LONG)], [stop], ACCOUNT).positions[0].status is Status.UNPROTECTED


def test_roe_at_10x_two_percent_move_is_twenty_percent_of_margin() -> None:
    long = build_view([position("2", entry="100", mark="98", leverage=10)], [], ACCOUNT).positions_json()
    pos = long["positions"][0]
    assert pos["unrealized_pnl"] == "-4"
    assert pos["pnl_pct_notional"] == "-2.00"
    assert pos["roe_pct"] == "-20.00"
    assert pos["pnl_pct_equity"] == "-0.40"
    assert pos["margin"] == "20" and pos["entry_notional"] == "200" and pos["notional"] == "196"
    short = build_view([position("-2", entry="100", mark="98", leverage=10)], [], ACCOUNT).positions[0]
    assert short.pnl.pct_margin == D("20") and short.side == "short"


def test_percentages_are_all_on_the_entry_notional_and_say_so() -> None:
    """The tester's mix: `notional` was size × mark (90 here) while % notional was on size × entry (100).
    The document now names the basis (`entry_notional`), and % notional × leverage is ROE exactly."""
    pos = build_view([position("1", entry="100", mark="90", leverage=5)], [], ACCOUNT).positions_json()["positions"][0]
    assert (pos["entry_notional"], pos["notional"], pos["margin"]) == ("100", "90", "20")
    assert D(pos["unrealized_pnl"]) / D(pos["entry_notional"]) * 100 == D(pos["pnl_pct_notional"]) == D("-10")
    assert D(pos["roe_pct"]) == D(pos["pnl_pct_notional"]) * pos["leverage"] == D("-50")


@pytest.mark.parametrize(("mark", "pct_notional", "pct_equity"), [
    ("99.996", "-0.0040", "-0.00040"),  # printed "0 %" of both before; two significant digits below 0.1
    ("99.9", "-0.10", "-0.010"),  # printed "-0.1" before, beside "-1.36" in the same column
    ("98.6364", "-1.36", "-0.14"),  # two decimals from 0.1 % on
    ("99.99999", "-0.000010", "-0.0000010"),
    ("100.1033", "0.10", "0.010"),  # a user trial: the dashboard showed 0.1 for 0.1033
    ("99.7984", "-0.20", "-0.020"),  # and -0.2 for -0.2016
    ("100", "0.00", "0.00"),
])
def test_a_small_loss_is_not_zero_percent(mark: str, pct_notional: str, pct_equity: str) -> None:
    pos = build_view([position("1", entry="100", mark=mark)], [], ACCOUNT).positions_json()["positions"][0]
    assert (pos["pnl_pct_notional"], pos["pnl_pct_equity"]) == (pct_notional, pct_equity)


def test_orphan_protection_orders_and_grouping() -> None:
    orders = [order(*SL_LONG), order("BUY", "STOP_MARKET", "2600", symbol="ETHUSDT"),
              order("BUY", "LIMIT", None, close=False, symbol="BTCUSDT")]
    view = build_view([position(LONG)], orders, ACCOUNT)
    assert [o.order.symbol for o in view.orphans] == ["ETHUSDT"]
    doc = view.orders_json()
    assert [g["symbol"] for g in doc["groups"]] == ["BNBUSDT", "BTCUSDT", "ETHUSDT"]
    btc = doc["groups"][1]
    assert btc["position_side"] is None and btc["orders"][0]["role"] == "entry" and btc["orders"][0]["flags"] == []
    assert doc["orphans"][0]["flags"] == ["orphan"]
    assert doc["groups"][0]["status"] == "NO_TAKE_PROFIT"


def test_rejected_types_report_spot_only_types_once() -> None:
    view = build_view([], [], ACCOUNT, desired_types=["STOP_MARKET", "STOP_LOSS", "stop_loss", "LIMIT_MAKER", "OCO"])
    assert [r["type"] for r in view.rejected_types] == ["STOP_LOSS", "LIMIT_MAKER", "OCO"]
    assert "spot-only" in view.rejected_types[0]["reason"] and "unknown" in view.rejected_types[2]["reason"]


def test_unknown_symbol_flagged_when_instruments_given() -> None:
    view = build_view([], [order("BUY", "LIMIT", None, close=False, symbol="NOPEUSDT")], ACCOUNT, instruments={})
    assert view.groups[0].orders[0].flags == (Flag.UNKNOWN_SYMBOL,)


def test_json_documents_are_plain() -> None:
    doc: dict[str, Any] = build_view([position(SHORT)], [order(*SL_SHORT)], ACCOUNT).to_json()
    assert doc["count"] == 1 and doc["unprotected"] == 0 and doc["equity"] == "1000"
    assert all(isinstance(v, str) for v in (doc["positions"][0]["entry"], doc["positions"][0]["liquidation_price"]))


def test_stop_limit_is_flagged_with_the_monitors_reason() -> None:
    """The incident: a reduceOnly STOP (stop-limit) was shown as `SL STOP @ ...` and exit 0, while the
    monitor replaces it. The view now says why it does not count, in the monitor's words."""
    stop = order("SELL", "STOP", "98", reduce=True, close=False)
    view = build_view([position(LONG)], [stop, order(*TP_LONG)], ACCOUNT)
    (pos,) = view.positions
    assert pos.status is Status.UNPROTECTED and pos.stop_loss is None and view.unprotected == 1
    (issue,) = pos.to_json()["protection_issues"]
    assert issue["type"] == "STOP" and issue["flags"] == ["stop_limit"]
    assert issue["reason"] == wrong_reason(stop, position(LONG))
    assert "stop-limit" in issue["reason"] and "unfilled after a gap" in issue["reason"]
    (as_order,) = [o for o in view.orders_json()["groups"][0]["orders"] if o["type"] == "STOP"]
    assert as_order["role"] == "ineffective" and as_order["reason"] == issue["reason"]


def test_reduce_only_stop_for_less_than_the_position_does_not_count() -> None:
    partial = order("SELL", "STOP_MARKET", "98", reduce=True, close=False, qty="0.4")
    pos = build_view([position("1")], [partial, order(*TP_LONG)], ACCOUNT).positions[0]
    assert pos.status is Status.UNPROTECTED and Flag.PARTIAL_QUANTITY in pos.flags
    whole = order("SELL", "STOP_MARKET", "98", reduce=True, close=False, qty="1")
    assert build_view([position("1")], [whole, order(*TP_LONG)], ACCOUNT).positions[0].status is Status.PROTECTED


def test_the_counted_stop_is_the_one_the_monitor_keeps() -> None:
    """Of two working stops the monitor keeps the tightest (and cancels the other); the view shows that one."""
    loose, tight = order("SELL", "STOP_MARKET", "95"), order("SELL", "STOP_MARKET", "98")
    pos = build_view([position(LONG)], [loose, tight, order(*TP_LONG)], ACCOUNT).positions[0]
    assert pos.stop_loss is not None and pos.stop_loss.client_id == tight.client_id


def _every_protection_order() -> list[OrderSnapshot]:
    """Stops and take-profits in every combination the monitor's rules tell apart, for a long of 1."""
    combos = itertools.product(("BUY", "SELL"), ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                                                 "TRAILING_STOP_MARKET"),
                               ("90", "98", "101", "110"), ((False, True, "0"), (True, False, "1"),
                                                          (True, False, "0.5"), (False, False, "1")))
    return [order(side, kind, trigger, reduce=reduce, close=close, qty=qty)
            for side, kind, trigger, (reduce, close, qty) in combos]


@pytest.mark.parametrize("amount", ["1", "-1"])
def test_verdicts_are_the_monitors_for_every_protection_order(amount: str) -> None:
    """One rule: alone or beside a good stop, each order is counted, flagged and explained exactly as the
    monitor judges it (`has_working_stop`, `wrong_reason`), and the CLI's exit code follows that verdict."""
    pos = position(amount)
    good = order("SELL" if amount == "1" else "BUY", "STOP_MARKET", "98" if amount == "1" else "102")
    for candidate in _every_protection_order():
        for orders in ([candidate], [candidate, good]):
            view = build_view([pos], orders, ACCOUNT)
            assert (view.unprotected == 1) is (not has_working_stop(pos, orders)), candidate
            seen = classify(candidate, pos)
            why = wrong_reason(candidate, pos)
            if why is not None:
                assert seen.role is Role.INEFFECTIVE and seen.reason == why, candidate
            elif seen.role is Role.INEFFECTIVE:
                assert seen.flags == (Flag.TRIGGER_CROSSED,), candidate
