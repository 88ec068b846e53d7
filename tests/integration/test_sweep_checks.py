"""`sweep`'s input checks: what every run would refuse is exit 2 with one line before Ray starts; what only
some combinations refuse is those runs' failures, reported with their complete parameters (the console
script as a user runs it, on real data)."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_cli_refusal_support import BIN, DATA, LINK, cli, refused

OLD_LINK = DATA / "LINKUSDT-1m-2023-02.csv.gz"
SHORT = ("--end", "2026-02-03")

pytestmark = pytest.mark.skipif(not LINK.is_file(), reason=f"real Binance kline file not found at {LINK}")




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


@pytest.mark.parametrize(("args", "named"), [
    (("--grid", "fast=10,20", "--param", "slow=8"),
     "sweep: none of the 2 combinations of --grid with the fixed --param values can run; the first: --param slow=8 "
     "--grid fast=10: sma-cross: fast (10) must be at least 1 and below slow (8)"),
    (("--grid", "fast=10,20", "--grid", "slow=5,8"), "sweep: none of the 4 combinations of --grid can run"),
    (("--grid", "fast=10..20", "--param", "slow=8", "--trials", "3"),
     "sweep: none of the 2 corners of the search space with the fixed --param values can run"),
])
def test_a_sweep_none_of_whose_runs_can_run_is_exit_2_before_ray(args: tuple[str, ...], named: str) -> None:
    refused(cli("sweep", "--data", str(LINK), *SHORT, *args, "--json", timeout=120), named)


def test_a_fixed_param_is_checked_with_each_grid_value_and_is_in_every_runs_params() -> None:
    """`--grid fast=5 --param slow=8` was refused (slow=8 checked against the default fast, 10), and with
    `--grid slow=8 --param fast=5` each run's `params` lacked the fixed fast=5. Now each combination is checked
    whole: fast=5 runs, fast=10 fails as its backtest would (reported, no task), and every run's params are
    the complete `backtest --param` set that reproduces it."""
    doc = sweep_json("--grid", "fast=5,10", "--param", "slow=8")
    assert doc["fixed_params"] == {"slow": 8} and doc["failed"] == 1
    ran, failed = doc["runs"]
    assert ran["params"] == {"slow": 8, "fast": 5} and ran["error"] is None
    assert failed["params"] == {"slow": 8, "fast": 10} and failed["result"] is None
    assert failed["error"] == ("ParamError: --param slow=8 --grid fast=10: sma-cross: fast (10) must be at least 1 and "
                               "below slow (8)")
    by_hand = cli("backtest", "--data", str(LINK), *SHORT, *(f"--param={k}={v}" for k, v in ran["params"].items()),
                  "--json")
    assert by_hand.returncode == 0, by_hand.stderr[-2000:]
    alone = json.loads(by_hand.stdout)
    assert {k: v for k, v in ran["result"].items() if k not in ("seconds", "bars_per_s")} == \
        {k: v for k, v in alone.items() if k not in ("seconds", "bars_per_s")}


def on_a_terminal(*args: str, timeout: float = 300) -> bytes:
    """What the command writes to stdout when stdout is a terminal (a pseudo-terminal here; stderr discarded)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(BIN), *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    out = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal has closed it
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None:
                break
        proc.wait(timeout=timeout)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return bytes(out).replace(b"\r\n", b"\n")


@pytest.mark.parametrize("command", [("sweep", "--grid", "fast=5,10"), ("backtest",)])
def test_json_on_a_terminal_is_one_json_document_and_nothing_else(command: tuple[str, ...]) -> None:
    """On a terminal `sweep --json` wrote ESC[0m after the document (Ray's colorama reset at exit), so the
    output was no longer one JSON document ("Extra data")."""
    out = on_a_terminal(command[0], "--data", str(LINK), *SHORT, *command[1:], "--json")
    assert b"\x1b" not in out, out[-200:]
    assert out.endswith(b"}\n") and out.count(b"\n") == 1
    assert isinstance(json.loads(out), dict)
