"""What the API and CLI show from the journal: the stop audit and the go-live readiness checklist.

Both are computed from the journal of paper trading alone (CONTRACT section 7), so they can be run
on a copy of the database, offline, by someone who does not trust the bot's own memory. Readiness
counts only sessions on the path live money takes (readmodels/evidence.py): the in-process simulator and
simulated clocks are for development, and an hour of monitoring is an hour of the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ..domain.enums import ExitReason
from ..domain.events import FORCED, Direction, TradeClosed, TradeOpened
from ..domain.money import to_decimal
from ..journal.codec import NO_SIGNAL
from ..journal.reader import JournalReader
from ..settings.model import Settings
from ..trading.audit import AuditRow, audit_rows, audit_summary
from ..trading.stop_witness import ACTION as STOP_WITNESSED
from .evidence import LISTED, SessionEvidence, longest_clean_ms, spans
from .origin import TradeOrigins
from .readiness_words import in_words
from .setup import FIX, required_confidence, required_trades, this_setup
from .signal_outcome import TRADED, signals_json

JsonRow = dict[str, Any]
#: CONTRACT 7.2: SL and TP acknowledged and read back within this long after the entry fill.
ACK_WINDOW_MS = 5_000
MONITOR_CLEAN_MS = 3_600_000


#: QT_STRATEGY's name for trading by hand (settings/model.py): every entry is a forced one.
MANUAL = "manual"


def _dec(row: JsonRow, key: str) -> Decimal | None:
    value = row.get(key)
    return None if value is None else to_decimal(value, key)


def _req(row: JsonRow, key: str) -> Decimal:
    return to_decimal(row[key], key)


def trade_from_row(row: JsonRow) -> TradeClosed:
    """A closed `positions` row back into the event the audit reads. An exit the journal left without a
    price (unknown: closed while away, no exchange record) comes back without price or P&L, dated at its
    opening, so nothing downstream can mistake it for a trade closed flat."""
    known = row.get("exit_price") is not None
    return TradeClosed(
        trade_id=row["trade_id"], symbol=row["symbol"], direction=Direction(row["direction"]),
        quantity=_req(row, "quantity"), entry_price=_req(row, "entry"),
        exit_price=_req(row, "exit_price") if known else None, exit_reason=ExitReason(row["exit_reason"]),
        realized_pnl=(_dec(row, "realized_pnl") or Decimal(0)) if known else None,
        fees=_dec(row, "fees") or Decimal(0), funding=_dec(row, "funding") or Decimal(0),
        planned_stop=_dec(row, "planned_stop"), planned_loss=_dec(row, "planned_loss"), leverage=int(row["leverage"]),
        equity_at_entry=_req(row, "equity_at_entry"), opened_ms=int(row["opened_ms"]),
        time_ms=int(row["closed_ms"] if row.get("closed_ms") is not None else row["opened_ms"]))


def opened_from_row(row: JsonRow) -> TradeOpened:
    """An open `positions` row back into the event that opened it (a restart adopts the trade)."""
    return TradeOpened(
        trade_id=row["trade_id"], symbol=row["symbol"], direction=Direction(row["direction"]),
        quantity=_req(row, "quantity"), entry_price=_req(row, "entry"),
        planned_stop=_dec(row, "planned_stop"), planned_take_profit=_dec(row, "planned_take_profit"),
        planned_loss=_dec(row, "planned_loss"), leverage=int(row["leverage"]),
        equity=_req(row, "equity_at_entry"), time_ms=int(row["opened_ms"]), confidence=row.get("confidence"))


def opened_from_entry(row: JsonRow, equity: Decimal) -> TradeOpened:
    """The trade a filled entry order opened, rebuilt from the journal after a crash kept it from being
    recorded: the order's fill and time, the risk decision's plan (`JournalReader.entries_without_trade`)."""
    direction = Direction.LONG if row["side"] == "BUY" else Direction.SHORT
    return TradeOpened(
        trade_id=row["trade_id"], symbol=row["symbol"], direction=direction, quantity=_req(row, "filled"),
        entry_price=_req(row, "avg_price"), planned_stop=_dec(row, "decision_planned_stop"),
        planned_take_profit=_dec(row, "decision_planned_take_profit"),
        planned_loss=_dec(row, "decision_planned_loss"), leverage=int(row.get("decision_leverage") or 1),
        equity=equity, time_ms=int(row["created_ms"]), confidence=row.get("decision_confidence"))


def stop_evidence(reader: JournalReader) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """What the journal knows of each trade's stop-loss that fired, by trade id: the trigger price of the order
    that filled (what its fill slipped from: a trailed stop is no longer at its plan; the last such order of a
    trade wins) and the mark the bot read when it fired (trading/stop_witness.py: the first price after the
    trigger, which tells a gap from a failure). A witness is matched to its trade through the order's client
    id, or its own trade id when the order's fill was not journaled."""
    filled = reader.filled_protection("sl")
    triggers = {str(r["trade_id"]): _req(r, "trigger_price") for r in filled if r.get("trigger_price") is not None}
    seen = {str(a["client_id"]): a for a in reader.protection_actions_named(STOP_WITNESSED)
            if a.get("price") is not None and a.get("client_id")}
    after = {str(a["trade_id"]): _req(a, "price") for a in seen.values() if a.get("trade_id")}
    after.update({str(r["trade_id"]): _req(seen[str(r["client_id"])], "price") for r in filled
                  if str(r["client_id"]) in seen})
    return triggers, after


def journal_audit_rows(reader: JournalReader, closed: list[JsonRow]) -> list[AuditRow]:
    """The stop audit of journaled closed positions, with what else the journal knows of their stops."""
    triggers, after = stop_evidence(reader)
    return audit_rows([trade_from_row(r) for r in closed], triggers=triggers, after_trigger=after)


def audit_from_journal(reader: JournalReader) -> tuple[list[AuditRow], JsonRow]:
    rows = journal_audit_rows(reader, reader.closed_positions())
    return rows, {"positions": [r.to_dict() for r in rows], "summary": audit_summary(rows),
                  "breaches": sum(1 for r in rows if r.breach)}


def _item(name: str, passed: bool, evidence: Any) -> JsonRow:
    return {"name": name, "passed": passed, "evidence": evidence}


def readiness_from_journal(reader: JournalReader, start: Settings) -> JsonRow:
    """CONTRACT 7 for `start` (the settings of the start it is asked for: a live start, or the CLI's environment)
    over the live-path paper sessions with that start's setup only (readmodels/evidence.py and setup.py say
    which and why); every item's evidence names the sessions it came from (`sessions`) and those it left out
    (`not_counted`, with why). Forced entries prove the protection path, not the strategy (readmodels/origin.py):
    they count for the protection and stop items, never toward the minimum of trades or for confidence.
    Each item carries its evidence in words too (`text`, `fix`, `sessions_text`: readmodels/readiness_words.py)."""
    paths = SessionEvidence.of(reader.sessions(), start)
    origins = TradeOrigins(reader.trade_sources())
    all_closed = reader.closed_positions()
    closed = paths.only_counted(all_closed)
    audit = journal_audit_rows(reader, closed)
    actions = reader.protection_actions(limit=1_000_000)
    manual = start.strategy == MANUAL  # a person's entries are the strategy: forced trades are its evidence
    items = [
        _closed_trades(closed, origins, required_trades(start, paths.counted_settings()), paths.of_rows(all_closed),
                       manual=manual),
        _protection_acknowledged(reader.trades(limit=1_000_000), actions, paths, origins),
        _no_rejected_protection(reader.orders(limit=1_000_000), actions, paths),
        _stops_held(audit, paths.of_rows(all_closed), origins),
        _monitor_clean(reader, paths),
        _confidence(signals_json(reader, reader.signals(limit=1_000_000)),
                    required_confidence(start, paths.counted_settings()), paths, manual=manual),
        _item("live_position_cap", start.live_max_positions <= 2,
              {"QT_LIVE_MAX_POSITIONS": start.live_max_positions, "allowed_at_most": 2, "sessions": [],
               "not_counted": [], "source": "the settings of this start, not paper-trading evidence"}),
        _same_setup(start, paths),
    ]
    return {"ready": all(i["passed"] for i in items), "items": [in_words(i) for i in items]}


def _closed_trades(closed: list[JsonRow], origins: TradeOrigins, required: tuple[int, JsonRow],
                   sessions: JsonRow, *, manual: bool = False) -> JsonRow:
    """CONTRACT 7.1, counting only the trades the strategy opened on its own: the go-live question is whether
    the bot trades well unattended, and a forced entry (or a position adopted from outside) says nothing of
    that. They are counted apart (`forced`, `without_signal`) so the user sees why a busy journal falls short.
    With QT_STRATEGY=manual a person picks every entry, so forced entries are the strategy's trades (`manual`)."""
    minimum, bar = required
    own, forced = origins.strategy(closed), origins.forced(closed)
    others = len(closed) - len(own) - len(forced)
    if manual:
        own, forced = own + forced, []
    detail = (f"{len(own)} of the {minimum} closed trades wanted were opened by the strategy"
              + (" (QT_STRATEGY=manual: forced entries are its trades)" if manual else "")
              + (f"; {len(forced)} forced entries are not counted: they prove the protection path, not the strategy"
                 if forced else "")
              + (f"; {others} trades without a signal (opened outside the bot) are not counted" if others else ""))
    return _item("closed_trades", len(own) >= minimum,
                 {"closed": len(own), "required": minimum, "forced": len(forced), "without_signal": others,
                  "closed_all": len(closed), "QT_READINESS_MIN_TRADES": bar, "detail": detail,
                  "trades": [r["trade_id"] for r in own[-20:]],
                  "forced_trades": [r["trade_id"] for r in forced[-20:]], **sessions})


def _same_setup(start: Settings, paths: SessionEvidence) -> JsonRow:
    """The live-path paper sessions against this start's setup (readmodels/setup.py): passes when at least one
    has it (the others are left out of every item, named with their differences); fails naming each difference
    and the fix when none has, or when no paper session on the live path exists to compare with."""
    others = paths.other_setups()
    differences = [f"session #{d['id']}: {diff}" for d in others for diff in d["setup_differences"]]
    passed = bool(paths.counted)
    if passed:
        detail = (f"{_sessions(len(paths.counted))} on the live path with this start's setup"
                  + (f"; {_sessions(len(others))} with another setup not counted" if others else ""))
    elif others:
        detail = f"no paper session on the live path has this start's setup: {FIX}"
    else:
        detail = "no paper session on the live path to compare this start's setup with"
    return _item("same_setup", passed,
                 {"this_start": this_setup(start), "differences": differences[:LISTED],
                  "fix": None if passed else FIX, "detail": detail,
                  "sessions": sorted(paths.counted.values(), key=lambda d: -int(d["id"]))[:LISTED],
                  "not_counted": others[:LISTED]})


def _sessions(n: int) -> str:
    return f"{n} paper session" + ("" if n == 1 else "s")


def _protection_acknowledged(all_trades: list[JsonRow], actions: list[JsonRow], paths: SessionEvidence,
                             origins: TradeOrigins) -> JsonRow:
    """CONTRACT 7.2 over every counted position, forced entries included: they go through the same risk,
    execution and protection path as the strategy's, so their SL and TP acknowledgements are the same proof."""
    trades = paths.only_counted(all_trades)
    verified: dict[tuple[str, str], int] = {}
    for a in actions:
        if a["action"] == "verified" and a.get("trade_id") and a.get("order_type"):
            key = (a["trade_id"], "sl" if "STOP" in a["order_type"] and "TAKE" not in a["order_type"] else "tp")
            verified[key] = min(verified.get(key, a["time_ms"]), a["time_ms"])
    never = 1 << 62
    late = [t["trade_id"] for t in trades
            if any(verified.get((t["trade_id"], p), never) - int(t["opened_ms"]) > ACK_WINDOW_MS for p in ("sl", "tp"))]
    return _item("protection_acknowledged", bool(trades) and not late,
                 {"positions": len(trades), "forced": len(origins.forced(trades)),
                  "not_acknowledged_within_5s": late[:20], **paths.of_rows(all_trades)})


def _no_rejected_protection(orders: list[JsonRow], actions: list[JsonRow], paths: SessionEvidence) -> JsonRow:
    verified_trades = {(a.get("trade_id"), a.get("order_type")) for a in actions if a["action"] == "verified"}
    protection = [o for o in orders if o.get("purpose") in ("sl", "tp")]
    unreplaced = [o["client_id"] for o in paths.only_counted(protection) if o["status"] == "REJECTED"
                  and (o.get("trade_id"), o["type"]) not in verified_trades]
    # Its evidence is an absence over every counted session, so all of them are named, not only those with orders.
    return _item("no_rejected_protection", not unreplaced,
                 {"rejected_and_unreplaced": unreplaced[:20], **paths.of_rows(protection),
                  "sessions": sorted(paths.counted.values(), key=lambda d: -int(d["id"]))[:LISTED]})


def _stops_held(audit: Iterable[AuditRow], sessions: JsonRow, origins: TradeOrigins) -> JsonRow:
    """CONTRACT 7.4: no breach at all. The evidence tells the breaches a gap explains (the stop was jumped
    through and filled at the first price after it) from the others, which are failures to chase. A forced
    entry's stop is placed and held as any other's, so its stop-loss exit counts (`stop_loss_exits_forced`
    says how many did) and its breach fails the item."""
    rows = list(audit)
    stops = [r.trade_id for r in rows if r.exit_reason is ExitReason.STOP_LOSS]
    breaches = [r.trade_id for r in rows if r.breach]
    gapped = [r.trade_id for r in rows if r.breach and r.gap_explained]
    return _item("stops_held", bool(stops) and not breaches,
                 {"stop_loss_exits": len(stops), "stop_loss_exits_forced": len(origins.forced_ids(stops)),
                  "breaches": breaches[:20], "breaches_gap_explained": gapped[:20],
                  "breaches_unexplained": [t for t in breaches if t not in gapped][:20], **sessions})


def _no_signal(error: JsonRow) -> bool:
    details: Any = error.get("details") or "{}"
    try:
        details = json.loads(details) if isinstance(details, str) else details
    except ValueError:
        return False
    return isinstance(details, dict) and details.get("kind") == NO_SIGNAL


def _monitor_clean(reader: JournalReader, paths: SessionEvidence) -> JsonRow:
    """The longest continuous error-free stretch of the monitor in any live-path session, on the wall clock
    (readmodels/evidence.py defines continuous); other sessions are listed with their spans and why they do
    not count."""
    beats: dict[int | None, list[JsonRow]] = {}
    for beat in reader.heartbeats():
        beats.setdefault(beat["session_id"], []).append(beat)
    errors: dict[int | None, list[int]] = {}
    for error in reader.errors(limit=1_000_000):
        if _no_signal(error):  # a silent strategy (journal/codec.py silent_rows) is no failure of the monitor
            continue
        errors.setdefault(error.get("session_id"), []).append(int(error["time_ms"]))
    counted, best = [], 0
    for session_id, described in paths.counted.items():
        clean = longest_clean_ms(beats.get(session_id, []), sorted(errors.get(session_id, [])),
                                 paths.max_gap_ms(session_id))
        best = max(best, clean)
        counted.append({**described, "clean_s": clean // 1000})
    not_counted = [{**paths.excluded.get(int(i), {"id": i, "why": "no such session in the journal"}), **spans(b)}
                   if i is not None else {"id": None, "why": "journaled outside any session", **spans(b)}
                   for i, b in beats.items() if not paths.counts(i)]
    return _item("monitor_clean", best >= MONITOR_CLEAN_MS,
                 {"longest_clean_s": best // 1000, "required_s": MONITOR_CLEAN_MS // 1000, "measured_on": "wall clock",
                  "sessions": sorted(counted, key=lambda d: -int(d["id"]))[:LISTED],
                  "not_counted": sorted(not_counted, key=lambda d: -int(d["id"] or 0))[:LISTED]})


def _confidence(signals: list[JsonRow], required: tuple[float, JsonRow], paths: SessionEvidence, *,
                manual: bool = False) -> JsonRow:
    """CONTRACT 7.6 over the strategy's traded signals only: those whose entry was sent and filled (the Signals
    panel's `outcome`, readmodels/signal_outcome.py). Risk's approval is not a trade: an entry a dry run only
    journaled, the exchange refused or never filled, or the bot never sent, proves nothing of what trades, and
    counting it passed the item on a journal of forced trades and one refused entry; those are counted apart
    (`approved_not_traded`). A forced entry is journaled as a signal of confidence 1.00 that nobody computed:
    counting it would pass the item on a journal without a single strategy signal, so it is left out
    (`forced_entries_not_counted`) and the item wants at least one. With QT_STRATEGY=manual (`manual`) there is
    no strategy confidence to check: a person picks every entry."""
    minimum, bar = required
    all_traded = [s for s in signals if s.get("outcome") == TRADED]
    counted = paths.only_counted(all_traded)
    not_traded = sum(1 for s in paths.only_counted(signals)
                     if (s.get("decision") or {}).get("approved") and s.get("outcome") != TRADED)
    traded = [s for s in counted if s.get("source") != FORCED]
    low = [s["symbol"] for s in traded if not float(s["confidence"]) >= minimum]  # NaN is below
    if manual and not low:
        return _item("confidence", True,
                     {"traded_signals": len(traded), "below_minimum": [], "QT_MIN_CONFIDENCE": minimum,
                      "QT_MIN_CONFIDENCE_from": bar, "forced_entries_not_counted": 0,
                      "approved_not_traded": not_traded,
                      "detail": "QT_STRATEGY=manual: a person picks every entry; no strategy confidence to check",
                      **paths.of_rows(all_traded)})
    if not traded:
        detail = "no strategy signal traded yet: forced entries do not show the strategy's confidence"
    elif low:
        detail = f"{len(low)} of {len(traded)} traded strategy signals below {minimum:g}"
    else:
        detail = f"all {len(traded)} traded strategy signals at or above {minimum:g}"
    return _item("confidence", bool(traded) and not low,
                 {"traded_signals": len(traded), "below_minimum": low[:20], "QT_MIN_CONFIDENCE": minimum,
                  "QT_MIN_CONFIDENCE_from": bar, "forced_entries_not_counted": len(counted) - len(traded),
                  "approved_not_traded": not_traded, "detail": detail, **paths.of_rows(all_traded)})


def no_signal_json(row: JsonRow) -> JsonRow:
    """A journaled "no signal" event (errors row of kind `no_signal`) as /api/v1/signals serves it under
    `no_signal`: which strategy, why (`cause`: no_model, scan_error, missing_data, strategy_error), the
    symbols concerned ([] when all) and when."""
    details: Any = row.get("details") or "{}"
    parsed = json.loads(details) if isinstance(details, str) else details
    symbols = str(parsed.get("symbols", "")) if isinstance(parsed, dict) else ""
    return {"source": row.get("component"), "cause": parsed.get("cause") if isinstance(parsed, dict) else None,
            "reason": row.get("message"), "symbols": [s for s in symbols.split(",") if s],
            "time_ms": row.get("time_ms")}
