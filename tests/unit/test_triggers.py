"""Trigger predicates (§2.1), the TriggerTable, and the vectorised search that must never miss a trigger."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantum_trader.domain.enums import OrderType
from quantum_trader.sim.barpath import intrabar_path
from quantum_trader.sim.triggers import (
    EPS_REL,
    TriggerKind,
    TriggerTable,
    first_trigger_bar,
    stop_triggered,
    trailing_triggered,
    trigger_direction,
    triggered_now,
)

D = Decimal
F64 = npt.NDArray[np.float64]
BUY, SELL = 1, -1
STOP, TP, TRAIL, LIQ = TriggerKind.STOP, TriggerKind.TAKE_PROFIT, TriggerKind.TRAILING, TriggerKind.LIQUIDATION

# --- scalar predicates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "side", "price", "trigger", "fires"),
    [
        (STOP, BUY, "101", "100", True),
        (STOP, BUY, "100", "100", True),
        (STOP, BUY, "99.99", "100", False),
        (STOP, SELL, "99", "100", True),
        (STOP, SELL, "100", "100", True),
        (STOP, SELL, "100.01", "100", False),
        (TP, BUY, "99", "100", True),
        (TP, BUY, "100", "100", True),
        (TP, BUY, "100.01", "100", False),
        (TP, SELL, "101", "100", True),
        (TP, SELL, "100", "100", True),
        (TP, SELL, "99.99", "100", False),
        # A long's liquidation price is watched like a SELL stop, a short's like a BUY stop.
        (LIQ, SELL, "80", "80", True),
        (LIQ, SELL, "80.1", "80", False),
        (LIQ, BUY, "120", "120", True),
        (LIQ, BUY, "119.9", "120", False),
    ],
)
def test_direction_table(kind: TriggerKind, side: int, price: str, trigger: str, fires: bool) -> None:
    assert stop_triggered(kind, side, D(price), D(trigger)) is fires


def test_trigger_kind_from_order_type() -> None:
    assert TriggerKind.from_order_type(OrderType.STOP_MARKET) is STOP
    assert TriggerKind.from_order_type(OrderType.STOP) is STOP
    assert TriggerKind.from_order_type(OrderType.TAKE_PROFIT_MARKET) is TP
    assert TriggerKind.from_order_type(OrderType.TRAILING_STOP_MARKET) is TRAIL
    with pytest.raises(ValueError, match="no trigger"):
        TriggerKind.from_order_type(OrderType.LIMIT)


def test_bad_side_and_trailing_in_stop_triggered_are_rejected() -> None:
    with pytest.raises(ValueError, match="side_sign"):
        trigger_direction(STOP, 0)
    with pytest.raises(ValueError, match="trailing"):
        stop_triggered(TRAIL, SELL, D(1), D(1))


@pytest.mark.parametrize(
    ("side", "price", "extreme", "activation", "fires"),
    [
        (SELL, "99", "100", None, True),  # 1 % below the high
        (SELL, "99.01", "100", None, False),
        (SELL, "102", "100", None, False),  # new high, no pullback yet
        (SELL, "99", "100", "101", False),  # never reached the activation price
        (SELL, "99", "100", "100", True),
        (BUY, "101", "100", None, True),  # 1 % above the low
        (BUY, "100.99", "100", None, False),
        (BUY, "101", "100", "99", False),
        (BUY, "101", "100", "100", True),
    ],
)
def test_trailing_triggered(side: int, price: str, extreme: str, activation: str | None, fires: bool) -> None:
    act = None if activation is None else D(activation)
    assert trailing_triggered(side, D(price), D(extreme), D(1), act) is fires


# --- the table ------------------------------------------------------------------------------------


def test_table_add_remove_swaps_last_into_the_hole() -> None:
    table = TriggerTable(capacity=2)
    for key in (10, 11, 12, 13, 14):  # grows past the capacity
        table.add(key, symbol_index=key % 3, kind=STOP, side_sign=SELL, trigger=float(key))
    assert len(table) == 5
    table.remove(11)
    assert 11 not in table
    assert table.key.tolist() == [10, 14, 12, 13]
    assert table.slot(14) == 1
    assert table.trigger.tolist() == [10.0, 14.0, 12.0, 13.0]
    assert table.symbol_index.tolist() == [1, 2, 0, 1]
    assert table.discard(99) is False
    assert table.discard(14) is True
    assert table.key.tolist() == [10, 13, 12]


def test_table_rejects_duplicates_unknown_keys_and_bad_rows() -> None:
    table = TriggerTable()
    table.add(1, 0, STOP, SELL, 100.0)
    with pytest.raises(ValueError, match="already"):
        table.add(1, 0, STOP, SELL, 100.0)
    with pytest.raises(KeyError):
        table.remove(2)
    with pytest.raises(ValueError, match="finite"):
        table.add(2, 0, STOP, SELL, float("nan"))
    with pytest.raises(ValueError, match="trailing"):
        table.add(3, 0, TRAIL, SELL, float("nan"), callback_rate=0.0, extreme=100.0)


def test_table_views_are_read_only_and_changes_bump_the_version() -> None:
    table = TriggerTable()
    table.add(1, 0, TP, BUY, 100.0)
    v = table.version
    with pytest.raises(ValueError, match="read-only"):
        table.trigger[0] = 1.0
    table.update_trigger(1, 90.0)
    assert table.trigger.tolist() == [90.0]
    assert table.direction.tolist() == [-1]  # a BUY take-profit fires on P <= trigger
    assert table.version > v


# --- vectorised search: examples ------------------------------------------------------------------


def bars(rows: list[list[float]]) -> F64:
    return np.array(rows, dtype=np.float64)


def as_lists(found: tuple[int, npt.NDArray[np.int64]] | None) -> tuple[int, list[int]] | None:
    return None if found is None else (found[0], found[1].tolist())


def test_first_trigger_bar_finds_the_first_bar_and_all_its_keys() -> None:
    table = TriggerTable()
    table.add(7, 0, STOP, SELL, 95.0)  # long's stop on symbol 0
    table.add(8, 1, TP, SELL, 110.0)  # long's take-profit on symbol 1
    table.add(9, 1, STOP, BUY, 109.0)  # short's stop on symbol 1
    high = bars([[101, 101], [100, 108], [99, 110], [96, 111]])
    low = bars([[99, 99], [97, 100], [95, 105], [90, 109]])
    assert as_lists(first_trigger_bar(table, high, low)) == (2, [7, 8, 9])
    found = first_trigger_bar(table, high, low, start=3)
    assert found is not None
    assert found[0] == 3
    assert found[1].tolist() == [7, 8, 9]
    assert first_trigger_bar(table, high[:2], low[:2]) is None
    assert first_trigger_bar(TriggerTable(), high, low) is None


def test_exact_touch_triggers_but_a_miss_beyond_the_slack_does_not() -> None:
    table = TriggerTable()
    table.add(1, 0, STOP, BUY, 100.0)
    assert first_trigger_bar(table, bars([[100.0]]), bars([[99.0]])) is not None
    just_below = 100.0 * (1 - 10 * EPS_REL)
    assert first_trigger_bar(table, bars([[just_below]]), bars([[99.0]])) is None


def test_float_rounding_cannot_hide_an_exact_touch() -> None:
    # In Decimal the high 0.3 reaches the trigger 0.3; the trigger's float came out one ulp higher.
    table = TriggerTable()
    table.add(1, 0, STOP, BUY, 0.1 + 0.2)
    assert 0.3 < 0.1 + 0.2
    assert first_trigger_bar(table, bars([[0.3]]), bars([[0.29]])) is not None
    assert triggered_now(table, np.array([0.3]), None).tolist() == [1]


@pytest.mark.parametrize("t_hit", [0, 63, 64, 65, 191, 192, 193, 447, 448, 1471, 1472, 2999])
def test_every_bar_is_searched_including_block_boundaries(t_hit: int) -> None:
    table = TriggerTable()
    table.add(1, 1, STOP, BUY, 110.0)
    table.add(2, 0, TRAIL, SELL, float("nan"), callback_rate=10.0, extreme=100.0)
    high, low = np.full((3000, 2), 100.0), np.full((3000, 2), 99.0)
    high[t_hit, 1] = 120.0
    assert as_lists(first_trigger_bar(table, high, low)) == (t_hit, [1])
    # The trailing stop's high at bar 0 must be carried across blocks to its pullback at t_hit.
    high[:, 0], low[:, 0] = 121.0, 120.0
    high[0, 0], low[0, 0] = 130.0, 125.0
    low[t_hit, 0] = 117.0
    assert as_lists(first_trigger_bar(table, high, low)) == (t_hit, [1, 2])


def test_nan_bars_never_trigger() -> None:
    table = TriggerTable()
    table.add(1, 0, STOP, SELL, 100.0)
    high = bars([[np.nan], [np.nan], [101.0]])
    low = bars([[np.nan], [np.nan], [99.0]])
    found = first_trigger_bar(table, high, low)
    assert found is not None
    assert found[0] == 2


def test_mark_price_orders_are_searched_on_the_mark_series() -> None:
    table = TriggerTable()
    table.add(1, 0, STOP, SELL, 95.0, use_mark=True)
    table.add(2, 0, STOP, SELL, 95.0)
    high, low = bars([[100], [100], [100]]), bars([[99], [94], [99]])
    mark_high, mark_low = bars([[100], [100], [100]]), bars([[99], [99], [94]])
    first = first_trigger_bar(table, high, low, mark_high=mark_high, mark_low=mark_low)
    assert first is not None
    assert (first[0], first[1].tolist()) == (1, [2])
    second = first_trigger_bar(table, high, low, start=2, mark_high=mark_high, mark_low=mark_low)
    assert second is not None
    assert (second[0], second[1].tolist()) == (2, [1])


def test_trailing_stop_waits_for_the_pullback_and_advance_keeps_the_extreme() -> None:
    table = TriggerTable()
    table.add(1, 0, TRAIL, SELL, float("nan"), callback_rate=2.0, extreme=100.0)
    high = bars([[101], [105], [104], [104]])
    low = bars([[99], [103.5], [103], [102.5]])  # 2 % below 105 is 102.9
    found = first_trigger_bar(table, high, low)
    assert found is not None
    assert (found[0], found[1].tolist()) == (3, [1])
    # Skipping bars without advancing would lose the high of 105 and miss the trigger.
    assert first_trigger_bar(table, high, low, start=2) is None
    table.advance_trailing(high, low, 0, 2)
    assert table.extreme.tolist() == [105.0]
    found_after = first_trigger_bar(table, high, low, start=2)
    assert found_after is not None
    assert found_after[0] == 3


def test_triggered_now_checks_one_price_per_symbol() -> None:
    table = TriggerTable()
    table.add(1, 0, STOP, SELL, 95.0)
    table.add(2, 1, TP, SELL, 110.0, use_mark=True)
    table.add(3, 1, TRAIL, BUY, float("nan"), callback_rate=1.0, extreme=100.0)
    last, mark = np.array([95.0, 111.0]), np.array([96.0, 109.0])
    assert triggered_now(table, last, mark).tolist() == [1, 3]
    assert triggered_now(table, last, mark, use_mark=np.array([False, False, False])).tolist() == [1, 2, 3]
    assert triggered_now(table, last, None).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="one flag per order"):
        triggered_now(table, last, mark, use_mark=np.array([True]))


def test_bad_shapes_and_symbols_are_rejected() -> None:
    table = TriggerTable()
    table.add(1, 3, STOP, SELL, 95.0)
    with pytest.raises(ValueError, match="out of range"):
        first_trigger_bar(table, bars([[1, 1]]), bars([[1, 1]]))
    with pytest.raises(ValueError, match="shape"):
        first_trigger_bar(table, bars([[1, 1]]), bars([[1]]))
    with pytest.raises(ValueError, match="both"):
        first_trigger_bar(table, bars([[1, 1]]), bars([[1, 1]]), mark_high=bars([[1, 1]]))


# --- vectorised search: properties ----------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    key: int
    symbol: int
    kind: TriggerKind
    side: int
    trigger: int  # tenths
    use_mark: bool
    callback: int  # tenths of a percent
    extreme: int  # tenths


@dataclass(frozen=True)
class Scenario:
    bars: dict[str, list[list[list[int | None]]]]  # series → [t][s] → [o, h, l, c] in tenths, None = missing
    orders: list[Order]
    with_mark: bool


@st.composite
def series(draw: st.DrawFn, n_bars: int, n_symbols: int) -> list[list[list[int | None]]]:
    """Consistent OHLC in tenths around 100.0 on a coarse grid, so exact touches are common."""
    out = []
    for _ in range(n_bars):
        row: list[list[int | None]] = []
        for _ in range(n_symbols):
            if draw(st.integers(0, 9)) == 0:
                row.append([None] * 4)
                continue
            o, c = draw(st.integers(950, 1050)), draw(st.integers(950, 1050))
            h, lo = max(o, c) + draw(st.integers(0, 30)), min(o, c) - draw(st.integers(0, 30))
            row.append([o, h, lo, c])
        out.append(row)
    return out


def walk(seed: int, n_bars: int, n_symbols: int) -> list[list[list[int | None]]]:
    """A long seeded random walk in tenths: crosses the 64-row and later search block boundaries."""
    rng = np.random.default_rng(seed)
    closes = 1000 + np.cumsum(rng.integers(-6, 7, (n_bars, n_symbols)), axis=0)
    opens = np.vstack([np.full(n_symbols, 1000), closes[:-1]])
    highs = np.maximum(opens, closes) + rng.integers(0, 4, (n_bars, n_symbols))
    lows = np.minimum(opens, closes) - rng.integers(0, 4, (n_bars, n_symbols))
    missing = rng.random((n_bars, n_symbols)) < 0.05
    return [[[None] * 4 if missing[t, s] else [int(opens[t, s]), int(highs[t, s]), int(lows[t, s]),
              int(closes[t, s])] for s in range(n_symbols)] for t in range(n_bars)]  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn, long: bool = False) -> Scenario:
    n_bars, n_symbols = draw(st.integers(60, 400) if long else st.integers(1, 12)), draw(st.integers(1, 3))
    with_mark = draw(st.booleans())
    names = ["last", "mark"] if with_mark else ["last"]
    if long:
        data = {name: walk(draw(st.integers(0, 2**32)), n_bars, n_symbols) for name in names}
    else:
        data = {name: draw(series(n_bars, n_symbols)) for name in names}
    orders = []
    for key in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(list(TriggerKind)))
        trigger = draw(st.integers(900, 1100) if not long else st.integers(850, 1150))
        if kind is TRAIL and draw(st.booleans()):
            trigger = -1  # no activation price
        orders.append(Order(key=100 + key, symbol=draw(st.integers(0, n_symbols - 1)), kind=kind,
                            side=draw(st.sampled_from([BUY, SELL])), trigger=trigger, use_mark=draw(st.booleans()),
                            callback=draw(st.integers(1, 50)), extreme=draw(st.integers(960, 1040))))  # fmt: skip
    return Scenario(data, orders, with_mark)


def arrays(sc: Scenario, name: str) -> tuple[F64, F64]:
    grid = np.array([[[np.nan if v is None else v / 10 for v in cell] for cell in row] for row in sc.bars[name]])
    return np.ascontiguousarray(grid[:, :, 1]), np.ascontiguousarray(grid[:, :, 2])


def build_table(sc: Scenario) -> TriggerTable:
    table = TriggerTable(capacity=1)
    for o in sc.orders:
        trailing = o.kind is TRAIL
        trigger = float("nan") if o.trigger < 0 else o.trigger / 10
        table.add(o.key, o.symbol, o.kind, o.side, trigger, use_mark=o.use_mark,
                  callback_rate=o.callback / 10 if trailing else 0.0,
                  extreme=o.extreme / 10 if trailing else float("nan"))  # fmt: skip
    return table


def search(sc: Scenario, table: TriggerTable, start: int) -> tuple[int, list[int]] | None:
    high, low = arrays(sc, "last")
    mark_high, mark_low = arrays(sc, "mark") if sc.with_mark else (None, None)
    found = first_trigger_bar(table, high, low, start=start, mark_high=mark_high, mark_low=mark_low)
    return None if found is None else (found[0], found[1].tolist())


def brute_force(sc: Scenario, start: int) -> tuple[int, list[int]] | None:
    """The prefilter's definition, one order and one bar at a time in plain Python floats."""
    eps, n_bars = EPS_REL, len(sc.bars["last"])
    running = {o.key: o.extreme / 10 if o.side == SELL else -o.extreme / 10 for o in sc.orders}
    for t in range(start, n_bars):
        keys = []
        for o in sc.orders:
            cell = sc.bars["mark" if o.use_mark and sc.with_mark else "last"][t][o.symbol]
            if cell[1] is None or cell[2] is None:
                continue
            high, low = cell[1] / 10, cell[2] / 10
            trig = o.trigger / 10
            if o.kind is not TRAIL:
                if trigger_direction(o.kind, o.side) > 0:
                    hit = high >= trig - eps * abs(trig)
                else:
                    hit = low <= trig + eps * abs(trig)
            else:
                sell = o.side == SELL
                running[o.key] = max(running[o.key], high if sell else -low)
                rate = o.callback / 10 / 100.0
                factor = (1 - rate) * (1 + eps) if sell else (1 + rate) * (1 - eps)
                act = trig * (1 - eps) if sell else -trig * (1 + eps)
                tested = low if sell else -high
                hit = (o.trigger < 0 or running[o.key] >= act) and tested <= running[o.key] * factor
            if hit:
                keys.append(o.key)
        if keys:
            return t, sorted(keys)
    return None


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.integers(0, 3))
def test_first_trigger_bar_equals_brute_force_scan(sc: Scenario, start: int) -> None:
    assert search(sc, build_table(sc), start) == brute_force(sc, start)


@settings(max_examples=60, deadline=None)
@given(scenarios(long=True), st.integers(0, 100))
def test_first_trigger_bar_equals_brute_force_scan_across_blocks(sc: Scenario, start: int) -> None:
    assert search(sc, build_table(sc), start) == brute_force(sc, start)


def exact_first_bar(sc: Scenario, o: Order) -> int | None:
    """Ground truth: walk every bar's intra-bar path in Decimal with the exact §2.1 predicates."""
    name = "mark" if o.use_mark and sc.with_mark else "last"
    trigger = D(o.trigger) / 10
    extreme = D(o.extreme) / 10
    for t, row in enumerate(sc.bars[name]):
        cell = row[o.symbol]
        if cell[0] is None:
            continue
        o_, h, lo, c = (D(v) / 10 for v in cell if v is not None)
        for price in intrabar_path(o_, h, lo, c):
            if o.kind is not TRAIL:
                if stop_triggered(o.kind, o.side, price, trigger):
                    return t
                continue
            activation = None if o.trigger < 0 else trigger
            if trailing_triggered(o.side, price, extreme, D(o.callback) / 10, activation):
                return t
            extreme = max(extreme, price) if o.side == SELL else min(extreme, price)
    return None


@settings(max_examples=300, deadline=None)
@given(st.one_of(scenarios(), scenarios(long=True)))
def test_engine_loop_over_the_prefilter_never_misses_an_exact_trigger(sc: Scenario) -> None:
    """Drive the search like the engine: replay flagged bars exactly, drop what fired, resume at t + 1."""
    truth = {o.key: exact_first_bar(sc, o) for o in sc.orders}
    table = build_table(sc)
    high, low = arrays(sc, "last")
    marks = arrays(sc, "mark") if sc.with_mark else (None, None)
    fired: dict[int, int] = {}
    start = 0
    while found := first_trigger_bar(table, high, low, start=start, mark_high=marks[0], mark_low=marks[1]):
        t, keys = found
        for key in keys.tolist():
            if truth[key] == t:
                fired[key] = t
                table.remove(key)
        table.advance_trailing(high, low, start, t + 1, mark_high=marks[0], mark_low=marks[1])
        start = t + 1
    assert fired == {k: t for k, t in truth.items() if t is not None}


@settings(max_examples=200, deadline=None)
@given(scenarios(), st.integers(0, 11))
def test_triggered_now_is_the_single_step_search(sc: Scenario, t: int) -> None:
    """A tick is a bar whose high and low are one price: both searches must then agree."""
    high, _ = arrays(sc, "last")
    t = min(t, len(high) - 1)
    last = np.nan_to_num(high[t], nan=1e9)  # a NaN price would never trigger; use a far price instead
    table = build_table(sc)
    expected = first_trigger_bar(table, last[None, :], last[None, :])
    got = triggered_now(table, last, None).tolist()
    assert got == ([] if expected is None else expected[1].tolist())
