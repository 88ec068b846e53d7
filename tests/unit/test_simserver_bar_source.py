"""The simulator server's one bar source: contiguous bars from recorded steps, forward-filled, bounded."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.market import PriceUpdate
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.app import create_app
from quantum_trader.simserver.bar_source import bar_close, bar_open, bars, opens_back, rest_window
from quantum_trader.simserver.routes_base import Call, ServerState, price_history_rows
from quantum_trader.simserver.routes_market import ticker_24hr

#: 2026-01-05T00:00:00Z, a Monday.
T0 = 1_767_571_200_000
MIN = 60_000


def _server() -> ServerState:
    universe = load_universe()
    sim = ExchangeSimulator({"BNBUSDT": universe.instrument("BNBUSDT")}, SimConfig(start_time_ms=T0))
    sim.set_prices({"BNBUSDT": "600"})
    server: ServerState = create_app(sim, api_key="k", api_secret="s", universe=universe.subset(["BNBUSDT"])
                                     ).state.server
    return server


def _step(server: ServerState, at_ms: int, price: str) -> None:
    server.sim.set_time(at_ms)
    server.sim.set_prices({"BNBUSDT": price})
    server.record_prices(["BNBUSDT"])


def test_bars_bucket_steps_and_fill_quiet_bars_with_the_previous_close() -> None:
    server = _server()
    _step(server, T0 + 10_000, "610")
    _step(server, T0 + 20_000, "590")
    _step(server, T0 + 3 * MIN + 5_000, "605")
    got = bars(server, "BNBUSDT", "1m", [T0 + i * MIN for i in range(4)])
    d, no = Decimal, Decimal(0)  # manual steps trade no volume
    assert got == [(T0, d(610), d(610), d(590), d(590), no, no), (T0 + MIN, d(590), d(590), d(590), d(590), no, no),
                   (T0 + 2 * MIN, d(590), d(590), d(590), d(590), no, no),
                   (T0 + 3 * MIN, d(605), d(605), d(605), d(605), no, no)]


def test_before_the_first_step_a_symbol_is_flat_at_its_starting_price() -> None:
    server = _server()
    server.sim.set_time(T0 + 2 * MIN)
    _step(server, T0 + 2 * MIN + 1, "620")
    assert rest_window(server, "BNBUSDT", "1m", None, None, 500) == [T0, T0 + MIN, T0 + 2 * MIN]
    first, second, _ = bars(server, "BNBUSDT", "1m", [T0, T0 + MIN, T0 + 2 * MIN])
    assert first[1:] == second[1:] == (*(Decimal(600),) * 4, Decimal(0), Decimal(0))


def test_a_bars_volume_is_the_sum_of_the_feed_volumes_inside_it() -> None:
    """Replayed or synthetic feed bars carry a volume (one row each); an hour bar sums its minutes'."""
    server = _server()
    for i, volume in enumerate(("12.5", "0.25", "3")):
        _step(server, T0 + i * MIN, "600")
        server.record_volume("BNBUSDT", Decimal(volume), Decimal(volume) * 600)
    _step(server, T0 + 3 * MIN, "601")  # a manual step in the next minute: no volume
    minutes = bars(server, "BNBUSDT", "1m", [T0 + i * MIN for i in range(5)])
    assert [bar[5] for bar in minutes] == [Decimal("12.5"), Decimal("0.25"), Decimal(3), 0, 0]
    assert [bar[6] for bar in minutes] == [Decimal(7500), Decimal(150), Decimal(1800), 0, 0]
    (hour,) = bars(server, "BNBUSDT", "1h", [T0])
    assert hour[5:] == (Decimal("15.75"), Decimal(9450))
    assert [bar[5] for bar in bars(server, "BNBUSDT", "1m", [T0 + MIN, T0 + 2 * MIN])] == [Decimal("0.25"), 3]


def test_rest_window_limits_and_start_time() -> None:
    server = _server()
    server.sim.set_time(T0 + 10 * MIN)
    assert rest_window(server, "BNBUSDT", "1m", None, None, 3) == [T0 + 8 * MIN, T0 + 9 * MIN, T0 + 10 * MIN]
    assert rest_window(server, "BNBUSDT", "1m", T0 + 2 * MIN + 1, None, 2) == [T0 + 2 * MIN, T0 + 3 * MIN]
    assert rest_window(server, "BNBUSDT", "1m", None, T0 + 4 * MIN, 2) == [T0 + 3 * MIN, T0 + 4 * MIN]


def test_a_full_history_serves_only_whole_bars() -> None:
    server = _server()
    server.price_history["BNBUSDT"] = deque(maxlen=4)
    for i, price in enumerate(("601", "602", "603", "604", "605")):  # the first step is evicted
        _step(server, T0 + i * 20_000, price)
    assert rest_window(server, "BNBUSDT", "1m", None, None, 10) == [T0 + MIN]


def test_the_price_history_is_bounded_over_all_symbols_not_per_symbol_only() -> None:
    """A 222-symbol server at 100,000 steps per symbol grew to about 4 GB (measured: 1.8 GB after 8,400
    bars at --speed max, still growing); over all symbols it now stays near 1 GB, a few symbols keep weeks."""
    assert price_history_rows(3) == 100_000
    assert price_history_rows(222) == 18_018  # 4,504 one-minute bars: three days
    assert price_history_rows(100_000) == 6_000  # never below one full page of 1,500 1m klines
    server = _server()
    _step(server, T0 + 1, "601")
    server.record_volume("BNBUSDT", Decimal(1), Decimal(600))
    assert server.history_rows == price_history_rows(1)
    assert server.price_history["BNBUSDT"].maxlen == server.history_rows
    assert server.volume_history["BNBUSDT"].maxlen == server.history_rows // 4


def test_interval_arithmetic_for_months_and_weeks() -> None:
    feb = 1_769_904_000_000  # 2026-02-01T00:00:00Z
    assert bar_open(feb + 5 * 86_400_000, "1M") == feb
    assert bar_close(feb, "1M") == 1_772_323_200_000 - 1  # 2026-03-01
    assert bar_open(T0 + 3 * 86_400_000, "1w") == T0  # weeks open on Monday
    assert opens_back(feb, bar_open(feb - 50 * 86_400_000, "1M"), "1M", 10) == [
        1_764_547_200_000, 1_767_225_600_000, feb]


def test_mark_bars_follow_the_marks_and_klines_the_last_prices() -> None:
    """A step that moves the mark on its own (a replay's recorded mark, a manual mark) shows in the mark bars
    only; where the mark moved with the last, both bars are the same (and share one Decimal per step)."""
    server = _server()
    _step(server, T0 + 10_000, "610")
    server.sim.set_time(T0 + MIN + 10_000)
    server.sim.set_prices({"BNBUSDT": PriceUpdate(Decimal(611), Decimal("585.5"))})
    server.record_prices(["BNBUSDT"])
    opens = [T0, T0 + MIN, T0 + 2 * MIN]
    last = bars(server, "BNBUSDT", "1m", opens)
    mark = bars(server, "BNBUSDT", "1m", opens, mark=True)
    d = Decimal
    assert [bar[1:5] for bar in last] == [(d(610),) * 4, (d(611),) * 4, (d(611),) * 4]
    assert [bar[1:5] for bar in mark] == [(d(610),) * 4, (d("585.5"),) * 4, (d("585.5"),) * 4]
    first, second = server.price_history["BNBUSDT"]
    assert first[1] is first[2] and second[2] == d("585.5")


def test_the_24h_ticker_sums_the_feed_volumes_and_its_average_price_is_on_the_tick() -> None:
    server = _server()
    for i, (volume, quote) in enumerate((("1", "575"), ("2", "1151"))):  # 1,726 over 3: 575.333...
        _step(server, T0 + i * MIN, "575")
        server.record_volume("BNBUSDT", Decimal(volume), Decimal(quote))
    (row,) = [r for r in ticker_24hr(server, Call("GET", {})) if r["symbol"] == "BNBUSDT"]
    assert (row["volume"], row["quoteVolume"]) == ("3", "1726")
    assert Decimal(row["weightedAvgPrice"]) == Decimal("575.33")  # BNBUSDT's tick is 0.010: on the 0.01 grid
