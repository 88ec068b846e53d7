"""The sweep's tables on an 80-column terminal: figures whole (six significant digits, thousands grouped), never cut
with an ellipsis, headers a narrow terminal can wrap, and a walk-forward window's year said once, or in each date
when the folds span two."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from quantum_trader.cli.sweep_cmd import _figure, _folds, _table


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def fold(number: int, train: tuple[str, str], test: tuple[str, str], in_sample: float | None,
         out_of_sample: float | None) -> dict[str, Any]:
    return {"fold": number, "train": [ms(t) for t in train], "test": [ms(t) for t in test],
            "chosen_text": {"fast": "5", "slow": "30"}, "in_sample": in_sample, "out_of_sample": out_of_sample,
            "out_of_sample_no_trades": False, "error": None}


def rendered(folds: list[dict[str, Any]]) -> str:
    return shown(_folds(folds))


def shown(table: Any) -> str:
    out = io.StringIO()
    Console(file=out, width=80).print(table)
    return out.getvalue()


def test_figures_are_whole_at_80_columns_and_the_year_is_in_the_title() -> None:
    text = rendered([fold(0, ("2023-02-01", "2023-02-10T08:00"), ("2023-02-10T08:00", "2023-02-19T16:00"),
                          -1236.89070215, -630.63302415),
                     fold(1, ("2023-02-10T08:00", "2023-02-19T16:00"), ("2023-02-19T16:00", "2023-03-01"),
                          -630.63302415, None)])
    assert "…" not in text, text
    assert "-1,236.89" in text and "-630.633" in text and "–" in text
    assert "walk-forward (UTC, 2023)" in text and "02-10 08:00" in text


def test_folds_across_a_new_year_show_the_year_in_each_date() -> None:
    text = rendered([fold(0, ("2023-12-20", "2023-12-28"), ("2023-12-28", "2024-01-05"), 12.5, -3.25)])
    assert "2023-12-28" in text and "2024-01-05" in text and "walk-forward (UTC)" in text


def test_a_figure_keeps_six_significant_digits_without_an_exponent() -> None:
    assert [_figure(v) for v in (-630.63302415, 1_234_567.891, -2.2022, 0.00123456, 0.0, None)] == [
        "-630.633", "1,234,568", "-2.2022", "0.00123456", "0", "–"]


def test_the_ranked_table_shows_each_runs_figures_whole_at_80_columns() -> None:
    runs = [{"params_text": {"fast": fast, "slow": "30"}, "error": None, "objective": sharpe, "no_trades": False,
             "seconds": 0.371, "result": {"performance": {"trades": trades, "net_pnl": pnl, "max_drawdown_pct": dd}}}
            for fast, sharpe, trades, pnl, dd in (("10", -2.2022, 246, "-1732.75062613", "30.4078"),
                                                  ("5", -4.3576, 260, "-2706.78124", "28.9725"))]
    text = shown(_table(runs, "sharpe", "2 runs, 0 failed", {}))
    assert "…" not in text, text
    assert "-1,732.75" in text and "-2,706.78" in text and "30.4078" in text and "246" in text
    assert "drawdown %" in text and "net P&L USDT" in text
