"""The live-path chaos campaign: the real bot, as its own process, against the simulator server over
loopback with Binance's weights enforced, while seeded faults hit the network, the exchange and the
process; graded by an observer that reads the exchange, not the bot.

One loop on the wall clock: every 100 ms the observer looks at the exchange; every 0.5–1 s the market
steps; every second the bot's /health and the server's weight count are sampled; entries are asked of
the bot (`POST /api/v1/force-entry`) every few seconds; faults fire on their seeded schedule (a kill
and its restart run in the background so the looks go on). The last seconds are quiet (no fault), then
REST faults are cleared, a restart still under way is awaited, and the end is graded: positions on the
exchange that the bot's own `/api/v1/positions` does not show protected are unknown positions.
"""

from __future__ import annotations

import asyncio
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .bot import BotProcess
from .faults import Fault, FaultPlan, schedule
from .inject import Injector
from .market import Market, MarketConfig
from .observer import OBSERVE_EVERY_S, LiveObserver, grading_observer, wall_ms
from .report import live_report
from .server import SimServer, build_sim, running_server
from .targets import Targets

SAMPLE_EVERY_S = 1.0
Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class LiveConfig:
    duration_s: float = 120.0
    seed: int = 1
    symbols: int = 5
    balance: str = "10000"
    weight_limit: int = 2400
    #: Seconds between entry requests (uniform), while the bot is up and no entry is in flight.
    entry_gap_s: tuple[float, float] = (3.0, 9.0)
    faults: FaultPlan = field(default_factory=FaultPlan)
    market: MarketConfig = field(default_factory=MarketConfig)
    #: QT_ settings changed on purpose (a test hook: a bot with a slow monitor must fail the campaign).
    bot_env: dict[str, str] = field(default_factory=dict)
    #: Where the journal and the bot's log go (kept); a temporary folder when None.
    workdir: Path | None = None
    #: Test hook: these faults instead of the seeded schedule (a scenario built to prove the grader fails).
    fault_override: tuple[Fault, ...] | None = None


@dataclass
class Entries:
    rng: random.Random
    gap_s: tuple[float, float]
    next_at: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)
    task: asyncio.Task[None] | None = None

    def schedule_next(self, now: float) -> None:
        self.next_at = now + self.rng.uniform(*self.gap_s)

    def due(self, now: float) -> bool:
        return now >= self.next_at and (self.task is None or self.task.done())


class LiveCampaign:
    def __init__(self, config: LiveConfig, server: SimServer, bot: BotProcess) -> None:
        self.config, self.server, self.bot = config, server, bot
        self.targets = Targets.for_limit(config.weight_limit)
        self.started = time.monotonic()
        self.start_ms = wall_ms()
        slack = self.targets.unprotected_limit_s
        self.observer = LiveObserver(server, grading_observer(server, self.start_ms, slack))
        self.injector = Injector(server, bot, self.observer, self.started)
        self.market = Market(server, random.Random(f"chaos-live-market:{config.seed}"), config.market)
        self.entries = Entries(random.Random(f"chaos-live-entries:{config.seed}"), config.entry_gap_s)
        self.faults = (list(config.fault_override) if config.fault_override is not None
                       else schedule(config.seed, config.duration_s, config.faults))
        self.errors: list[str] = []

    async def run(self, first_ready_s: float | None, progress: Progress | None = None) -> dict[str, Any]:
        await self._loop(progress)
        await self.injector.clear()
        await self.injector.settle()
        if self.entries.task is not None:  # an entry still in flight is part of what is graded
            await asyncio.gather(self.entries.task, return_exceptions=True)
        for _ in range(int(2 / OBSERVE_EVERY_S)):  # a last two seconds of looks at a running bot
            self.observer.look()
            await asyncio.sleep(OBSERVE_EVERY_S)
        self.observer.finish()
        unknown = await self._unknown_positions()
        server_counts = await self.injector.server_counts()
        await self.observer.sample(self.bot)
        exit_code = self.bot.stop()
        return live_report(self, first_ready_s=first_ready_s, unknown=unknown, server_counts=server_counts,
                           exit_code=exit_code)

    async def _loop(self, progress: Progress | None) -> None:
        pending = list(self.faults)
        next_step = next_sample = 0.0
        self.entries.schedule_next(0.0)
        while (now := time.monotonic() - self.started) < self.config.duration_s:
            self.observer.look()
            self.injector.check_crash()
            if now >= next_step:
                await self._guarded("market step", self.market.step())
                next_step = now + self.market.next_step_in()
            if now >= next_sample:
                await self._guarded("sample", self.observer.sample(self.bot))
                next_sample = now + SAMPLE_EVERY_S
                if progress is not None:
                    progress(now)
            while pending and pending[0].at_s <= now:
                await self.injector.apply(pending.pop(0))
                self.observer.look()  # a stretch a fault opens is timed from the fault, not the next tick
            if self.entries.due(now):
                self._enter(now)
            await asyncio.sleep(max(0.0, OBSERVE_EVERY_S - (time.monotonic() - self.started - now)))

    def _enter(self, now: float) -> None:
        """One entry request in the background (risk may refuse it: that is an answer, not an error)."""
        self.entries.schedule_next(now)
        symbols = sorted(self.server.sim.state.instruments)
        symbol, side = self.entries.rng.choice(symbols), self.entries.rng.choice(("long", "short"))
        if self.injector.restarting or not self.bot.alive:
            self.entries.answers["not sent: bot down"] += 1
            return

        async def send() -> None:
            answer = await self.bot.force_entry(symbol, side)
            reason = re.sub(r"\d+(\.\d+)?", "N", str(answer.get("reason")))[:70]  # one row per kind of refusal
            key = "accepted" if answer.get("accepted") else f"refused: {reason}"
            self.entries.answers[key] += 1

        self.entries.task = asyncio.create_task(send())

    async def _guarded(self, what: str, step: Any) -> None:
        try:
            await step
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            if len(self.errors) < 20:
                self.errors.append(f"t={time.monotonic() - self.started:.1f}s {what}: {type(exc).__name__}: {exc}")

    async def _unknown_positions(self) -> list[dict[str, Any]]:
        """Positions on the exchange the bot's own view does not show, or shows without a stop-loss."""
        view = await self.bot.positions()
        shown = {row["symbol"]: row for row in view or []}
        sim = self.server.sim
        with self.server.lock:
            open_now = {s: sim.position(s).amount for s in sorted(sim.state.instruments) if sim.position(s).amount}
        return [{"symbol": s, "amount": str(amount), "bot_view": "no answer" if view is None else
                 ("missing" if s not in shown else "no stop-loss")}
                for s, amount in open_now.items() if view is None or shown.get(s, {}).get("stop_loss") is None]


async def run_live_campaign_async(config: LiveConfig, progress: Progress | None = None) -> dict[str, Any]:
    if config.duration_s < 30:
        raise ValueError(f"--duration: {config.duration_s} s is too short for a campaign (at least 30)")
    with tempfile.TemporaryDirectory(prefix="qt-chaos-live-") as tmp:
        workdir = config.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        async with httpx.AsyncClient() as client:
            with running_server(build_sim(config.symbols, config.balance), client,
                               weight_limit=config.weight_limit) as server:
                bot = BotProcess(server.url, tuple(server.sim.state.instruments), workdir, client,
                                 extra_env=dict(config.bot_env))
                bot.spawn()
                try:
                    ready = await bot.wait_ready()
                    if ready is None:
                        tail = bot.log_path.read_text(errors="replace")[-1500:]
                        raise RuntimeError(f"the bot did not start; the end of its log:\n{tail}")
                    return await LiveCampaign(config, server, bot).run(ready, progress)
                finally:
                    bot.stop()


def run_live_campaign(config: LiveConfig, progress: Progress | None = None) -> dict[str, Any]:
    """On a fresh event loop (the CLI's entry point)."""
    return asyncio.run(run_live_campaign_async(config, progress))
