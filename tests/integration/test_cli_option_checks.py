"""Options checked before any work: a bad value is exit 2 and one line naming the option and the fix, never a
traceback, nothing on stdout, and nothing left behind (the console script as a user runs it)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from test_cli_refusal_support import BIN, LINK, cli, refused

SHORT = ("--end", "2026-02-02")  # one day: a run that is wrongly let through ends quickly

pytestmark = pytest.mark.skipif(not LINK.is_file(), reason=f"real Binance kline file not found at {LINK}")




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


def test_a_backtest_report_aimed_at_a_folder_is_refused_before_the_run_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "rep").mkdir()
    done = cli("backtest", "--data", str(LINK), *SHORT, "--report", str(tmp_path / "rep"), "--json")
    refused(done, f"--report {tmp_path / 'rep'}: names a folder, not a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no .rep.tmp beside it


@pytest.mark.parametrize(("option", "value", "named"), [
    ("--report", "", "--report .: names a folder, not a file"),
    ("--png", str(LINK), f"--png {LINK}: is a file, not a folder"),
    ("--report", "/proc/qt/report.html", "--report /proc/qt/report.html: cannot write in /proc"),
])
def test_backtest_output_paths_that_cannot_be_written_are_exit_2(option: str, value: str, named: str) -> None:
    refused(cli("backtest", "--data", str(LINK), *SHORT, option, value, "--json"), named)


def test_a_backtest_report_is_written_and_the_result_printed(tmp_path: Path) -> None:
    target = tmp_path / "new" / "backtest.html"
    done = cli("backtest", "--data", str(LINK), *SHORT, "--report", str(target), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("{") and target.read_text().startswith("<!")
    assert [p.name for p in target.parent.iterdir()] == ["backtest.html"]


def test_train_refuses_an_out_that_is_a_folder_before_training(tmp_path: Path) -> None:
    """`--out /tmp` trained for minutes, then left /tmp.tmp (113 KB) in / and lost the model."""
    done = cli("train", "--data", str(LINK), "--end", "2026-02-14", "--out", str(tmp_path), "--json", timeout=600)
    refused(done, f"--out {tmp_path}: names a folder, not a file; give a file path, e.g. {tmp_path}/model.json")
    assert not tmp_path.with_name(tmp_path.name + ".tmp").exists() and list(tmp_path.iterdir()) == []


def test_evaluate_and_audit_refuse_report_paths_that_are_folders(tmp_path: Path) -> None:
    done = cli("evaluate", "--model", "default", "--data", str(LINK), "--report", str(tmp_path), "--json")
    refused(done, f"--report {tmp_path}: names a folder")
    done = cli("audit", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--report", str(tmp_path), "--json")
    refused(done, f"--report {tmp_path}: names a folder")


def test_download_refuses_an_out_folder_it_cannot_create_before_asking_the_exchange() -> None:
    """It went to the network first and failed at the first file with `[Errno 2] ...`, exit 1."""
    done = cli("download", "--symbols", "LINKUSDT", "--start", "2026-02-01", "--end", "2026-02-01",
               "--out", "/proc/foo", "--exchange", "http://127.0.0.1:9", timeout=60)
    refused(done, "--out /proc/foo: cannot write in /proc")


UNREACHABLE_PG = "postgresql://u:pw@127.0.0.1:1/db"


@pytest.mark.parametrize(("url", "named"), [
    ("foo://bar", "--db foo://bar: backend 'foo' is not supported (sqlite or postgresql); give an SQLAlchemy URL"),
    ("{tmp}/plain.db", "--db {tmp}/plain.db: is not an SQLAlchemy URL; give an SQLAlchemy URL: sqlite:///"),
    (UNREACHABLE_PG, "--db postgresql://u:***@127.0.0.1:1/db: cannot open the journal: connection failed"),
])
def test_a_backtest_db_that_cannot_be_used_is_named_as_the_flag_given(tmp_path: Path, url: str, named: str) -> None:
    """These were rich tracebacks, exit 1, blaming QT_DB_URL, which the user had not set."""
    done = cli("backtest", "--data", str(LINK), *SHORT, "--db", url.format(tmp=tmp_path), "--json")
    refused(done, named.format(tmp=tmp_path))
    assert "QT_DB_URL" not in done.stderr and ":pw@" not in done.stderr
    if "plain" in url:
        assert f"(for a file: sqlite:///{tmp_path}/plain.db)" in done.stderr and not (tmp_path / "plain.db").exists()


@pytest.mark.parametrize("command", ["audit", "readiness"])
def test_audit_and_readiness_name_the_db_flag_when_it_was_given(command: str) -> None:
    refused(cli(command, "--db", UNREACHABLE_PG, "--json", timeout=60),
            "--db postgresql://u:***@127.0.0.1:1/db: cannot open the journal: ")
    refused(cli(command, "--db", "foo://bar", "--json", timeout=60), "--db foo://bar: backend 'foo' is not supported")


def test_a_leverage_above_the_symbols_largest_is_exit_2_naming_it_and_the_largest() -> None:
    """LINKUSDT allows at most 75x; 76-125 passed the parameter check (1-125), every entry was then refused by
    the exchange (-4028) with a traceback on stderr, and the backtest exited 0 with 0 trades."""
    done = cli("backtest", "--data", str(LINK), *SHORT, "--param", "leverage=100", "--json")
    refused(done, "--param leverage=100: above the largest leverage the data's symbols allow (LINKUSDT 75x); "
                  "give 75 or less")
    assert "OrderRejected" not in done.stderr
    ok = cli("backtest", "--data", str(LINK), *SHORT, "--param", "leverage=75", "--json")
    assert ok.returncode == 0, ok.stderr[-2000:]
    # It runs; at 75x every position would be liquidated before its 2 % stop, and the one line on stderr says so.
    assert ok.stderr.startswith("warning: risk refused all ") and ok.stderr.count("\n") == 1, ok.stderr[-2000:]
    assert "lower --param leverage or QT_STOP_LOSS_PCT" in ok.stderr


def test_a_leverage_from_the_environment_is_named_as_the_variable() -> None:
    env = {**os.environ, "QT_LEVERAGE": "80"}
    done = subprocess.run([str(BIN), "backtest", "--data", str(LINK), *SHORT, "--json"], capture_output=True,
                          text=True, timeout=300, env=env)
    refused(done, "QT_LEVERAGE=80: above the largest leverage the data's symbols allow (LINKUSDT 75x)")


def test_sweep_refuses_a_leverage_grid_no_run_can_use_before_ray() -> None:
    done = cli("sweep", "--data", str(LINK), *SHORT, "--grid", "leverage=100,120", "--json", timeout=120)
    refused(done, "sweep: none of the 2 combinations of --grid can run; the first: --grid leverage=100: above the "
                  "largest leverage the data's symbols allow (LINKUSDT 75x); give 75 or less")


def cli_env(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env})


@pytest.mark.parametrize(("args", "env", "named", "not_named"), [
    (("backtest",), {"QT_STOP_LOSS_PCT": "abc"}, "error: QT_STOP_LOSS_PCT=abc: must be a number", "--param"),
    (("backtest", "--param", "stop_loss_pct=1.5"), {"QT_TAKE_PROFIT_PCT": "-1"},
     "error: QT_TAKE_PROFIT_PCT=-1: must be greater than 0", "--param"),
    (("backtest", "--param", "stop_loss_pct=-1"), {}, "error: --param stop_loss_pct=-1: out of range", "QT_"),
    (("sweep", "--grid", "fast=abc"), {}, "error: --grid fast=abc: not an integer", "--param"),
    (("sweep", "--grid", "fast=5", "--param", "slow=x"), {}, "error: --param slow=x: not an integer", "--grid"),
    (("sweep", "--grid", "fast=5", "--grid", "stop_loss_pct=-1"), {}, "error: --grid stop_loss_pct=-1: out of range",
     "--param"),
])
def test_a_bad_value_is_named_by_where_it_came_from(args: tuple[str, ...], env: dict[str, str], named: str,
                                                    not_named: str) -> None:
    """`QT_STOP_LOSS_PCT=abc quantum-trader backtest` said `--param stop_loss_pct=abc` (every QT_ name in the
    settings' line was rewritten to --param), and `sweep --grid fast=abc` said `--param fast=abc`."""
    done = cli_env(args[0], "--data", str(LINK), *SHORT, *args[1:], "--json", **env)
    refused(done, named)
    assert not_named not in done.stderr


@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_an_ai_scanner_run_without_a_model_is_exit_2_saying_why_and_the_fix(command: str) -> None:
    """backtest ran 0 trades, exit 0, with the warning printed twice (the strategy was built twice); a sweep
    would have run every combination as such an empty success."""
    grid = ("--grid", "stop_loss_pct=1.5,2") if command == "sweep" else ()
    done = cli_env(command, "--strategy", "ai-scanner", "--data", str(LINK), *SHORT, *grid, "--json",
                   QT_MODEL="/nonexistent.json")
    refused(done, "--strategy ai-scanner cannot trade: no model: QT_MODEL /nonexistent.json does not exist; "
                  "set QT_MODEL to a model file")


def test_an_ai_scanner_backtest_whose_model_is_refused_by_the_settings_is_exit_2() -> None:
    done = cli("backtest", "--strategy", "ai-scanner", "--data", str(LINK), *SHORT, "--param", "stop_loss_pct=1.5",
               "--json")
    refused(done, "--strategy ai-scanner cannot trade: model refused: ",
            "trained for other label parameters: sl_pct model=2.0 settings=1.5; train a model for these settings")
    fine = cli("backtest", "--strategy", "ai-scanner", "--data", str(LINK), *SHORT, "--json")
    # The model loaded once, nothing to say about it; the one line is why these hours made no trade.
    assert fine.returncode == 0 and fine.stderr.count("\n") == 1, fine.stderr[-2000:]
    assert fine.stderr.startswith("warning: ai-scanner scored 1,200 symbol-bars and no confidence reached")
