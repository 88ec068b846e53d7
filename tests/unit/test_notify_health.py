"""/health tells when alerts cannot reach the user: `degraded` while a destination fails or drops messages.

In a user trial every alert failed while /health said `healthy`; only `notify.failed` and `last_error` showed
it. A destination that fails now makes the bot `degraded` (never `unhealthy` for this alone: trading and the
stops are not affected) until its next success. The session's service is built as the runtime builds it, on
the in-process simulator; the destination is a fake `send` (no network).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_notify_order import FAST, Fake, routine, until

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.core.metrics import Metrics
from quantum_trader.core.supervisor import RestartPolicy, TaskStatus
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.feeds.market_feed import FeedStatus
from quantum_trader.journal.reader import JournalReader
from quantum_trader.notify.sender import Notifier
from quantum_trader.runtime.app_service import SessionService
from quantum_trader.runtime.wiring import TradingRules, protect_engine, wire_engine
from quantum_trader.settings.model import load_settings
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor import MonitorConfig

SYMBOL = "BNBUSDT"
T0 = 1_800_000_000_000


async def service(notifier: Notifier) -> SessionService:
    """The session's service after its first sweep (a monitor that never swept is unhealthy on its own)."""
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=T0))
    sim.set_prices({SYMBOL: "896.80"})
    exchange, clock = InProcessExchange(sim), SimulatedClock(T0)
    engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules())
    metrics = Metrics()
    monitor, kill = protect_engine(engine, metrics, MonitorConfig())
    assert monitor is not None
    await monitor.sweep(reading=True)
    svc = SessionService(load_settings(env={}), engine, monitor, kill, JournalReader("sqlite://"), metrics,
                         FeedStatus("synthetic"))
    svc.notifier = notifier
    return svc


class DeadTask:
    """A supervisor with a dead task, as /health sees it."""

    healthy = False

    def __init__(self) -> None:
        self.tasks = {"monitor": TaskStatus("monitor", RestartPolicy(), state="failed",
                                            last_error="RuntimeError: boom")}

    def as_json(self) -> dict[str, Any]:
        return {name: task.as_json() for name, task in self.tasks.items()}


def test_health_is_degraded_while_a_destination_fails_and_healthy_again_after_it_recovers() -> None:
    dest = Fake("webhook", up=False)
    notifier = Notifier([dest.destination()], retry=FAST)

    async def scenario() -> list[dict[str, Any]]:
        svc = await service(notifier)
        seen = [await svc.health()]
        worker = asyncio.create_task(notifier.run())
        notifier.submit(routine("entry 1"))
        await until(lambda: notifier.failed == 1)
        seen.append(await svc.health())
        svc.supervisor = DeadTask()  # type: ignore[assignment]
        seen.append(await svc.health())
        svc.supervisor = None
        dest.up.set()
        notifier.submit(routine("entry 2"))
        assert await notifier.wait_idle(10.0)
        seen.append(await svc.health())
        worker.cancel()
        return seen

    before, failing, dead_task, after = asyncio.run(scenario())
    assert [h["status"] for h in (before, failing, dead_task, after)] == ["healthy", "degraded", "unhealthy",
                                                                           "healthy"]
    assert failing["notify"]["failing"] == ["webhook"] and failing["notify"]["per_destination"][0]["failing"]
    assert after["notify"]["failing"] == [] and after["notify"]["sent"] == 1
    # `reasons` says why, the worst first: a status and its reasons cannot disagree (runtime/health_reasons.py).
    assert before["reasons"] == [] and after["reasons"] == []
    assert failing["reasons"] == ["alert destination webhook is failing"]
    assert dead_task["reasons"] == ["task monitor is dead (failed): RuntimeError: boom",
                                    "alert destination webhook is failing"]


def test_health_is_degraded_while_a_destination_drops_messages() -> None:
    dest = Fake("webhook")
    notifier = Notifier([dest.destination()], retry=FAST, queue_max=2)

    async def scenario() -> tuple[str, str]:
        svc = await service(notifier)
        for n in range(3):  # no worker yet (as while one message takes minutes): the third is dropped
            notifier.submit(routine(f"entry {n}"))
        dropping = await svc.health()
        assert dropping["reasons"] == ["alert destination webhook is dropping new alerts (its queue is full)"]
        assert await notifier.drain(10.0) == 0
        return dropping["status"], (await svc.health())["status"]

    assert asyncio.run(scenario()) == ("degraded", "healthy")
    assert notifier.dropped == 1 and dest.got == ["entry 0", "entry 1"]
