"""The account's order rate in the request budget (exchange/order_rate.py through exchange/budget.py): new
orders counted per window from our own sends and `X-MBX-ORDER-COUNT-*`, limits learnt from exchangeInfo,
entries held back near a limit while orders that only reduce a position always go, and -1015 honoured.
Time is a settable wall clock, so windows pass at once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.enums import OrderType, Side, WorkingType
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.exchange import wire
from quantum_trader.exchange.budget import BudgetRefused, Priority, WeightBudget
from quantum_trader.exchange.order_rate import OrderKind, OrderRate, OrderWindow, order_kind
from quantum_trader.exchange.retry import worth_waiting

MINUTE = 1_800_000_000.0  # a whole minute (and a whole 10 s), in seconds
ENTRY, REDUCE = OrderKind.ENTRY, OrderKind.REDUCE


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def budget_at(second: float, per_10s: int = 10, per_minute: int = 100) -> tuple[WeightBudget, Clock]:
    clock = Clock(MINUTE + second)
    orders = OrderRate(windows=[OrderWindow("10S", 10.0, per_10s), OrderWindow("1M", 60.0, per_minute)])
    return WeightBudget(limit=1000, clock=clock, orders=orders), clock


def send(budget: WeightBudget, kind: OrderKind, times: int = 1) -> None:
    for _ in range(times):
        budget.admit(0, Priority.ORDER, "POST /fapi/v1/order", kind)


def counts(budget: WeightBudget) -> dict[str, int]:
    windows = budget.snapshot()["order_rate"]["windows"]  # type: ignore[index]
    return {name: row["count"] for name, row in windows.items()}


# --- what an order is ------------------------------------------------------------------------------------
def test_the_orders_the_bot_sends_are_classified_by_what_they_can_do_to_a_position() -> None:
    entry = OrderIntent(client_id="qt_t1_entry_1", symbol="BTCUSDT", side=Side.BUY, type=OrderType.MARKET,
                        quantity=Decimal("0.01"))
    stop = OrderIntent(client_id="qt_t1_sl_1", symbol="BTCUSDT", side=Side.SELL, type=OrderType.STOP_MARKET,
                       trigger_price=Decimal("90000"), close_position=True, working_type=WorkingType.MARK_PRICE,
                       price_protect=True)
    stop_by_quantity = OrderIntent(client_id="qt_t1_sl_2", symbol="BTCUSDT", side=Side.SELL,
                                   type=OrderType.STOP_MARKET, trigger_price=Decimal("90000"),
                                   quantity=Decimal("0.01"), reduce_only=True)
    exit_ = OrderIntent(client_id="qt_t1_em_1", symbol="BTCUSDT", side=Side.SELL, type=OrderType.MARKET,
                        quantity=Decimal("0.01"), reduce_only=True)
    assert order_kind("POST", "/fapi/v1/order", wire.intent_params(entry)) is ENTRY
    assert order_kind("POST", "/fapi/v1/algoOrder", wire.intent_params(stop)) is REDUCE
    assert order_kind("POST", "/fapi/v1/algoOrder", wire.intent_params(stop_by_quantity)) is REDUCE
    assert order_kind("POST", "/fapi/v1/order", wire.intent_params(exit_)) is REDUCE
    for method, path in (("DELETE", "/fapi/v1/order"), ("DELETE", "/fapi/v1/algoOrder"), ("GET", "/fapi/v1/order"),
                         ("POST", "/fapi/v1/leverage"), ("POST", "/fapi/v1/listenKey")):
        assert order_kind(method, path, {}) is None, (method, path)


# --- counting --------------------------------------------------------------------------------------------
def test_own_count_and_the_servers_headers_the_higher_wins_per_window_and_each_window_rolls() -> None:
    budget, clock = budget_at(1)
    send(budget, ENTRY, 2)
    assert counts(budget) == {"10S": 2, "1M": 2}
    budget.observe({"X-MBX-ORDER-COUNT-10S": "5", "x-mbx-order-count-1m": "7", "X-MBX-USED-WEIGHT-1M": "3"})
    assert counts(budget) == {"10S": 5, "1M": 7} and budget.used() == 3
    budget.observe({"X-MBX-ORDER-COUNT-10S": "4", "X-MBX-ORDER-COUNT-1D": "9"})  # late or unknown: no effect
    assert counts(budget) == {"10S": 5, "1M": 7}
    clock.now += 10  # the next 10 s, the same minute
    assert counts(budget) == {"10S": 0, "1M": 7}
    send(budget, REDUCE)
    assert counts(budget) == {"10S": 1, "1M": 8}
    clock.now += 50
    assert counts(budget) == {"10S": 0, "1M": 0}
    assert budget.orders.sent == 3 and budget.sent == 3
    assert budget.snapshot()["order_rate"]["windows"]["1M"]["peak"] == 8  # type: ignore[index]


def test_limits_are_learnt_from_exchange_info() -> None:
    rate = OrderRate()
    rate.learn([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 20},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 5},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000}])
    assert [(w.name, w.length_s, w.limit) for w in rate.windows] == [("10S", 10.0, 5), ("1M", 60.0, 20),
                                                                       ("1D", 86400.0, 200000)]
    untouched = OrderRate()
    untouched.learn([])  # no ORDERS rows: Binance's documented defaults stay
    assert [(w.name, w.limit) for w in untouched.windows] == [("10S", 300), ("1M", 1200)]


# --- entries held back, protection never -----------------------------------------------------------------
def test_an_entry_is_refused_at_the_share_of_a_window_while_reducing_orders_go_past_it() -> None:
    budget, clock = budget_at(1)  # 10 per 10 s: entries stop at 8 (80 %)
    send(budget, ENTRY, 8)
    with pytest.raises(BudgetRefused) as refused:
        send(budget, ENTRY)
    assert refused.value.entry and refused.value.code == -1015 and not refused.value.blocked
    assert not refused.value.worth_waiting and not worth_waiting(refused.value)
    assert "10S" in refused.value.msg and "not sent" in refused.value.msg
    assert 0 < refused.value.retry_after <= 9  # the 10 s window's end
    assert counts(budget) == {"10S": 8, "1M": 8}  # nothing was counted: nothing was sent
    send(budget, REDUCE, 4)  # stops and closes go, up to and past the limit (the server is the judge then)
    assert counts(budget) == {"10S": 12, "1M": 12}
    snapshot = budget.snapshot()
    assert snapshot["order_rate"]["entries_held_back"] == 1  # type: ignore[index]
    assert snapshot["refused"]["order"] == 1 and snapshot["status"] == "healthy"  # type: ignore[index]
    clock.now += 10
    send(budget, ENTRY)  # a new 10 s window


def test_another_session_on_the_account_counts_too() -> None:
    budget, _ = budget_at(30, per_10s=300, per_minute=20)
    budget.observe({"X-MBX-ORDER-COUNT-1M": "16"})  # 80 % of the minute's 20, none of them ours
    with pytest.raises(BudgetRefused) as refused:
        send(budget, ENTRY)
    assert "1M" in refused.value.msg and refused.value.retry_after == pytest.approx(30.0)  # the minute's end
    send(budget, REDUCE)


def test_the_entry_share_is_configurable() -> None:
    budget, _ = budget_at(1)
    budget.orders.entry_share_pct = 50.0
    send(budget, ENTRY, 5)
    with pytest.raises(BudgetRefused):
        send(budget, ENTRY)


# --- -1015 from the server -------------------------------------------------------------------------------
def test_a_1015_holds_new_orders_until_retry_after_counted_apart_and_degraded() -> None:
    budget, clock = budget_at(1)
    budget.order_rate_limited(20.0, "Too many new orders; current limit is 10 orders per 10 SECONDS.")
    snapshot = budget.snapshot()
    assert snapshot["order_rate_limited"] == 1 and snapshot["rate_limited_429"] == 0
    assert snapshot["status"] == "degraded" and not budget.repeated_429s()
    assert snapshot["order_rate"]["blocked_for_s"] == 20.0  # type: ignore[index]
    for kind in (ENTRY, REDUCE):
        with pytest.raises(BudgetRefused) as refused:
            send(budget, kind)
        assert refused.value.blocked and refused.value.code == -1015
        assert refused.value.worth_waiting is (kind is REDUCE)  # a stop waits it out, an entry is dropped
    budget.admit(5, Priority.ROUTINE, "GET /fapi/v2/positionRisk")  # reads and cancels go on
    budget.admit(1, Priority.ORDER, "DELETE /fapi/v1/algoOrder")
    assert budget.orders.sent == 0 and budget.orders.entries_held_back == 1
    clock.now += 20.5
    send(budget, REDUCE)
    assert budget.status() == "degraded"  # for five minutes after the exchange refused an order
    clock.now += 300
    assert budget.status() == "healthy"


def test_without_retry_after_a_1015_waits_for_the_window_its_message_names() -> None:
    budget, _ = budget_at(3)
    budget.order_rate_limited(None, "Too many new orders; current limit is 10 orders per 10 SECONDS.")
    assert budget.orders.blocked_until == pytest.approx(MINUTE + 10)
    budget.order_rate_limited(None, "Too many new orders; current limit is 100 orders per 1 MINUTE.")
    assert budget.orders.blocked_until == pytest.approx(MINUTE + 60)


def test_a_reducing_order_waits_out_a_short_1015_an_entry_does_not() -> None:
    budget = WeightBudget(limit=1000)
    banned_at = budget.clock()  # the wait is measured from the ban: a loaded machine may pause between lines
    budget.order_rate_limited(1.0, "")
    with pytest.raises(BudgetRefused):
        asyncio.run(budget.acquire(0, Priority.ORDER, "POST /fapi/v1/order", ENTRY))
    asyncio.run(budget.acquire(0, Priority.ORDER, "POST /fapi/v1/algoOrder", REDUCE))
    assert budget.clock() - banned_at >= 1.0
    assert budget.delayed == 1 and budget.orders.sent == 1


def test_the_order_rate_in_metrics() -> None:
    budget, _ = budget_at(1)
    send(budget, ENTRY, 8)
    with pytest.raises(BudgetRefused):
        send(budget, ENTRY)
    budget.order_rate_limited(5.0, "")
    metrics = Metrics()
    metrics.observe_health({"request_budget": budget.snapshot()})
    text = metrics.render().decode()
    for line in ('qt_order_count{window="10S"} 8.0', 'qt_order_limit{window="10S"} 10.0',
                 'qt_order_count{window="1M"} 8.0', 'qt_order_limit{window="1M"} 100.0',
                 'qt_exchange_order_rate_limited 1.0', 'qt_entries_held_back 1.0'):
        assert line in text, line
