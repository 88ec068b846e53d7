"""A bad `--exchange` is named as the option the user typed, never as QT_EXCHANGE, which they did not set.

A user trial typed `download --exchange 127.0.0.1:22101` (no scheme) and read `error: QT_EXCHANGE='127.0.0.1:22101'
is not valid`; `positions --exchange` said the same, and `run --exchange` named QT_EXCHANGE too, where the rest of
the CLI names the option (`--param take_profit_pct=...`, `--db ...`). Every command that takes `--exchange` now
names it, with the value, what is allowed and, for a URL without its scheme, the likely one; a URL from the
environment is still named QT_EXCHANGE. Only loopback addresses: a closed port, or nothing at all asked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_cli_read import closed_port_url
from test_cli_refusal_support import BIN, refused
from test_run_session import bot_env
from test_simserver_support import API_KEY, API_SECRET
from typer.testing import CliRunner, Result

from quantum_trader.cli.main import app


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def one_line(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and result.stdout == "", result.output
    assert "QT_EXCHANGE" not in result.stderr
    return result.stderr.strip()


@pytest.mark.parametrize("command", [("download", "--symbols", "BNBUSDT", "--start", "2026-01-05"),
                                     ("positions",), ("orders", "--json")])
def test_a_url_without_its_scheme_names_the_option_and_the_likely_url(command: tuple[str, ...],
                                                                     tmp_path: Path) -> None:
    out = ("--out", str(tmp_path)) if command[0] == "download" else ()
    line = one_line(invoke(*command, *out, "--exchange", "127.0.0.1:22101"), 2)
    assert line.startswith("error: --exchange 127.0.0.1:22101: not a base URL (http:// or https://, a host, no path)")
    assert line.endswith("; did you mean http://127.0.0.1:22101?")


@pytest.mark.parametrize("command", [("positions",), ("orders",)])
def test_nothing_listening_names_the_option(command: tuple[str, ...]) -> None:
    url = closed_port_url()
    line = one_line(invoke(*command, "--exchange", url), 1)
    assert line == (f"error: --exchange {url}: nothing answers there (connection refused); start `quantum-trader "
                    "sim-server` at that address, or give --exchange the URL of a running one (http://127.0.0.1:8090 "
                    "by default)")


def test_positions_exchange_sim_says_where_the_paper_account_is() -> None:
    """`positions --exchange sim` read a fresh, empty in-process simulator: "No open positions" whatever `run`
    held; it is refused, saying to ask the running bot."""
    line = one_line(invoke("positions", "--exchange", "sim"), 2)
    assert line.startswith("error: --exchange sim: the in-process paper account lives inside `run`; ask the "
                           "running bot")


def test_run_names_the_option_and_the_variable_each_where_it_came_from(tmp_path: Path) -> None:
    typed = invoke("run", "--exchange", "127.0.0.1:22101", env=bot_env(tmp_path))
    assert typed.exit_code == 2 and "--exchange=127.0.0.1:22101: is neither 'sim' nor an http(s) URL" in typed.stderr
    assert "QT_EXCHANGE" not in typed.stderr
    url = closed_port_url()
    refused = invoke("run", "--exchange", url, env=bot_env(tmp_path))
    assert refused.exit_code == 2 and f"--exchange {url}: nothing answers there (connection refused)" in refused.stderr
    assert "QT_EXCHANGE" not in refused.stderr
    from_env = invoke("run", env=bot_env(tmp_path, QT_EXCHANGE=url))
    assert from_env.exit_code == 2 and f"QT_EXCHANGE={url}: nothing answers there" in from_env.stderr
    assert "or set QT_EXCHANGE=sim for the in-process simulator" in from_env.stderr


def _live(env: dict[str, str], *args: str) -> str:
    """`quantum-trader run` with QT_PAPER_TRADING=false, as a user starts it (the console script): its one line."""
    done = subprocess.run([str(BIN), "run", *args], env={**env, "QT_PAPER_TRADING": "false"}, capture_output=True,
                          text=True, timeout=60)
    refused(done, "QT_PAPER_TRADING=false: live trading needs QT_API_KEY, QT_API_SECRET and ")
    return done.stderr.strip()


def test_live_against_the_simulator_names_the_exchange_option_or_variable_the_user_set(tmp_path: Path) -> None:
    """`QT_PAPER_TRADING=false quantum-trader run --exchange sim` said "missing: QT_EXCHANGE (is 'sim')": a variable
    the user never set. It names `--exchange` when the option was typed, QT_EXCHANGE when the environment (or the
    default) gave `sim`."""
    keys = {"QT_API_KEY": API_KEY, "QT_API_SECRET": API_SECRET}
    typed = _live(bot_env(tmp_path, **keys), "--exchange", "sim")
    assert typed.endswith("and --exchange set to the exchange's base URL; missing: --exchange (is 'sim')"), typed
    assert "QT_EXCHANGE" not in typed
    unkeyed = _live(bot_env(tmp_path), "--exchange", "sim")
    assert unkeyed.endswith("missing: QT_API_KEY, QT_API_SECRET, --exchange (is 'sim')"), unkeyed
    for env in (bot_env(tmp_path, QT_EXCHANGE="sim", **keys), bot_env(tmp_path, **keys)):  # set, or the default
        line = _live(env)
        assert line.endswith("and QT_EXCHANGE set to the exchange's base URL; missing: QT_EXCHANGE (is 'sim')"), line
        assert "--exchange" not in line
