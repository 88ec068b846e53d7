"""`sweep`'s input checks: what every run would refuse is exit 2 with one line before Ray starts; what only
some combinations refuse is those runs' failures, reported with their complete parameters (the console
script as a user runs it, on real data)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent / "quantum-trader"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
OLD_LINK = DATA / "LINKUSDT-1m-2023-02.csv.gz"
SHORT = ("--end", "2026-02-03")

pytestmark = pytest.mark.skipif(not LINK.is_file(), reason=f"real Binance kline file not found at {LINK}")


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)


def refused(done: subprocess.CompletedProcess[str], *named: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr (no Ray start-up, no traceback) holding every `named`."""
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert all(text in done.stderr for text in named), done.stderr


def sweep_json(*args: str) -> dict[str, Any]:
    done = cli("sweep", "--data", str(LINK), *SHORT, *args, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.mark.skipif(not OLD_LINK.is_file(), reason=f"{OLD_LINK} not found")
def test_data_with_a_hole_is_exit_2_before_any_run(tmp_path: Path) -> None:
    """It ran every combination, each failing on the hole, and exited 0 ("2 runs, 2 failed"); `backtest` on
    the same data exits 2."""
    for source in (OLD_LINK, LINK):
        shutil.copy(source, tmp_path / source.name)
    done = cli("sweep", "--data", str(tmp_path), "--grid", "fast=5,10", "--json", timeout=120)
    refused(done, "sweep: the data has no bar for any symbol between 2023-02-28 23:59 UTC and 2026-02-01 00:00 UTC",
            "run each period on its own (--start/--end")
