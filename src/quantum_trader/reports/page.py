"""The HTML shell every report shares: one file, nothing fetched, dark like the dashboard.

A report is mailed, archived and opened years later on a machine with no network, so everything it
needs is inside it: the CSS inline, the charting library inlined (only when a page draws a time
series, and only then does the footer carry its licence notice), the data as inline JSON, the other
charts as inline SVG. Every text that comes from data is
HTML-escaped here; JSON inside a `<script>` has every `<` escaped (`\\u003c`), so no `</script>` or `<!--`
in a string can end the element early (a symbol or reason string can hold anything).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from ..webassets import chart_library

#: The licence notice the inlined library requires (its NOTICE): the footer of a report that inlines it.
LICENCE_NOTICE = ("Charts: TradingView Lightweight Charts™, Apache-2.0, Copyright (c) 2026 TradingView, Inc. "
                  "(inlined in this file: nothing is fetched).")
#: The footer of a report without the library (stop audit, scanner evaluation). It used to carry the library's
#: notice too, which told the reader of a 16 KB page of SVG that a charting library was inlined in it.
SVG_NOTICE = ("Self-contained: everything is in this file, nothing is fetched. Charts: inline SVG drawn by "
              "Quantum Trader (no charting library).")
COLORS = {"bg": "#0f1419", "panel": "#151b23", "line": "#2e3440", "text": "#d8dee9", "muted": "#7b8494",
          "accent": "#88c0d0", "ok": "#a3be8c", "warn": "#ebcb8b", "bad": "#bf616a"}
LEFT = ' class="k"'
CSS = """
body { background: #0f1419; color: #d8dee9; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       margin: 0; padding: 18px 24px 40px; }
h1 { font-size: 22px; margin: 0 0 4px; color: #88c0d0; }
h2 { font-size: 16px; margin: 26px 0 8px; color: #88c0d0; border-bottom: 1px solid #2e3440; padding-bottom: 4px; }
.sub { color: #7b8494; margin-bottom: 14px; }
.grid { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.panel { background: #151b23; border: 1px solid #2e3440; border-radius: 6px; padding: 10px 12px; max-width: 100%;
         box-sizing: border-box; }
.chart { height: 360px; min-width: 300px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 3px 6px; border-bottom: 1px solid #2e3440; text-align: right; white-space: nowrap; }
.s, .kv td { white-space: normal; } .s .w { white-space: nowrap; }
th { color: #7b8494; font-weight: 600; vertical-align: bottom; }
td.k, th.k { text-align: left; }
tr.breach td { background: #34282f; }
#trades-table tr > :last-child, #audit-table tr > :last-child { position: sticky; right: 0; background: #151b23; }
#trades-table tr.breach > :last-child, #audit-table tr.breach > :last-child { background: #34282f; }
.ok { color: #a3be8c; } .warn { color: #ebcb8b; } .bad { color: #bf616a; font-weight: 600; }
.scroll { max-height: 480px; overflow: auto; }
select { background: #151b23; color: #d8dee9; border: 1px solid #2e3440; padding: 3px 6px; }
svg text { fill: #d8dee9; font: 11px system-ui, sans-serif; }
footer { margin-top: 36px; color: #7b8494; font-size: 12px; }
tbody tr.pick { cursor: pointer; } tbody tr.pick:hover td { background: #1c2430; }
"""


def esc(value: object) -> str:
    """Any value as escaped HTML text; None as a dash."""
    return "-" if value is None else escape(str(value), quote=True)


def finite(data: Any) -> Any:
    """`data` with NaN and infinities as None: JSON has no word for them, and JSON.parse would refuse."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


def inline_json(data: Any) -> str:
    """JSON safe inside a `<script>` element: every `<` written as \\u003c (still the same JSON), so no
    `</script>` or `<!--` in a string can end or confuse the element."""
    text = json.dumps(finite(data), default=str, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def data_script(element_id: str, data: Any) -> str:
    """The report's data as an inline JSON script (not executed; read with JSON.parse)."""
    return f'<script type="application/json" id="{esc(element_id)}">{inline_json(data)}</script>'


@dataclass(frozen=True)
class Wrap:
    """A table cell that may take two lines, between its words only: a time (`2026-02-01` over `00:33`)."""

    text: str


def cell_text(value: object) -> str:
    """A cell's escaped text that may wrap between its words and nowhere else: each word is kept whole (a
    browser would also break after the hyphens of `2026-02-01`), so a long cell (a time, a header) takes two
    lines where a table must fit a narrow window rather than widen its panel. (A key/value table's values
    are prose, like the slippage note, and wrap as prose does.)"""
    text = esc(value)
    if " " not in text:
        return text
    return '<span class="s">' + " ".join(f'<span class="w">{word}</span>' for word in text.split(" ")) + "</span>"


def kv_table(rows: Iterable[tuple[str, object]], *, title: str = "") -> str:
    """A two-column key/value table."""
    head = f"<h3>{esc(title)}</h3>" if title else ""
    body = "".join(f'<tr><td class="k">{esc(k)}</td><td>{esc(v)}</td></tr>' for k, v in rows)
    return f'<div class="panel">{head}<table class="kv">{body}</table></div>'


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, classes: Sequence[str] | None = None,
          left: int = 1, table_id: str = "") -> str:
    """A table; the first `left` columns align left; `classes` gives each row's class (e.g. "breach")."""
    def cells(row: Sequence[object], tag: str) -> str:
        return "".join(f"<{tag}{LEFT if i < left else ''}>{_cell(v, tag)}</{tag}>" for i, v in enumerate(row))

    head = f"<thead><tr>{cells(columns, 'th')}</tr></thead>"
    lines = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(classes[i])}"' if classes and classes[i] else ""
        lines.append(f"<tr{cls}>{cells(row, 'td')}</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f'<table{ident}>{head}<tbody>{"".join(lines)}</tbody></table>'


def _cell(value: object, tag: str) -> str:
    """A header wraps between its words; a data cell only when it is a `Wrap`, else it stays on one line."""
    if isinstance(value, Wrap):
        return cell_text(value.text)
    return cell_text(value) if tag == "th" else esc(value)


def section(title: str, *parts: str) -> str:
    return f"<h2>{esc(title)}</h2>" + "".join(parts)


def document(title: str, subtitle: str, body: Sequence[str], *, data: Mapping[str, Any] | None = None,
             script: str = "", with_charts: bool = False) -> str:
    """The whole page. `with_charts` inlines the charting library (and its licence notice is the footer);
    `script` runs after it and the body."""
    library = f"<script>\n{chart_library()}\n</script>" if with_charts else ""
    notice = LICENCE_NOTICE if with_charts else SVG_NOTICE
    payload = data_script("report-data", data) if data is not None else ""
    run = f"<script>\n{script}\n</script>" if script else ""
    return (
        "<!DOCTYPE html>\n"
        f"<!-- {esc(notice)} -->\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)}</div>"
        + "".join(body)
        + f"<footer>{esc(notice)}</footer>{payload}{library}{run}</body></html>\n"
    )
