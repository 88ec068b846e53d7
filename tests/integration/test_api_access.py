"""Who may read the bot's API: with QT_API_TOKEN every endpoint but /health needs it, the dashboard signs
in once for an HttpOnly cookie, QT_API_PUBLIC_READS opens the reads on purpose, and the CLI sends the
token on reads. A real uvicorn on 127.0.0.1 over the fake service of test_api.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_api import TOKEN, FakeService, serve_api
from test_run_session import bot_env, running_bot
from typer.testing import CliRunner

from quantum_trader.cli.main import app

READS = ["/api/v1/positions", "/api/v1/orders", "/api/v1/trades", "/api/v1/signals", "/api/v1/audit",
         "/api/v1/readiness", "/api/v1/equity", "/metrics", "/docs", "/openapi.json", "/redoc", "/",
         "/no-such-path"]
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def token_api(fake: FakeService) -> Iterator[str]:
    with serve_api(fake, api_token=TOKEN) as url:
        yield url


@pytest.mark.parametrize("path", READS)
def test_every_read_needs_the_token(token_api: str, fake: FakeService, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        refused = httpx.get(token_api + path, headers=headers)
        assert refused.status_code == 401, (path, headers)
        assert TOKEN not in refused.text
        assert "BNBUSDT" not in refused.text and "996.32" not in refused.text
    assert fake.calls == []
    allowed = httpx.get(token_api + path, headers=BEARER)
    assert allowed.status_code == (404 if path == "/no-such-path" else 200), path


def test_health_stays_open_with_a_token(token_api: str, fake: FakeService) -> None:
    response = httpx.get(token_api + "/health")
    assert response.status_code == 200 and response.json()["status"] == "healthy"
    assert fake.calls == [("health", ())]


def test_api_refusal_is_json_with_a_bearer_challenge(token_api: str) -> None:
    response = httpx.get(token_api + "/api/v1/positions")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "missing or wrong bearer token"}


def test_dashboard_signs_in_once_and_reads_with_the_cookie(token_api: str, fake: FakeService) -> None:
    with httpx.Client(base_url=token_api) as browser:
        form = browser.get("/")
        assert form.status_code == 401 and 'action="/login"' in form.text and 'type="password"' in form.text
        wrong = browser.post("/login", data={"token": "guess"})
        assert wrong.status_code == 401 and "Wrong token" in wrong.text and not browser.cookies
        signed_in = browser.post("/login", data={"token": TOKEN})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        set_cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/" in set_cookie
        assert TOKEN not in signed_in.headers["set-cookie"]  # an HMAC of the token, not the token
        page = browser.get("/")
        assert page.status_code == 200 and 'src="/static/dashboard.js"' in page.text
        assert browser.get("/api/v1/positions").json()["positions"][0]["symbol"] == "BNBUSDT"
        assert browser.get("/docs").status_code == 200
    assert ("positions", ()) in fake.calls


def test_cookie_alone_cannot_mutate_but_the_dashboard_header_can(token_api: str, fake: FakeService) -> None:
    """A cross-site form would carry the cookie (were it not SameSite) but never a custom header."""
    with httpx.Client(base_url=token_api) as browser:
        browser.post("/login", data={"token": TOKEN})
        assert browser.post("/api/v1/kill-switch").status_code == 401
        assert ("kill_switch", ()) not in fake.calls
        assert browser.post("/api/v1/kill-switch", headers={"X-QT-Dashboard": "1"}).status_code == 200
    assert fake.calls.count(("kill_switch", ())) == 1


def test_forged_cookie_is_refused(token_api: str) -> None:
    for value in (TOKEN, "0" * 64, ""):
        response = httpx.get(token_api + "/api/v1/positions", cookies={"qt_session": value})
        assert response.status_code == 401, value


def test_public_reads_open_the_reads_but_not_the_mutations(fake: FakeService) -> None:
    with serve_api(fake, api_token=TOKEN, public_reads=True) as url:
        for path in ("/api/v1/positions", "/metrics", "/docs", "/"):
            assert httpx.get(url + path).status_code == 200, path
        assert httpx.post(url + "/api/v1/kill-switch").status_code == 401
        assert httpx.post(url + "/api/v1/kill-switch", headers=BEARER).status_code == 200


def test_without_a_token_login_is_not_needed(fake: FakeService) -> None:
    with serve_api(fake) as url:
        assert httpx.get(url + "/").status_code == 200
        assert httpx.get(url + "/login").status_code == 303


def test_cli_reads_send_the_token(token_api: str) -> None:
    env = {"QT_API_TOKEN": "", "COLUMNS": "220"}
    without = CliRunner().invoke(app, ["positions", "--api", token_api, "--json"], env=env)
    assert without.exit_code == 1 and "HTTP 401" in without.stderr and "set QT_API_TOKEN" in without.stderr
    for command in ("positions", "orders"):
        ok = CliRunner().invoke(app, [command, "--api", token_api, "--json"], env={**env, "QT_API_TOKEN": TOKEN})
        assert ok.exit_code == 0, (command, ok.stderr)
        assert "BNBUSDT" in ok.stdout


def test_a_running_bot_with_a_token_guards_its_reads(tmp_path: Path) -> None:
    """The real console script: `run` hands QT_API_TOKEN to the API, and the CLI hands it back."""
    token = "run-token-4f1d9a7c2b"
    with running_bot(bot_env(tmp_path, QT_API_TOKEN=token)) as (_proc, url):
        assert httpx.get(url + "/health").status_code == 200
        for path in ("/api/v1/positions", "/metrics", "/docs", "/"):
            assert httpx.get(url + path).status_code == 401, path
        answer = httpx.get(url + "/api/v1/positions", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["positions"] == []
        cli = CliRunner().invoke(app, ["positions", "--api", url, "--json"], env={"QT_API_TOKEN": token})
        assert cli.exit_code == 0 and json.loads(cli.stdout)["positions"] == []
