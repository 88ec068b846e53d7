"""The bot's HTTP API served by a real uvicorn on 127.0.0.1, over a fake application service.

The fake returns canned documents and records calls, so these tests pin the API layer alone: routes,
status mapping, validation, authentication, metrics and the dashboard. `serve_api` is reused by
test_cli_read.py for the CLI's `--api` path.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_simserver_support import serve_app

from quantum_trader.api.app import create_app
from quantum_trader.core.metrics import Metrics
from quantum_trader.runtime.service import JSON, AppService

TOKEN = "tok-5b1e0c7a"

POSITION = {"symbol": "BNBUSDT", "side": "short", "size": "1.15", "entry": "896.8", "mark": "900", "leverage": 10,
            "margin_type": "ISOLATED", "notional": "1035", "margin": "103.132", "unrealized_pnl": "-3.68",
            "pnl_pct_notional": "-0.36", "roe_pct": "-3.57", "pnl_pct_equity": "-0.37", "liquidation_price": "980",
            "stop_loss": {"type": "STOP_MARKET", "trigger_price": "914.74", "client_id": "sl1"},
            "take_profit": None, "status": "NO_TAKE_PROFIT", "flags": ["no_take_profit"]}


class FakeService:
    """Canned answers; `calls` records (method, args) so tests see what the API asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.status = "healthy"
        self.unprotected = 0
        self.accept = True

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    async def health(self) -> JSON:
        self._record("health")
        return {"status": self.status, "mode": "paper", "event_driven": True, "exchange": "sim", "feed": "synthetic",
                "uptime_s": 12.5, "positions": 1, "unprotected_positions": self.unprotected,
                "monitor": {"last_sweep_age_s": 0.4, "errors": 0}}

    async def positions(self) -> JSON:
        self._record("positions")
        return {"positions": [{**POSITION, "status": "UNPROTECTED" if self.unprotected else POSITION["status"]}],
                "count": 1, "unprotected": self.unprotected, "equity": "996.32"}

    async def orders(self) -> JSON:
        self._record("orders")
        return {"groups": [{"symbol": "BNBUSDT", "position_side": "short", "position_size": "1.15",
                            "status": "NO_TAKE_PROFIT", "flags": ["no_take_profit"], "orders": []}],
                "orphans": [], "rejected_types": [], "count": 1, "unprotected": self.unprotected}

    async def trades(self, limit: int = 100) -> JSON:
        self._record("trades", limit)
        return {"trades": [{"symbol": "BNBUSDT", "exit_reason": "stop_loss", "pnl": "-20.5"}]}

    async def signals(self, limit: int = 100) -> JSON:
        self._record("signals", limit)
        return {"signals": []}

    async def audit(self, limit: int | None = None) -> JSON:
        self._record("audit", limit)
        return {"rows": [], "breaches": 0}

    async def readiness(self) -> JSON:
        self._record("readiness")
        return {"ready": False, "items": [{"name": "closed_trades", "passed": False, "evidence": "0 of 5"}]}

    async def equity(self, limit: int = 1000) -> JSON:
        self._record("equity", limit)
        return {"points": [{"t": 1, "equity": "1000"}]}

    async def live(self) -> JSON:
        self._record("live")
        return {"health": {"status": self.status, "mode": "paper"}, "positions": {"positions": [POSITION]},
                "orders": {},
                "unprotected_s": {}, "pnl_today": {"usdt": "-3.68", "pct": "-0.37", "since_equity": "1000"},
                "revision": 3, "bar_open_time_ms": 1_700_000_000_000, "time_ms": 1_700_000_060_000}

    async def candles(self, symbol: str, limit: int = 720) -> JSON:
        self._record("candles", symbol, limit)
        return {"symbol": symbol, "interval_ms": 60_000,
                "candles": [{"time": 1_700_000_000, "open": "1", "high": "2", "low": "0.5", "close": "1.5"}]}

    async def fills(self, symbol: str | None = None, limit: int = 200) -> JSON:
        self._record("fills", symbol, limit)
        return {"fills": []}

    async def activity(self, limit: int = 50) -> JSON:
        self._record("activity", limit)
        return {"protection_actions": [], "errors": []}

    async def force_entry(self, symbol: str, side: str) -> JSON:
        self._record("force_entry", symbol, side)
        if self.accept:
            return {"accepted": True, "reason": "queued", "trade_id": "t-1"}
        return {"accepted": False, "reason": "max positions reached (4)", "trade_id": None}

    async def kill_switch(self) -> JSON:
        self._record("kill_switch")
        return {"cancelled_orders": 2, "closed_positions": 1, "entries_halted": True}

    async def resume(self) -> JSON:
        self._record("resume")
        return {"trading": "ACTIVE"}


@contextmanager
def serve_api(service: AppService, *, api_token: str | None = None, host: str = "127.0.0.1",
              public_reads: bool = False) -> Iterator[str]:
    """The bot's API over `service` on a real uvicorn, on a free port of `host`."""
    app = create_app(service, Metrics(), api_token=api_token, public_reads=public_reads)
    ready = "/login" if api_token and not public_reads else "/openapi.json"  # 200 without the token
    with serve_app(app, ready_path=ready, host=host) as url:
        yield url


@pytest.fixture
def fake() -> FakeService:
    return FakeService()


@pytest.fixture
def open_api(fake: FakeService) -> Iterator[str]:
    with serve_api(fake) as url:
        yield url


@pytest.fixture
def token_api(fake: FakeService) -> Iterator[str]:
    with serve_api(fake, api_token=TOKEN) as url:
        yield url


#: Each AppService method: the request that reaches it and the arguments the API must pass on.
SERVICE_ROUTES: dict[str, tuple[str, str, dict[str, str] | None, tuple[Any, ...]]] = {
    "health": ("GET", "/health", None, ()),
    "positions": ("GET", "/api/v1/positions", None, ()),
    "orders": ("GET", "/api/v1/orders", None, ()),
    "trades": ("GET", "/api/v1/trades?limit=7", None, (7,)),
    "signals": ("GET", "/api/v1/signals?limit=3", None, (3,)),
    "audit": ("GET", "/api/v1/audit?limit=50", None, (50,)),
    "readiness": ("GET", "/api/v1/readiness", None, ()),
    "equity": ("GET", "/api/v1/equity?limit=5", None, (5,)),
    "live": ("GET", "/api/v1/live", None, ()),
    "candles": ("GET", "/api/v1/candles?symbol=BNBUSDT&limit=9", None, ("BNBUSDT", 9)),
    "fills": ("GET", "/api/v1/fills?symbol=BNBUSDT", None, ("BNBUSDT", 200)),
    "activity": ("GET", "/api/v1/activity?limit=4", None, (4,)),
    "force_entry": ("POST", "/api/v1/force-entry", {"symbol": "BNBUSDT", "side": "short"}, ("BNBUSDT", "short")),
    "kill_switch": ("POST", "/api/v1/kill-switch", None, ()),
    "resume": ("POST", "/api/v1/resume", None, ()),
}


def test_every_service_method_is_served_and_the_fake_takes_the_protocols_parameters(open_api: str,
                                                                                   fake: FakeService) -> None:
    """The fake stands in for the real service only if it answers the same calls: every method of the
    protocol has a route that calls it with the right arguments, and the fake's parameters (names,
    defaults) are the protocol's, so a method added or changed on one side fails here."""
    protocol = {name for name, member in vars(AppService).items() if inspect.iscoroutinefunction(member)}
    assert protocol == set(SERVICE_ROUTES)
    for name in sorted(protocol):
        assert inspect.signature(getattr(FakeService, name)) == inspect.signature(getattr(AppService, name)), name
        method, path, body, args = SERVICE_ROUTES[name]
        response = httpx.request(method, open_api + path, json=body)
        assert response.status_code == 200, (name, response.text)
        assert fake.calls[-1] == (name, args), name


@pytest.mark.parametrize(("path", "key", "call"), [
    ("/api/v1/positions", "positions", ("positions", ())),
    ("/api/v1/orders", "groups", ("orders", ())),
    ("/api/v1/trades?limit=7", "trades", ("trades", (7,))),
    ("/api/v1/signals", "signals", ("signals", (100,))),
    ("/api/v1/audit", "breaches", ("audit", (None,))),
    ("/api/v1/readiness", "items", ("readiness", ())),
    ("/api/v1/equity", "points", ("equity", (1000,))),
])
def test_read_endpoints_return_the_service_document(open_api: str, fake: FakeService, path: str, key: str,
                                                    call: tuple[str, tuple[Any, ...]]) -> None:
    response = httpx.get(open_api + path)
    assert response.status_code == 200
    assert key in response.json()
    assert fake.calls == [call]


def test_limit_is_validated(open_api: str) -> None:
    assert httpx.get(open_api + "/api/v1/trades?limit=0").status_code == 422
    assert httpx.get(open_api + "/api/v1/audit?limit=0").status_code == 422
    assert httpx.get(open_api + "/api/v1/candles?symbol=bnb/usdt").status_code == 422
    assert httpx.get(open_api + "/api/v1/candles").status_code == 422  # the symbol is required


def test_the_stream_sends_live_snapshots(open_api: str, fake: FakeService) -> None:
    with httpx.stream("GET", open_api + "/api/v1/stream", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events: list[dict[str, Any]] = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
            if len(events) == 2:
                break
    assert [e["revision"] for e in events] == [3, 3] and events[0]["positions"]["positions"][0]["symbol"] == "BNBUSDT"
    assert [c for c in fake.calls if c[0] == "live"] == [("live", ()), ("live", ())]


@pytest.mark.parametrize(("status", "code"), [("healthy", 200), ("degraded", 200), ("unhealthy", 503)])
def test_health_maps_unhealthy_to_503(open_api: str, fake: FakeService, status: str, code: int) -> None:
    fake.status = status
    response = httpx.get(open_api + "/health")
    assert response.status_code == code
    assert response.json()["status"] == status and response.json()["event_driven"] is True


def test_force_entry_accepted_and_refused(open_api: str, fake: FakeService) -> None:
    ok = httpx.post(open_api + "/api/v1/force-entry", json={"symbol": "BNBUSDT", "side": "short"})
    assert ok.status_code == 200 and ok.json()["accepted"] is True
    fake.accept = False
    refused = httpx.post(open_api + "/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"})
    assert refused.status_code == 409 and "max positions" in refused.json()["reason"]
    assert [c for c in fake.calls if c[0] == "force_entry"] == [("force_entry", ("BNBUSDT", "short")),
                                                                 ("force_entry", ("ETHUSDT", "long"))]


@pytest.mark.parametrize(("body", "field"), [
    ({"symbol": "BNBUSDT", "side": "up"}, "side"),
    ({"symbol": "bnbusdt", "side": "long"}, "symbol"),
    ({"symbol": "BNB/USDT", "side": "long"}, "symbol"),
    ({"side": "long"}, "symbol"),
    ({"symbol": "BNBUSDT", "side": "long", "qty": 1}, "qty"),
])
def test_force_entry_bad_body_is_422_naming_the_field(open_api: str, fake: FakeService, body: dict[str, Any],
                                                      field: str) -> None:
    response = httpx.post(open_api + "/api/v1/force-entry", json=body)
    assert response.status_code == 422
    assert any(error["loc"][-1] == field for error in response.json()["detail"])
    assert fake.calls == []


def test_kill_switch_from_loopback_without_token(open_api: str, fake: FakeService) -> None:
    response = httpx.post(open_api + "/api/v1/kill-switch")
    assert response.status_code == 200 and response.json()["entries_halted"] is True
    assert fake.calls == [("kill_switch", ())]


def test_resume_needs_the_same_guard_as_the_kill_switch(fake: FakeService) -> None:
    with serve_api(fake, api_token="s3cret-token") as url:
        assert httpx.post(url + "/api/v1/resume").status_code == 401
        answer = httpx.post(url + "/api/v1/resume", headers={"Authorization": "Bearer s3cret-token"})
        assert answer.status_code == 200 and answer.json() == {"trading": "ACTIVE"}
    assert fake.calls == [("resume", ())]


def test_without_token_non_loopback_caller_is_refused(fake: FakeService) -> None:
    """127.0.0.2 is still this machine, but not the 127.0.0.1 / ::1 the guard accepts: it stands for a LAN peer."""
    with serve_api(fake, host="127.0.0.1") as url:
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport) as client:
            assert client.get(url + "/api/v1/positions").status_code == 200  # reads stay open
            response = client.post(url + "/api/v1/kill-switch")
    assert response.status_code == 403
    assert ("kill_switch", ()) not in fake.calls


@pytest.mark.parametrize(("headers", "code"), [
    ({}, 401),
    ({"Authorization": "Bearer wrong-token"}, 401),
    ({"Authorization": f"Basic {TOKEN}"}, 401),
    ({"Authorization": f"Bearer {TOKEN}"}, 200),
])
def test_token_required_and_checked(token_api: str, fake: FakeService, headers: dict[str, str], code: int) -> None:
    response = httpx.post(token_api + "/api/v1/kill-switch", headers=headers)
    assert response.status_code == code
    assert TOKEN not in response.text
    assert (("kill_switch", ()) in fake.calls) is (code == 200)
    if code == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_metrics_text_parses(open_api: str, fake: FakeService) -> None:
    fake.unprotected = 1
    response = httpx.get(open_api + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in ("qt_equity_usdt", "qt_open_positions", "qt_unprotected_positions", "qt_monitor_sweep_age_seconds",
                 "qt_monitor_sweep_duration_seconds", "qt_orders_sent", "qt_orders_rejected", "qt_feed_lag_seconds",
                 "qt_bus_events", "qt_errors", "qt_unprotected_seconds_total"):
        assert name in families, name
    assert families["qt_unprotected_positions"].samples[0].value == 1.0  # refreshed from /health on scrape
    assert families["qt_monitor_sweep_age_seconds"].samples[0].value == pytest.approx(0.4)


def test_service_failure_is_a_500_without_details_and_counted(fake: FakeService) -> None:
    async def broken() -> JSON:
        raise RuntimeError("venue said signature=abc123 is bad")

    fake.audit = broken  # type: ignore[method-assign]
    with serve_api(fake) as url:
        response = httpx.get(url + "/api/v1/audit")
        metrics_text = httpx.get(url + "/metrics").text
    assert response.status_code == 500 and "abc123" not in response.text
    assert 'qt_errors_total{component="api"}' in metrics_text


def test_dashboard_and_docs(open_api: str) -> None:
    page = httpx.get(open_api + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    parts = [httpx.get(open_api + f"/static/dashboard{name}.js") for name in ("-common", "-panels", "-charts", "")]
    assert all(p.status_code == 200 and "javascript" in p.headers["content-type"] for p in parts)
    script = httpx.Response(200, text="".join(p.text for p in parts))
    for path in ("/api/v1/stream", "/api/v1/audit", "/api/v1/readiness", "/api/v1/candles", "/api/v1/kill-switch"):
        assert path in script.text
    for asset in ("/static/dashboard.css", "/static/vendor/lightweight-charts.standalone.production.js",
                  "/static/vendor/lightweight-charts.LICENSE", "/static/favicon.svg"):  # no /favicon.ico 404
        assert asset in page.text
        assert httpx.get(open_api + asset).status_code == 200, asset
    for text in (page.text, script.text):  # no CDN, no external assets
        assert "http://" not in text and "https://" not in text
    for missing in ("/static/app.py", "/static/index.html", "/static/vendor/README.md"):
        assert httpx.get(open_api + missing).status_code == 404, missing
    docs = httpx.get(open_api + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # Swagger UI's own script and style come from the bot, not a CDN: /docs works without a network.
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert httpx.get(open_api + asset).status_code == 200, asset
    schema = httpx.get(open_api + "/openapi.json").json()
    assert {"/api/v1/force-entry", "/api/v1/kill-switch", "/health", "/metrics"} <= set(schema["paths"])
