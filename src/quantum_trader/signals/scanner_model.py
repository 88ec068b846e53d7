"""Which model the AI scanner runs, and whether it may: QT_MODEL resolved, loaded and checked.

A model that cannot be trusted for the running bot is not an error that stops the session: the
scanner then emits nothing and says why (DESIGN: a missing model is "no signal", never a trade). So
loading answers either a model or the one-sentence reason, never raises for a bad file.

The checks are ml/model_file.py's: the model's features must be this code's `FEATURE_NAMES`, its labels
must be the trade the bot takes now (QT_STOP_LOSS_PCT, QT_TAKE_PROFIT_PCT, the simulator's taker fee,
the label horizon), and it may not be older than QT_MODEL_MAX_AGE_DAYS when that is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

from ..ml.features import FEATURE_NAMES
from ..ml.labels import DEFAULT_HORIZON
from ..ml.model_file import LabelParams, ModelRefused, ScannerModel, load
from ..sim.fees import FeeModel

DEFAULT_MODEL = "default"


def resolve_model_path(spec: str) -> Path:
    """`default` is the baseline model shipped in the package (ml/models/default.json); anything else a path."""
    if spec == DEFAULT_MODEL:
        return Path(str(files("quantum_trader.ml").joinpath("models", "default.json")))
    return Path(spec).expanduser()


def bot_labels(stop_loss_pct: Decimal | float = Decimal("2.0"), take_profit_pct: Decimal | float = Decimal("4.0"),
               ) -> LabelParams:
    """The label of the trade this bot takes: its SL and TP, the simulator's taker fee, the label horizon."""
    return LabelParams(float(stop_loss_pct), float(take_profit_pct), float(FeeModel().taker), DEFAULT_HORIZON)


@dataclass(frozen=True)
class Loaded:
    """A model to run (`model`), or why there is none (`refused`); `path` is what QT_MODEL named."""

    path: Path
    model: ScannerModel | None = None
    refused: str = ""


def load_scanner_model(spec: str, labels: LabelParams, *, max_age_days: float | None = None,
                       now_ms: int | None = None) -> Loaded:
    """QT_MODEL loaded and checked against this code and these settings; a refusal carries its reason."""
    path = resolve_model_path(spec)
    if not path.is_file():
        what = "the shipped default model" if spec == DEFAULT_MODEL else "QT_MODEL"
        return Loaded(path, refused=f"no model: {what} {path} does not exist")
    try:
        model = load(path, expect_features=FEATURE_NAMES, expect_labels=labels,
                     max_age_days=max_age_days, now_ms=now_ms)
    except ModelRefused as exc:
        return Loaded(path, refused=f"model refused: {exc.reason}")
    return Loaded(path, model=model)
