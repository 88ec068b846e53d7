"""Which evaluated rows did the model train on? A score on them says how well it fits, not how it predicts.

A row is **in sample** when its trade's outcome window, the `horizon` bars after it, overlaps the bars
whose outcomes training learned from, for a symbol the model was trained on. Training's labelled rows
run over spans of time per symbol (ml/train.py records them as `training.spans`); a training row at
time a looks at the bars up to a + H (H = horizon × interval), so an evaluated row at t shares part of
its future with a span [a, b] exactly when a − H < t < b + H. That is stricter than "the same minute
was a training row": with 12-hour labels, a row one hour after the last training row has 11 of its
12 hours in the training's own outcomes. Rows of a symbol the model never saw, inside that period,
are counted apart (`same_period_rows`): not trained on, but the symbols move together, so they are
not an independent test either.

Models written before spans were recorded have only the first and last training row and the symbol
list; their span is taken as that whole range for every listed symbol (a model trained on two months
years apart then claims the years between too: a warning too many, never one too few).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

DAY_MS = 86_400_000
Spans = dict[str, list[list[int]]]


def training_spans(
    time_ms: npt.NDArray[np.int64], symbol: npt.NDArray[np.int32], symbols: tuple[str, ...], horizon_ms: int
) -> Spans:
    """Per symbol, the runs of its training rows' times as [first, last]; a gap of more than 2 H splits a run.

    Gaps up to 2 H are bridged because the outcome windows on both sides (± H) meet across them anyway.
    """
    spans: Spans = {}
    for index in np.unique(symbol):
        times = np.unique(time_ms[symbol == index])
        cuts = np.flatnonzero(np.diff(times) > 2 * horizon_ms)
        starts, ends = np.r_[times[0], times[cuts + 1]], np.r_[times[cuts], times[-1]]
        spans[symbols[int(index)]] = [[int(a), int(b)] for a, b in zip(starts, ends, strict=True)]
    return spans


def recorded_spans(training: dict[str, Any]) -> Spans | None:
    """The model's training spans per symbol; the whole first-to-last range for older model files.

    None when the model records no training window at all (nothing to compare with).
    """
    if isinstance(training.get("spans"), dict):
        return {str(s): [[int(a), int(b)] for a, b in runs] for s, runs in training["spans"].items()}
    if training.get("first_time_ms") is None or training.get("last_time_ms") is None:
        return None
    whole = [[int(training["first_time_ms"]), int(training["last_time_ms"])]]
    return {str(s): list(whole) for s in training.get("symbols") or []}


def in_sample(
    spans: Spans,
    time_ms: npt.NDArray[np.int64],
    symbol: npt.NDArray[np.int32],
    symbols: tuple[str, ...],
    horizon_ms: int,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(rows in sample, rows of untrained symbols inside the training period), as masks over the rows."""
    mine = np.zeros(len(time_ms), dtype=bool)
    period = np.zeros(len(time_ms), dtype=bool)
    for a, b in (run for runs in spans.values() for run in runs):
        period |= (time_ms > a - horizon_ms) & (time_ms < b + horizon_ms)
    for index, name in enumerate(symbols):
        rows = symbol == index
        for a, b in spans.get(name, []):
            mine |= rows & (time_ms > a - horizon_ms) & (time_ms < b + horizon_ms)
    trained = np.isin(symbol, [i for i, name in enumerate(symbols) if name in spans])
    return mine, period & ~trained


def overlap_report(
    training: dict[str, Any],
    time_ms: npt.NDArray[np.int64],
    symbol: npt.NDArray[np.int32],
    symbols: tuple[str, ...],
    horizon_ms: int,
) -> tuple[npt.NDArray[np.bool_], dict[str, Any]]:
    """The in-sample mask and what `evaluate` reports about it (counts, period, the fix, a warning line)."""
    spans = recorded_spans(training)
    if spans is None:
        mine = np.zeros(len(time_ms), dtype=bool)
        return mine, {"overlaps_training": False, "in_sample_rows": 0, "out_of_sample_rows": len(time_ms),
                      "same_period_rows": 0, "known": False, "warning": None}  # fmt: skip
    mine, same = in_sample(spans, time_ms, symbol, symbols, horizon_ms)
    n_in, n_same = int(mine.sum()), int(same.sum())
    doc: dict[str, Any] = {
        "overlaps_training": bool(n_in), "in_sample_rows": n_in, "out_of_sample_rows": len(time_ms) - n_in,
        "same_period_rows": n_same, "known": True,
        "rule": "a row is in sample when its label's horizon overlaps the outcomes of the model's training rows "
                "(training row times ± horizon) for a symbol the model was trained on",
        "in_sample_first_time_ms": int(time_ms[mine].min()) if n_in else None,
        "in_sample_last_time_ms": int(time_ms[mine].max()) if n_in else None,
        "in_sample_symbols": sorted({symbols[i] for i in np.unique(symbol[mine])}),
    }  # fmt: skip
    doc["clean_start"] = _clean_start(spans, time_ms[mine], horizon_ms) if n_in else None
    doc["warning"] = _warning(doc, len(time_ms)) if n_in or n_same else None
    return mine, doc


def _clean_start(spans: Spans, in_rows: npt.NDArray[np.int64], horizon_ms: int) -> str:
    """The first UTC day after the latest training span the in-sample rows touch: `--start` for unseen data."""
    last = int(in_rows.max())
    ends = [b for runs in spans.values() for a, b in runs if a - horizon_ms < last < b + horizon_ms]
    boundary = max(ends, default=last) + horizon_ms
    return _day((boundary // DAY_MS + 1) * DAY_MS)


def _warning(doc: dict[str, Any], rows: int) -> str:
    n_in, n_out, n_same = doc["in_sample_rows"], doc["out_of_sample_rows"], doc["same_period_rows"]
    same = (f"{n_same:,} rows of symbols the model was not trained on fall inside its training period "
            "(not trained on, but the symbols move together: not an independent test either)")  # fmt: skip
    if not n_in:
        return same + "."
    first, last = _minute(doc["in_sample_first_time_ms"]), _minute(doc["in_sample_last_time_ms"])
    which = "every row" if n_out == 0 else f"{n_in:,} of {rows:,} rows"
    text = (
        f"{which} ({', '.join(doc['in_sample_symbols'])}, {first} to {last} UTC) "
        f"{'overlaps' if n_out == 0 else 'overlap'} the model's training "
        "data: scores there say how well it fits what it learned, not how it predicts. "
        f"For unseen data only: --start {doc['clean_start']} (with data that reaches it)"
    )
    if n_out:
        text += f"; the {n_out:,} out-of-sample rows are scored alone under out_of_sample"
    return text + (f"; {same}" if n_same else "") + "."


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _minute(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
