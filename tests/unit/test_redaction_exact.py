"""The redactor masks exactly the secrets: what a trader reads (order ids, client ids, symbols, prices, log levels,
words) stays, in log lines, the journal's errors and the alerts built from them.

The lines are the shapes a paper session against `sim-server` logged (ccxt's debug lines, apprise's and the bot's
warnings) under a realistic configuration: an API key and secret, an API token, and notification URLs with
options (`priority=high&tags=warning`, `method=POST`, `format=markdown`) and a Telegram chat id. The old redactor
masked the options' values everywhere (every JSON line's `"level": "warning"`, every ccxt `POST ...` line) and
the chat id inside any longer number.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest
import structlog
from test_logging_redaction import _restore_logging  # noqa: F401  (autouse: logging as it was)

from quantum_trader.core.bus import EventBus
from quantum_trader.core.logging import REDACTED, Redactor, configure_logging
from quantum_trader.core.supervisor import TaskFailure, bus_reporter
from quantum_trader.domain.events import ErrorEvent
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.notify.messages import task_died_message
from quantum_trader.notify.redact import Scrubber, secret_parts

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_TOKEN = "qt-api-3f9a7c1e55b04d2e"
TG_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TOPIC = "qt-alerts-7f3a"
NOTIFY_URLS = (f"ntfy://127.0.0.1:21403/{TOPIC}?priority=high&tags=warning",
               "json://127.0.0.1:21404/hook/qt-7f3a9c?method=POST",
               f"tgram://{TG_TOKEN}/987654321?format=markdown")
SIGNATURE = "b45c1e93c24ea3c55a8791c28ea8fe3ec35829c6b072e05e0c281673f10a7d2e"
LISTEN_KEY = "SB0VligusCXlq8E2MARL5KUF4Oevf_mSnm_DBLnApshsu9cZyU1bxm1voAgCT6zs"
SECRETS = (API_KEY, API_SECRET, API_TOKEN, TG_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", TOPIC, "qt-7f3a9c",
           SIGNATURE, LISTEN_KEY)

ORDER_REQUEST = (
    f"POST http://127.0.0.1:21401/fapi/v1/order, Request: {{'X-MBX-APIKEY': '{API_KEY}', 'Content-Type': "
    "'application/x-www-form-urlencoded'} timestamp=1796472718217&symbol=BTCUSDT&side=BUY&type=MARKET"
    f"&quantity=0.043&newClientOrderId=qt-BTCUSDT_1_1-entry-0&recvWindow=5000&signature={SIGNATURE}")
ORDER_RESPONSE = (
    "POST http://127.0.0.1:21401/fapi/v1/order, Response: 200 {'Content-Type': 'application/json'} "
    '{"orderId":19876543210,"symbol":"BTCUSDT","status":"FILLED","clientOrderId":"qt-BTCUSDT_1_1-entry-0",'
    '"avgPrice":"107054.8","origQty":"0.043","time":1796475061581}')
LISTEN_RESPONSE = ("POST http://127.0.0.1:21401/fapi/v1/listenKey, Response: 200 {'Content-Type': "
                   f"'application/json'}} {{\"listenKey\":\"{LISTEN_KEY}\"}}")
INCOME_ROW = '{"symbol":"","incomeType":"TRANSFER","income":"-1000","tranId":9876543210987,"time":1796475061581}'
#: What the old redactor masked in these lines although none of it is a secret.
READABLE = ("POST http://127.0.0.1:21401/fapi/v1/order", "19876543210", "9876543210987", "qt-BTCUSDT_1_1-entry-0",
            "BTCUSDT", '"level": "warning"', "the bearer token for the bot's API",
            "QT_API_SECRET: the exchange refused them", "format=markdown in the template")


def _secrets() -> list[str]:
    found = [API_KEY, API_SECRET, API_TOKEN]
    for url in NOTIFY_URLS:
        found += secret_parts(url)
    return found


def _log_a_session() -> str:
    stream = io.StringIO()
    configure_logging(True, "DEBUG", _secrets(), stream=stream)
    ccxt = logging.getLogger("ccxt.base.exchange")
    for line in (ORDER_REQUEST, ORDER_RESPONSE, LISTEN_RESPONSE, INCOME_ROW):
        ccxt.debug(line)
    logging.getLogger("uvicorn.error").warning("A Connection error occurred sending JSON notification to 127.0.0.1.")
    log = structlog.get_logger("qt.test")
    log.warning("the bearer token for the bot's API is not set", secret_set=True, max_token_age_s=30)
    log.warning("QT_API_SECRET: the exchange refused them", symbol="BTCUSDT", venue_id="19876543210")
    log.info("format=markdown in the template", api_key=API_KEY, token=API_TOKEN, listenKey=LISTEN_KEY)
    log.info(f"Telegram POST URL: https://api.telegram.org/bot{TG_TOKEN}/sendMessage chat 987654321")
    return stream.getvalue()


def test_log_lines_keep_what_a_trader_reads_and_lose_every_secret() -> None:
    text = _log_a_session()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 9
    for readable in READABLE:
        assert readable in text, readable
    for secret in SECRETS:
        assert secret not in text, secret
    assert lines[0]["event"].endswith(f"signature={REDACTED}") and f"'X-MBX-APIKEY': '{REDACTED}'" in text
    assert f'"listenKey\\":\\"{REDACTED}\\"' in text  # the user stream's key, in ccxt's response line
    assert lines[5]["secret_set"] is True and lines[5]["max_token_age_s"] == 30  # named like, but no secret
    assert {lines[7][k] for k in ("api_key", "token", "listenKey")} == {REDACTED}
    assert lines[8]["event"] == f"Telegram POST URL: https://api.telegram.org/bot{REDACTED}/sendMessage chat {REDACTED}"


@pytest.mark.parametrize(("text", "shown"), [
    ("Authorization: Bearer abc.def", f"Authorization: Bearer {REDACTED}"),
    ("X-MBX-APIKEY: abcdef", f"X-MBX-APIKEY: {REDACTED}"),
    ('{"apiKey": "xyz", "symbol": "BNBUSDT"}', f'{{"apiKey": "{REDACTED}", "symbol": "BNBUSDT"}}'),
    ("QT_API_KEY=k1 QT_API_SECRET=s1 QT_SYMBOLS=5", f"QT_API_KEY={REDACTED} QT_API_SECRET={REDACTED} QT_SYMBOLS=5"),
    ("password: hunter2 and token: Xy9", f"password: {REDACTED} and token: {REDACTED}"),
    ("api_secret: correcthorsebatterystaple", f"api_secret: {REDACTED}"),
    ("curl -H 'Authorization: Bearer qt-api-1' /api/v1/trades",
     f"curl -H 'Authorization: Bearer {REDACTED}' /api/v1/trades"),
    ("GET /api/v1/stream?token=q1&limit=5", f"GET /api/v1/stream?token={REDACTED}&limit=5"),
    ("secret: required in live mode; key_hint=abc tokens=5", "secret: required in live mode; key_hint=abc tokens=5"),
])
def test_patterns_mask_named_credentials_only(text: str, shown: str) -> None:
    assert Redactor().text(text) == shown


def test_a_numeric_secret_is_masked_alone_never_inside_a_longer_number() -> None:
    scrub = Scrubber([f"tgram://{TG_TOKEN}/987654321"]).text
    assert scrub("chat 987654321 said") == f"chat {REDACTED} said"
    assert scrub("orderId 19876543210, tranId 9876543210987") == "orderId 19876543210, tranId 9876543210987"
    assert scrub(f"/bot{TG_TOKEN}/sendMessage") == f"/bot{REDACTED}/sendMessage"


def test_journal_errors_and_alerts_lose_the_configured_secrets_and_keep_the_rest(tmp_path: Path) -> None:
    """An error's text reaches the journal (the API's /errors) and an alert: the configured API key and secret are
    masked there too (the journal used to mask only patterns), and an order id or symbol is kept."""
    configure_logging(True, secrets=_secrets(), stream=io.StringIO())
    failure = TaskFailure(name="user-stream", error=f"ExchangeError: {ORDER_REQUEST} key {API_SECRET}",
                          traceback=f"Traceback ...\nExchangeError: {ORDER_RESPONSE} {API_KEY}", restarts=1,
                          recent_failures=1, gave_up=False, retry_in_s=1.0)
    published: list[ErrorEvent] = []
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with Journal.open(url) as journal:
        bus = EventBus()
        journal.attach(bus)
        bus.subscribe(ErrorEvent, published.append)

        async def run() -> None:
            await bus_reporter(bus, lambda: 5)(failure)
            await bus.publish(ErrorEvent(component="monitor", message=f"ExchangeError: {ORDER_REQUEST}", time_ms=6))
        asyncio.run(run())
    rows = JournalReader(url).errors()
    alert = task_died_message(published[0])
    seen = json.dumps(rows) + alert.title + alert.body
    for secret in (API_KEY, API_SECRET, SIGNATURE):
        assert secret not in seen, secret
    assert len(rows) == 2 and "19876543210" in seen and "qt-BTCUSDT_1_1-entry-0" in seen
    assert "POST http://127.0.0.1:21401/fapi/v1/order" in alert.body
