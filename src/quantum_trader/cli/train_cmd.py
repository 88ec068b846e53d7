"""`quantum-trader train --data PATH --out MODEL`: walk-forward training of the scanner's model.

Labels are the bot's own trade under the current settings (QT_STOP_LOSS_PCT, QT_TAKE_PROFIT_PCT, the
simulator's taker fee), so the model file is only accepted later by a bot with the same settings.
The creation time written into the file is now, or SOURCE_DATE_EPOCH when set (reproducible builds:
the same data and settings then give byte-identical files).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..core.logging import configure_logging
from .checks import WHOLE, bad_input_exits_2, check_output_file, parse_whole
from .main import app

if TYPE_CHECKING:  # LightGBM and scikit-learn are imported when a model is trained, not to build the command line
    from ..ml.data_source import LoadedRows
    from ..ml.model_file import LabelParams, ScannerModel
    from ..ml.train import TrainConfig
    from .ml_common import StageProgress

Opt = typer.Option
#: Training keeps every 5th bar: neighbouring rows' labels share almost their whole horizon, so the
#: others add little but time (evaluation uses every bar).
DEFAULT_STRIDE = 5


@app.command("train")
def train(
    data: Annotated[str, Opt("--data", help="Binance kline file, folder or glob (quote it)")],
    out: Annotated[Path, Opt("--out", help="where to write the model file (JSON)")],
    start: Annotated[str | None, Opt("--start", help="first day (YYYY-MM-DD, UTC), inclusive")] = None,
    end: Annotated[str | None, Opt("--end", help="last day (YYYY-MM-DD, UTC), inclusive")] = None,
    stride: Annotated[str, Opt("--stride", metavar=WHOLE, help="train on every Nth bar, 1 or more")
                      ] = str(DEFAULT_STRIDE),
    folds: Annotated[str | None, Opt("--folds", metavar=WHOLE, help="walk-forward folds, 1 or more (default 4)")
                     ] = None,
    threads: Annotated[str, Opt("--threads", metavar=WHOLE,
                                help="LightGBM threads, 1 or more (fixed: part of determinism)")] = "1",
    json_output: Annotated[bool, Opt("--json", help="one JSON document on stdout, nothing else")] = False,
) -> None:
    """Train the AI scanner's model (both sides, calibrated) on historical klines."""
    configure_logging(json=False, level="WARNING")
    with bad_input_exits_2():  # before minutes of training, not after them
        every = parse_whole(stride, "--stride", example=DEFAULT_STRIDE)
        n_folds = None if folds is None else parse_whole(folds, "--folds", unit="folds", example=4)
        n_threads = parse_whole(threads, "--threads", unit="threads", example=1)
        check_output_file("--out", out, "model.json")
    # LightGBM and scikit-learn load here, not when the CLI starts (other commands stay quick) nor before a refusal.
    from ..ml.train import TrainConfig
    from .ml_common import StageProgress, label_params_from_settings, load_checked, parse_dates

    config = TrainConfig(num_threads=n_threads) if n_folds is None else TrainConfig(n_folds=n_folds,
                                                                                    num_threads=n_threads)
    start_ms, end_ms = parse_dates(start, end)
    labels = label_params_from_settings()
    began = time.monotonic()
    with StageProgress(show=not json_output and sys.stderr.isatty(), label="train") as progress:
        rows = load_checked(data, labels, start_ms, end_ms, every, progress)
        model = _fit(rows, labels, config, stride=every, start=start, end=end, progress=progress)
    version = _save(model, out)
    document = _document(out, version, began, rows, model, labels)
    if json_output:
        sys.stdout.write(json.dumps(document) + "\n")
        return
    _print_summary(document)


def _fit(
    rows: LoadedRows,
    labels: LabelParams,
    config: TrainConfig,
    *,
    stride: int,
    start: str | None,
    end: str | None,
    progress: StageProgress,
) -> ScannerModel:
    """The walk-forward training itself. The options that chose the rows go into the model's metadata with the
    files' names and fingerprint, so a model file says what it was trained on; rows too few to train on are bad
    `--data` (exit 2), not a crash."""
    from ..ml.dataset import fingerprint
    from ..ml.train import train_model
    from .ml_common import fail

    try:
        return train_model(
            rows.dataset,
            labels,
            interval_ms=rows.interval_ms,
            config=config,
            fingerprint=fingerprint(rows.paths),
            created_ms=_created_ms(),
            extra_metadata={
                "data_files": [p.name for p in rows.paths],
                "stride": stride,
                "segments": rows.segments,
                "start": start,
                "end": end,
            },
            progress=progress.stage,
        )
    except ValueError as exc:
        fail("--data", str(exc))


def _save(model: ScannerModel, out: Path) -> str:
    """Write the model file and return its version; a write that fails after the training (disk full, the
    folder gone meanwhile) is exit 2 naming `--out`, one line, not a traceback."""
    from .ml_common import fail

    try:
        return model.save(out)
    except OSError as exc:
        fail("--out", f"{out}: {exc}")


def _document(
    out: Path, version: str, began: float, rows: LoadedRows, model: ScannerModel, labels: LabelParams
) -> dict[str, Any]:
    """What `--json` prints and the summary table shows: where the model went, how long the run took (from
    before the data was read to the file written), and the training window and out-of-fold scores."""
    return {
        "model": str(out),
        "model_version": version,
        "seconds": round(time.monotonic() - began, 1),
        "bars": rows.bars,
        "training": model.metadata["training"],
        "oof": model.metadata["oof"],
        "labels": labels.to_json(),
    }


def _created_ms() -> int:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return int(epoch) * 1000 if epoch and epoch.isdigit() else int(time.time() * 1000)


def _print_summary(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    train_info = doc["training"]
    table = Table(title=f"Model {doc['model_version']} → {doc['model']} ({doc['seconds']} s)")
    for col in ("side", "skill", "ships", "OOF rows", "map tested", "AUC", "Brier", "constant", "better in"):
        table.add_column(col)
    for side, rep in doc["oof"].items():
        test = rep.get("skill_test") or {}  # the forward skill test of the better map (ml/train.py `_decide`)
        table.add_row(
            side,
            "yes" if rep["skill"] else "no",
            rep["calibrator"],
            f"{rep['rows']:,}",
            test.get("map", "-"),
            _fmt(test.get("auc")),
            _fmt(test.get("brier"), 5),
            _fmt(test.get("constant_brier"), 5),
            "n/a" if "share_better" not in test else f"{test['share_better']:.0%}",
        )
    console = Console()
    console.print(table)
    for side, rep in doc["oof"].items():
        console.print(f"{side}: {rep['why']}")
    console.print(f"{train_info['rows']:,} rows, symbols {', '.join(train_info['symbols'])}")


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
