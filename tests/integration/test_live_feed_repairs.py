"""The exchange feed's repair counters as /health's `feed_stream` and /metrics show them, its settings
(QT_WS_URL, QT_FEED_*), and the sim-server's side of a fast bar close: the publisher runs on the request
that closes a bar (not on its poll), and a closed kline's text is exactly the JSON of its payload."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from test_live_feed import control, running_feed, wait_bars
from test_simserver_support import API_KEY, SYMBOLS, make_sim, running_server
from websockets.sync.client import connect

from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.kline import Kline
from quantum_trader.feeds.live_feed import MAX_STREAMS, WsFeedConfig, feed_from_settings
from quantum_trader.settings.model import load_settings
from quantum_trader.simserver.app import create_app
from quantum_trader.simserver.routes_market_stream import encode, kline_payload, kline_text
from quantum_trader.simserver.stream_hub import StreamSettings


async def _no_backfill(symbol: str, start_ms: int, end_ms: int) -> list[Kline]:
    return []


def test_counters_reach_health_snapshot_and_metrics_after_a_drop_and_a_late_symbol() -> None:
    """A dropped connection is a reconnect (and a backfill); a symbol the stream never sends is filled by
    REST after the grace period; the snapshot says so and the metrics carry the same figures."""
    with running_server() as server:

        async def main() -> dict[str, Any]:
            async with running_feed(server, WsFeedConfig(grace_s=0.2), unstreamed="ETHUSDT") as run:
                await asyncio.sleep(0.5)
                await control(server, "/sim/v1/advance", {"seconds": 60})
                await wait_bars(run, 1)
                await control(server, "/sim/v1/streams", {"action": "drop", "seconds": 0.5, "kind": "market"})
                deadline = time.monotonic() + 10
                while run.feed.counters.reconnects < 1:
                    assert time.monotonic() < deadline, "no reconnect after the drop"
                    await asyncio.sleep(0.05)
                await control(server, "/sim/v1/advance", {"seconds": 60})
                await wait_bars(run, 2)
                await asyncio.sleep(1.2)  # a heartbeat after the reconnect: the lag is known
                assert run.feed.status.repairs is run.feed.counters
                return run.feed.counters.snapshot()

        snap = asyncio.run(main())
    assert snap["connects"] >= 2 and snap["reconnects"] >= 1 and snap["stalls"] == 0
    assert snap["late_symbols_filled"] >= 2 and snap["nan_rows"] == 0 and snap["nan_bars"] == 0
    assert snap["backfills"] >= 2 and snap["backfill_errors"] == 0
    assert isinstance(snap["lag_ms"], int) and snap["silent_s"] is not None and snap["silent_s"] < 5
    metrics = Metrics()
    metrics.observe_health({"feed_stream": snap})
    text = metrics.render().decode()
    assert f'qt_feed_repairs{{kind="reconnects"}} {float(snap["reconnects"])}' in text
    assert f'qt_feed_repairs{{kind="late_symbols_filled"}} {float(snap["late_symbols_filled"])}' in text
    assert 'qt_feed_repairs{kind="nan_rows"} 0.0' in text
    assert "qt_feed_stream_lag_seconds" in text and "qt_feed_stream_silent_seconds" in text


def test_feed_settings_reach_the_feed_with_the_old_defaults() -> None:
    default = feed_from_settings(load_settings(env={}), SYMBOLS, _no_backfill)
    assert default.config == WsFeedConfig() and default.config.max_streams == MAX_STREAMS
    settings = load_settings(env={"QT_EXCHANGE": "https://fapi.binance.com", "QT_FEED": "exchange",
                                  "QT_FEED_MAX_STREAMS": "2", "QT_FEED_GRACE_S": "0.5", "QT_FEED_STALL_S": "4"})
    feed = feed_from_settings(settings, SYMBOLS, _no_backfill)
    assert (feed.config.max_streams, feed.config.grace_s, feed.config.stall_s) == (2, 0.5, 4.0)
    assert feed._base == "wss://fstream.binance.com" and len(feed._groups) == len(SYMBOLS)  # one kline each
    moved = load_settings(env={"QT_EXCHANGE": "https://fapi.binance.com", "QT_WS_URL": "wss://example.test:9443/"})
    assert feed_from_settings(moved, SYMBOLS, _no_backfill)._base == "wss://example.test:9443"


@pytest.mark.parametrize(("env", "says"), [
    ({"QT_WS_URL": "https://fstream.binance.com"}, "QT_WS_URL=https://fstream.binance.com: is not a ws:// or wss://"),
    ({"QT_WS_URL": "wss://fstream.binance.com/market"}, "QT_WS_URL=wss://fstream.binance.com/market: must be a base"),
    ({"QT_FEED_MAX_STREAMS": "1"}, "QT_FEED_MAX_STREAMS=1: must be at least 2 (a whole number of streams"),
    ({"QT_FEED_MAX_STREAMS": "1025"}, "QT_FEED_MAX_STREAMS=1025: must be at most 1024"),
    ({"QT_FEED_GRACE_S": "60"}, "QT_FEED_GRACE_S=60: must be at most 30 (seconds"),
    ({"QT_FEED_STALL_S": "1"}, "QT_FEED_STALL_S=1: must be at least 2 (seconds from 2 to 300 of silence"),
])
def test_bad_feed_settings_name_the_variable_and_what_is_allowed(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert says in str(caught.value)


def test_a_closed_kline_text_is_the_json_of_its_payload() -> None:
    app = create_app(make_sim(), api_key=API_KEY, api_secret="s")
    server = app.state.server
    for bar, closed in (((1_700_000_040_000, Decimal("600.10"), Decimal("601"), Decimal("599.5"), Decimal("1E+2"),
                          Decimal("1234.500"), Decimal("740762.01200000")), True),
                        ((0, Decimal("0"), Decimal("0.00001"), Decimal("0"), Decimal("-1.5"), Decimal(0), Decimal(0)),
                         False)):
        payload = kline_payload(server, "BNBUSDT", "1m", bar, closed)
        assert kline_text(server, "BNBUSDT", "1m", bar, closed) == encode(payload)
        assert json.loads(kline_text(server, "BNBUSDT", "1m", bar, closed)) == payload


def test_a_bar_closed_by_a_request_is_published_without_waiting_for_the_poll() -> None:
    """With a 30 s poll, only the wake-up on `/sim/v1/advance` can send the closed bar within 5 s."""
    with running_server(streams=StreamSettings(poll_s=30.0)) as server, \
            connect(f"{server.url.replace('http', 'ws')}/market/stream?streams=bnbusdt@kline_1m") as ws:
        json.loads(ws.recv(timeout=5))  # the open bar, sent on subscription
        time.sleep(0.2)  # the publisher's first round is over: it now sleeps on its poll
        httpx.post(f"{server.url}/sim/v1/advance", json={"seconds": 60}, headers={"X-MBX-APIKEY": API_KEY})
        message = json.loads(ws.recv(timeout=5))
    assert message["data"]["k"]["x"] is True
