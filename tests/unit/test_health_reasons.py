"""`/health`'s `reasons` (runtime/health_reasons.py): why it is not healthy, in words, the worst first, and a
status decided from the same list, so the two cannot disagree. A trial saw a bot turn degraded for a stale
scanner while every field it looked at read fine; the unhealthy and scanner cases through the session service
are in test_notify_health.py and test_scanner_stale.py."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_scanner_stale import health

from quantum_trader.exchange.budget import WeightBudget
from quantum_trader.runtime.health_reasons import HealthReasons, budget_reason


def test_the_status_is_the_worst_reason_and_those_come_first() -> None:
    reasons = HealthReasons()
    assert (reasons.status(), reasons.lines()) == ("healthy", [])
    reasons.add("degraded", "a")
    assert reasons.status() == "degraded"
    reasons.add("unhealthy", "b")
    reasons.add("degraded", "c")
    assert (reasons.status(), reasons.lines()) == ("unhealthy", ["b", "a", "c"])


def test_the_request_budget_says_which_trouble_it_has() -> None:
    now = [1_000.0]
    budget = WeightBudget(limit=2400, clock=lambda: now[0])
    assert budget_reason(budget) is None
    budget.order_rate_limited(10.0, "Too many new orders")
    assert "-1015" in str(budget_reason(budget)) and budget_reason(budget)[0] == "degraded"
    budget.rate_limited(429, 1.0)
    budget.rate_limited(429, 1.0)
    assert "429 (too many requests) repeatedly: weight used" in str(budget_reason(budget))
    assert budget_reason(budget)[0] == "degraded"
    budget.rate_limited(418, 120.0)
    assert budget_reason(budget) == ("unhealthy", "the exchange banned this IP (418): no request may go for 120 s")


def test_a_banned_budget_makes_the_session_unhealthy_and_says_why() -> None:
    body = asyncio.run(health("max", scanned_s_ago=1.0, up_s=5.0, budget_418_s=60.0))
    assert body["status"] == "unhealthy"
    assert body["reasons"] == ["the exchange banned this IP (418): no request may go for 60 s"]
