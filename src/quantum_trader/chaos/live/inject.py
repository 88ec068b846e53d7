"""Applying the scheduled faults: each through the path such a fault takes in real life.

Network faults go through the simulator server's control routes; a hand cancel goes to the exchange
itself (the simulator, under the server's lock, as a person at the Binance UI would: the bot hears it
only as an ALGO_UPDATE on its user stream, if that is up); `kill -9` goes to the process, and a restart
on the same journal follows a few seconds later (sometimes with an entry in flight at the kill). A bot
that exits on its own (a crash) is restarted as its systemd unit would (deploy/quantum-trader.service:
Restart=on-failure, RestartSec=5), and the crash is reported; that time is the bot's own and counts. A
fault the server cannot apply (an older server without `/sim/v1/faults`) is logged as skipped, never
silently counted as injected.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..report import is_working_stop
from .bot import BotProcess
from .faults import CLOCK_STEP, KILL, MANUAL_CANCEL, REST_KINDS, Fault
from .observer import LiveObserver
from .server import SimServer

#: deploy/quantum-trader.service: what restarts a crashed bot in production, and after how long.
RESTART_SEC = 5.0


@dataclass
class Restart:
    at_s: float
    down_s: float
    #: Seconds from the new process's spawn until it served /health after its start-up sweep (None: never).
    ready_s: float | None
    #: "kill -9", "kill -9 with an entry in flight", or "crash (exit N): <its last error line>".
    cause: str


@dataclass
class Injector:
    server: SimServer
    bot: BotProcess
    observer: LiveObserver
    started: float
    log: list[dict[str, Any]] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    restarts: list[Restart] = field(default_factory=list)
    manual_cancels: int = 0
    #: Set while the bot is dead or starting: entries wait, and so does the next kill.
    restarting: bool = False
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)

    async def apply(self, fault: Fault) -> None:
        at = self.elapsed()
        try:
            note = await self._apply(fault)
        except (httpx.HTTPError, ValueError) as exc:
            note = f"skipped: {type(exc).__name__}: {exc}"[:200]
        kept = note.startswith("skipped")
        (self.skipped if kept else self.injected)[fault.kind] += 1
        self.log.append({"t_s": at, "planned_s": fault.at_s, "fault": fault.describe(), "result": note})

    async def _apply(self, fault: Fault) -> str:
        if fault.kind in REST_KINDS:
            if not await self.server.serves("/sim/v1/faults"):
                return "skipped: this server has no /sim/v1/faults"
            answer = await self.server.control("/sim/v1/faults", fault.params)
            return f"armed {len(answer.get('faults', []))} fault(s)"
        if fault.kind == MANUAL_CANCEL:
            return self._cancel_by_hand(float(fault.params["pick"]))
        if fault.kind == CLOCK_STEP:
            if not await self.server.serves("/sim/v1/clock"):
                return "skipped: this server has no /sim/v1/clock"
            answer = await self.server.control("/sim/v1/clock", fault.params)
            return f"exchange clock {int(answer.get('offset_ms', 0)):+d} ms from the bot's"
        if fault.kind == KILL:
            if self.restarting or not self.bot.alive:
                return "skipped: the bot is already down"
            return await self._kill(fault.params)
        answer = await self.server.control("/sim/v1/streams", fault.params)
        return f"{answer.get('connections', 0)} connection(s) affected"

    def _cancel_by_hand(self, pick: float) -> str:
        """Cancel one working stop (else any protection order) of an open position, on the exchange."""
        sim = self.server.sim
        with self.server.lock:
            algos = sorted(sim.open_algo_orders(), key=lambda a: a.client_algo_id)
            stops = [a for a in algos if is_working_stop(a, sim.position(a.symbol).amount)]
            choice = stops or algos
            if not choice:
                return "skipped: no protection order open"
            algo = choice[int(pick * len(choice))]
            sim.cancel_algo_order(client_algo_id=algo.client_algo_id)
        self.manual_cancels += 1
        return f"cancelled {algo.client_algo_id} ({algo.order_type.value}) by hand"

    async def _kill(self, params: dict[str, Any]) -> str:
        """kill -9 (after an entry request is sent, when asked), then the restart in the background."""
        self.restarting = True
        entry: asyncio.Task[Any] | None = None
        during = bool(params["during_entry"])
        if during:
            symbol = self._flat_symbol()
            if symbol is not None:
                entry = asyncio.create_task(self.bot.force_entry(symbol, "long"))
                await asyncio.sleep(int(params["after_ms"]) / 1000)
        self.observer.bot_down()
        self.bot.kill9()
        cause = "kill -9 with an entry in flight" if entry is not None else "kill -9"
        self._background(self._restart(self.elapsed(), float(params["down_s"]), cause, excluded=True))
        if entry is not None:
            await asyncio.gather(entry, return_exceptions=True)
        how = " with an entry in flight" if entry is not None else ""
        return f"killed (SIGKILL){how}; restart in {params['down_s']} s"

    def check_crash(self) -> None:
        """A bot that exited although nobody killed it crashed: restart it as systemd would. The time it is
        down is not excluded from unprotected stretches (its own failure, unlike a kill)."""
        if self.restarting or self.bot.alive or self.bot.proc is None:
            return
        self.restarting = True
        cause = f"crash (exit {self.bot.proc.returncode}): {self.bot.last_error()}"
        self.log.append({"t_s": self.elapsed(), "planned_s": None, "fault": "none: the bot exited by itself",
                         "result": f"{cause}; restart in {RESTART_SEC:g} s"})
        self._background(self._restart(self.elapsed(), RESTART_SEC, cause, excluded=False))

    def _background(self, restart: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(restart)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart(self, at_s: float, down_s: float, cause: str, *, excluded: bool) -> None:
        await asyncio.sleep(down_s)
        if excluded:
            self.observer.bot_restarted()
        self.bot.spawn()
        ready = await self.bot.wait_ready()
        self.restarts.append(Restart(at_s, down_s, None if ready is None else round(ready, 3), cause))
        self.restarting = False

    async def settle(self) -> None:
        """Wait for a restart still under way (the campaign grades a running bot)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _flat_symbol(self) -> str | None:
        sim = self.server.sim
        with self.server.lock:
            flat = [s for s in sorted(sim.state.instruments) if sim.position(s).amount == 0]
        return flat[0] if flat else None

    async def clear(self) -> None:
        """No REST fault or clock step outlives the campaign's active part (the quiet end and the final grading)."""
        if await self.server.serves("/sim/v1/faults"):
            await self.server.control("/sim/v1/faults", {"kind": "clear"})
        if await self.server.serves("/sim/v1/clock"):
            await self.server.control("/sim/v1/clock", {"offset_ms": 0})

    async def server_counts(self) -> dict[str, Any]:
        """What the server says it injected (`GET /sim/v1/faults`), when it has the route."""
        if not await self.server.serves("/sim/v1/faults"):
            return {}
        answer = await self.server.read("/sim/v1/faults")
        injected = answer.get("injected", {})
        return dict(injected) if isinstance(injected, dict) else {}
