"""The live campaign's seeded fault schedule: what goes wrong, and when, over the wall clock.

The schedule is a pure function of (seed, duration): the same seed gives the same faults with the
same parameters at the same offsets from the campaign's start, so a failing run can be replayed. What
the faults then do to the bot depends on wall-clock timing (when an order happens to be in flight),
so results of two runs with one seed are alike but not identical.

Kinds are drawn from a shuffled deck (every kind once before any repeats), so even a short campaign
sees most of them. They act where live faults happen: at the network, through the simulator server's
control routes (`/sim/v1/streams` for websockets and the listen key, `/sim/v1/faults` for REST 5xx,
429 with Retry-After and slow answers), at the exchange (a protection order cancelled by hand, as a
person would at the Binance UI), at the clock (the exchange's time stepped seconds away from the machine's,
as an NTP step or a machine without NTP does it: `/sim/v1/clock`), and at the process (`kill -9`, a restart
on the same journal a few seconds later, sometimes while an entry is in flight).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

STREAM_DROP = "stream_drop"
STREAM_STALL = "stream_stall"
LISTEN_KEY_EXPIRY = "listen_key_expiry"
SERVER_ERROR = "server_error"
RATE_LIMIT = "rate_limit"
SLOW = "slow"
MANUAL_CANCEL = "manual_cancel"
KILL = "kill"
CLOCK_STEP = "clock_step"
KINDS = (STREAM_DROP, STREAM_STALL, LISTEN_KEY_EXPIRY, SERVER_ERROR, RATE_LIMIT, SLOW, MANUAL_CANCEL, KILL, CLOCK_STEP)
#: Where the exchange's clock steps to from the bot's (ms): the bot 3 s or 1.5 s fast (Binance refuses a
#: timestamp 1 s ahead) or 7 s slow (past the 5 s receive window); the campaign's end puts it back in step.
CLOCK_OFFSETS_MS = (-3_000, -1_500, 7_000)
#: Kinds that need the server's `/sim/v1/faults` route.
REST_KINDS = frozenset({SERVER_ERROR, RATE_LIMIT, SLOW})
#: Order paths: a slow answer there is the duplicate-order trap (accepted, but the client timed out).
ORDER_PATHS = ["/fapi/v1/order", "/fapi/v1/algoOrder"]


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Faults from `warmup_s` to `duration_s - quiet_s`, `min_gap_s`..`max_gap_s` apart (a few a minute)."""

    warmup_s: float = 8.0
    quiet_s: float = 12.0
    min_gap_s: float = 6.0
    max_gap_s: float = 12.0


@dataclass(frozen=True, slots=True)
class Fault:
    """One scheduled fault: its offset from the campaign's start, its kind and the parameters it is sent with."""

    at_s: float
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({shown})" if shown else self.kind


def schedule(seed: int, duration_s: float, plan: FaultPlan | None = None) -> list[Fault]:
    """The campaign's faults, in time order; a pure function of its arguments."""
    plan = plan or FaultPlan()
    rng = random.Random(f"chaos-live-faults:{seed}")
    faults: list[Fault] = []
    deck: list[str] = []
    at = plan.warmup_s
    while at <= duration_s - plan.quiet_s:
        if not deck:
            deck = list(KINDS)
            rng.shuffle(deck)
        kind = deck.pop()
        faults.append(Fault(round(at, 3), kind, _params(kind, rng)))
        at += rng.uniform(plan.min_gap_s, plan.max_gap_s)
    return faults


def _params(kind: str, rng: random.Random) -> dict[str, Any]:
    """What the fault is sent with (the request body of its control call, or the campaign's own knobs)."""
    stream_kind = rng.choice(("market", "user", "all"))
    if kind == STREAM_DROP:
        return {"action": "drop", "seconds": rng.choice((0, 1, 3)), "kind": stream_kind}
    if kind == STREAM_STALL:
        return {"action": "stall", "seconds": rng.choice((2, 5, 8)), "kind": stream_kind}
    if kind == LISTEN_KEY_EXPIRY:
        return {"action": "expire_listen_key"}
    if kind == SERVER_ERROR:
        paths = rng.choice((None, ORDER_PATHS, ["/fapi/v2/positionRisk", "/fapi/v3/positionRisk"]))
        body: dict[str, Any] = {"kind": "server_error", "count": rng.randint(1, 4),
                                "status": rng.choice((500, 502, 503, 504))}
        return body if paths is None else {**body, "paths": paths}
    if kind == RATE_LIMIT:
        return {"kind": "rate_limit", "count": 1, "retry_after_s": rng.choice((1, 2, 3))}
    if kind == SLOW:
        return {"kind": "slow", "count": rng.randint(1, 3), "delay_ms": rng.choice((800, 1500, 3000)),
                "paths": ORDER_PATHS}
    if kind == MANUAL_CANCEL:
        return {"pick": round(rng.random(), 6)}
    if kind == CLOCK_STEP:
        return {"offset_ms": rng.choice(CLOCK_OFFSETS_MS)}
    assert kind == KILL
    return {"down_s": round(rng.uniform(2.0, 5.0), 3), "during_entry": rng.random() < 0.5,
            "after_ms": rng.randint(0, 300)}
