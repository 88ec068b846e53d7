"""Which scored symbols of a bar become signals, and what each says (side, confidence, EV, reasons).

Every symbol is scored on every closed bar, but 222 signals a minute would bury the journal and the
API under signals nobody may trade. So a bar's signals are every symbol at or above QT_MIN_CONFIDENCE
(all of them: those are what risk may trade) and, whatever their confidence, the bar's `top` best: at
most max(confident, top) a bar. The top three keep the scanner visible when nothing is confident (the
API and dashboard show what it would trade next and how close it is) at three journal rows a minute;
risk refuses those below the minimum by its confidence rule, as it refuses any such signal.
Ties in confidence (a calibration plateau) go to the higher raw model score, then to the lower symbol
index, so the choice is deterministic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..ml.model_file import ScannerModel, Side
from .strategy import F64, SignalDetail

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
#: The best signals of a bar emitted even below QT_MIN_CONFIDENCE: enough to see the best candidates, few enough
#: to journal (3 a minute, about 4,300 rows a day, against 320,000 for all 222 symbols).
TOP_PER_BAR = 3
#: Feature contributions given as a signal's reasons.
REASONS = 3


def pick(confidence: F64, bar: I64, symbol: I64, *, min_confidence: float, top: int,
         tiebreak: F64 | None = None) -> Bools:
    """Rows to emit: confidence ≥ min_confidence, or among the `top` most confident rows of their bar
    (`bar` and `symbol` index each row). Equal confidences rank the higher `tiebreak` first (the raw
    model score), then the lower symbol index."""
    second = np.zeros(len(confidence)) if tiebreak is None else tiebreak
    order = np.lexsort((symbol, -second, -confidence, bar))
    ordered_bar = bar[order]
    first = np.ones(len(order), np.bool_)
    first[1:] = ordered_bar[1:] != ordered_bar[:-1]
    starts = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - starts
    chosen: Bools = (confidence >= min_confidence) | (rank < top)
    return chosen


def details(model: ScannerModel, x: npt.NDArray[np.float32], long: Bools, confidence: F64,
            reasons: int = REASONS) -> list[SignalDetail]:
    """Per emitted row: expected value per trade after fees, the model's version and the top contributions
    of the chosen side's booster (LightGBM pred_contrib, log-odds units). A side that ships the constant
    base rate (no demonstrated skill, ml/train.py) gives no contributions: its confidence does not come
    from the features, and listing them would suggest it does."""
    out: list[SignalDetail | None] = [None] * len(confidence)
    sides: tuple[tuple[bool, Side], ...] = ((True, "long"), (False, "short"))
    for is_long, side in sides:
        rows = np.flatnonzero(long == is_long)
        if not len(rows):
            continue
        ev = model.expected_value(confidence[rows], side)
        if model.calibrators[side].kind == "constant":  # the booster showed no skill: its features explain nothing
            for row, value in zip(rows, ev, strict=True):
                out[row] = SignalDetail(expected_value=float(value), model_version=model.model_version, no_skill=True)
            continue
        contrib = model.contributions(x[rows], side, top=reasons)
        for i, row in enumerate(rows):
            out[row] = SignalDetail(expected_value=float(ev[i]), model_version=model.model_version,
                                    reasons=tuple((name, round(value, 6)) for name, value in contrib[i]))
    return [d if d is not None else SignalDetail() for d in out]
