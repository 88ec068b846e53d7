"""`quantum-trader evaluate --model MODEL|default --data PATH [--report FILE.html]`: is the model's confidence a
frequency?

The data are labelled with the model's own label parameters (the ones it was trained for), so the
report answers "of the trades the model scored p, how many won?" for exactly those trades. The
threshold is QT_MIN_CONFIDENCE (settings), never something fitted to the evaluation data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..core.logging import configure_logging
from ..domain.errors import ConfigError
from ..settings.model import load_settings
from .checks import bad_input_exits_2, check_output_file
from .main import app

if TYPE_CHECKING:  # LightGBM and scikit-learn are imported when a model is scored, not to build the command line
    from ..ml.model_file import ScannerModel

Opt = typer.Option
SIDES = ("long", "short")


@app.command("evaluate")
def evaluate(
    model: Annotated[str, Opt("--model", help="model file, or `default` for the model shipped with the package")],
    data: Annotated[str, Opt("--data", help="Binance kline file, folder or glob (quote it)")],
    start: Annotated[str | None, Opt("--start", help="first day (YYYY-MM-DD, UTC), inclusive")] = None,
    end: Annotated[str | None, Opt("--end", help="last day (YYYY-MM-DD, UTC), inclusive")] = None,
    png: Annotated[Path | None, Opt("--png", help="write the reliability diagram (PNG) here")] = None,
    html: Annotated[Path | None, Opt("--report", help="write a self-contained HTML report here")] = None,
    json_output: Annotated[bool, Opt("--json", help="one JSON document on stdout, nothing else")] = False,
) -> None:
    """Score a model on labelled history: AUC, Brier, ECE, reliability, confident signals, EV, baselines."""
    # LightGBM, scikit-learn and matplotlib load here, not when the CLI starts: other commands stay quick.
    from ..ml.evaluate import evaluate as evaluate_model
    from .ml_common import StageProgress, fail, load_checked, parse_dates

    configure_logging(json=False, level="WARNING")
    _check_outputs(png, html)
    start_ms, end_ms = parse_dates(start, end)
    min_confidence = _min_confidence()
    scanner = _load_model(model)
    with StageProgress(show=not json_output and sys.stderr.isatty(), label="evaluate") as progress:
        rows = load_checked(data, scanner.labels, start_ms, end_ms, 1, progress)
        progress.stage(f"scoring {len(rows.dataset.time_ms):,} rows")
        try:
            report = evaluate_model(scanner, rows.dataset, min_confidence=min_confidence)
        except ValueError as exc:
            fail("--data", str(exc))
    report["data"]["files"] = [p.name for p in rows.paths]
    if warning := report["training_overlap"].get("warning"):  # on stderr: `--json` keeps stdout one document
        typer.echo(f"warning: {warning}", err=True)
    _write_outputs(report, png, html)
    if json_output:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    _print_report(report)


def _min_confidence() -> float:
    """The signal threshold the bot trades at (QT_MIN_CONFIDENCE), never one fitted to the evaluation data; a bad
    setting is exit 2 with the variable named, before the data is read."""
    try:
        return load_settings({}).min_confidence
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _load_model(model: str) -> ScannerModel:
    """The model to score (`default`: the one shipped with the package), refused with exit 2 naming `--model`
    when it is not a model for today's features (missing, unreadable, another feature set)."""
    from ..ml.features import FEATURE_NAMES
    from ..ml.model_file import ModelRefused, load
    from .ml_common import fail, resolve_model_path

    try:
        return load(resolve_model_path(model), expect_features=FEATURE_NAMES)
    except ModelRefused as exc:
        fail("--model", exc.reason)


def _write_outputs(report: dict[str, Any], png: Path | None, html: Path | None) -> None:
    """The reliability diagram and the HTML report, when asked for. `_check_outputs` caught what it could before
    the scoring; a write that still fails is exit 2 naming its option, one line, not a traceback."""
    from ..ml.evaluate import reliability_png
    from .ml_common import fail

    if png is not None:
        try:
            reliability_png(report, png)
        except OSError as exc:
            fail("--png", f"{png}: {exc}")
    if html is not None:
        from ..reports.write import write_evaluation_report

        try:
            write_evaluation_report(report, html)
        except OSError as exc:
            fail("--report", f"{html}: {exc}")


def _check_outputs(png: Path | None, html: Path | None) -> None:
    """The diagram's and the report's files can be written: checked before the data is read and scored."""
    with bad_input_exits_2():
        if png is not None:
            check_output_file("--png", png, "reliability.png")
        if html is not None:
            check_output_file("--report", html, "evaluation.html")


def _print_report(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    threshold = doc["min_confidence"]
    data = doc["data"]
    seen = f", {doc['in_sample_rows']:,} of them trained on" if doc["overlaps_training"] else ""
    console.print(_scores_table(doc, f"Model {doc['model_version']} on {data['rows']:,} rows "
                                     f"({', '.join(data['symbols'])}){seen}"))  # fmt: skip
    if oos := doc.get("out_of_sample"):
        console.print(_scores_table(oos, f"Out of sample only: the {oos['rows']:,} rows the model never trained on"))
    trades = Table(title=f"Signals at or above {threshold:g} (EV: mean net return after fees, % of notional)")
    for col in ("side", "signals", "hit rate", "EV %/trade", "always trade: hit rate", "always trade: EV %"):
        trades.add_column(col)
    for side in SIDES:
        s = doc["sides"][side]
        sig, always = s["signals"], s["baseline_always_trade"]
        trades.add_row(side, f"{sig['count']:,}", _fmt(sig["hit_rate"]), _fmt(sig["ev_per_trade_pct"]),
                       _fmt(always["hit_rate"]), _fmt(always["ev_per_trade_pct"]))  # fmt: skip
    console.print(_uncertainty_table(doc))
    console.print(trades)
    for side in SIDES:
        rel = Table(title=f"Reliability ({side})")
        for col in ("bin", "count", "mean predicted", "observed"):
            rel.add_column(col)
        for row in doc["sides"][side]["reliability"]:
            rel.add_row(
                f"{row['lo']:.1f}–{row['hi']:.1f}",
                f"{row['count']:,}",
                _fmt(row["mean_predicted"]),
                _fmt(row["observed_rate"]),
            )
        console.print(rel)
    console.print(f"ECE: {doc['ece_definition']}")


def _scores_table(doc: dict[str, Any], title: str) -> Any:
    """AUC, Brier, ECE and win rate per side against the constant baseline, for all rows or the unseen ones."""
    from rich.table import Table

    scores = Table(title=title)
    for col in ("side", "calibrator", "AUC", "Brier", "ECE", "win rate", "constant Brier", "constant ECE"):
        scores.add_column(col)
    for side in SIDES:
        s = doc["sides"][side]
        const = s["baseline_constant"]
        scores.add_row(side, s["calibrator"], _fmt(s["auc"]), _fmt(s["brier"]), _fmt(s["ece"]),
                       _fmt(s["base_rate"]), _fmt(const["brier"]), _fmt(const["ece"]))  # fmt: skip
    return scores


def _uncertainty_table(doc: dict[str, Any]) -> Any:
    """95 % intervals from resampling whole days: is a miss of the ECE bar real or the luck of the period?"""
    from rich.table import Table

    first = doc["sides"][SIDES[0]]["uncertainty"]
    table = Table(title=f"How sure: {first['method']}")
    for col in ("side", "ECE 95 % CI", f"share ECE <= {first['bar']:g}", "win rate 95 % CI",
                "effective outcomes", "constant ECE 95 % CI"):  # fmt: skip
        table.add_column(col)
    for side in SIDES:
        s = doc["sides"][side]
        u, const = s["uncertainty"], s["baseline_constant"]["ece_interval"]
        n_eff = u["effective_outcomes"]
        table.add_row(side, _ci(u["ece"]), f"{u['ece_share_at_or_below_bar']:.2f}", _ci(u["win_rate"]),
                      "n/a" if n_eff is None else f"{n_eff:,.0f}", _ci(const))  # fmt: skip
    return table


def _ci(interval: dict[str, float] | None) -> str:
    return "n/a" if interval is None else f"{interval['lo']:.4f} – {interval['hi']:.4f}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
