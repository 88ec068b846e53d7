"""`evaluate --report FILE.html`: the scanner's evaluation as a page, in the same style as the other reports.

The input is the document `evaluate --json` prints (ml/evaluate.py): per side, the reliability diagram
(observed win rate against mean predicted probability per bin, with each bin's row count), the scores
against the naive baselines, the signals at the confidence threshold, and how sure those numbers are.
No time series here, so no charting library: the diagrams are inline SVG.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from . import svg
from .page import document, esc, kv_table, section, table

SIDES = ("long", "short")


def _f(value: object, digits: int = 4) -> str:
    return "n/a" if value is None else f"{float(str(value)):.{digits}f}"


def _ci(interval: Mapping[str, Any] | None) -> str:
    return "n/a" if not interval else f"{_f(interval.get('lo'))} to {_f(interval.get('hi'))}"


def scores_table(doc: Mapping[str, Any]) -> str:
    rows = []
    for side in SIDES:
        s = doc["sides"][side]
        const = s["baseline_constant"]
        rows.append((side, s["calibrator"], _f(s["auc"]), _f(s["brier"]), _f(s["ece"]), _f(s["base_rate"]),
                     _f(const.get("brier")), _f(const.get("ece"))))
    return table(("side", "calibrator", "AUC", "Brier", "ECE", "win rate", "constant Brier", "constant ECE"), rows)


def uncertainty_table(doc: Mapping[str, Any]) -> str:
    rows = []
    for side in SIDES:
        s = doc["sides"][side]
        u = s.get("uncertainty") or {}
        n_eff = u.get("effective_outcomes")
        rows.append((side, _ci(u.get("ece")), _f(u.get("ece_share_at_or_below_bar"), 2), _ci(u.get("win_rate")),
                     "n/a" if n_eff is None else f"{n_eff:,.0f}", _ci(s["baseline_constant"].get("ece_interval"))))
    return table(("side", "ECE 95 % CI", "share ECE at or below bar", "win rate 95 % CI", "effective outcomes",
                  "constant ECE 95 % CI"), rows)


def signals_table(doc: Mapping[str, Any]) -> str:
    rows = []
    for side in SIDES:
        s = doc["sides"][side]
        sig, always = s["signals"], s["baseline_always_trade"]
        rows.append((side, f"{sig['count']:,}", _f(sig["hit_rate"]), _f(sig["ev_per_trade_pct"]),
                     _f(sig.get("predicted_ev_pct")), _f(always["hit_rate"]), _f(always["ev_per_trade_pct"])))
    return table(("side", "signals", "hit rate", "EV %/trade", "model's EV %", "always trade: hit rate",
                  "always trade: EV %"), rows)


def reliability_tables(doc: Mapping[str, Any]) -> str:
    parts = []
    for side in SIDES:
        rows = [(f"{r['lo']:.1f}-{r['hi']:.1f}", f"{r['count']:,}", _f(r["mean_predicted"]), _f(r["observed_rate"]))
                for r in doc["sides"][side]["reliability"]]
        parts.append(f'<div class="panel"><h3>{esc(side)}</h3>'
                     f'{table(("bin", "rows", "mean predicted", "observed"), rows)}</div>')
    return '<div class="grid">' + "".join(parts) + "</div>"


def diagrams(doc: Mapping[str, Any]) -> str:
    threshold = doc.get("min_confidence")
    parts = []
    for side in SIDES:
        s = doc["sides"][side]
        title = f"{side}: ECE {_f(s['ece'], 3)}, AUC {_f(s['auc'], 3)}"
        parts.append(f'<div class="panel">{svg.reliability(f"reliability-{side}", title, s["reliability"], threshold)}'
                     "</div>")
    return '<div class="grid">' + "".join(parts) + "</div>"


def _day(time_ms: object) -> str:
    return datetime.fromtimestamp(int(str(time_ms)) / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def evaluation_html(doc: Mapping[str, Any]) -> str:
    """The whole page from the `evaluate --json` document."""
    data = doc["data"]
    subtitle = (f"model {doc['model_version']} on {data['rows']:,} rows of {', '.join(data['symbols'])}, "
                f"{_day(data['first_time_ms'])} to {_day(data['last_time_ms'])} UTC; "
                f"min confidence {doc['min_confidence']:g}")
    info = [("model", doc["model_version"]), ("ECE (worse side)", _f(doc.get("ece"))),
            ("min confidence", doc["min_confidence"]), ("labels", json.dumps(doc.get("labels"), sort_keys=True)),
            ("files", ", ".join(data.get("files") or []) or "-")]
    overlap = doc.get("training_overlap") or {}
    warning = [f'<p class="bad">Warning: {esc(overlap["warning"])}</p>'] if overlap.get("warning") else []
    oos = doc.get("out_of_sample")
    unseen = [section(f"Out of sample only: the {oos['rows']:,} rows the model never trained on",
                      f'<div class="panel">{scores_table(oos)}</div>')] if oos else []  # fmt: skip
    body = [*warning, section("Model", kv_table(info)),
            section("Reliability (dashed: perfect calibration; bars: rows per bin; yellow: min confidence)",
                    diagrams(doc)),
            section("Scores against the constant baseline", f'<div class="panel">{scores_table(doc)}</div>'),
            *unseen,
            section("How sure", f'<div class="panel">{uncertainty_table(doc)}</div>'),
            section(f"Signals at or above {doc['min_confidence']:g}", f'<div class="panel">{signals_table(doc)}</div>'),
            section("Reliability tables", reliability_tables(doc)),
            f'<p class="sub">ECE: {esc(doc.get("ece_definition"))}</p>']
    return document("Scanner evaluation", subtitle, body, data={"evaluation": doc})
