"""The user-data stream's pure parts: where it connects, and how stream events and REST readings agree
(a fill counted once whichever path reports it first; no order reopened by a late stream event)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.domain.exchange_types import (
    AccountSnapshot,
    BalanceUpdate,
    FillUpdate,
    OrderUpdate,
    PositionUpdate,
    WalletUpdate,
)
from quantum_trader.exchange import user_stream, wire
from quantum_trader.exchange.budget import BudgetRefused, Priority
from quantum_trader.exchange.ccxt_adapter import CcxtExchange
from quantum_trader.exchange.ccxt_poll import CcxtPoller
from quantum_trader.exchange.retry import RetryingExchange
from quantum_trader.exchange.user_stream import user_stream_of, ws_base
from quantum_trader.trading.monitor_view import StreamView

TRADE: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "E": 1000, "o": {
    "s": "BNBUSDT", "c": "T1-entry", "S": "BUY", "o": "MARKET", "ot": "MARKET", "X": "FILLED", "x": "TRADE",
    "i": 7, "t": 70, "q": "1", "z": "1", "ap": "600.5", "l": "1", "L": "600.5", "n": "0.3", "rp": "0", "T": 999}}
NEW: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "E": 900,
                       "o": {**TRADE["o"], "X": "NEW", "x": "NEW", "z": "0", "l": "0"}}
ACCOUNT: dict[str, Any] = {"e": "ACCOUNT_UPDATE", "E": 1001, "a": {"m": "ORDER", "B": [], "P": [
    {"s": "BNBUSDT", "pa": "2", "ep": "600", "up": "10", "mt": "isolated"}]}}


def _exchange(ws_url: str | None = None) -> CcxtExchange:
    return CcxtExchange("http://127.0.0.1:9", api_key="k", api_secret="s", ws_url=ws_url)


def _poller() -> CcxtPoller:
    return CcxtPoller(_exchange(), 5.0)


def test_the_websocket_base_follows_the_rest_base() -> None:
    assert ws_base("https://fapi.binance.com") == "wss://fstream.binance.com"
    assert ws_base("https://testnet.binancefuture.com") == "wss://fstream.binancefuture.com"
    assert ws_base("http://127.0.0.1:8090") == "ws://127.0.0.1:8090"
    assert ws_base("https://futures.example.org") == "wss://futures.example.org"


def test_an_explicit_websocket_url_wins() -> None:
    async def urls() -> tuple[str, str]:
        derived, explicit = _exchange(), _exchange(ws_url="wss://elsewhere.example/")
        try:
            return derived.user_stream.url, explicit.user_stream.url
        finally:
            await derived.close()
            await explicit.close()

    assert asyncio.run(urls()) == ("ws://127.0.0.1:9", "wss://elsewhere.example")


def test_a_stream_fill_already_read_back_over_rest_is_not_counted_twice() -> None:
    poller = _poller()
    snapshot = wire.order_from_stream(TRADE["o"])  # what a sweep read (REST) while the stream was buffering
    assert [type(e) for e in poller._order_changed(snapshot)] == [FillUpdate, OrderUpdate]
    admitted = poller.admit(wire.user_events(TRADE, poller.position_at))
    assert [type(e) for e in admitted] == [OrderUpdate]


def test_a_stream_fill_counts_once_and_a_late_stale_update_is_dropped() -> None:
    poller = _poller()
    first = poller.admit(wire.user_events(TRADE, poller.position_at))
    assert [type(e) for e in first] == [FillUpdate, OrderUpdate]
    assert poller.admit(wire.user_events(TRADE, poller.position_at)) == [first[1]]  # the same trade again: no fill
    assert poller.admit(wire.user_events(NEW, poller.position_at)) == []  # NEW after FILLED would reopen it
    assert poller._order_changed(wire.order_from_stream(TRADE["o"])) == []  # a sweep sees nothing new either


def test_a_stream_position_row_gets_its_mark_from_its_own_unrealised_pnl() -> None:
    poller = _poller()
    poller.leverage_changed("BNBUSDT", 7)
    [update] = poller.admit(wire.user_events(ACCOUNT, poller.position_at))
    assert isinstance(update, PositionUpdate) and update.reason == "ORDER"
    snap = update.snapshot
    assert (snap.amount, snap.entry, snap.mark, snap.leverage) == (Decimal(2), Decimal(600), Decimal(605), 7)
    assert snap.liquidation_price is None
    assert poller._positions_changed([snap]) == []  # a sweep reading the same position emits nothing


def test_an_account_update_gives_the_wallet_after_it_before_its_positions_whatever_its_reason() -> None:
    """The monitor's equity between its paced account readings (trading/monitor_view.py `apply_wallet`)."""
    poller = _poller()
    fill = {**ACCOUNT, "a": {**ACCOUNT["a"], "B": [{"a": "USDT", "wb": "9856.46", "cw": "9256.46", "bc": "0"}]}}
    events = wire.user_events(fill, poller.position_at)
    assert [type(e) for e in events] == [WalletUpdate, PositionUpdate]
    # `cw`: the wallet less isolated margin, what the margin rule reads (risk/rules.py MarginLeftRule)
    assert events[0] == WalletUpdate(wallet=Decimal("9856.46"), time_ms=1001, cross_wallet=Decimal("9256.46"))
    funding = {"e": "ACCOUNT_UPDATE", "E": 1002, "a": {"m": "FUNDING_FEE", "B": [
        {"a": "USDT", "wb": "9856.36", "bc": "-0.1"}], "P": []}}
    assert wire.user_events(funding, poller.position_at) == [
        BalanceUpdate(change=Decimal("-0.1"), reason="FUNDING_FEE", symbol=None, time_ms=1002),
        WalletUpdate(wallet=Decimal("9856.36"), time_ms=1002)]  # no `cw`: not known
    assert [type(e) for e in wire.user_events(ACCOUNT, poller.position_at)] == [PositionUpdate]  # no B row


def test_the_views_wallet_follows_the_stream_and_a_wallet_a_reading_holds_changes_nothing() -> None:
    view = StreamView()
    view.apply_wallet(Decimal("5"))  # nothing read yet: nothing to move
    assert view.account is None
    view.reset([], [], AccountSnapshot(wallet=Decimal("10000"), equity=Decimal("10000"), available=Decimal("9000")))
    view.apply_wallet(Decimal("9856.46"))  # a stop-out's realised loss and fee
    assert view.estimated_account() == AccountSnapshot(wallet=Decimal("9856.46"), equity=Decimal("9856.46"),
                                                       available=Decimal("8856.46"))
    view.apply_wallet(Decimal("9856.46"))  # told again (a reading, then the stream): absolute, not added twice
    assert view.account is not None and view.account.wallet == Decimal("9856.46")


class _Log:
    """The module's logger, recorded (whatever level an earlier test configured structlog at)."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, "log_level": "info", **fields})

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, "log_level": "warning", **fields})


def test_the_stream_says_when_it_is_back_and_health_shows_the_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    """User trial item 11: three `broke; reconnecting` warnings and no word that it came back. One outage (a break
    and a failed connect) ends in one info line when a connection is reconciled, and `status()` tells it."""
    recorded = _Log()
    monkeypatch.setattr(user_stream, "log", recorded)

    async def outage() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        exchange = _exchange()
        stream = exchange.user_stream
        assert user_stream_of(RetryingExchange(exchange)) is stream and user_stream_of(object()) is None
        statuses = [stream.status()]
        stream.live = True
        statuses.append(stream.status())
        stream.live, stream.last_break = False, "ConnectionClosedError: dropped"
        stream._broke()
        stream.last_break = "InvalidStatus: HTTP 403"
        stream._broke()  # the first reconnect fails too
        statuses.append(stream.status())
        stream.live = True
        stream._back(2)
        stream._back(0)  # a reconciliation that follows no outage says nothing
        statuses.append(stream.status())
        await exchange.close()
        return statuses, recorded.lines

    statuses, logs = asyncio.run(outage())
    assert [s["state"] for s in statuses] == ["connecting", "live", "down", "live"]
    assert statuses[2]["down_s"] is not None and statuses[2]["breaks"] == 2 and statuses[2]["reconnects"] == 0
    assert statuses[3]["down_s"] is None and statuses[3]["reconnects"] == 1 and statuses[3]["last_down_s"] >= 0
    assert statuses[3]["last_break"] == "InvalidStatus: HTTP 403"
    (back,) = [line for line in logs if line["event"] == "exchange event stream reconnected"]
    assert back["log_level"] == "info" and back["failed_connects"] == 1
    assert back["cause"] == "ConnectionClosedError: dropped" and "2 change(s) missed" in back["reconciled"]


@pytest.mark.parametrize(("refusal", "level"), [
    (BudgetRefused("request budget: GET /fapi/v2/positionRisk (weight 5) not sent", 30.0, priority=Priority.ROUTINE,
                   blocked=False), "info"),
    (ExchangeError(-1001, "Internal error", 503), "warning"),
])
def test_a_reconciliation_the_budget_paces_is_no_warning(monkeypatch: pytest.MonkeyPatch, refusal: ExchangeError,
                                                         level: str) -> None:
    """Trial: right after a restart the reading after the stream's connect met the budget's routine pacing and
    logged a warning, though it is the design (tried again shortly); an exchange's own failure stays a warning."""
    recorded = _Log()
    monkeypatch.setattr(user_stream, "log", recorded)

    class Refusing:
        async def reconcile(self) -> list[Any]:
            raise refusal

    async def attempt() -> list[Any]:
        exchange = _exchange()
        stream = exchange.user_stream
        monkeypatch.setattr(stream, "_reconciler", Refusing())
        try:
            return await stream._reconcile()
        finally:
            await exchange.close()

    assert asyncio.run(attempt()) == []
    assert [(line["event"], line["log_level"]) for line in recorded.lines] == [
        ("user-stream reconciliation failed; retrying", level)]
