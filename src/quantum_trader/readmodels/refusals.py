"""Why a backtest's signals did not trade: risk's refusals, counted by kind, with the first of each in full.

A leverage the parameter check lets through (40x on LINKUSDT) made a run of 0 trades, exit 0, and nothing in
its output said why: every one of its 1,602 signals was refused by risk ("would be liquidated ... before its
2% stop-loss ... could fire"), which only a `--db` journal showed. Now the result counts risk's decisions as
the journal sees them (on the bus), and `all_refused` is the warning to print when none passed.

Only signals that reached risk count. The replay skips those risk must refuse whatever the price (below
QT_MIN_CONFIDENCE, the symbol already in a position, every slot taken: research/backtest.py), so these are
the refusals that depend on the price, the account or the time (sizing, a cooldown, a daily-loss halt).

A run can also make no trade before risk: the AI scanner at the default threshold (0.65) on a week of
LINKUSDT printed `trades 0` and `Risk: 0 signals decided` and nothing else, because no score reached the
threshold (the shipped model's confidences there lie about 0.2) and the replay skips such signals.
`no_signal_traded` says so from the strategy's tally (signals/strategy.py `Tallies`): what it scored and
the highest confidence each side reached against `min_confidence`.

A running session counts the same (runtime/app_service.py): `/health`'s `scanner` object shows what risk decided
on the scanner's signals beside what the scanner scored, so a bot that trades nothing says why while it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.events import RiskDecision
from ..signals.strategy import Tallies

#: The kind of a refusal whose decision names none (a rule that declares no `kind` is named by its class).
UNNAMED = "other"


@dataclass(slots=True)
class _Kind:
    count: int
    example: str


class RefusalTally:
    """Risk's decisions during a run: how many, how many approved, and the refusals by kind."""

    def __init__(self) -> None:
        self.decided = 0
        self.approved = 0
        self._kinds: dict[str, _Kind] = {}

    def on_decision(self, decision: RiskDecision) -> None:
        self.decided += 1
        if decision.approved:
            self.approved += 1
            return
        kind = decision.refusal_kind or UNNAMED
        seen = self._kinds.get(kind)
        if seen is None:
            self._kinds[kind] = _Kind(1, decision.reason)
        else:
            seen.count += 1

    def to_json(self) -> dict[str, Any]:
        """`signals` (decided by risk), `approved`, `refused`, and `by_kind`: each kind's `count` and its first
        refusal as `example`, the most frequent kind first."""
        kinds = sorted(self._kinds.items(), key=lambda item: (-item[1].count, item[0]))
        return {"signals": self.decided, "approved": self.approved, "refused": self.decided - self.approved,
                "by_kind": {kind: {"count": seen.count, "example": seen.example} for kind, seen in kinds}}


def all_refused(refusals: Mapping[str, Any] | None) -> str | None:
    """The warning for a run in which risk refused every signal it decided (None otherwise): the count, the
    kind(s), and the first refusal of the most frequent kind, whose words name the setting and the fix
    (`lower --param leverage or QT_STOP_LOSS_PCT`)."""
    if not refusals or refusals.get("approved") or not refusals.get("refused"):
        return None
    kinds: Mapping[str, Mapping[str, Any]] = refusals["by_kind"]
    first, seen = next(iter(kinds.items()))
    head = f"risk refused all {refusals['refused']:,} signals"
    if len(kinds) == 1:
        return f"{head}, every one for the same reason ({first}), so no position was opened: {seen['example']}"
    counts = ", ".join(f"{kind} {value['count']:,}" for kind, value in kinds.items())
    return f"{head} ({counts}), so no position was opened; the first {first}: {seen['example']}"


def tally_of(strategy: object) -> dict[str, Any] | None:
    """The strategy's tally (`Tallies`), or None for a strategy that keeps none."""
    return strategy.tally() if isinstance(strategy, Tallies) else None


def no_signal_traded(tally: Mapping[str, Any] | None) -> str | None:
    """Why no signal of a scanning strategy could trade (None when some could, or for another strategy): it
    scored nothing (every bar in its warm-up), or no score reached `min_confidence`, with the highest each
    side reached."""
    if not tally or "min_confidence" not in tally or tally.get("at_or_above_min_confidence"):
        return None
    name, threshold = tally["strategy"], tally["min_confidence"]
    if not tally["symbol_bars_scored"]:
        return (f"{name} scored no bar: it needs {tally['warm_up_bars']:,} bars of a symbol before it scores one, "
                "and the run ended before that: give a longer period")
    return (f"{name} scored {tally['symbol_bars_scored']:,} symbol-bars and no confidence reached min_confidence "
            f"{threshold} (the highest: long {tally['best_long']}, short {tally['best_short']}), so no signal could "
            "trade: lower min_confidence (--param min_confidence) to trade the most confident ones")

