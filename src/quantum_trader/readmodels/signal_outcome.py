"""What became of each signal, for /api/v1/signals and the dashboard's Signals panel.

Risk's approval is not a trade: the entry still has to be sent and filled. The panel said "traded" for every
approved signal, so a bot killed a moment after the approval (no order journaled, no position) and a staging
run (its entries journaled as DRY_RUN, never sent) showed trades that never reached the exchange. Each signal
now carries `outcome`, read from the journal's trade and entry orders under the decision's trade id, and
`outcome_detail` (the words behind it, or null):

- `traded`: the entry filled (the trade is recorded, or its entry order filled: a crash before the record)
- `dry_run`: staging journaled the entry it would have sent, and sent nothing
- `rejected`: the exchange refused the entry (the detail is its message)
- `sending`: the entry's intent is journaled and no answer is (in flight, or a crash before the answer, which
  the next start looks up)
- `not_filled`: the exchange took the entry and filled none of it (expired, cancelled)
- `not_sent`: risk approved it and no entry order was journaled (the bot stopped first, or execution declined)
- `refused`: risk refused it (the detail is why)
- null: risk has not answered

Readiness's `confidence` item counts the `traded` ones (readmodels/journal.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

from ..journal.codec import DRY_RUN, INTENT, REJECTED
from ..journal.reader import JournalReader, JsonRow

TRADED, DRY_RUN_OUTCOME, NOT_SENT, NOT_FILLED, SENDING = "traded", "dry_run", "not_sent", "not_filled", "sending"
NOT_SENT_DETAIL = "risk approved it; no entry order was journaled: nothing reached the exchange"


def signals_json(reader: JournalReader, rows: Sequence[JsonRow]) -> list[JsonRow]:
    """Journaled signals (`JournalReader.signals`) as /api/v1/signals serves them, each with its outcome."""
    ids = {str(d["trade_id"]) for d in (r.get("decision") for r in rows)
           if d is not None and d.get("approved") and d.get("trade_id")}
    entries: dict[str, list[JsonRow]] = {}
    for order in reader.entry_orders(ids):
        entries.setdefault(str(order["trade_id"]), []).append(order)
    recorded = reader.recorded_trades(ids)
    result = []
    for row in rows:
        decision = row.get("decision")
        trade_id = str((decision or {}).get("trade_id"))
        outcome, detail = outcome_of(decision, entries.get(trade_id, []), trade_id in recorded)
        result.append({**signal_json(row), "outcome": outcome, "outcome_detail": detail})
    return result


def signal_json(row: JsonRow) -> JsonRow:
    """A journaled signal as /api/v1/signals serves it (CONTRACT §4): the row's columns, with the scanner's
    reasons decoded into `[{"feature", "contribution"}]` (the journal keeps them as JSON text; [] when none)."""
    text = row.get("reasons")
    pairs = json.loads(text) if isinstance(text, str) and text else []
    return {**row, "reasons": [{"feature": str(name), "contribution": float(value)} for name, value in pairs]}


def outcome_of(decision: JsonRow | None, entries: Sequence[JsonRow], recorded: bool) -> tuple[str | None, str | None]:
    """(outcome, detail) of one signal from risk's decision, its trade's entry orders (oldest first) and whether
    the trade is recorded; see the module's docstring for the words."""
    if decision is None:
        return None, None
    if not decision.get("approved"):
        return "refused", decision.get("reason")
    if recorded or any(Decimal(str(o.get("filled") or 0)) > 0 for o in entries):
        return TRADED, None
    if not entries:
        return NOT_SENT, NOT_SENT_DETAIL
    last = entries[-1]
    status = str(last.get("status"))
    if last.get("dry_run") or status == DRY_RUN:
        return DRY_RUN_OUTCOME, last.get("reject_msg") or "staging: the entry was journaled, not sent"
    if status == REJECTED:
        return "rejected", last.get("reject_msg")
    if status == INTENT:
        return SENDING, "the entry's intent is journaled; the exchange's answer is not"
    return NOT_FILLED, f"the exchange took the entry and filled none of it ({status})"
