"""The instrument universe: real Binance USDⓈ-M perpetuals with their real filters and brackets.

The table is built offline by `universe_build` from recorded Binance answers and shipped with the
package, so a paper session needs no network yet rejects exactly what Binance would. The same raw
symbol objects are kept, so a simulator server can answer `/fapi/v1/exchangeInfo` and
`/fapi/v1/leverageBracket` with Binance's own shapes (clients such as ccxt read fields we never use).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from quantum_trader.domain import binance_errors as be
from quantum_trader.domain.instrument import (
    Instrument,
    Liquidity,
)
from quantum_trader.domain.instrument_parse import instrument_from_symbol_info

_PACKAGE = "quantum_trader.sim"
_RESOURCE = ("data", "universe.json.gz")
#: Binance's key order for a symbol object, so served JSON reads like the real one (stored sorted).
_SYMBOL_KEY_ORDER = (
    "symbol", "pair", "contractType", "deliveryDate", "onboardDate", "status", "maintMarginPercent",
    "requiredMarginPercent", "baseAsset", "quoteAsset", "marginAsset", "pricePrecision",
    "quantityPrecision", "baseAssetPrecision", "quotePrecision", "underlyingType", "underlyingSubType",
    "settlePlan", "triggerProtect", "liquidationFee", "marketTakeBound", "maxMoveOrderLimit", "filters",
    "orderTypes", "timeInForce",
)
_DEFAULT_MAX_NUM_ORDERS = 200
#: Instrument's own defaults (a slotted dataclass has no class attributes to read them from).
_INSTRUMENT_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Instrument)}
_DEFAULT_MAX_NUM_ALGO_ORDERS = 10


def load_universe(path: Path | None = None) -> Universe:
    """The universe in `path`, or the packaged one (parsed once per process: it never changes)."""
    if path is None:
        return _packaged_universe()
    return Universe(_parse(Path(path).read_bytes()))


@functools.lru_cache(maxsize=1)
def _packaged_universe() -> Universe:
    data = resources.files(_PACKAGE).joinpath(*_RESOURCE).read_bytes()
    return Universe(_parse(data))


def _parse(data: bytes) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(gzip.decompress(data))
    if table.get("format") != 1:
        raise ValueError(f"universe table format {table.get('format')!r} is not supported (expected 1)")
    return table


def _wire_number(text: str, *, integral: bool) -> int | float:
    """Binance sends bracket caps/floors as integers and ratios/cum as JSON floats (§6.11)."""
    value = Decimal(text)
    if integral and value == value.to_integral_value():
        return int(value)
    return float(value)


class Universe:
    """An immutable, ranked set of symbols: `top(n)` is the n most liquid.

    Instruments are built on first use and shared between a universe and its subsets, which is safe
    because `Instrument` is frozen; raw dicts are handed out as deep copies for the same reason.
    """

    def __init__(
        self,
        table: Mapping[str, Any],
        symbols: Iterable[str] | None = None,
        _cache: dict[str, Instrument] | None = None,
    ) -> None:
        self._table = table
        self._entries: Mapping[str, Mapping[str, Any]] = table["symbols"]
        ranked = table["ranked_symbols"] if symbols is None else symbols
        self._symbols: tuple[str, ...] = tuple(ranked)
        if any(s not in self._entries for s in self._symbols):
            raise be.invalid_symbol()
        self._members = frozenset(self._symbols)
        self._cache: dict[str, Instrument] = {} if _cache is None else _cache

    # --- membership -------------------------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._members

    def __len__(self) -> int:
        return len(self._symbols)

    def __iter__(self) -> Iterator[str]:
        return iter(self._symbols)

    def __repr__(self) -> str:
        head = ", ".join(self._symbols[:3])
        return f"Universe({len(self)} symbols: {head}{', ...' if len(self) > 3 else ''})"

    def top(self, n: int) -> tuple[str, ...]:
        """The n most liquid symbols (all of them when n exceeds the size)."""
        if n < 0:
            raise ValueError(f"top(n): n must be >= 0, got {n}")
        return self._symbols[:n]

    def subset(self, symbols: Iterable[str]) -> Universe:
        """The named symbols, kept in rank order; an unknown name is Binance's -1121."""
        wanted = set(symbols)
        for symbol in wanted:
            self._require(symbol)
        return Universe(self._table, (s for s in self._symbols if s in wanted), self._cache)

    def instruments(self) -> Mapping[str, Instrument]:
        """Every member's instrument by symbol, each built when first read: a backtest is handed the whole
        universe but trades the data's few symbols (building all 297 took 16 ms of its start)."""
        return _LazyInstruments(self)

    # --- per symbol -------------------------------------------------------------------------------
    def instrument(self, symbol: str) -> Instrument:
        cached = self._cache.get(symbol)
        if cached is not None and symbol in self._members:
            return cached
        entry = self._require(symbol)
        built = instrument_from_symbol_info(
            entry["info"],
            entry["brackets"],
            typical_price=Decimal(entry["typical_price"]),
            liquidity=Liquidity(Decimal(entry["spread_bps"]), Decimal(entry["depth_usdt"])),
        )
        self._cache[symbol] = built
        return built

    def raw_symbol_info(self, symbol: str) -> dict[str, Any]:
        """The exchangeInfo symbol object exactly as Binance sent it (every field, strings as strings)."""
        info: Mapping[str, Any] = self._require(symbol)["info"]
        ordered = {key: copy.deepcopy(info[key]) for key in _SYMBOL_KEY_ORDER if key in info}
        ordered.update({key: copy.deepcopy(value) for key, value in info.items() if key not in ordered})
        return ordered

    def typical_funding_rate(self, symbol: str) -> Decimal:
        return Decimal(self._require(symbol)["funding_rate"])

    def price_source(self, symbol: str) -> str:
        """`premium_index`, `premium_index_clamped` or `derived` (see universe_build)."""
        return str(self._require(symbol)["price_source"])

    @property
    def default_bracket_symbols(self) -> tuple[str, ...]:
        """Symbols without Binance bracket data, which use the conservative default ladder."""
        return tuple(s for s in self._symbols if self._entries[s]["bracket_source"] == "default")

    @property
    def derived_price_symbols(self) -> tuple[str, ...]:
        return tuple(s for s in self._symbols if self._entries[s]["price_source"] == "derived")

    # --- Binance answers --------------------------------------------------------------------------
    def exchange_info(self, server_time_ms: int, symbols: Iterable[str] | None = None) -> dict[str, Any]:
        """`GET /fapi/v1/exchangeInfo` in Binance's layout (§6.5), for all or the named symbols."""
        selected = self._select(symbols)
        exchange: Mapping[str, Any] = self._table["exchange"]
        return {
            "timezone": exchange.get("timezone") or "UTC",
            "serverTime": int(server_time_ms),
            "futuresType": exchange.get("futuresType") or "U_MARGINED",
            "rateLimits": copy.deepcopy(exchange.get("rateLimits") or []),
            "exchangeFilters": copy.deepcopy(exchange.get("exchangeFilters") or []),
            "assets": copy.deepcopy(exchange.get("assets") or []),
            "symbols": [self.raw_symbol_info(s) for s in selected],
        }

    def leverage_brackets(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """`GET /fapi/v1/leverageBracket` rows: numbers, not strings (§6.11)."""
        return [self._bracket_answer(s) for s in self._select(None if symbol is None else [symbol])]

    def _bracket_answer(self, symbol: str) -> dict[str, Any]:
        entry = self._entries[symbol]
        answer: dict[str, Any] = {"symbol": symbol}
        if entry.get("notional_coef") is not None:
            answer["notionalCoef"] = float(Decimal(entry["notional_coef"]))
        answer["brackets"] = [
            {
                "bracket": int(row["bracket"]),
                "initialLeverage": int(row["initialLeverage"]),
                "notionalCap": _wire_number(row["notionalCap"], integral=True),
                "notionalFloor": _wire_number(row["notionalFloor"], integral=True),
                "maintMarginRatio": _wire_number(row["maintMarginRatio"], integral=False),
                "cum": _wire_number(row["cum"], integral=False),
            }
            for row in sorted(entry["brackets"], key=lambda r: int(r["bracket"]))
        ]
        return answer

    # --- helpers ----------------------------------------------------------------------------------
    def _require(self, symbol: str) -> Mapping[str, Any]:
        if symbol not in self._members:
            raise be.invalid_symbol()
        return self._entries[symbol]

    def _select(self, symbols: Iterable[str] | None) -> tuple[str, ...]:
        if symbols is None:
            return self._symbols
        names = list(symbols)
        for name in names:
            self._require(name)
        return tuple(dict.fromkeys(names))


class _LazyInstruments(Mapping[str, Instrument]):
    """`Universe.instruments()`: a read-only mapping over the members; a symbol outside them is a KeyError."""

    def __init__(self, universe: Universe) -> None:
        self._universe = universe

    def __contains__(self, symbol: object) -> bool:  # Mapping's own would build the instrument to answer
        return symbol in self._universe

    def __getitem__(self, symbol: str) -> Instrument:
        if symbol not in self._universe:
            raise KeyError(symbol)
        return self._universe.instrument(symbol)

    def __iter__(self) -> Iterator[str]:
        return iter(self._universe)

    def __len__(self) -> int:
        return len(self._universe)
