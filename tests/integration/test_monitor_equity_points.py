"""The monitor's equity points: one a minute, and one at once when a position opens or closes.

The daily loss limit reads these points. A stop-out realises its loss in one moment; with a point only
once a minute, a tester's stop-out that took equity below the floor was acted on 45 s later, entries still
accepted meanwhile. The real in-process simulator, engine and monitor (test_protection_monitor's rig).
"""

from __future__ import annotations

from test_protection_monitor import SYMBOL, Rig, run

from quantum_trader.domain.events import EquitySnapshot


def points(rig: Rig) -> list[tuple[int, int]]:
    return [(e.time_ms, e.open_positions) for e in rig.events if isinstance(e, EquitySnapshot)]


def test_a_stop_out_is_an_equity_point_at_the_next_sweep_not_a_minute_later() -> None:
    async def body() -> None:
        rig = Rig()
        start = rig.clock.now_ms()
        await rig.monitor.sweep()
        assert points(rig) == [(start, 0)]
        rig.clock.advance(1.0)
        await rig.open_long()  # protected by the monitor: its stop is on the exchange
        await rig.monitor.sweep()
        assert points(rig)[-1] == (start + 1_000, 1)  # a position opened: a point at once
        rig.clock.advance(1.0)
        await rig.monitor.sweep()
        assert len(points(rig)) == 2  # nothing changed: the next point waits for the minute
        stop, _ = rig.levels()
        rig.sim.set_prices({SYMBOL: stop - 500})  # through the stop
        await rig.pump()
        assert rig.amount == 0
        rig.clock.advance(1.0)
        await rig.monitor.sweep()
        assert points(rig)[-1] == (start + 3_000, 0)  # the stop-out: its realised loss is seen now
        rig.clock.advance(60.0)
        await rig.monitor.sweep()
        assert points(rig)[-1] == (start + 63_000, 0)  # and the minute's point as before

    run(body)
