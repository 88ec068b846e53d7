"""The go-live checklist at a terminal: `quantum-trader readiness` (its table) and a live `run` that readiness
refuses (exit 3, the failed items on stderr).

The refusal is read at the worst moment, a go-live that did not happen, so it has to say what fell short and what
to do, not dump the evidence documents; those stay whole in `readiness --json` and GET /api/v1/readiness
(readmodels/journal.py builds them). The words are readmodels/readiness_words.py's, the dashboard's too.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..readmodels.readiness_words import JsonRow, evidence_text, fix_text, sessions_text

#: Where paper evidence for going live comes from (readmodels/evidence.py), said once under the fixes.
LIVE_PATH = ("paper trading counts only in sessions against `quantum-trader sim-server` (QT_EXCHANGE=its URL, "
             "QT_FEED=exchange) with this start's setup")
#: The last line of a refusal: the whole checklist, with the sessions each item counted and left out.
WHOLE_CHECKLIST = ("run `quantum-trader readiness` with the same settings and journal for the whole checklist, "
                   "with the sessions each item counted and why others were not")


def refusal_lines(failed: Iterable[JsonRow]) -> list[str]:
    """A live start's refusal (exit 3): per failed item its evidence and fix, then where the whole checklist is."""
    lines = []
    for item in failed:
        lines.append(f"  FAILED {item.get('name')}: {evidence_text(item)}")
        lines.append(f"    fix: {fix_text(item)}")
    return [*lines, f"{LIVE_PATH}; {WHOLE_CHECKLIST}"]


def render_readiness(document: JsonRow, console: Console) -> None:
    """`quantum-trader readiness`: the table (evidence in words, the fix under a failed item's), a line per item
    naming its sessions, and the verdict."""
    verdict = "[bold green]READY[/]" if document.get("ready") else "[bold red]NOT READY[/]"
    table = Table(title="Go-live readiness", title_justify="left")
    for column in ("name", "passed", "evidence"):
        table.add_column(column, overflow="fold")
    items = document.get("items") or []
    for item in items:
        passed = "[green]yes[/]" if item.get("passed") else "[red]no[/]"
        fix = fix_text(item)
        table.add_row(str(item.get("name")), passed,
                      escape(evidence_text(item)) + (f"\n[yellow]fix:[/] {escape(fix)}" if fix else ""))
    console.print(table)
    for item in items:
        console.print(f"{item.get('name')}: {sessions_text(item.get('evidence') or {})}", soft_wrap=True)
    if not document.get("ready"):
        console.print(escape(LIVE_PATH), soft_wrap=True)
    console.print(verdict)
