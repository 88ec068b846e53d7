"""`quantum-trader train` and `evaluate` end to end on a few days of real Binance klines.

The installed command runs as a user would. The data are real monthly 1m files from ../shared/data
(read up to the chosen end date only, so each run takes seconds); without them the tests are skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent / "quantum-trader"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
AVAX = DATA / "AVAXUSDT-1m-2026-02.csv.gz"
GLOB = str(DATA / "*USDT-1m-2026-02.csv.gz")
#: Six days to train, three later days to evaluate: small enough to run in seconds.
TRAIN_ARGS = ("--data", GLOB, "--end", "2026-02-06", "--folds", "2", "--stride", "3")
EVAL_ARGS = ("--data", GLOB, "--start", "2026-02-07", "--end", "2026-02-09")

pytestmark = pytest.mark.skipif(
    not (LINK.is_file() and AVAX.is_file()), reason=f"real Binance kline files not found under {DATA}"
)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)  # the whole stdout is one JSON document
    return document


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("model") / "model.json"
    doc = as_json(cli("train", *TRAIN_ARGS, "--out", str(out), "--json", env={"SOURCE_DATE_EPOCH": "1772323200"}))
    return out, doc


def test_train_writes_a_model_with_its_metadata(trained: tuple[Path, dict[str, Any]]) -> None:
    path, doc = trained
    model = json.loads(path.read_text())
    assert model["model_version"] == doc["model_version"]
    assert model["created_ms"] == 1772323200000
    meta = model["metadata"]
    assert meta["data_files"] == sorted(p.name for p in DATA.glob("*USDT-1m-2026-02.csv.gz"))
    assert len(meta["data_fingerprint"]) == 64
    assert meta["training"]["last_time_ms"] < 1770422400000  # nothing from 2026-02-07 on
    assert model["labels"] == {"sl_pct": 2.0, "tp_pct": 4.0, "fee_rate": 0.0005, "horizon": 720}
    for side in ("long", "short"):
        assert doc["oof"][side]["calibrator"] in ("isotonic", "platt", "constant")
        assert doc["oof"][side]["skill"] == (doc["oof"][side]["calibrator"] != "constant")


def test_train_is_deterministic(trained: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    path, _ = trained
    again = tmp_path / "again.json"
    as_json(cli("train", *TRAIN_ARGS, "--out", str(again), "--json", env={"SOURCE_DATE_EPOCH": "1772323200"}))
    assert again.read_bytes() == path.read_bytes()


def test_evaluate_reports_calibration_signals_and_baselines(
    trained: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, doc = trained
    png = tmp_path / "rel.png"
    done = cli("evaluate", "--model", str(path), *EVAL_ARGS, "--png", str(png), "--json")
    report = as_json(done)
    assert report["model_version"] == doc["model_version"]
    assert report["overlaps_training"] is False and report["in_sample_rows"] == 0 and "warning" not in done.stderr
    assert report["data"]["first_time_ms"] >= 1770422400000  # 2026-02-07 00:00 UTC
    assert report["min_confidence"] == 0.65
    for side in ("long", "short"):
        s = report["sides"][side]
        assert 0.0 <= s["ece"] <= 1.0 and s["brier"] is not None
        assert sum(r["count"] for r in s["reliability"]) == s["rows"] == report["data"]["rows"]
        assert s["signals"]["threshold"] == 0.65 and s["signals"]["count"] >= 0
        assert s["baseline_always_trade"]["count"] == s["rows"]
        sure = s["uncertainty"]  # three days resampled: intervals, and how many independent outcomes they imply
        assert sure["days"] == 3 and sure["resamples"] == 1000
        assert 0.0 <= sure["ece"]["lo"] <= sure["ece"]["hi"] <= 1.0
        assert sure["win_rate"]["lo"] <= s["base_rate"] <= sure["win_rate"]["hi"]
        assert sure["effective_outcomes"] is None or 0 < sure["effective_outcomes"] < s["rows"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_the_shipped_model_evaluates_and_says_these_days_were_its_training_data(tmp_path: Path) -> None:
    done = cli("evaluate", "--model", "default", *EVAL_ARGS, "--json")
    report = as_json(done)
    assert len(report["model_version"]) == 12
    assert report["labels"]["horizon"] == 720
    # It was trained up to 2026-02-14: every one of these rows is a fit, not a prediction, and it says so.
    assert report["overlaps_training"] is True and report["out_of_sample_rows"] == 0
    assert report["in_sample_rows"] == report["data"]["rows"]
    [warning] = done.stderr.splitlines()
    assert warning.startswith("warning: every row (") and "--start 2026-02-15" in warning


@pytest.mark.parametrize(("args", "option"), [
    (("train", "--data", str(DATA / "nothing-*.csv"), "--out", "x.json"), "--data"),
    (("train", "--data", GLOB, "--out", "x.json", "--start", "yesterday"), "--start"),
    (("train", "--data", GLOB, "--out", "x.json", "--start", "2026-02-05", "--end", "2026-02-01"), "--end"),
    (("evaluate", "--model", "no-such-model.json", "--data", GLOB), "--model"),
])  # fmt: skip
def test_bad_input_is_exit_2_naming_the_option(args: tuple[str, ...], option: str, tmp_path: Path) -> None:
    done = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {option}:"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
