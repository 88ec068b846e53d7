"""The go-live checklist in words: each item's evidence as a sentence with its numbers, what to do about a
failed item, and which sessions it came from.

Worded once, here, for every place a person meets the checklist: `quantum-trader readiness` (its table), a live
`run` that readiness refuses (exit 3, cli/readiness_text.py), and the dashboard's readiness panel, which shows the
`text`, `fix` and `sessions_text` the API adds to each item (readmodels/journal.py) rather than the evidence
documents; those stay whole in `readiness --json` and GET /api/v1/readiness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

JsonRow = dict[str, Any]
#: Evidence keys said by `sessions_text` (a line of its own) rather than in an item's evidence text.
SESSION_KEYS = ("sessions", "not_counted", "source")
LISTED = 5


def _ids(values: Iterable[Any]) -> str:
    """At most LISTED ids, then how many more: a long list of trade ids helps nobody at a terminal."""
    shown = [str(v) for v in values]
    more = f" and {len(shown) - LISTED} more" if len(shown) > LISTED else ""
    return ", ".join(shown[:LISTED]) + more


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _closed_trades(e: JsonRow) -> tuple[str, str]:
    missing = max(int(e.get("required") or 0) - int(e.get("closed") or 0), 0)
    return (str(e.get("detail") or f"{e.get('closed')} of {e.get('required')} closed trades"),
            f"{_plural(missing, 'more closed paper trade')} opened by the strategy (forced entries count only with "
            "QT_STRATEGY=manual)")


def _protection_acknowledged(e: JsonRow) -> tuple[str, str]:
    late, positions = list(e.get("not_acknowledged_within_5s") or []), int(e.get("positions") or 0)
    if not late:
        return (f"all {_plural(positions, 'position')} had stop-loss and take-profit read back within 5 s" if positions
                else "no position in the counted paper sessions",
                "paper-trade: each position's stop-loss and take-profit must be read back within 5 s of its entry")
    return (f"{len(late)} of {e.get('positions')} positions did not have both stop-loss and take-profit read back "
            f"within 5 s of the entry: {_ids(late)}",
            "find why their protection was late (the bot's log, `quantum-trader audit`): a live position would "
            "wait that long for a confirmed stop")


def _no_rejected_protection(e: JsonRow) -> tuple[str, str]:
    rejected = list(e.get("rejected_and_unreplaced") or [])
    return (f"{_plural(len(rejected), 'protection order')} rejected and never replaced: {_ids(rejected)}" if rejected
            else "no protection order rejected and left unreplaced",
            "find why the exchange rejected them (the bot's log, `quantum-trader orders`): a live position would "
            "have been left without that order")


def _stops_held(e: JsonRow) -> tuple[str, str]:
    breaches = list(e.get("breaches") or [])
    exits = _plural(int(e.get("stop_loss_exits") or 0), "stop-loss exit")
    if breaches:
        gapped = len(e.get("breaches_gap_explained") or [])
        return (f"{exits}; {len(breaches)} lost more than planned ({gapped} explained by a gap): {_ids(breaches)}",
                "`quantum-trader audit` shows each breach and why; a breach fails this item")
    return (f"{exits}, none lost more than planned" if e.get("stop_loss_exits") else "no stop-loss has fired yet",
            "let a paper position close at its stop-loss (a forced entry's counts: `quantum-trader force-entry "
            "SYMBOL --side long`, then move sim-server's price through the stop with POST /sim/v1/prices)")


def _monitor_clean(e: JsonRow) -> tuple[str, str]:
    longest, required = int(e.get("longest_clean_s") or 0), int(e.get("required_s") or 0)
    return (f"longest run of the position monitor without an error: {longest} s of the {required} s wanted "
            f"({e.get('measured_on') or 'wall clock'})",
            f"keep one paper session running {required // 60} minutes in a row without an error")


def _confidence(e: JsonRow) -> tuple[str, str]:
    low = list(e.get("below_minimum") or [])
    detail = str(e.get("detail") or f"{e.get('traded_signals')} traded strategy signals")
    if not low:
        return detail, "let the strategy trade in paper; forced entries do not show its confidence"
    bars = e.get("QT_MIN_CONFIDENCE_from") or {}
    here, paper = bars.get("this_start"), bars.get("paper_sessions")
    if here is not None and paper is not None and float(here) > float(paper):
        return (f"{detail}: {_ids(low)}", f"this start's QT_MIN_CONFIDENCE={here} is above paper's {paper}: "
                f"paper-trade with {here}, or start live with {paper}")
    return (f"{detail}: {_ids(low)}", "the strategy traded below its own QT_MIN_CONFIDENCE: find why in the "
            "journal's signals (GET /api/v1/signals) before going live")


def _live_position_cap(e: JsonRow) -> tuple[str, str]:
    allowed = e.get("allowed_at_most")
    return (f"QT_LIVE_MAX_POSITIONS={e.get('QT_LIVE_MAX_POSITIONS')}, at most {allowed} allowed",
            f"set QT_LIVE_MAX_POSITIONS to {allowed} or less")


def _same_setup(e: JsonRow) -> tuple[str, str]:
    differences = list(e.get("differences") or [])
    detail = str(e.get("detail") or "")
    if differences:
        return f"{detail}; " + "; ".join(differences), str(e.get("fix") or "")
    setup = ", ".join(f"{name} unset" if value == "unset" else f"{name}={value}"
                      for name, value in (e.get("this_start") or {}).items())
    return detail, f"paper-trade with this start's setup: {setup}"


ITEMS: dict[str, Callable[[JsonRow], tuple[str, str]]] = {
    "closed_trades": _closed_trades, "protection_acknowledged": _protection_acknowledged,
    "no_rejected_protection": _no_rejected_protection, "stops_held": _stops_held, "monitor_clean": _monitor_clean,
    "confidence": _confidence, "live_position_cap": _live_position_cap, "same_setup": _same_setup}


def _plain(value: Any) -> str:
    """Any evidence as `name value` pairs, for an item this module has no words for (never a dict repr)."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items() if k not in SESSION_KEYS)
    if isinstance(value, list):
        return "none" if not value else _ids(_plain(v) for v in value)
    return "unset" if value is None else str(value)


def evidence_text(item: JsonRow) -> str:
    """What the item's evidence shows, in words and numbers."""
    words = ITEMS.get(str(item.get("name")))
    evidence = item.get("evidence") or {}
    return words(evidence)[0] if words else _plain(evidence)


def fix_text(item: JsonRow) -> str | None:
    """What to do about a failed item (None when it passed)."""
    if item.get("passed"):
        return None
    words = ITEMS.get(str(item.get("name")))
    return words(item.get("evidence") or {})[1] if words else "see `quantum-trader readiness --json`"


def _session_label(session: JsonRow) -> str:
    where = f" at {session['exchange_url']}" if session.get("exchange_url") else ""
    clock = "wall clock" if session.get("clock") == "wall" else f"{session.get('clock')} clock ×{session.get('speed')}"
    label = f"#{session.get('id')} {session.get('mode')}, {session.get('adapter')}{where}, {clock}"
    return label + (f", clean {session['clean_s']} s" if "clean_s" in session else "")


def _left_out_label(session: JsonRow) -> str:
    spans = (f"; {session['session_time_s']} s of session time in {session.get('wall_s')} s of wall time"
             if "session_time_s" in session else "")
    return f"#{session.get('id')} ({session.get('why')}{spans})"


def sessions_text(evidence: JsonRow) -> str:
    """Which sessions an item's evidence came from, and which were left out and why (readmodels/evidence.py)."""
    if evidence.get("source"):
        return f"from {evidence['source']}"
    counted = "; ".join(_session_label(s) for s in evidence.get("sessions") or []) or "none"
    line = f"counted sessions: {counted}"
    left_out = [_left_out_label(s) for s in evidence.get("not_counted") or []]
    return line + (f"; not counted: {'; '.join(left_out)}" if left_out else "")


def in_words(item: JsonRow) -> JsonRow:
    """The item with its evidence in words added (`text`, `fix`: None when it passed, `sessions_text`), the
    evidence kept whole beside them."""
    return {**item, "text": evidence_text(item), "fix": fix_text(item),
            "sessions_text": sessions_text(item.get("evidence") or {})}
