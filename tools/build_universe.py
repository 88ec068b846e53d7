"""Rebuild the packaged instrument universe from the recorded Binance answers in shared/data.

Run it after refreshing any input (a live answer saved to a file works too); the output is
deterministic, so an unchanged input gives an unchanged file and a clean diff.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
from typing import Any

from quantum_trader.sim.universe_build import build_universe, write_universe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEFAULT_EXCHANGE_INFO = SHARED / "exchange_info" / "binance_um_futures_exchangeInfo_2024-10-02.json.gz"
DEFAULT_BRACKETS = SHARED / "freqtrade" / "exchange" / "binance_leverage_tiers_2024-10-24.json"
DEFAULT_PREMIUM_INDEX = SHARED / "premium_index_funding" / "premiumIndex_2025-06-17.json"
DEFAULT_OUT = ROOT / "src" / "quantum_trader" / "sim" / "data" / "universe.json.gz"


def read_json(path: Path) -> Any:
    """JSON or gzipped JSON, chosen by suffix, so recorded and freshly saved answers both load."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchange-info", type=Path, default=DEFAULT_EXCHANGE_INFO)
    parser.add_argument("--leverage-brackets", type=Path, default=DEFAULT_BRACKETS)
    parser.add_argument("--premium-index", type=Path, default=DEFAULT_PREMIUM_INDEX)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    table = build_universe(
        read_json(args.exchange_info), read_json(args.leverage_brackets), read_json(args.premium_index)
    )
    write_universe(table, args.out)
    print(
        f"{args.out}: {len(table['ranked_symbols'])} symbols, "
        f"{len(table['default_bracket_symbols'])} default brackets, "
        f"{len(table['derived_price_symbols'])} derived prices, "
        f"{len(table['clamped_price_symbols'])} clamped prices, {args.out.stat().st_size} bytes"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
