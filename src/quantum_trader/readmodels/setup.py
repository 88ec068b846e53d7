"""Whether paper trading proved the setup this start will trade with, and the bars readiness holds it to.

Paper evidence is evidence for one setup: a strategy's trades with its stop and take-profit distances and
its trailing stop, at a leverage and a risk per trade, on signals at or above a confidence. Read at go-live
with other settings, the same journal would pass on proof of something else (a 5x sma-cross journal
letting a 20x ai-scanner start). So a live-path paper session counts only when the settings it journaled
(`sessions.settings`, its start's `Settings.public_dict()`) agree with this start's (`COMPARED`):

- strategy, QT_STOP_LOSS_PCT, QT_TAKE_PROFIT_PCT, QT_TRAILING_STOP_PCT: equal; each changes which trades
  are taken or where they end, so other values were not tested at all;
- QT_LEVERAGE, QT_RISK_PER_TRADE_PCT: not above paper's; lower only shrinks what a stop-out costs and
  moves liquidation away, higher is a size paper never held;
- QT_MIN_CONFIDENCE: not below paper's; a lower bar trades signals paper never traded.

A setting the session did not journal is a difference: nothing shows what it was. Symbols are not
compared: paper runs against `sim-server`, whose universe is not Binance's, and `QT_SYMBOLS=N` names a
different top N on each venue, so equal symbols could not be asked for.

The bars themselves cannot be lowered at go-live: the minimum of closed trades is the largest of
`MIN_TRADES_FLOOR` (CONTRACT §7.1: at least 5), this start's QT_READINESS_MIN_TRADES and that of every counted
paper session; the confidence every traded strategy signal must reach is the larger of this start's
QT_MIN_CONFIDENCE and every counted session's. The confidence has no fixed floor: it is a trading setting
the strategy is tuned with, paper traded with it, and a start lowering it fails the comparison above.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..settings.model import Settings, env_name

JsonRow = dict[str, Any]
EQUAL, NOT_ABOVE, NOT_BELOW = "equal", "not above paper", "not below paper"
#: CONTRACT §7.1's "at least 5 closed paper trades": QT_READINESS_MIN_TRADES may raise it, never lower it.
MIN_TRADES_FLOOR = 5
#: What to do about a difference, said with each one.
FIX = "paper-trade with these settings, or start live with the paper settings"


@dataclass(frozen=True)
class Compared:
    """A setting that changes what paper trading proved, and how this start's value must relate to paper's."""

    field: str
    rule: str

    @property
    def env(self) -> str:
        return env_name(self.field)


COMPARED = (Compared("strategy", EQUAL), Compared("stop_loss_pct", EQUAL), Compared("take_profit_pct", EQUAL),
            Compared("trailing_stop_pct", EQUAL), Compared("leverage", NOT_ABOVE),
            Compared("risk_per_trade_pct", NOT_ABOVE), Compared("min_confidence", NOT_BELOW))


def recorded_settings(text: Any) -> JsonRow:
    """A session's journaled settings JSON as a dict ({} when absent or unreadable: nothing recorded)."""
    try:
        parsed = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _key(value: Any) -> Decimal | str | None:
    """A setting's value as compared: None when unset, a Decimal when numeric ("2.0" equals 2), else its text."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return text.lower()


def _agrees(rule: str, here: Decimal | str | None, paper: Decimal | str | None) -> bool:
    if rule == EQUAL or here is None or paper is None:
        return here == paper
    if not (isinstance(here, Decimal) and isinstance(paper, Decimal)):
        return False
    return here <= paper if rule == NOT_ABOVE else here >= paper


def this_setup(start: Settings) -> dict[str, str]:
    """This start's compared settings by their environment names, as a user writes them ("" reads unset)."""
    shown = start.public_dict()
    return {c.env: shown[c.field] or "unset" for c in COMPARED}


def setup_differences(start: Settings, settings_json: Any) -> list[str]:
    """How a session's journaled settings fall short of this start's, one line per setting ([]: the same setup)."""
    recorded, shown = recorded_settings(settings_json), start.public_dict()
    found = []
    for c in COMPARED:
        here = shown[c.field] or "unset"
        if c.field not in recorded:
            found.append(f"{c.env} {here} here, not recorded by the paper session")
        elif not _agrees(c.rule, _key(getattr(start, c.field)), _key(recorded[c.field])):
            side = {NOT_ABOVE: " (above paper)", NOT_BELOW: " (below paper)"}.get(c.rule, "")
            found.append(f"{c.env} {here} here, {str(recorded[c.field]) or 'unset'} in paper{side}")
    return found


def _recorded_numbers(sessions: Iterable[Mapping[str, Any]], field: str) -> list[Decimal]:
    values = (_key(s.get(field)) for s in sessions)
    return [v for v in values if isinstance(v, Decimal)]


def required_trades(start: Settings, sessions: Iterable[Mapping[str, Any]]) -> tuple[int, JsonRow]:
    """The closed strategy trades readiness wants, and where the number came from (see the module's doc)."""
    paper = [int(v) for v in _recorded_numbers(sessions, "readiness_min_trades")]
    value = max([MIN_TRADES_FLOOR, start.readiness_min_trades, *paper])
    return value, {"floor": MIN_TRADES_FLOOR, "this_start": start.readiness_min_trades,
                   "paper_sessions": max(paper, default=None), "rule": "the largest of the three"}


def required_confidence(start: Settings, sessions: Iterable[Mapping[str, Any]]) -> tuple[float, JsonRow]:
    """The confidence every traded strategy signal must reach, and where it came from (see the module's doc)."""
    paper = [float(v) for v in _recorded_numbers(sessions, "min_confidence")]
    value = max([start.min_confidence, *paper])
    return value, {"this_start": start.min_confidence, "paper_sessions": max(paper, default=None),
                   "rule": "the larger of the two"}
