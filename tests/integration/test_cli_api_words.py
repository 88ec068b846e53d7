"""What the API commands say when the user gave the wrong URL or token: the fix, not a transport class name.

A user trial met each of these: `--api 127.0.0.1:18000` (no scheme) said `UnsupportedProtocol`; `--api` at the
sim-server said a bare `HTTP 404`; `positions --exchange` at the bot's API said "not a simulator ... orders may
only go to a simulator"; a wrong QT_API_TOKEN said "set QT_API_TOKEN" although it was set.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from test_api import TOKEN, FakeService, serve_api
from test_simserver_support import serve_app
from typer.testing import CliRunner

from quantum_trader.cli.main import app


def run(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "240", "QT_API_TOKEN": "", **env})
    return result.exit_code, result.stderr


@pytest.fixture
def not_a_bot() -> Iterator[str]:
    """Another HTTP server (a sim-server, say): every API path of the bot is FastAPI's 404 Not Found there."""
    with serve_app(FastAPI(), ready_path="/openapi.json") as url:
        yield url


def test_an_api_url_without_a_scheme_gets_the_scheme_suggested() -> None:
    code, stderr = run("force-entry", "LINKUSDT", "--side", "long", "--api", "127.0.0.1:18000")
    assert code == 1
    assert stderr.strip() == "error: --api 127.0.0.1:18000: not a URL; did you mean http://127.0.0.1:18000?"


@pytest.mark.parametrize("command", [["positions"], ["force-entry", "LINKUSDT", "--side", "long"]])
def test_a_server_that_is_not_the_bot_is_named_as_such(not_a_bot: str, command: list[str]) -> None:
    code, stderr = run(*command, "--api", not_a_bot)
    assert code == 1
    assert "HTTP 404" in stderr
    assert f"{not_a_bot} is not a Quantum Trader bot's API: give --api the URL `quantum-trader run` serves" in stderr


def test_a_token_that_is_set_but_wrong_is_called_wrong_not_missing() -> None:
    with serve_api(FakeService(), api_token=TOKEN) as url:
        code, stderr = run("positions", "--api", url, QT_API_TOKEN="not-the-token")
        assert code == 1 and "HTTP 401" in stderr
        assert "QT_API_TOKEN is set, but not to the token the bot was started with" in stderr
        assert "not-the-token" not in stderr
        code, stderr = run("positions", "--api", url)
        assert code == 1 and "(set QT_API_TOKEN to the bot's token)" in stderr


def test_the_bots_api_given_as_the_exchange_is_pointed_to_api() -> None:
    with serve_api(FakeService()) as url:
        code, stderr = run("positions", "--exchange", url)
    assert code == 1
    assert "is not a simulator" in stderr
    assert f"({url} is a running bot's API: read it with --api)" in stderr
