"""Every command that reads klines takes a glob as `train` and `evaluate` always did: `backtest --data`,
`sweep --data`, `run` with `QT_FEED=replay:` and `sim-server --feed replay:` (domain/kline_source.py).

A user who trained on `data/*-1m-2026-02.csv.gz` must be able to backtest and replay exactly those files;
before, every one of these refused the glob as a path that "does not exist".
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_replay_companions import N_BARS, SYMBOL, T0, _folder
from typer.testing import CliRunner

from quantum_trader.cli.main import app
from quantum_trader.domain.errors import ConfigError
from quantum_trader.runtime.parts import build_parts
from quantum_trader.settings.model import load_settings
from quantum_trader.simserver.feed import FeedError, replay_feed

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"
LINK, AVAX, NEAR = (DATA / f"{s}USDT-1m-2026-02.csv.gz" for s in ("LINK", "AVAX", "NEAR"))
TIMING_KEYS = ("seconds", "bars_per_s")
WINDOW = ("--start", "2026-02-03", "--end", "2026-02-05", "--param", "fast=5", "--param", "slow=20")


def _backtest(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["backtest", *args, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    run = {k: v for k, v in document.pop("run").items() if k != "data"}  # the spec as given differs, not the run
    return {**{k: v for k, v in document.items() if k not in TIMING_KEYS}, "run": run}


@pytest.mark.skipif(not all(p.is_file() for p in (LINK, AVAX, NEAR)), reason=f"real klines not found in {DATA}")
def test_backtest_of_a_glob_is_the_backtest_of_the_files_it_matches(tmp_path: Path) -> None:
    mixed, only = tmp_path / "mixed", tmp_path / "only"
    for folder, files in ((mixed, (LINK, AVAX, NEAR)), (only, (LINK, AVAX))):
        folder.mkdir()
        for path in files:
            shutil.copy(path, folder / path.name)
    by_glob = _backtest("--data", str(mixed / "[AL]*-1m-2026-02.csv.gz"), *WINDOW)
    assert by_glob == _backtest("--data", str(only), *WINDOW)
    assert {t["symbol"] for t in by_glob["trades"]} == {"LINKUSDT", "AVAXUSDT"}
    assert by_glob["symbol_bars"] == 2 * 2 * 1440


def test_backtest_of_a_glob_reads_what_its_folder_reads_never_the_companions_as_klines(tmp_path: Path) -> None:
    """`**` reaches the companion folders too, whose files are named like klines: read as klines, the mark
    file would be a second BNBUSDT file of the same day, and the run would not be the folder's."""
    folder = _folder(tmp_path / "data", marks=True, rate="0.0025")
    folder_doc = _backtest("--data", str(folder), "--strategy", "manual")
    for spec in (folder / f"{SYMBOL}-1m-*.csv", folder / "**" / "*.csv"):
        assert _backtest("--data", str(spec), "--strategy", "manual") == folder_doc
    assert folder_doc["bars"] == N_BARS


@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_a_glob_matching_nothing_is_exit_2_naming_data(tmp_path: Path, command: str) -> None:
    spec = str(tmp_path / "*-1m-2031-*.csv")
    result = CliRunner().invoke(app, [command, "--data", spec, "--grid", "fast=5", "--json"][
        : 3 if command == "backtest" else 6])
    assert result.exit_code == 2
    assert f"--data {spec}: no kline file (.csv, .csv.gz, .zip) matches this pattern" in result.output


def test_sweep_takes_a_glob_before_ray_starts(tmp_path: Path) -> None:
    """The options are checked before Ray starts: past `--data`, the bad objective is what is reported."""
    folder = _folder(tmp_path / "data", marks=False)
    result = CliRunner().invoke(app, ["sweep", "--data", str(folder / "*.csv"), "--grid", "fast=5",
                                      "--objective", "luck"])
    assert result.exit_code == 2 and "--objective luck: choose one of" in result.output


def test_settings_take_a_replay_glob_and_refuse_one_that_matches_nothing(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "data", marks=False)
    spec = f"replay:{folder}/*-1m-*.csv"
    assert load_settings(env={"QT_FEED": spec}).feed == spec
    (tmp_path / "empty").mkdir()
    for bad, says in ((f"replay:{folder}/*-5m-*.csv", "matches this pattern"),
                      (f"replay:{tmp_path / 'empty'}", "no kline files (.csv, .csv.gz, .zip) in this folder")):
        with pytest.raises(ConfigError) as caught:
            load_settings(env={"QT_FEED": bad})
        assert str(caught.value).startswith(f"QT_FEED={bad}: replay path ") and says in str(caught.value)


def test_run_replays_a_glob_with_its_companions(tmp_path: Path) -> None:
    """What `run` builds for `QT_FEED=replay:GLOB`: the matched klines from their first bar, and the recorded
    funding found beside them."""
    folder = _folder(tmp_path / "data", marks=True, rate="0.0025")
    settings = load_settings({"feed": f"replay:{folder}/{SYMBOL}-*.csv", "symbols": SYMBOL, "speed": "max",
                              "paper_state": str(tmp_path / "paper")}, env={})

    async def build() -> tuple[int, Any]:
        parts = await build_parts(settings)
        try:
            assert parts.sim is not None
            return parts.sim.state.now_ms, parts.sim.state.funding_rates.rate(SYMBOL, T0 + 8 * 3_600_000)
        finally:
            await parts.exchange.close()

    now_ms, rate = asyncio.run(build())
    assert now_ms == T0 and str(rate) == "0.0025"


def test_sim_server_replays_a_glob(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "data", marks=False)
    feed, start_ms = replay_feed(f"{folder}/*.csv", [SYMBOL, "ETHUSDT"], speed=None)
    assert start_ms == T0 and feed.name == f"replay:{folder}/*.csv"
    with pytest.raises(FeedError, match="matches this pattern"):
        replay_feed(f"{folder}/*.zip", [SYMBOL], speed=None)
    result = CliRunner().invoke(app, ["sim-server", "--feed", f"replay:{folder}/*.zip"])
    assert result.exit_code == 2 and "replay path " in result.output and "matches this pattern" in result.output
