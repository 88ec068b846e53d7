"""The scanner's model file: two LightGBM boosters, their calibrators and metadata, as one JSON document.

JSON rather than pickle so a model file is safe to load whatever its origin (LightGBM's own text
format for the trees, plain numbers for the calibrators). The bytes are deterministic: keys sorted,
one fixed layout, the creation time an explicit input, so the same data, settings and seed give the
same file. `model_version` is a short hash of everything except the creation time, so two runs that
differ only in when they ran carry the same version.

`load` refuses a model that cannot be trusted for the running bot and says why (`ModelRefused`):
an unreadable file, features that differ from the code's, a model older than the allowed age, or a
model trained for other stop-loss / take-profit / fee / horizon settings than the bot trades with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from .calibration import Calibrator, calibrator_from_json

if TYPE_CHECKING:  # imported where first used: ~0.9 s that a starting bot need not pay before its first sweep
    import lightgbm as lgb

F64 = npt.NDArray[np.float64]
Side = Literal["long", "short"]
SIDES: tuple[Side, ...] = ("long", "short")
FORMAT = "quantum-trader-scanner-model"
FORMAT_VERSION = 1
_DAY_MS = 86_400_000
#: Label parameters are floats from Decimal settings; they match if equal to this tolerance.
_PARAM_TOLERANCE = 1e-9


def default_model_path() -> Path:
    """The baseline model shipped in the package (docs/scanner_evaluation.md says how it was made)."""
    return Path(__file__).resolve().parent / "models" / "default.json"


class ModelRefused(Exception):
    """The model file cannot be used; `reason` says why in one sentence."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LabelParams:
    """What a label means: the bot's trade with this stop, take-profit, fee and horizon.

    `sl_pct` and `tp_pct` are percent of entry (2.0 = 2 %), as QT_STOP_LOSS_PCT / QT_TAKE_PROFIT_PCT and
    ml/labels.py take them; `fee_rate` is the taker fee per fill as a fraction (sim/fees.py: 0.0005),
    paid twice per round trip; `horizon` is in bars.
    """

    sl_pct: float
    tp_pct: float
    fee_rate: float
    horizon: int

    def to_json(self) -> dict[str, Any]:
        return {"sl_pct": self.sl_pct, "tp_pct": self.tp_pct, "fee_rate": self.fee_rate, "horizon": self.horizon}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LabelParams:
        return cls(float(doc["sl_pct"]), float(doc["tp_pct"]), float(doc["fee_rate"]), int(doc["horizon"]))

    def differences(self, other: LabelParams) -> list[str]:
        """Human-readable `name model=X settings=Y` for every parameter that differs."""
        out = []
        for name in ("sl_pct", "tp_pct", "fee_rate", "horizon"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if abs(float(mine) - float(theirs)) > _PARAM_TOLERANCE:
                out.append(f"{name} model={mine} settings={theirs}")
        return out


@dataclass(frozen=True, eq=False)
class ScannerModel:
    """Both sides' boosters and calibrators; `metadata` is JSON-able and travels with the file.

    The boosters' LightGBM text (`booster_texts`) is the source of truth: the file stores it verbatim
    and the boosters are rebuilt from it, so a save/load round trip cannot change a single byte.
    """

    booster_texts: dict[Side, str]
    calibrators: dict[Side, Calibrator]
    feature_names: tuple[str, ...]
    labels: LabelParams
    metadata: dict[str, Any] = field(default_factory=dict)
    created_ms: int = 0
    boosters: dict[Side, lgb.Booster] = field(init=False, repr=False)
    model_version: str = field(init=False)

    def __post_init__(self) -> None:
        import lightgbm as lgb

        object.__setattr__(self, "boosters", {s: lgb.Booster(model_str=self.booster_texts[s]) for s in SIDES})
        digest = hashlib.sha256(_canonical(self._content()).encode()).hexdigest()
        object.__setattr__(self, "model_version", digest[:12])  # content only, not the creation time

    def predict(self, x: npt.ArrayLike) -> tuple[F64, F64]:
        """Calibrated win probabilities (long, short) for each row of x ([n, F] or one [F] row)."""
        rows = self._rows(x)
        return self.predict_side(rows, "long"), self.predict_side(rows, "short")

    def predict_side(self, x: npt.ArrayLike, side: Side) -> F64:
        """Calibrated win probability of one side's trade for each row."""
        return self.calibrators[side](self.predict_raw(x, side))

    def predict_raw(self, x: npt.ArrayLike, side: Side) -> F64:
        """The booster's uncalibrated probability (what the calibrator was fitted on)."""
        raw = self.boosters[side].predict(self._rows(x), num_threads=1)
        return np.asarray(raw, dtype=np.float64)

    def contributions(self, x: npt.ArrayLike, side: Side, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the `top` features that moved the raw score most (LightGBM SHAP values, log-odds units).

        Sorted by absolute contribution, largest first; the bias term is left out. One row in, one
        list out (a list with one list in it).
        """
        contrib = np.asarray(self.boosters[side].predict(self._rows(x), pred_contrib=True, num_threads=1))
        values = contrib[:, : len(self.feature_names)]
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top]
        return [[(self.feature_names[j], float(values[i, j])) for j in order[i]] for i in range(values.shape[0])]

    def expected_value(self, p: npt.ArrayLike, side: Side) -> F64:
        """Expected net return per trade (fraction of notional) if it wins with probability p.

        A win earns tp, a loss costs sl, both less a round trip of taker fees; a trade that times out
        counts as a loss in the label, and is priced here as a full stop (conservative: a timeout
        usually loses less). Side is accepted for symmetry: both sides use the same barriers.
        """
        del side
        prob = np.asarray(p, dtype=np.float64)
        fees = 2.0 * self.labels.fee_rate
        win, loss = self.labels.tp_pct / 100.0 - fees, self.labels.sl_pct / 100.0 + fees
        return np.asarray(prob * win - (1.0 - prob) * loss, dtype=np.float64)

    def _rows(self, x: npt.ArrayLike) -> npt.NDArray[Any]:
        rows = np.asarray(x)
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
        if rows.ndim != 2 or rows.shape[1] != len(self.feature_names):
            raise ValueError(f"expected rows of {len(self.feature_names)} features, got shape {rows.shape}")
        return rows

    def _content(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "feature_names": list(self.feature_names), "labels": self.labels.to_json(),
            "calibrators": {s: self.calibrators[s].to_json() for s in SIDES},
            "boosters": {s: self.booster_texts[s] for s in SIDES},
            "metadata": self.metadata,
        }  # fmt: skip

    def to_json_text(self) -> str:
        """The file's exact text: sorted keys, fixed separators, a trailing newline."""
        return _canonical({**self._content(), "model_version": self.model_version, "created_ms": self.created_ms})

    def save(self, path: str | Path) -> str:
        """Write the model (atomically: temp file then rename); returns its `model_version`."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        try:
            tmp.write_text(self.to_json_text(), encoding="utf-8")
            tmp.replace(target)
        except OSError:  # a full disk, a folder named like the target: no stray copy left beside it
            tmp.unlink(missing_ok=True)
            raise
        return self.model_version


def load(
    path: str | Path,
    *,
    expect_features: tuple[str, ...] | list[str],
    expect_labels: LabelParams | None = None,
    max_age_days: float | None = None,
    now_ms: int | None = None,
) -> ScannerModel:
    """Read a model file and check it fits the running code and settings; `ModelRefused` says why not."""
    model = _parse(Path(path))
    _check_features(model.feature_names, tuple(expect_features))
    if expect_labels is not None and (diff := model.labels.differences(expect_labels)):
        raise ModelRefused(f"model {path} was trained for other label parameters: {'; '.join(diff)}")
    if max_age_days is not None:
        if now_ms is None:
            raise ValueError("max_age_days needs now_ms (the caller's clock)")
        age_days = (now_ms - model.created_ms) / _DAY_MS
        if age_days > max_age_days:
            raise ModelRefused(
                f"model {path} is {age_days:.1f} days old, older than the limit of {max_age_days:g} days"
            )
    return model


def _parse(path: Path) -> ScannerModel:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelRefused(f"model {path} is unreadable: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelRefused(f"model {path} is unreadable: not a {FORMAT} file")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelRefused(
            f"model {path} is unreadable: format_version {doc.get('format_version')!r}, "
            f"this code reads {FORMAT_VERSION}"
        )
    import lightgbm as lgb

    try:
        model = ScannerModel(
            booster_texts={s: str(doc["boosters"][s]) for s in SIDES},
            calibrators={s: calibrator_from_json(doc["calibrators"][s]) for s in SIDES},
            feature_names=tuple(str(n) for n in doc["feature_names"]),
            labels=LabelParams.from_json(doc["labels"]),
            metadata=dict(doc["metadata"]),
            created_ms=int(doc["created_ms"]),
        )
    except (KeyError, TypeError, ValueError, lgb.basic.LightGBMError) as exc:
        raise ModelRefused(f"model {path} is unreadable: {type(exc).__name__}: {exc}") from exc
    if model.model_version != doc.get("model_version"):
        raise ModelRefused(
            f"model {path} is unreadable: its content does not match its model_version "
            f"{doc.get('model_version')!r} (edited or truncated)"
        )
    for side in SIDES:
        if model.boosters[side].feature_name() != list(model.feature_names):
            raise ModelRefused(f"model {path} is unreadable: the {side} booster's features differ from the file's")
    return model


def _check_features(have: tuple[str, ...], want: tuple[str, ...]) -> None:
    if have == want:
        return
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    parts = []
    if missing:
        parts.append(f"missing from the model: {', '.join(missing)}")
    if extra:
        parts.append(f"unknown to this code: {', '.join(extra)}")
    if not parts:
        parts.append(f"same names in another order (model: {', '.join(have)})")
    raise ModelRefused(f"model features do not match the code's features: {'; '.join(parts)}")


def _canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False) + "\n"
