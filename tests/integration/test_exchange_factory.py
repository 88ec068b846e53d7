"""`connect`: the adapter for QT_EXCHANGE, and the paper-mode guard that keeps orders off real venues."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_simserver_support import API_KEY, API_SECRET, running_server

from quantum_trader.domain.errors import ConfigError, ExchangeError
from quantum_trader.exchange.factory import connect
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.exchange.port import Exchange
from quantum_trader.exchange.retry import RetryingExchange, RetryPolicy
from quantum_trader.exchange.secrets import Secret

SECRET = "very-secret-value-123"


@contextmanager
def tiny_server(status: int, body: bytes) -> Iterator[str]:
    """A loopback HTTP server that answers every GET with `status` and `body` (not a simulator)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def refused(url: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        asyncio.run(connect(url, paper=True, api_key="k", api_secret=SECRET))
    return info.value


@pytest.mark.parametrize(("status", "body"), [
    (404, b'{"code": -5000, "msg": "Path /sim/v1/info, Method GET is invalid"}'),
    (200, b"<html>hello</html>"),
    (200, json.dumps({"simulator": False}).encode()),
    (200, json.dumps({"simulator": "true"}).encode()),
])
def test_paper_mode_refuses_a_server_that_is_not_a_simulator(status: int, body: bytes) -> None:
    with tiny_server(status, body) as url:
        error = refused(url)
    text = str(error)
    assert text.startswith(f"QT_EXCHANGE={url} is not a simulator") and "\n" not in text
    assert 'did not answer {"simulator": true}' in text and "QT_PAPER_TRADING=true" in text
    assert "Set QT_EXCHANGE=sim or point it at `quantum-trader sim-server`." in text
    assert SECRET not in text


def test_paper_mode_refuses_a_url_nobody_answers_saying_so() -> None:
    url = closed_port_url()
    text = str(refused(url))
    assert text.startswith(f"QT_EXCHANGE={url}: nothing answers there (connection refused)") and "\n" not in text
    assert "start `quantum-trader sim-server`" in text and "QT_EXCHANGE=sim" in text and SECRET not in text


def test_paper_mode_accepts_the_simulator_server() -> None:
    with running_server() as server:
        async def main() -> str:
            exchange = await connect(server.url, paper=True, api_key=API_KEY, api_secret=API_SECRET)
            try:
                assert isinstance(exchange, RetryingExchange)
                return str((await exchange.account()).wallet)
            finally:
                await exchange.close()

        assert asyncio.run(main()) == "10000"


def test_sim_is_the_in_process_simulator() -> None:
    exchange = asyncio.run(connect("SIM", paper=True))
    assert isinstance(exchange, InProcessExchange)
    assert isinstance(exchange, Exchange)


@pytest.mark.parametrize("url", ["ftp://example.com", "fapi.binance.com", "http://127.0.0.1:1/fapi/v1"])
def test_a_malformed_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="QT_EXCHANGE="):
        asyncio.run(connect(url, paper=True))


def test_live_mode_needs_keys() -> None:
    with pytest.raises(ConfigError, match="QT_API_KEY and QT_API_SECRET are required"):
        asyncio.run(connect("https://fapi.binance.com", paper=False, api_key="k"))


def test_secrets_never_show_in_reprs_or_errors() -> None:
    secret = Secret(SECRET)
    assert SECRET not in repr(secret) and SECRET not in str(secret) and SECRET not in f"{secret}"

    async def main() -> None:
        url = closed_port_url()
        exchange = await connect(url, paper=False, api_key="key-abc", api_secret=SECRET,
                                 policy=RetryPolicy(attempts=1), timeout_s=1.0)
        try:
            assert SECRET not in repr(exchange)
            with pytest.raises(ExchangeError) as info:
                await exchange.account()
            assert SECRET not in str(info.value) and SECRET not in repr(info.value)
        finally:
            await exchange.close()

    asyncio.run(main())
