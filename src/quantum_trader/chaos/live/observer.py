"""The live campaign's independent observer: the exchange's own state every ~100 ms of wall time.

The grading rules are the in-process campaign's (`chaos.report.Observer`: working stops, unprotected
stretches per position episode, duplicate orders by client id and by trade and purpose), fed here with
wall-clock milliseconds and a look under the server's lock. Two things differ because the bot is a
real process on the wall clock:
- a look every 100 ms sees a replace-before-cancel in flight, which is legitimate; an overlap is a
  duplicate only when it outlives one monitor interval plus one reconnect (the target's own slack);
- while the process is dead (kill -9 until the restart) no bot can act: that window is not counted
  (`Observer.exclude`), so a stretch that begins while it is dead counts from the restart. The restart
  is the new process's spawn: its start-up (imports, connecting, the start-up sweep) counts.
Besides, the bot's `/health` and the server's per-IP request weight (`/sim/v1/limits`) are sampled.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..report import WORKING_STOP_TYPES, Observer
from .bot import BotProcess
from .server import SimServer

OBSERVE_EVERY_S = 0.1
LOOPBACK = "127.0.0.1"


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def grading_observer(server: SimServer, start_ms: int, slack_s: float) -> Observer:
    """The shared rules, with overlaps allowed for `slack_s` of 100 ms looks."""
    looks = max(2, math.ceil(slack_s / OBSERVE_EVERY_S) + 1)
    return Observer(server.sim, tuple(server.sim.state.instruments), start_ms, overlap_observations=looks,
                    twin_observations=looks)


@dataclass
class Limits:
    """The server's count of the bot's IP: peak weight in any minute, 429s answered, 418 bans."""

    peak_weight: int = 0
    refused_429: int = 0
    bans: int = 0
    banned_until: int | None = None
    samples: int = 0

    def update(self, report: dict[str, Any]) -> None:
        self.samples += 1
        for row in report.get("ips", []):
            if row.get("ip") != LOOPBACK:
                continue
            self.peak_weight = max(self.peak_weight, int(row.get("usedWeight", 0)), int(row.get("peakWeight1m", 0)))
            self.refused_429 = max(self.refused_429, int(row.get("refused429Total", row.get("refused429", 0))))
            self.bans = max(self.bans, int(row.get("bans", 0)))
            self.banned_until = row.get("bannedUntil") or self.banned_until


@dataclass
class LiveObserver:
    server: SimServer
    rules: Observer
    limits: Limits = field(default_factory=Limits)
    health: Counter[str] = field(default_factory=Counter)
    #: /health answers that were not `healthy`, one compact row each: when, and the figures that say why.
    unhealthy: list[dict[str, Any]] = field(default_factory=list)
    looks: int = 0
    _down_since: int | None = None

    def look(self) -> None:
        """One look at the exchange, between two requests."""
        with self.server.lock:
            self.rules.observe(wall_ms())
        self.looks += 1

    def bot_down(self) -> None:
        self._down_since = wall_ms()

    def bot_restarted(self) -> None:
        """The new process was spawned: the dead window no longer counts against the bot."""
        if self._down_since is not None:
            with self.server.lock:
                self.rules.exclude(self._down_since, wall_ms())
            self._down_since = None

    async def sample(self, bot: BotProcess) -> None:
        """The server's weight count, and the bot's /health (`down` when it does not answer)."""
        self.limits.update(await self.server.read("/sim/v1/limits"))
        health = await bot.health()
        status = "down" if health is None else str(health.get("status"))
        self.health[status] += 1
        if health is not None and status != "healthy":
            self.unhealthy.append(_why(health, round((wall_ms() - self.rules.start_ms) / 1000, 1)))

    def finish(self) -> None:
        with self.server.lock:
            self.rules.finish(wall_ms())

    def stop_outs(self) -> int:
        """Stop orders the exchange triggered: positions closed by their stop (gaps or ordinary moves)."""
        with self.server.lock:
            algos = self.server.sim.all_algo_orders()
            return sum(1 for a in algos if a.trigger_time and a.order_type in WORKING_STOP_TYPES)

    def duplicates(self) -> dict[str, int]:
        with self.server.lock:
            return self.rules.duplicates()


def _why(health: dict[str, Any], t_s: float) -> dict[str, Any]:
    """The figures of a /health answer that make it degraded or unhealthy."""
    monitor, budget = health.get("monitor") or {}, health.get("request_budget") or {}
    tasks = {k: v.get("state") for k, v in (health.get("tasks") or {}).items() if v.get("state") != "running"}
    return {"t_s": t_s, "status": health.get("status"), "unprotected": health.get("unprotected_positions"),
            "sweep_age_s": monitor.get("last_sweep_age_s"), "rest_age_s": monitor.get("last_rest_reading_age_s"),
            "budget": budget.get("status"), "blocked_for_s": budget.get("blocked_for_s"), "tasks_not_running": tasks}
