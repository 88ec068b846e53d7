"""The monitor between paced REST readings: its rules run on the view the exchange's events keep.

On the live path a full reading costs request weight, so the adapter asks for one every
QT_RECONCILE_INTERVAL only (`reading_pace_s`). These tests give the in-process adapter such a pace
and count what the monitor reads: between readings a settled account costs no reading at all, an
unsettled symbol left by a failed event-driven repair is read back and repaired on the next interval
(one symbol, never a full listing), and a due reading reconciles what no event reported.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from test_protection_monitor import SYMBOL, Rig, run

from quantum_trader.domain.enums import OrderType
from quantum_trader.domain.errors import RetryableExchangeError


def paced(rig: Rig, pace: float = 3600.0) -> Counter[str]:
    """Give the rig's adapter a reading pace and count its reads: `full` listings and `symbol` reads."""
    exchange: Any = rig.exchange
    exchange.reading_pace_s = lambda: pace
    calls: Counter[str] = Counter()
    for name in ("positions", "open_orders", "account"):
        original = getattr(exchange, name)

        async def counted(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls[f"{_name}:{'symbol' if args and args[0] else 'full'}"] += 1
            return await _original(*args)

        setattr(exchange, name, counted)
    return calls


def test_settled_positions_cost_no_reading_between_paced_readings() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        calls = paced(rig)
        first = await rig.monitor.sweep()  # the first sweep always reads
        assert first is not None and len(first.positions) == 1
        assert calls["open_orders:full"] == 1 and calls["account:full"] == 1
        calls.clear()
        for _ in range(5):
            view = await rig.monitor.sweep()
            assert view is not None and view.unprotected == 0 and len(view.positions) == 1
        assert sum(calls.values()) == 0, calls
        assert rig.monitor.state.stream_sweeps == 5 and rig.monitor.state.sweeps == 1

    run(body)


def test_a_symbol_left_unsettled_by_a_failed_repair_is_read_back_on_the_next_interval() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        calls = paced(rig)
        await rig.monitor.sweep()
        exchange: Any = rig.exchange
        reading = exchange.open_orders

        async def failing_once(*args: Any) -> Any:
            exchange.open_orders = reading
            raise RetryableExchangeError(-1001, "Internal error", 503)

        exchange.open_orders = failing_once
        (old,) = rig.algos(OrderType.STOP_MARKET)
        rig.sim.cancel_algo_order(client_algo_id=old.client_algo_id)
        await rig.pump()  # the CANCELED update's repair fails: its reading answers 503
        assert rig.algos(OrderType.STOP_MARKET) == [] and rig.monitor.state.errors == 1
        calls.clear()
        view = await rig.monitor.sweep()  # no reading is due: the stream view says the stop is gone
        (new,) = rig.algos(OrderType.STOP_MARKET)
        assert new.trigger_price == old.trigger_price
        assert calls["open_orders:full"] == 0 and calls["open_orders:symbol"] >= 1, calls
        assert view is not None and view.unprotected == 0
        assert rig.monitor.state.sweeps == 1  # no full reading was taken
        calls.clear()
        await rig.monitor.sweep()
        assert sum(calls.values()) == 0, calls  # settled again: nothing more to read

    run(body)


def test_a_due_reading_repairs_what_no_event_reported() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        calls = paced(rig)
        await rig.monitor.sweep()
        (old,) = rig.algos(OrderType.STOP_MARKET)
        rig.sim.cancel_algo_order(client_algo_id=old.client_algo_id)
        rig.exchange.drain()  # the stream lost the CANCELED update
        await rig.monitor.sweep()
        assert rig.algos(OrderType.STOP_MARKET) == []  # the view cannot know: it waits for the reading
        rig.exchange.reading_pace_s = lambda: 0.0  # type: ignore[attr-defined]
        await rig.monitor.sweep()
        (new,) = rig.algos(OrderType.STOP_MARKET)
        assert new.trigger_price == old.trigger_price
        # the first reading, the due one and its read-back after the repair
        assert calls["open_orders:full"] == 3, calls
        assert rig.monitor.state.sweeps == 2

    run(body)


def test_the_view_follows_a_position_closed_by_its_stop() -> None:
    async def body() -> None:
        rig = Rig()
        await rig.open_long()
        paced(rig)
        await rig.monitor.sweep()
        stop, _ = rig.levels()
        rig.sim.set_prices({SYMBOL: str(stop - 500)})
        await rig.pump()
        assert rig.amount == 0
        view = await rig.monitor.sweep()
        assert view is not None and view.positions == () and rig.monitor.stream.all_orders() == []
        assert rig.algos() == []  # the take-profit left behind was cancelled by the event-driven run

    run(body)
