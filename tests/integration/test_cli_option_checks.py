"""Options checked before any work: a bad value is exit 2 and one line naming the option and the fix, never a
traceback, nothing on stdout, and nothing left behind (the console script as a user runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "quantum-trader"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK = DATA / "LINKUSDT-1m-2026-02.csv.gz"
SHORT = ("--end", "2026-02-02")  # one day: a run that is wrongly let through ends quickly

pytestmark = pytest.mark.skipif(not LINK.is_file(), reason=f"real Binance kline file not found at {LINK}")


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)


def refused(done: subprocess.CompletedProcess[str], *named: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr holding every `named` text."""
    assert done.returncode == 2, (done.returncode, done.stdout[-500:], done.stderr[-2000:])
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert all(text in done.stderr for text in named), done.stderr


@pytest.mark.parametrize("balance", ["NaN", "Infinity", "1e400", "1e20", "0", "-5", "1e-9", "ten"])
def test_a_balance_that_is_no_positive_number_of_usdt_is_refused_by_backtest(balance: str) -> None:
    done = cli("backtest", "--data", str(LINK), *SHORT, "--balance", balance, "--json")
    refused(done, f"--balance {balance}: must be a positive number of USDT")


@pytest.mark.parametrize("balance", ["NaN", "-5"])
def test_sweep_takes_a_balance_and_refuses_a_bad_one_before_ray_starts(balance: str) -> None:
    done = cli("sweep", "--data", str(LINK), *SHORT, "--grid", "fast=5,10", "--balance", balance, "--json", timeout=60)
    refused(done, f"--balance {balance}: must be a positive number of USDT")


def test_sim_server_refuses_a_balance_that_is_not_finite() -> None:
    done = cli("sim-server", "--port", "0", "--balance", "NaN", timeout=60)
    refused(done, "--balance NaN: must be a positive number of USDT")


def test_a_good_balance_is_the_runs_starting_equity() -> None:
    done = cli("backtest", "--data", str(LINK), *SHORT, "--balance", "2500.5", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"start_equity": "2500.5"' in done.stdout
