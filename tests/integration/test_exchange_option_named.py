"""A bad `--exchange` is named as the option the user typed, never as QT_EXCHANGE, which they did not set.

A user trial typed `download --exchange 127.0.0.1:22101` (no scheme) and read `error: QT_EXCHANGE='127.0.0.1:22101'
is not valid`; `positions --exchange` said the same, and `run --exchange` named QT_EXCHANGE too, where the rest of
the CLI names the option (`--param take_profit_pct=...`, `--db ...`). Every command that takes `--exchange` now
names it, with the value, what is allowed and, for a URL without its scheme, the likely one; a URL from the
environment is still named QT_EXCHANGE. Only loopback addresses: a closed port, or nothing at all asked.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli_read import closed_port_url
from test_run_session import bot_env
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
