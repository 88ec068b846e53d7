"""The files `download` writes (download/downloader.py): Binance's CSV layouts, written so that a reader sees a
whole file or none, and the one thing read back from a file that exists: its last bar."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HOUR_MS = 3_600_000
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore")
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"


def last_open_time(path: Path) -> int | None:
    """Open time of a kline file's last row, read from its tail only; None for a file without one."""
    with path.open("rb") as handle:
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
        lines = handle.read().split(b"\n")
    last = next((line for line in reversed(lines) if line.strip()), b"")
    try:
        return int(last.split(b",", 1)[0])
    except ValueError:
        return None


def funding_rows(path: Path) -> list[tuple[int, int, str]]:
    """A monthly funding file's rows, `(calc_time, funding_interval_hours, last_funding_rate)` in time order
    (Binance's layout, the one `download` writes); a row that does not parse is skipped, so a damaged file is
    fetched again from its last good row."""
    rows: list[tuple[int, int, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.strip().split(",")
        try:
            rows.append((int(parts[0]), max(1, int(parts[1])), parts[2]))
        except (ValueError, IndexError):
            continue
    return sorted(rows)


def write_atomically(path: Path, lines: Iterable[str]) -> None:
    """Write `path` through a hidden `.part` file and a rename: a reader sees the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    try:
        with part.open("w", encoding="utf-8", newline="") as handle:
            for line in lines:
                handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, path)
    except OSError:  # a full disk: the next run fetches the file again, with no stray part beside it
        part.unlink(missing_ok=True)
        raise


def funding_lines(rows: list[tuple[int, str]]) -> list[str]:
    """Binance's monthly fundingRate layout; each row's interval is the gap to its neighbour, in hours."""
    lines = []
    for i, (time_ms, rate) in enumerate(rows):
        if len(rows) < 2:
            hours = 8
        else:
            other = rows[i + 1][0] if i + 1 < len(rows) else rows[i - 1][0]
            hours = max(1, round(abs(other - time_ms) / HOUR_MS))
        lines.append(f"{time_ms},{hours},{rate}")
    return lines



def unique_rows(answer: list[list[Any]], first: int, end: int) -> list[list[Any]]:
    """The kline rows opening inside [first, end), one per open time, in time order."""
    by_open: dict[int, list[Any]] = {}
    for row in answer:
        opened = int(row[0])
        if first <= opened < end:
            by_open[opened] = row
    return [by_open[t] for t in sorted(by_open)]
