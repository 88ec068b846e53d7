"""What a kline spec names: a file, a folder of kline files, or a glob, resolved one way everywhere.

`backtest --data`, `sweep --data`, `train`/`evaluate --data`, `run --feed replay:` and `sim-server --feed
replay:` take the same spec, so a user who trained on `data/*-1m-2026-02.csv.gz` can backtest and replay
exactly those files. A spec that exists as a path is that path (a file name may contain `[`); only a spec
that does not exist and has glob characters is a pattern. Matching is non-recursive unless the pattern
says `**`, and never takes a file below a companion folder the pattern does not name itself
(marketdata/companions.py; also data.binance.vision's premium and index price klines): a day of
mark-price klines is named exactly as that day of klines, and read as klines would be merged into them
silently.
Nothing here reads a file: the reader (bars.py) does that.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

MARK_FOLDER = "markPriceKlines"
FUNDING_FOLDER = "fundingRate"
#: Folders whose files are not klines of their symbol, though most are named like them.
NOT_KLINE_FOLDERS = frozenset({MARK_FOLDER, FUNDING_FOLDER, "premiumIndexKlines", "indexPriceKlines"})
#: The kline files the reader takes: Binance public data as published (.zip), or as CSV, plain or gzip.
KLINE_SUFFIXES = (".csv", ".csv.gz", ".zip")
_GLOB_CHARACTERS = ("*", "?", "[")
_SUFFIX_TEXT = ", ".join(KLINE_SUFFIXES)


def is_kline_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(KLINE_SUFFIXES)


def is_pattern(spec: str | Path) -> bool:
    """True for a glob: a spec that is no existing path and has `*`, `?` or `[` in it."""
    text = str(spec)
    return not Path(text).exists() and any(c in text for c in _GLOB_CHARACTERS)


def kline_paths(spec: str | Path) -> list[Path]:
    """The kline files `spec` names, sorted by path: [the file], a folder's kline files, or a glob's.

    Raises ValueError starting with the spec and saying what to give instead when it names none, so
    every command can print it after its own option name.
    """
    path = _expanded(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if is_kline_file(p))
        if not found:
            raise ValueError(f"{spec}: no kline files ({_SUFFIX_TEXT}) in this folder")
        return found
    if not is_pattern(path):
        raise ValueError(f"{spec} does not exist (give a kline file, a folder of them, or a quoted glob)")
    fixed = len(_literal_root(path).parts)  # folders the pattern names itself may be companions on purpose
    matches = (Path(m) for m in glob.glob(str(path), recursive=True))
    found = sorted(p for p in matches
                   if is_kline_file(p) and not NOT_KLINE_FOLDERS.intersection(p.parent.parts[fixed:]))
    if not found:
        raise ValueError(f"{spec}: no kline file ({_SUFFIX_TEXT}) matches this pattern")
    return found


def _expanded(spec: str | Path) -> Path:
    """`~` and `~user` expanded; an unknown user leaves the spec as written (it then does not exist)."""
    return Path(os.path.expanduser(str(spec)))


def _literal_root(pattern: Path) -> Path:
    """The folders before the pattern's first glob character: what the user named literally."""
    parts = []
    for part in pattern.parts:
        if any(c in part for c in _GLOB_CHARACTERS):
            break
        parts.append(part)
    return Path(*parts) if parts else Path()
