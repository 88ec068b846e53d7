"""The console script as a user runs it, and what a refused input must look like (imported by the option tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "quantum-trader"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)


def refused(done: subprocess.CompletedProcess[str], *named: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr (no traceback, no Ray start-up) holding every `named` text."""
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert all(text in done.stderr for text in named), done.stderr
