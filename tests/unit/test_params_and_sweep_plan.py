"""Parameters (`--param`, `--grid`), bar selection (`--start/--end/--symbols`) and the sweep's plan: which
runs, in what order, how they are ranked, and the walk-forward windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from quantum_trader.domain.errors import ConfigError
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.marketdata.selection import Selection, parse_symbols, parse_time_ms, select
from quantum_trader.research.sweep_plan import (
    GridAxis,
    Run,
    combinations,
    no_choice,
    objective_value,
    parse_axis,
    ranked,
    walk_forward_windows,
)
from quantum_trader.settings.model import load_settings
from quantum_trader.signals.params import RISK_PARAMS, ParamError, ParamSpec, parse_params
from quantum_trader.signals.registry import build_strategy, params_help, refuse_no_effect, strategy_params

SMA = strategy_params("sma-cross")
SPECS = {s.name: s for s in (*SMA, *RISK_PARAMS)}
MINUTE = 60_000


def test_parameters_split_into_the_strategys_and_the_risk_settings_with_their_types() -> None:
    params = parse_params("sma-cross", SMA, ["fast=5", "slow = 20", "stop_loss_pct=1.5", "max_positions=2"])
    assert params.strategy == {"fast": 5, "slow": 20} and params.risk == {"stop_loss_pct": 1.5, "max_positions": 2}
    strategy = build_strategy("sma-cross", None, params.strategy)
    assert (strategy.fast, strategy.slow) == (5, 20)  # type: ignore[attr-defined]
    assert strategy_params("manual") == () and strategy_params("ai-scanner") == ()


@pytest.mark.parametrize(("entries", "message"), [
    (["speed=3"], "--param speed=3: unknown parameter 'speed' for sma-cross; choose from fast, slow, stop_loss_pct"),
    (["fast"], "--param fast: write NAME=VALUE"),
    (["fast=1.5"], "--param fast=1.5: not an integer"),
    (["fast=0"], "--param fast=0: out of range (int from 1 to 10000"),
    (["leverage=126"], "--param leverage=126: out of range"),
    (["stop_loss_pct=nan"], "--param stop_loss_pct=nan: out of range"),
    (["fast=5", "fast=6"], "--param fast: given twice"),
    (["min_confidence=1.5"], "--param min_confidence=1.5: out of range (float from 0.0 to 1.0, default 0.65"),
    (["min_confidence=-0.1"], "--param min_confidence=-0.1: out of range"),
    (["min_confidence=nan"], "--param min_confidence=nan: out of range"),
    (["min_confidence=high"], "--param min_confidence=high: not a number"),
])
def test_a_bad_parameter_is_one_line_naming_it(entries: list[str], message: str) -> None:
    with pytest.raises(ParamError) as caught:
        parse_params("sma-cross", SMA, entries)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_combination_the_strategy_refuses_is_a_param_error_naming_both() -> None:
    with pytest.raises(ParamError, match=r"--param fast=30 --param slow=20: sma-cross: fast \(30\) must be"):
        build_strategy("sma-cross", None, {"fast": 30, "slow": 20})


def _settings_take(name: str, text: str) -> bool:
    try:
        load_settings({name: text}, env={}, names={name: f"--param {name}"})
    except ConfigError:
        return False
    return True


def _declared_takes(spec: ParamSpec, text: str) -> bool:
    try:
        spec.parse(text)
    except ParamError:
        return False
    return True


@pytest.mark.parametrize("spec", RISK_PARAMS, ids=lambda spec: spec.name)
def test_a_risk_parameter_declares_no_value_its_setting_refuses(spec: ParamSpec) -> None:
    """take_profit_pct was declared 0.05 to 500 while QT_TAKE_PROFIT_PCT refuses 100 and above (a short's
    take-profit would be at a price of 0): `--grid take_profit_pct=50..300` searched a range half refused."""
    for text in (str(spec.low), str(spec.high), str(spec.default)):
        if _declared_takes(spec, text):
            assert _settings_take(spec.name, text), text


def test_take_profit_pct_has_one_range_in_the_declaration_and_the_settings() -> None:
    spec = SPECS["take_profit_pct"]
    for text in ("0", "0.01", "0.05", "4", "99.99", "100", "150", "500", "nan"):
        assert _declared_takes(spec, text) == _settings_take("take_profit_pct", text), text
    message = error_text(["take_profit_pct=100"])
    assert message == ("--param take_profit_pct=100: out of range (float above 0 and below 100, default 4.0: "
                       "take-profit distance, % of the entry price (a short's 100 % below its entry would be at a "
                       "price of 0))")
    with pytest.raises(ConfigError, match=r"QT_TAKE_PROFIT_PCT=100: must be less than 100 \(a percentage of price, "
                                          r"e.g. 4.0; above 0 and below 100, since a short's take-profit"):
        load_settings(env={"QT_TAKE_PROFIT_PCT": "100"})


def error_text(entries: list[str]) -> str:
    with pytest.raises(ParamError) as caught:
        parse_params("sma-cross", SMA, entries)
    return str(caught.value)


def test_min_confidence_is_a_risk_parameter_of_every_strategy_it_applies_to() -> None:
    """QT_MIN_CONFIDENCE could not be set by `--param` or `--grid` (unknown parameter), though the scanner's
    results hang on it; it is now a risk setting, typed and ranged as the variable (0 to 1)."""
    assert parse_params("ai-scanner", (), ["min_confidence=0.4"]).risk == {"min_confidence": 0.4}
    assert parse_params("ai-scanner", (), {"min_confidence": 0.0}).risk == {"min_confidence": 0.0}
    refuse_no_effect("ai-scanner", {"min_confidence": "0.4"})
    refuse_no_effect("sma-cross", {"fast": "5", "stop_loss_pct": "1.5"})
    assert params_help().endswith("max_positions, min_confidence; min_confidence with ai-scanner only)")


@pytest.mark.parametrize(("strategy", "origin", "why"), [
    ("sma-cross", "--param", "a cross is a rule, not an estimate: every signal has confidence 1.0, which no "
                             "threshold from 0 to 1 refuses"),
    ("manual", "--grid", "it emits no signals, and a forced entry needs no confidence"),
])
def test_min_confidence_is_refused_where_it_would_change_nothing(strategy: str, origin: str, why: str) -> None:
    """A sweep of sma-cross over min_confidence ran identical runs (its signals are all 1.0): refused in one line,
    saying why and what it is for."""
    with pytest.raises(ParamError) as caught:
        refuse_no_effect(strategy, {"fast": "5", "min_confidence": "0.70"}, {"min_confidence": origin})
    assert str(caught.value) == (f"{origin} min_confidence=0.70: has no effect with --strategy {strategy} ({why}); "
                                 "it is the threshold of the signals of --strategy ai-scanner: leave it out")


def chunk(symbols: tuple[str, ...], closes: list[list[float]], first_ms: int = 0) -> BarChunk:
    close = np.asarray(closes, dtype=np.float64)
    times = np.arange(len(close), dtype=np.int64) * MINUTE + first_ms
    return BarChunk(symbols, times, close, close, close, close, np.ones_like(close), MINUTE)


def test_selection_cuts_the_period_and_symbols_in_the_datas_order_and_drops_their_empty_bars() -> None:
    nan = float("nan")
    bars = [chunk(("AUSDT", "BUSDT", "CUSDT"), [[1, 10, 100], [2, nan, 200], [3, nan, nan]]),
            chunk(("AUSDT", "BUSDT", "CUSDT"), [[4, 40, 400], [5, 50, 500]], first_ms=3 * MINUTE)]
    picked = list(select(bars, Selection(1 * MINUTE, 4 * MINUTE, ("CUSDT", "BUSDT"))))
    assert [c.symbols for c in picked] == [("BUSDT", "CUSDT"), ("BUSDT", "CUSDT")]
    assert [list(c.open_time // MINUTE) for c in picked] == [[1], [3]]  # minute 2: neither B nor C traded
    np.testing.assert_array_equal(picked[0].close, [[np.nan, 200]])
    np.testing.assert_array_equal(picked[1].close, [[40, 400]])
    assert list(select(bars, Selection())) == bars
    with pytest.raises(ValueError, match="--symbols: DUSDT not in the data"):
        list(select(bars, Selection(symbols=("DUSDT",))))


def test_times_and_symbols_are_parsed_with_errors_naming_the_option() -> None:
    assert parse_time_ms("2026-02-01", "--start") == 1_769_904_000_000
    assert parse_time_ms("2026-02-01T01:00", "--end") == 1_769_907_600_000
    assert parse_symbols("btcusdt, ETHUSDT,btcusdt") == ("BTCUSDT", "ETHUSDT")
    with pytest.raises(ValueError, match="--start 1st of May: not a date"):
        parse_time_ms("1st of May", "--start")
    with pytest.raises(ValueError, match=r"--end .* must be after --start"):
        Selection(10, 5)


def test_a_grid_is_every_combination_first_axis_slowest_and_checked_value_by_value() -> None:
    axes = [parse_axis("fast=5,10", SPECS, ranges_allowed=False), parse_axis("slow=20,30", SPECS, ranges_allowed=False)]
    assert combinations(axes) == [{"fast": "5", "slow": "20"}, {"fast": "5", "slow": "30"},
                                  {"fast": "10", "slow": "20"}, {"fast": "10", "slow": "30"}]
    assert parse_axis("fast=3..12", SPECS, ranges_allowed=True) == GridAxis("fast", low="3", high="12")
    for entry, message in (("fast=5,x", "--grid fast=x: not an integer"), ("fast", "--grid fast: write NAME="),
                           ("fast=5..9", "a range needs --trials"), ("nope=1", "unknown parameter 'nope'")):
        with pytest.raises(ParamError, match=message):
            parse_axis(entry, SPECS, ranges_allowed=False)
    with pytest.raises(ParamError, match="fast given twice"):
        combinations([GridAxis("fast", ("5",)), GridAxis("fast", ("6",))])


@pytest.mark.parametrize(("entry", "trials", "message"), [
    ("fast=abc", False, "--grid fast=abc: not an integer"),
    ("stop_loss_pct=1,abc", False, "--grid stop_loss_pct=abc: not a number"),
    ("leverage=0,5", False, "--grid leverage=0: out of range"),
    ("fast=abc..9", True, "--grid fast=abc: not an integer"),
])
def test_a_bad_grid_value_names_the_grid_option_it_was_given_with(entry: str, trials: bool, message: str) -> None:
    """`sweep --grid fast=abc` said `--param fast=abc`, an option the user had not typed."""
    with pytest.raises(ParamError) as caught:
        parse_axis(entry, SPECS, ranges_allowed=trials)
    assert str(caught.value).startswith(message) and "--param" not in str(caught.value)


def test_a_combination_names_each_value_with_the_option_it_came_from() -> None:
    with pytest.raises(ParamError, match=r"^--param slow=20 --grid fast=30: sma-cross: fast \(30\) must be"):
        build_strategy("sma-cross", None, {"slow": 20, "fast": 30}, origins={"fast": "--grid"})
    with pytest.raises(ParamError, match=r"^--grid fast=x: not an integer"):
        parse_params("sma-cross", SMA, {"fast": "x"}, {"fast": "--grid"})


def run(value: str | None, error: str | None = None) -> Run:
    return Run({"v": str(value)}, result=None if value is None else {"performance": {"net_pnl": value,
                                                                                      "max_drawdown_pct": value}},
               error=error)


def test_ranking_puts_the_best_first_by_direction_and_failed_or_empty_runs_last() -> None:
    runs = [run("5"), run(None), run("9"), run("1", error="boom"), run("-2")]
    assert [r.params["v"] for r in ranked(runs, "net_pnl")] == ["9", "5", "-2", "None", "1"]
    assert [r.params["v"] for r in ranked(runs, "max_drawdown_pct")] == ["-2", "5", "9", "None", "1"]
    assert objective_value({"performance": {"sharpe": None}}, "sharpe") is None
    assert objective_value({"performance": {"net_pnl": "12.5"}}, "net_pnl") == 12.5


def test_a_sharpe_ratio_that_is_na_ranks_last_in_a_sweep_and_a_fold_of_them_chooses_nothing() -> None:
    na = "5 daily returns, fewer than the 14 a Sharpe ratio needs to mean anything"

    def sharpe_run(value: float | None, error: str | None = None) -> Run:
        performance = {"sharpe": value, "sharpe_na": None if value is not None else na, "max_drawdown_pct": "3"}
        return Run({"v": str(value)}, result=None if error else {"performance": performance}, error=error)

    runs = [sharpe_run(None), sharpe_run(-1.5), sharpe_run(2.0), sharpe_run(None, error="boom")]
    assert [r.params["v"] for r in ranked(runs, "sharpe")] == ["2.0", "-1.5", "None", "None"]
    assert ranked(runs, "sharpe")[-1].error == "boom"
    assert no_choice(runs, "sharpe") is None and no_choice(runs, "max_drawdown_pct") is None
    unchosen = no_choice([runs[0], runs[3]], "sharpe")
    assert unchosen == (f"no run of the training window has a sharpe ({na}): nothing to choose by; give longer "
                        "windows (fewer --walk-forward folds) or another --objective")
    assert no_choice([runs[3]], "sharpe") == "every run of the training window failed: nothing to choose by"


def test_the_sweep_table_says_why_an_objective_is_na() -> None:
    from quantum_trader.cli.sweep_cmd import _not_available

    why = {"performance": {"sharpe_na": "2 daily returns, ..."}}
    docs: list[dict[str, Any]] = [{"error": None, "objective": None, "result": why},
            {"error": None, "objective": 1.5, "result": {"performance": {}}},
            {"error": "boom", "objective": None, "result": None}]
    assert _not_available(docs, "sharpe") == ["sharpe n/a in 1 run, ranked last: 2 daily returns, ..."]
    assert _not_available(docs[1:], "sharpe") == []


def test_walk_forward_windows_are_consecutive_equal_and_on_bar_boundaries() -> None:
    windows = walk_forward_windows(0, 3_000 * MINUTE + 7, 2, MINUTE)
    assert windows == [((0, 1_000 * MINUTE), (1_000 * MINUTE, 2_000 * MINUTE)),
                       ((1_000 * MINUTE, 2_000 * MINUTE), (2_000 * MINUTE, 3_000 * MINUTE + 7))]
    with pytest.raises(ValueError, match="too few"):
        walk_forward_windows(0, 5 * MINUTE, 3, MINUTE)
