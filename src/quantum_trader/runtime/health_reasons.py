"""Why `/health` is not `healthy`, in words: its `reasons`, one line per trouble, the worst first.

Why: `/health` said `degraded` or `unhealthy` and left the user to work out which of a dozen fields made it so
(a trial saw a bot turn degraded for a stale scanner while `strategy_status` still read "scanning"). The status
is decided from the same list: `unhealthy` when a reason of that weight is present, else `degraded` when any
is, so a status and its reasons cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..exchange.budget import WeightBudget

Weight = Literal["unhealthy", "degraded"]


@dataclass
class HealthReasons:
    """The troubles found while `/health` is built, each with the status it is worth."""

    found: list[tuple[Weight, str]] = field(default_factory=list)

    def add(self, weight: Weight, reason: str) -> None:
        self.found.append((weight, reason))

    def status(self) -> str:
        weights = {weight for weight, _ in self.found}
        return "unhealthy" if "unhealthy" in weights else "degraded" if weights else "healthy"

    def lines(self) -> list[str]:
        """The reasons, those that make it unhealthy first, each in the order it was found."""
        return [reason for weight in ("unhealthy", "degraded") for w, reason in self.found if w == weight]


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def budget_reason(budget: WeightBudget) -> tuple[Weight, str] | None:
    """The request budget's trouble as (weight, words), None when it has none: a ban makes the bot unhealthy (no
    request, a stop's read-back included, may go), the rest degraded. One reading decides both, so a ban ending
    between two questions cannot be worded as a ban and weighed as over."""
    if budget.banned():
        return "unhealthy", (f"the exchange banned this IP (418): no request may go for "
                             f"{seconds(max(0.0, budget.blocked_until - budget.clock()))}")
    if budget.repeated_429s():
        return "degraded", (f"the exchange answered 429 (too many requests) repeatedly: weight used {budget.used()} "
                            f"of {budget.limit}")
    if budget.orders.degraded(budget.clock()):
        return "degraded", ("the exchange refused a new order lately (-1015, too many new orders): entries are held "
                            "back")
    return None
