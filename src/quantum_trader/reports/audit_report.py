"""`audit --report FILE.html`: the stop audit as a page, and the audit sections the backtest report reuses.

The input is the very document `audit --json` prints (`positions` rows and `summary`, from
trading/audit.py), so the page shows exactly what the command judged, in its words (each row's `verdict`):
realised against planned loss per closed position (breaches in red), the distribution of stop slippage, the
exit reasons, the table.
An `unknown` exit has no real price: it stays out of the charts (as the audit keeps it out of its
headline) and is listed in the table, marked unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from . import svg
from .page import document, esc, kv_table, section, table

UNKNOWN = "unknown"
AUDIT_COLUMNS = ("trade", "symbol", "side", "exit", "planned stop", "planned loss", "entry", "exit price",
                 "slip bps", "P&L USDT", "% equity", "loss limit", "breach")
SUMMARY_KEYS = ("trades", "breaches", "unknown_exits", "stop_exits_with_slippage", "worst_slippage_bps",
                "mean_slippage_bps", "worst_realised_pct_equity")
#: Under the summary: what the slippage figures are of (trading/audit.py).
SLIPPAGE_NOTE = ("stop-loss fills against their stop's trigger only; other exits (emergency, liquidation, "
                 "manual, kill switch, take-profit) show none and are not in the worst or mean")


def number(value: object) -> float | None:
    """A Decimal string as a float for drawing (None when absent or not a number)."""
    if value is None:
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def realised_loss(row: Mapping[str, Any]) -> Decimal:
    """The realised loss as a positive Decimal (zero for a win), from the row's net P&L string."""
    usdt = Decimal(str((row.get("realised") or {}).get("usdt", "0")))
    return max(-usdt, Decimal(0))


def loss_points(rows: Sequence[Mapping[str, Any]]) -> list[svg.Point]:
    """One point per judged position with a plan: planned loss on x, realised loss on y."""
    points = []
    for row in rows:
        planned = number(row.get("planned_loss"))
        if planned is None or row.get("exit_reason") == UNKNOWN or row.get("realised") is None:
            continue
        loss = realised_loss(row)
        label = (f"{row['trade_id']} {row['symbol']} {row['exit_reason']}: planned {row['planned_loss']} USDT, "
                 f"realised loss {loss} USDT" + (f" ({row['verdict']})" if row.get("breach") else ""))
        points.append(svg.Point(planned, float(loss), label, bool(row.get("breach"))))
    return points


def slippages(rows: Sequence[Mapping[str, Any]]) -> list[float]:
    return [v for v in (number(r.get("slippage_bps")) for r in rows) if v is not None]


def audit_charts(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> str:
    """Realised vs planned loss, the slippage histogram and the exit reasons, side by side."""
    scatter = svg.scatter("loss-chart", "Realised vs planned loss per position (USDT)", loss_points(rows),
                          "planned loss (USDT)", "realised loss (USDT)")
    slips = slippages(rows)
    histogram = (svg.histogram("slippage-chart", "Stop-loss slippage vs trigger (bps, + = worse)", slips, "bps")
                 if slips else svg.empty("slippage-chart", "Stop-loss slippage (bps)", "no stop-loss exits"))
    reasons = [(k, float(v)) for k, v in (summary.get("by_exit_reason") or {}).items() if v]
    counts = svg.bars("reasons-chart", "Exits by reason", reasons, "positions")
    return f'<div class="grid"><div class="panel">{scatter}</div><div class="panel">{histogram}</div>' \
           f'<div class="panel">{counts}</div></div>'


def summary_table(summary: Mapping[str, Any], title: str = "Stop audit") -> str:
    rows: list[tuple[str, object]] = [(k, summary.get(k)) for k in SUMMARY_KEYS]
    rows.append(("by_exit_reason", ", ".join(f"{k} {v}" for k, v in (summary.get("by_exit_reason") or {}).items()
                                              if v) or "-"))
    if summary.get("breach_trade_ids"):
        rows.append(("breach_trade_ids", ", ".join(summary["breach_trade_ids"])))
    rows.append(("slippage", SLIPPAGE_NOTE))
    return kv_table(rows, title=title)


def _cells(row: Mapping[str, Any]) -> tuple[object, ...]:
    realised = row.get("realised")
    price = row.get("exit_price")
    return (row["trade_id"], row["symbol"], row["direction"], row["exit_reason"], row.get("planned_stop"),
            row.get("planned_loss"), row.get("entry_price"), "?" if price is None else price,
            row.get("slippage_bps"), "?" if realised is None else realised.get("usdt"),
            "?" if realised is None else realised.get("pct_equity"), row.get("loss_limit"), row["verdict"])


def positions_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Every position, breaches highlighted (row class `breach`) with their reason listed under the table."""
    classes = ["breach" if r.get("breach") else "" for r in rows]
    body = table(AUDIT_COLUMNS, [_cells(r) for r in rows], classes=classes, left=4, table_id="audit-table")
    reasons = "".join(f'<li class="bad">{esc(r["trade_id"])}: {esc(r.get("breach_reason"))}</li>'
                      for r in rows if r.get("breach"))
    return f'<div class="panel scroll">{body}</div>' + (f"<ul>{reasons}</ul>" if reasons else "")


def audit_html(audit: Mapping[str, Any], *, source: str) -> str:
    """The `audit --report` page from the `audit --json` document; `source` names the journal (password hidden)."""
    rows = list(audit.get("positions") or [])
    summary = audit.get("summary") or {}
    breaches = int(audit.get("breaches") or 0)
    verdict = (f"{breaches} breach(es): a realised loss went past its plan" if breaches
               else "no breach: every judged position lost at most its planned loss plus tolerance")
    body = [f'<div class="panel {"bad" if breaches else "ok"}" id="verdict">{esc(verdict)}</div>',
            section("Summary", summary_table(summary)),
            section("Charts", audit_charts(rows, summary)),
            section(f"Closed positions ({len(rows)})", positions_table(rows) if rows
                    else '<p class="sub">No closed positions in the journal.</p>')]
    return document("Stop audit", f"journal {source}", body, data={"audit": audit})
