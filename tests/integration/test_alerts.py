"""Done-when of issue 12's alerts: a stop-out arrives at a `json://` receiver with the realised loss.

The engine as a session wires it (in-process simulator, real bus, execution, trade tracker, kill switch)
opens a long, the market runs through its stop, and a real HTTP receiver on 127.0.0.1 gets the entry
and then the exit with the realised loss in USDT and % of equity and the planned loss, figures equal
to the stop audit's for the same trade. Then the kill switch. The real bot (`quantum-trader run`) is
checked too: its wiring, /health's `notify` object (redacted), and a bad URL refused with exit 2; and,
against `sim-server`, a position left without a stop (the exchange refusing orders), its repair, and a
request-weight ban (418).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_notify_receiver import Receiver, receiving
from test_run_session import BIN, bot_env, free_port, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, refuse_orders_and_cancel_stop, running_server

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.domain.events import Direction, ExitReason, KillSwitch, ProtectionAction, Signal, TradeClosed
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.notify.messages import pct, usdt
from quantum_trader.notify.sender import Notifier, RetryPolicy, notifier_from_urls
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import Engine, TradingRules, alerts_for, protect_engine, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.audit import audit_row
from quantum_trader.trading.monitor import MonitorConfig
from quantum_trader.trading.stop_witness import ACTION as STOP_WITNESSED

SYMBOL = "BNBUSDT"
T0 = 1_800_000_000_000
FAST = RetryPolicy(attempts=3, base_delay_s=0.05, max_delay_s=0.1)


def wired(receiver: Receiver | None) -> tuple[ExchangeSimulator, InProcessExchange, SimulatedClock, Engine,
                                                Notifier | None]:
    """The engine as a session wires it (alerts first when there is a receiver), on the in-process simulator."""
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=T0))
    sim.set_prices({SYMBOL: "896.80"})
    exchange, clock = InProcessExchange(sim), SimulatedClock(T0)
    notifier = notifier_from_urls([receiver.url("alerts")], retry=FAST) if receiver else None
    engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(),
                         observers=(alerts_for(notifier).attach,) if notifier else ())
    protect_engine(engine, Metrics(), MonitorConfig(), with_monitor=False)
    return sim, exchange, clock, engine, notifier


async def long_stopped_at(price: str, sim: ExchangeSimulator, exchange: InProcessExchange, clock: SimulatedClock,
                          engine: Engine) -> None:
    """A long opened at 896.80 (its stop at 878.9, 2 % below), then the market steps to `price` 90 s later."""
    exchange.drain()
    await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.LONG, confidence=1.0, source="force",
                                    time_ms=clock.now_ms()))
    await publish_all(engine.bus, clock, exchange.drain())
    sim.advance(90)
    clock.advance(90)
    sim.set_prices({SYMBOL: price})
    await publish_all(engine.bus, clock, exchange.drain())


async def stop_out_then_kill(receiver: Receiver | None) -> tuple[list[TradeClosed], list[str]]:
    """A long stopped out, then a short closed by the kill switch; returns the closes and every bus event."""
    sim, exchange, clock, engine, notifier = wired(receiver)
    closed: list[TradeClosed] = []
    seen: list[str] = []
    engine.bus.subscribe(TradeClosed, closed.append)
    engine.bus.subscribe(object, lambda event: seen.append(repr(event)))
    worker = asyncio.create_task(notifier.run()) if notifier else None
    await long_stopped_at("878.8", sim, exchange, clock, engine)  # just through the long's stop
    await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.SHORT, confidence=1.0, source="force",
                                    time_ms=clock.now_ms()))
    await publish_all(engine.bus, clock, exchange.drain())
    await engine.bus.publish(KillSwitch(reason="manual kill switch", time_ms=clock.now_ms()))
    await publish_all(engine.bus, clock, exchange.drain())
    if notifier is not None and worker is not None:
        assert await notifier.wait_idle(30.0)
        worker.cancel()
        assert (notifier.failed, notifier.queued) == (0, 0)
    return closed, seen


def test_a_stop_out_arrives_at_a_json_receiver_with_the_realised_and_planned_loss_after_its_entry() -> None:
    with receiving() as receiver:
        closed, _ = asyncio.run(stop_out_then_kill(receiver))
        got = receiver.wait_for(6)
    stop, killed = closed
    assert (stop.exit_reason, killed.exit_reason) == (ExitReason.STOP_LOSS, ExitReason.KILL_SWITCH)
    titles = [m["title"] for m in got]
    kinds = [t.split(" ")[0] for t in titles]
    # the kill switch's summary is published before the exchange reports the exit's fill (the pump hears it)
    assert kinds == ["Entry", "Exit", "Entry", "Kill", "Kill", "Exit"], titles
    assert titles[4] == "Kill switch done" and receiver.paths == ["/alerts"] * 6
    row = audit_row(stop)  # the stop audit's own figures for the same trade
    assert row.realised.usdt < 0 and stop.planned_loss is not None
    entry, exit_ = got[0], got[1]
    assert titles[0].startswith(f"Entry {SYMBOL} long @ ") and entry["type"] == "info"
    assert f"Planned loss at the stop: {usdt(stop.planned_loss)} USDT" in entry["message"]
    assert titles[1] == (f"Exit {SYMBOL} long (stop_loss): {usdt(row.realised.usdt)} USDT "
                         f"({pct(row.realised.pct_equity)} of equity)")
    body = exit_["message"]
    assert f"Realised P&L: {usdt(row.realised.usdt)} USDT = {pct(row.realised.pct_equity)} of equity" in body
    assert f"{pct(row.realised.pct_notional)} of notional, {pct(row.realised.pct_margin)} of margin" in body
    assert f"Planned loss: {usdt(stop.planned_loss)} USDT (breach above {usdt(row.loss_limit or Decimal(0))} USDT)" \
        in body
    assert "BREACH" not in body and not row.breach
    assert "manual kill switch" in got[3]["message"] and got[3]["type"] == "failure"
    assert "(kill_switch)" in titles[5] and "closed 1" in got[4]["message"]


async def gapped_stop_out(receiver: Receiver) -> tuple[TradeClosed, ProtectionAction, Decimal]:
    """A long whose stop (878.9) the market jumps through to 860: the trade, the stop witness's action and the
    stop's trigger (what the journal holds of the stop order that filled)."""
    sim, exchange, clock, engine, notifier = wired(receiver)
    assert notifier is not None
    closed: list[TradeClosed] = []
    witnessed: list[ProtectionAction] = []
    engine.bus.subscribe(TradeClosed, closed.append)
    engine.bus.subscribe(ProtectionAction, lambda a: witnessed.append(a) if a.action == STOP_WITNESSED else None)
    worker = asyncio.create_task(notifier.run())
    await long_stopped_at("860", sim, exchange, clock, engine)
    assert await notifier.wait_idle(30.0)
    worker.cancel()
    [stop], [witness] = closed, witnessed
    [trigger] = [a.trigger_price for a in sim.all_algo_orders(SYMBOL) if a.client_algo_id == witness.client_id]
    return stop, witness, trigger


def test_a_stop_jumped_through_is_announced_as_the_audit_judges_it() -> None:
    """The exit alert said "BREACH" while the audit said "BREACH (gap)" and why: the alert now judges on the mark
    the stop witness read (published before the trade closes), as the audit reads it back from the journal."""
    with receiving() as receiver:
        stop, witness, trigger = asyncio.run(gapped_stop_out(receiver))
        got = receiver.wait_for(2)
    assert stop.exit_reason is ExitReason.STOP_LOSS and witness.price == Decimal("860")
    row = audit_row(stop, trigger=trigger, after_trigger=witness.price)  # the audit, with the journal's evidence
    assert row.breach and row.gap_explained and row.realised is not None
    exit_ = got[1]
    assert exit_["title"] == (f"BREACH (gap) Exit {SYMBOL} long (stop_loss): {usdt(row.realised.usdt)} USDT "
                              f"({pct(row.realised.pct_equity)} of equity)")
    assert f"BREACH (gap): {row.breach_reason}" in exit_["message"]
    assert f"explained by a gap: the price jumped through the stop {trigger} to 860" in exit_["message"]


def test_alerts_do_not_change_the_event_log() -> None:
    with receiving() as receiver:
        _, with_alerts = asyncio.run(stop_out_then_kill(receiver))
    _, without = asyncio.run(stop_out_then_kill(None))
    assert with_alerts == without and len(without) > 20


def test_the_bot_sends_entry_kill_switch_and_exit_and_shows_its_redacted_status(tmp_path: Path) -> None:
    with receiving() as receiver:
        url = f"json://bot:s3cr3t-pw@127.0.0.1:{receiver.port}/bot"
        env = bot_env(tmp_path, QT_SPEED="1", QT_NOTIFY_URLS=url)
        with running_bot(env) as (_proc, api):
            answer = httpx.post(f"{api}/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "long"}).json()
            assert answer["accepted"] is True, answer
            assert httpx.post(f"{api}/api/v1/kill-switch").json()["closed_positions"] == 1
            receiver.wait_for_kind(lambda m: m["title"].startswith("Exit BTCUSDT long (kill_switch)"))
            health: dict[str, Any] = wait_for(lambda: _notify_done(api))
            metrics = httpx.get(f"{api}/metrics").text
        got = receiver.received
    assert f'qt_notifications{{result="sent"}} {float(health["sent"])}' in metrics
    assert 'qt_notifications{result="failed"} 0.0' in metrics and "s3cr3t-pw" not in metrics
    kinds = [m["title"].split(" ")[0] for m in got]
    assert kinds.index("Entry") < kinds.index("Kill") < kinds.index("Exit"), kinds
    assert health["destinations"] == [f"json://**********@127.0.0.1:{receiver.port}/**********"]
    assert health["failed"] == 0 and health["last_error"] is None and "s3cr3t-pw" not in str(health)


def _notify_done(api: str) -> dict[str, Any] | None:
    status = httpx.get(f"{api}/health").json().get("notify")
    return status if status and status["queued"] == 0 and status["sent"] >= 3 else None


#: The user trial's QT_NOTIFY_URLS: the webhook key and the ntfy topic are in the path, not the user part.
PATH_SECRETS = ("XyZsecretWebhookToken123", "my-secret-topic", "/hooks/T0AAA", "T0AAA/")


def test_health_shows_no_secret_of_a_path_even_after_a_failed_send(tmp_path: Path) -> None:
    """/health is open without the token (a load balancer's probe), so it must hold nothing secret."""
    closed = free_port()  # nothing listens there: every send is refused
    urls = (f"json://127.0.0.1:{closed}/hooks/T0AAA/XyZsecretWebhookToken123,"
            f"ntfy://127.0.0.1:{closed}/my-secret-topic")
    env = bot_env(tmp_path, QT_SPEED="1", QT_NOTIFY_URLS=urls, QT_API_TOKEN="the-test-token")
    with running_bot(env) as (proc, api):
        before = httpx.get(f"{api}/health").text
        answer = httpx.post(f"{api}/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "long"},
                            headers={"Authorization": "Bearer the-test-token"}, timeout=30).json()
        assert answer["accepted"] is True, answer
        wait_for(lambda: httpx.get(f"{api}/health").json()["notify"]["failed"] >= 2, timeout=60)
        after = httpx.get(f"{api}/health")
        metrics = httpx.get(f"{api}/metrics", headers={"Authorization": "Bearer the-test-token"}).text
        proc.send_signal(signal.SIGTERM)
        _, logs = proc.communicate(timeout=60)
    notify = after.json()["notify"]
    assert after.json()["status"] == "degraded" and notify["failing"], notify  # alerts cannot reach the user
    assert f"qt_notify_destinations_failing {float(len(notify['failing']))}" in metrics  # a scraper can alert on it
    assert notify["destinations"] == [f"json://127.0.0.1:{closed}/**********", f"ntfy://127.0.0.1:{closed}/**********"]
    assert notify["last_error"].startswith(f"json://127.0.0.1:{closed}/**********: ") or \
        notify["last_error"].startswith(f"ntfy://127.0.0.1:{closed}/**********: "), notify
    for text in (before, after.text, logs):
        assert not [s for s in PATH_SECRETS if s in text], text[-3000:]
    assert "notification failed" in logs  # the failure was logged, scrubbed


def test_a_bad_notification_url_stops_the_bot_with_exit_2_naming_the_entry(tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_NOTIFY_URLS="json://127.0.0.1:9/ok,nosuch://user:t0ps3cret@host/x")
    done = subprocess.run([str(BIN), "run"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "QT_NOTIFY_URLS=**********: entry 2 of 2 (nosuch://**********)" in done.stderr
    assert "t0ps3cret" not in done.stderr + done.stdout


def test_against_sim_server_an_unprotected_position_its_repair_and_a_ban_are_announced(tmp_path: Path) -> None:
    # The ban outlasts a minute: a bot request that met the ban's 429s first holds every call until the minute's
    # end (its Retry-After), and with a 5 s ban it never met the 418 at all (CI, under load: no ban alert).
    with running_server(weight_limit=800, ban_base_ms=90_000) as server, receiving() as receiver:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT,BTCUSDT,ETHUSDT", QT_SPEED="1", QT_MONITOR_INTERVAL="1.0",
                      QT_RECONCILE_INTERVAL="0", QT_NOTIFY_URLS=receiver.url("ops"))
        with running_bot(env) as (_proc, url):
            answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BNBUSDT", "side": "long"},
                                timeout=30).json()
            assert answer["accepted"] is True, answer
            try:  # the entry is announced once its stop and take-profit are read back (slow on a loaded machine)
                receiver.wait_for_kind(lambda m: m["title"].startswith("Entry BNBUSDT long"), timeout=45)
            except AssertionError as missing:
                health = httpx.get(f"{url}/health", timeout=10).json()
                trades = httpx.get(f"{url}/api/v1/trades", timeout=10).json()
                raise AssertionError(f"{missing}; notify {health.get('notify')}; trades {trades}") from None
            refuse_orders_and_cancel_stop(server, "BNBUSDT", "BNB/USDT:USDT")
            naked = receiver.wait_for_kind(lambda m: m["title"].startswith("BNBUSDT: UNPROTECTED for "))
            assert naked["type"] == "failure" and "monitor interval 1 s" in naked["message"]
            server.control("/sim/v1/faults", {"kind": "clear"})  # the exchange recovers: the monitor repairs
            repaired = receiver.wait_for_kind(lambda m: "protection repaired" in m["title"], timeout=30)
            assert "stop-loss missing" in repaired["message"] and repaired["type"] == "success"
            _ban_this_ip(server.url)
            ban = receiver.wait_for_kind(lambda m: m["title"].startswith("Exchange request budget: IP banned"),
                                         timeout=80)
            assert "banned_until_ms=" in ban["message"]
        titles = [m["title"] for m in receiver.received]
    assert titles.index(naked["title"]) < titles.index(repaired["title"]) < titles.index(ban["title"])


def _ban_this_ip(base: str) -> None:
    """40 weight a request (24h tickers of every symbol) until the server answers 418 (as test_live_budget)."""
    with httpx.Client() as client:
        for _ in range(200):
            if client.get(f"{base}/fapi/v1/ticker/24hr").status_code == 418:
                return
    raise AssertionError("the server never banned this IP")
