"""A REST reading the request budget refuses part-way is a skipped reading, not a monitor error.

Trial of 2026-12-06, item 4: a user's `orders --exchange`, three times early in a minute while the bot ran, took
the IP's weight past the routine pace between the monitor's affordability check and its open-orders read; the
refusal was logged as `monitor error`, journaled in `errors` and reset readiness's `monitor_clean`. The README
says the monitor skips a REST reading it cannot afford: the skip is counted (`rest_readings_skipped` in /health
and /metrics, the budget's `refused`) and the sweep judges the stream-fed view instead. A refused protection read
stays an error. The rig's in-process adapter passes a real `WeightBudget` with the ccxt adapter's weights and
priorities; another client's burst arrives as the server's used-weight header right after the positions read.
"""

from __future__ import annotations

from typing import Any

from test_protection_monitor import Rig, run

from quantum_trader.domain.events import ErrorEvent
from quantum_trader.domain.request_weights import weight_of
from quantum_trader.exchange.budget import WeightBudget, effective, priority_of, urgent

MINUTE = 1_800_000_000.0  # a whole minute, in seconds
PATHS = {"positions": "/fapi/v2/positionRisk", "open_orders": "/fapi/v1/openOrders", "account": "/fapi/v2/account"}


def budgeted(rig: Rig, budget: WeightBudget, burst: dict[str, int]) -> None:
    """Every read of the rig's adapter is admitted by `budget`; after a full positions read the server reports
    `burst["used"]` (another client on this IP), once. The reading looked affordable when it began."""
    exchange: Any = rig.exchange
    exchange.reading_affordable = lambda: True
    for name, path in PATHS.items():
        original = getattr(exchange, name)

        async def admitted(*args: Any, _original: Any = original, _path: str = path, _name: str = name) -> Any:
            params = {"symbol": args[0]} if args and args[0] else {}
            budget.admit(weight_of("GET", _path, params), effective(priority_of("GET", _path, params)), f"GET {_path}")
            answer = await _original(*args)
            if _name == "positions" and not params and burst:
                budget.observe({"X-MBX-USED-WEIGHT-1M": str(burst.pop("used"))})
            return answer

        setattr(exchange, name, admitted)


def errors(rig: Rig) -> list[ErrorEvent]:
    """The errors the journal would record (its `errors` table, which readiness's `monitor_clean` reads)."""
    return [e for e in rig.events if isinstance(e, ErrorEvent)]


def monitor_errors(rig: Rig) -> float | None:
    """/metrics' qt_errors_total{component="monitor"} (None: never counted)."""
    value: float | None = rig.metrics.registry.get_sample_value("qt_errors_total", {"component": "monitor"})
    return value


def test_a_routine_reading_refused_part_way_is_counted_as_skipped_not_as_a_monitor_error() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        budget = WeightBudget(clock=lambda: MINUTE + 5.0)  # second 5: routine reads paced to 300 of 2400
        burst: dict[str, int] = {}
        budgeted(rig, budget, burst)
        first = await rig.monitor.sweep()  # reads and protects the position
        assert first is not None and first.unprotected == 0 and rig.monitor.state.sweeps == 1
        burst["used"] = 455  # the trial's figure: three `orders --exchange` early in the minute
        view = await rig.monitor.sweep()
        assert budget.refused["routine"] == 1  # the open orders read was refused ...
        assert errors(rig) == [] and rig.monitor.state.errors == 0  # ... as designed: nothing journaled in errors
        assert monitor_errors(rig) is None
        assert rig.monitor.state.rest_skipped == 1  # counted where /health and /metrics show it
        assert view is not None and view.unprotected == 0 and rig.monitor.state.stream_sweeps == 1  # rules ran

    run(body)


def test_a_protection_read_the_budget_refuses_is_still_a_monitor_error() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        budget = WeightBudget(clock=lambda: MINUTE + 5.0)
        burst: dict[str, int] = {}
        budgeted(rig, budget, burst)
        await rig.monitor.sweep()
        burst["used"] = 2200  # past protection's 90 % of 2400
        with urgent():  # a start-up or reconnect reading: protection priority
            await rig.monitor.sweep(reading=True)
        assert budget.refused["protection"] == 1
        assert rig.monitor.state.errors == 1 and rig.monitor.state.rest_skipped == 0
        [error] = errors(rig)
        assert error.component == "monitor" and "protection reads stop at 2160" in error.message
        assert monitor_errors(rig) == 1

    run(body)
