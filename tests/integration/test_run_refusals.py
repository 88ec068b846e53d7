"""Start-up refusals a user meets first: one line on stderr, exit 2, no traceback, no password.

An API open to the network without a token, a risk per trade above the cap, a journal that cannot be
opened (unreachable PostgreSQL, a file that is not a database) for `run`, `audit` and `readiness`; and
a live start refused by readiness, whose message names the journal without its password and says, per failed
item, what the journal lacks and what to do.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from journal_pg import PgCluster, pg_cluster  # noqa: F401  (fixture)
from test_live_gate import PAPER_ENV, Recipe, build_journal
from test_run_session import BIN, bot_env, free_port
from test_simserver_support import API_KEY, API_SECRET, running_server
from typer.testing import CliRunner, Result

from quantum_trader.cli.main import app

SECRET = "secretpw"
UNREACHABLE_PG = f"postgresql://u:{SECRET}@127.0.0.1:1/x"


def cli(tmp_path: Path, *args: str, **extra: str) -> Result:
    return CliRunner().invoke(app, list(args), env=bot_env(tmp_path, **extra))


def assert_one_line(result: Result | subprocess.CompletedProcess[str], code: int = 2) -> str:
    exit_code = result.exit_code if isinstance(result, Result) else result.returncode
    stderr = result.stderr
    assert exit_code == code, stderr
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr and SECRET not in stderr + result.stdout
    return stderr


def test_api_on_all_interfaces_without_a_token_is_refused(tmp_path: Path) -> None:
    line = assert_one_line(cli(tmp_path, "run", "--host", "0.0.0.0", QT_API_TOKEN=""))
    assert line.startswith("error: QT_API_HOST=0.0.0.0 ")
    assert "set QT_API_TOKEN" in line and "QT_API_PUBLIC_READS=true" in line


@pytest.mark.parametrize("host", ["192.168.1.20", "::", "bot.example.org"])
def test_any_non_loopback_host_without_a_token_is_refused(tmp_path: Path, host: str) -> None:
    assert "QT_API_TOKEN" in assert_one_line(cli(tmp_path, "run", QT_API_HOST=host))


def test_risk_per_trade_above_the_cap_is_refused(tmp_path: Path) -> None:
    line = assert_one_line(cli(tmp_path, "run", QT_RISK_PER_TRADE_PCT="100"))
    assert line.startswith("error: QT_RISK_PER_TRADE_PCT=100: must be at most 10 ")


@pytest.mark.parametrize(("name", "value", "start"), [
    ("QT_TAKE_PROFIT_PCT", "150", "must be less than 100"),  # started; every short then refused at run time
    ("QT_TAKE_PROFIT_PCT", "1e400", "must be less than 100"),  # started; every signal a decimal traceback
    ("QT_EV_FULL_SIZE_PCT", "1e400", "must be at most 100"),
    ("QT_SIM_BALANCE", "1e400", "must be at most 1000000000000"),
    ("QT_MONITOR_INTERVAL", "1e300", "must be at most 3600"),
    ("QT_COOLDOWN_S", "1e300", "must be at most 604800"),
    ("QT_SEED", "-1", "must be at least 0"),  # started, then a numpy traceback
    ("QT_STOP_LOSS_PCT", "1e400", "must be less than 100"),
    ("QT_TRAILING_STOP_PCT", "1e400", "must be less than 100"),
    ("QT_DAILY_LOSS_LIMIT_PCT", "1e400", "must be at most 100"),
    ("QT_RISK_PER_TRADE_PCT", "1e400", "must be at most 10"),
])
def test_a_number_beyond_what_can_exist_is_refused_at_start_up(tmp_path: Path, name: str, value: str,
                                                               start: str) -> None:
    line = assert_one_line(cli(tmp_path, "run", "--duration", "5", **{name: value}))
    assert line.startswith(f"error: {name}={value}: {start} ("), line


def test_a_replay_path_that_does_not_exist_is_one_line_after_error(tmp_path: Path) -> None:
    """`run` printed its refusals bare (`QT_FEED=replay:/nonexistent: ...`) where every other command starts
    them with `error: `; one per bad value, each with the prefix."""
    line = assert_one_line(cli(tmp_path, "run", QT_FEED="replay:/nonexistent"))
    assert line == ("error: QT_FEED=replay:/nonexistent: replay path /nonexistent does not exist (give a kline file, a "
                    "folder of them, or a quoted glob) ('synthetic', 'replay:PATH' to a kline CSV/ZIP file, a folder "
                    "of them or a glob, or 'exchange')\n")
    both = cli(tmp_path, "run", "--feed", "replay:/nonexistent", QT_SEED="-1")
    assert both.exit_code == 2 and [line.split(":")[0] for line in both.stderr.splitlines()] == ["error", "error"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_busy_api_port_is_one_line_before_anything_starts(tmp_path: Path, how: str) -> None:
    """It was exit 3 (readiness's code) after the start-up sweep, with uvicorn's `[Errno 98]` in the log."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = bot_env(tmp_path, QT_API_PORT=str(port), QT_PAPER_STATE=str(tmp_path / "paper"))
        flag = ["--port", str(port)] if how == "flag" else []
        done = subprocess.run([str(BIN), "run", "--duration", "5", *flag], env=env, capture_output=True, text=True,
                              timeout=60)
    line = assert_one_line(done)
    assert line == (f"error: --port / QT_API_PORT {port}: 127.0.0.1:{port} is already in use (another bot, sim-server "
                    f"or program listens there); stop it, or choose a free port with --port / QT_API_PORT "
                    "(0 picks one)\n"), line
    assert not (tmp_path / "journal.db").exists() and not (tmp_path / "paper").exists()  # nothing was started


def test_unreachable_postgresql_is_one_line_naming_qt_db_url(tmp_path: Path) -> None:
    """The installed console script, as a user runs it: formerly a 590-line traceback."""
    env = bot_env(tmp_path, QT_DB_URL=UNREACHABLE_PG)
    done = subprocess.run([str(BIN), "run", "--duration", "5"], env=env, capture_output=True, text=True,
                          timeout=60)
    line = assert_one_line(done)
    assert line.startswith("error: QT_DB_URL=postgresql://u:***@127.0.0.1:1/x: cannot open the journal: "), line


def test_a_file_that_is_not_a_journal_is_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "notes.db"
    junk.write_text("these are my notes, not a database\n" * 100)
    line = assert_one_line(cli(tmp_path, "run", QT_DB_URL=f"sqlite:///{junk}"))
    assert line.startswith(f"error: QT_DB_URL=sqlite:///{junk}: cannot open the journal: ") and "not a database" in line


@pytest.mark.parametrize("command", ["audit", "readiness"])
def test_audit_and_readiness_on_an_unreachable_journal(tmp_path: Path, command: str) -> None:
    line = assert_one_line(cli(tmp_path, command, QT_DB_URL=UNREACHABLE_PG))
    assert line.startswith("error: QT_DB_URL=postgresql://u:***@127.0.0.1:1/x: cannot open the journal: ")


@pytest.mark.parametrize("feed", ["synthetic", "exchange"])
def test_a_wrong_secret_against_a_simulator_server_is_one_line_that_never_shows_it(tmp_path: Path, feed: str) -> None:
    """The line naming QT_API_KEY / QT_API_SECRET was followed by aiohttp's "Unclosed connector" and ccxt's
    "requires to release all resources": the adapter was left open when its first signed call was refused."""
    wrong = "supersecret123"
    with running_server() as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=wrong, QT_FEED=feed)
        done = subprocess.run([str(BIN), "run", "--duration", "5"], env=env, capture_output=True, text=True,
                              timeout=90)
    line = assert_one_line(done)
    assert line.startswith(f"error: QT_API_KEY / QT_API_SECRET: the exchange at QT_EXCHANGE={server.url} refused "
                           "them "), line
    assert wrong not in done.stderr + done.stdout and API_SECRET not in done.stderr + done.stdout


def test_live_refused_by_readiness_hides_the_journal_password(tmp_path: Path,
                                                              pg_cluster: PgCluster) -> None:  # noqa: F811
    """The cluster trusts local connections, so a URL with a password connects and the password is ignored."""
    url = pg_cluster.new_database().replace(f"//{pg_cluster.user}@", f"//{pg_cluster.user}:{SECRET}@")
    with running_server() as server:
        env = bot_env(tmp_path, QT_PAPER_TRADING="false", QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_EXCHANGE=server.url, QT_FEED="exchange", QT_SYMBOLS="BNBUSDT", QT_DB_URL=url,
                      QT_API_PORT=str(free_port()))
        done = subprocess.run([str(BIN), "run", "--duration", "4"], env=env, capture_output=True, text=True,
                              timeout=90)
    assert done.returncode == 3, done.stderr
    assert "live trading refused" in done.stderr and f"{pg_cluster.user}:***@127.0.0.1" in done.stderr
    assert SECRET not in done.stderr + done.stdout


@pytest.mark.parametrize(("extra", "failed", "words", "fix"), [
    ({}, "closed_trades", "3 of the 5 closed trades wanted were opened by the strategy",
     "2 more closed paper trades opened by the strategy"),
    ({"QT_LEVERAGE": "10"}, "same_setup", "session #1: QT_LEVERAGE 10 here, 5 in paper (above paper)",
     "paper-trade with these settings, or start live with the paper settings"),
], ids=["two-trades-short", "more-leverage-than-paper"])
def test_a_live_refusal_says_what_each_failed_item_lacks_and_what_to_do(tmp_path: Path, extra: dict[str, str],
                                                                        failed: str, words: str, fix: str) -> None:
    """It printed each failed item's evidence as a Python dict (`FAILED closed_trades: {'closed': 3, ...}`) and
    no word of what to do; now the readiness command's words for it, its fix, and where the whole checklist is.
    Live with made-up keys against nothing: readiness refuses before the exchange is touched. The console script,
    as a user runs it (in this process, `run` would leave its log handler on CliRunner's closed stream)."""
    url = build_journal(tmp_path / "paper.db", Recipe(trades=3))
    env = bot_env(tmp_path, QT_PAPER_TRADING="false", QT_API_KEY="fake-key", QT_API_SECRET="fake-secret",
                  QT_EXCHANGE="http://127.0.0.1:1", QT_DB_URL=url, **PAPER_ENV, **extra)
    result = subprocess.run([str(BIN), "run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"live trading refused: the readiness checklist does not pass on the journal ({url}):"
    at = next(i for i, line in enumerate(lines) if line.startswith(f"  FAILED {failed}: "))
    assert words in lines[at] and lines[at + 1].startswith("    fix: ") and fix in lines[at + 1], lines
    assert "{'" not in result.stderr and "{\"" not in result.stderr, result.stderr
    assert lines[-1].endswith("run `quantum-trader readiness` with the same settings and journal for the whole "
                              "checklist, with the sessions each item counted and why others were not")
    assert "fake-secret" not in result.stderr + result.stdout
