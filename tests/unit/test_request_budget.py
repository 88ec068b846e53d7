"""The request budget (exchange/budget.py): its weight table, the server's used-weight header, priorities,
pacing, and 429/418 with Retry-After. Time is a settable wall clock, so a minute passes at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.request_weights import WEIGHTS, WITHOUT_SYMBOL, weight_of
from quantum_trader.exchange import budget as b
from quantum_trader.exchange.budget import BudgetRefused, Priority, WeightBudget, priority_of
from quantum_trader.simserver import weights as server

MINUTE = 1_800_000_000.0  # a whole minute, in seconds


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def budget_at(second: float, limit: int = 1000, share_pct: float = 50.0) -> tuple[WeightBudget, Clock]:
    clock = Clock(MINUTE + second)
    return WeightBudget(limit=limit, share_pct=share_pct, clock=clock), clock


# --- the table -----------------------------------------------------------------------------------------
def test_the_server_charges_what_the_budget_plans_for_and_nothing_for_its_own_paths() -> None:
    paths = {path for _, path in WEIGHTS} | set(WITHOUT_SYMBOL) | {"/fapi/v1/klines", "/fapi/v1/order",
                                                                   "/fapi/v1/exchangeInfo", "/fapi/v1/time"}
    variants = [{}, {"symbol": "BTCUSDT"}] + [{"symbol": "BTCUSDT", "limit": str(n)}
                                             for n in (1, 99, 100, 499, 500, 1000, 1001, 1500)]
    for method in ("GET", "POST", "DELETE", "PUT"):
        for path in sorted(paths):
            for params in variants:
                assert weight_of(method, path, params) == server.weight_of(method, path, params), (method, path,
                                                                                                  params)
    for own in ("/sim/v1/prices", "/ws/abc", "/private/ws"):
        assert server.weight_of("GET", own, {}) == 0


@pytest.mark.parametrize(("method", "path", "params", "weight"), [
    ("GET", "/fapi/v1/openOrders", {}, 40), ("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, 1),
    ("GET", "/fapi/v1/openAlgoOrders", {}, 40), ("GET", "/fapi/v1/openAlgoOrders", {"symbol": "BTCUSDT"}, 1),
    ("GET", "/fapi/v2/positionRisk", {}, 5), ("GET", "/fapi/v2/account", {}, 5),
    ("GET", "/fapi/v1/klines", {"limit": "99"}, 1), ("GET", "/fapi/v1/klines", {"limit": "1000"}, 5),
    ("GET", "/fapi/v1/klines", {}, 5), ("POST", "/fapi/v1/order", {}, 0), ("POST", "/fapi/v1/algoOrder", {}, 0),
    ("GET", "/fapi/v1/order", {"symbol": "BTCUSDT"}, 1),
])
def test_weights_follow_binance(method: str, path: str, params: dict[str, str], weight: int) -> None:
    assert weight_of(method, path, params) == weight


def test_priorities_by_endpoint() -> None:
    assert priority_of("POST", "/fapi/v1/order", {}) is Priority.ORDER
    assert priority_of("DELETE", "/fapi/v1/algoOrder", {}) is Priority.ORDER
    assert priority_of("GET", "/fapi/v1/algoOrder", {"clientAlgoId": "x"}) is Priority.PROTECTION
    assert priority_of("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}) is Priority.PROTECTION
    assert priority_of("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"}) is Priority.PROTECTION
    assert priority_of("GET", "/fapi/v1/openOrders", {}) is Priority.ROUTINE
    assert priority_of("GET", "/fapi/v2/account", {}) is Priority.ROUTINE


# --- counting ------------------------------------------------------------------------------------------
def test_own_count_and_the_servers_header_the_higher_wins_and_a_new_minute_starts_at_zero() -> None:
    budget, clock = budget_at(50)
    budget.admit(40, Priority.ROUTINE)
    assert budget.used() == 40
    budget.observe({"X-MBX-USED-WEIGHT-1M": "300"})  # another client on the same IP
    assert budget.used() == 300
    budget.observe({"x-mbx-used-weight-1m": "120"})  # an older answer arriving late does not lower it
    assert budget.used() == 300
    clock.now += 10  # the next minute
    assert budget.used() == 0
    assert budget.peak_used == 300


def test_routine_reads_stop_at_the_share_protection_and_orders_go_on() -> None:
    budget, _ = budget_at(59)  # late in the minute: the whole 50 % share is available
    budget.observe({"X-MBX-USED-WEIGHT-1M": "490"})
    assert budget.affordable(10) and not budget.affordable(11)
    with pytest.raises(BudgetRefused) as refused:
        budget.admit(40, Priority.ROUTINE, "GET /fapi/v1/openOrders")
    assert not refused.value.blocked and not refused.value.worth_waiting
    assert refused.value.retry_after == pytest.approx(1.0)
    budget.admit(1, Priority.PROTECTION)  # a stop read back is not starved by reconciliation
    budget.admit(0, Priority.ORDER)
    budget.observe({"X-MBX-USED-WEIGHT-1M": "900"})
    with pytest.raises(BudgetRefused):
        budget.admit(1, Priority.PROTECTION)  # protection stops short of the limit itself
    budget.admit(0, Priority.ORDER)  # orders weigh 0 and are never refused for weight
    assert budget.snapshot()["refused"] == {"order": 0, "protection": 1, "routine": 1}


def test_routine_reads_are_paced_over_the_minute() -> None:
    budget, clock = budget_at(0)  # 500 of 1000 over the minute, 10 s ahead: 83 at its start
    assert budget.cap(Priority.ROUTINE) == 83
    budget.admit(80, Priority.ROUTINE)
    assert not budget.affordable(5)
    clock.now += 20
    assert budget.cap(Priority.ROUTINE) == 250 and budget.affordable(5)


# --- 429 and 418 ---------------------------------------------------------------------------------------
def test_a_429_stops_every_request_until_retry_after() -> None:
    budget, clock = budget_at(30)
    budget.rate_limited(429, 7.0)
    for priority in Priority:
        with pytest.raises(BudgetRefused) as refused:
            budget.admit(0, priority)
        assert refused.value.blocked and refused.value.retry_after == pytest.approx(7.0)
    assert budget.status() == "healthy"  # one 429 is news, not yet a trend
    clock.now += 7
    budget.admit(1, Priority.ROUTINE)
    budget.rate_limited(429, None)  # without Retry-After: until the minute ends
    assert budget.snapshot()["blocked_for_s"] == pytest.approx(23.0)
    assert budget.status() == "degraded" and budget.rate_limited_429 == 2
    clock.now += b.REPEATED_429_WINDOW_S + 1
    assert budget.status() == "healthy"


def test_a_418_is_a_ban_until_its_end_and_unhealthy() -> None:
    budget, clock = budget_at(0)
    until_ms = int((clock.now + 120) * 1000)
    budget.rate_limited(418, None, f"IP banned until {until_ms}")
    assert budget.banned() and budget.status() == "unhealthy"
    snap = budget.snapshot()
    assert snap["banned_until_ms"] == until_ms and snap["rate_limited_418"] == 1 and snap["last_418_age_s"] == 0
    with pytest.raises(BudgetRefused) as refused:
        budget.admit(0, Priority.ORDER)
    assert "banned (418)" in refused.value.msg and refused.value.worth_waiting
    clock.now += 120
    assert not budget.banned() and budget.status() == "healthy"
    budget.admit(0, Priority.ORDER)


def test_a_short_retry_after_delays_the_call_instead_of_refusing_it() -> None:
    budget = WeightBudget(limit=1000)
    budget.rate_limited(429, 0.2)
    started = time.monotonic()
    asyncio.run(budget.acquire(1, Priority.ROUTINE))
    assert time.monotonic() - started >= 0.2
    assert budget.delayed == 1 and budget.sent == 1
    budget.rate_limited(429, 30.0)
    with pytest.raises(BudgetRefused):
        asyncio.run(budget.acquire(1, Priority.ORDER))


def test_the_budget_in_metrics() -> None:
    budget, _ = budget_at(59)
    budget.observe({"X-MBX-USED-WEIGHT-1M": "400"})
    budget.rate_limited(418, 120.0)
    metrics = Metrics()
    metrics.observe_health({"request_budget": budget.snapshot(),
                            "monitor": {"last_rest_reading_age_s": 3.5, "rest_readings_skipped": 4}})
    text = metrics.render().decode()
    for line in ('qt_request_weight_used 400.0', 'qt_request_weight_limit 1000.0',
                 'qt_request_weight_budget_ratio 0.5', 'qt_exchange_rate_limited{status="418"} 1.0',
                 'qt_exchange_banned 1.0', 'qt_monitor_rest_reading_age_seconds 3.5',
                 'qt_monitor_rest_readings_skipped 4.0'):
        assert line in text, line


def test_urgent_reads_are_never_routine() -> None:
    assert b.effective(Priority.ROUTINE) is Priority.ROUTINE
    with b.urgent():
        assert b.effective(Priority.ROUTINE) is Priority.PROTECTION
        assert b.effective(Priority.ORDER) is Priority.ORDER
    assert not b.is_urgent()


def test_reading_affordable_asks_the_reader_or_says_yes() -> None:
    class WithBudget:
        def reading_affordable(self) -> bool:
            return False

    assert b.reading_affordable(WithBudget()) is False
    assert b.reading_affordable(object()) is True


def test_a_refusal_names_the_bots_own_ceiling_not_the_exchanges_limit() -> None:
    """Trial 2026-12-06, item 4: "would take this minute past 297 of 2400" read as if the exchange's limit were
    near; the refusal says which of the bot's ceilings it met and that the exchange's limit is another figure."""
    budget, clock = budget_at(5.0, limit=2400)
    budget.observe({"X-MBX-USED-WEIGHT-1M": "455"})
    with pytest.raises(BudgetRefused) as paced:
        budget.admit(1, Priority.ROUTINE, "GET /fapi/v1/openOrders")
    assert str(paced.value.msg) == (
        "request budget: GET /fapi/v1/openOrders (weight 1) not sent: the minute's weight is 455; routine reads may "
        "reach 300 by second 5 (an even spread of their share, 1200 of the exchange's 2400 a minute)")
    clock.now = MINUTE + 55.0
    budget.observe({"X-MBX-USED-WEIGHT-1M": "1200"})
    with pytest.raises(BudgetRefused) as shared:
        budget.admit(5, Priority.ROUTINE, "GET /fapi/v2/account")
    assert ("the minute's weight is 1200; routine reads stop at their share, 1200 of the exchange's 2400"
            in shared.value.msg)
    budget.observe({"X-MBX-USED-WEIGHT-1M": "2160"})
    with pytest.raises(BudgetRefused) as protection:
        budget.admit(1, Priority.PROTECTION, "GET /fapi/v1/openOrders")
    assert "protection reads stop at 2160 (90% of the exchange's 2400 a minute)" in protection.value.msg


def test_only_a_routine_read_held_back_is_a_skip() -> None:
    """The monitor skips a routine reading the budget refused (counted, no error); a refused protection read, a
    refused order and any other failure stay errors."""
    def refused(priority: Priority, *, blocked: bool = False, entry: bool = False) -> BudgetRefused:
        return BudgetRefused("request budget", 1.0, priority=priority, blocked=blocked, entry=entry)

    assert b.held_back(refused(Priority.ROUTINE)) and b.held_back(refused(Priority.ROUTINE, blocked=True))
    assert not b.held_back(refused(Priority.PROTECTION)) and not b.held_back(refused(Priority.ORDER, entry=True))
    assert not b.held_back(RuntimeError("request budget"))
