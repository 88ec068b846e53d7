"""Build the instrument universe table from recorded (or live) Binance answers.

The simulator must reject exactly what Binance rejects, so filters and leverage brackets are copied
from real `/fapi/v1/exchangeInfo` and `/fapi/v1/leverageBracket` answers rather than invented. What
Binance does not publish (a typical price, spread and book depth) is modelled here, deterministically,
so that rebuilding from the same inputs gives the same bytes and a diff of the packaged table shows
only real changes.

Modelled values, and why they look the way they do:

* **Typical price** is the `markPrice` of a `/fapi/v1/premiumIndex` snapshot, snapped to the symbol's
  tick (a seed price off the tick grid could not be sent back as an order). A mark outside the
  PRICE_FILTER band (the snapshot may be younger than the filters) is clamped to the band edge and
  marked ``premium_index_clamped``; otherwise no order could be placed at all. A symbol absent from
  the snapshot gets ``tickSize × 10^4`` (most real symbols price at 10^3–10^5 ticks, so this lands
  within an order of magnitude), fitted into the band and marked ``derived``.
* **Typical funding rate** is the snapshot's `lastFundingRate`; absent symbols get 0.0001 (0.01 %
  per 8 h), Binance's baseline when the premium is zero.
* **Liquidity.** The proxy is ``MARKET_LOT_SIZE.maxQty × typical price``: Binance sizes the largest
  market order it accepts to what the book absorbs. Symbols are ranked by it, descending, with BTCUSDT
  and ETHUSDT pinned first and second (their books are the deepest although the proxy says otherwise:
  DOGEUSDT's market cap in USDT exceeds ETHUSDT's); ties break by symbol name. The proxy's absolute
  level is a risk limit, not a book, so it only orders symbols; with ``q = rank / (N − 1)`` the model is
  a log-linear curve from the head to the tail of the ranking::

      depth_usdt = 5 000 000 × (20 000 / 5 000 000) ** q      (whole USDT, per side, within 10 bps)
      spread_bps = max(0.5 × (12 / 0.5) ** q, 1 tick in bps)  (0.01 bps, rounded up for the tick)

  so BTCUSDT gets 0.5 bps / 5 M USDT, the median symbol ~2.4 bps / 316 k, the last 12 bps / 20 k. A
  spread can never be narrower than one tick, hence the floor. Arithmetic is Decimal with a fixed
  context, so results do not depend on the platform's float library.
* **Default brackets.** A symbol with no bracket data gets the most conservative ladder in common use
  on Binance for small caps (e.g. COMBOUSDT, LINAUSDT in 2024): 20x to 5 k, 15x to 25 k, 10x to 200 k,
  5x to 500 k, 4x to 1 M, 2x to 3 M, 1x to 5 M USDT with MMR 2 / 2.5 / 5 / 10 / 12.5 / 25 / 50 %; `cum`
  follows Binance's rule ``cum_n = cum_(n−1) + floor_n × (MMR_n − MMR_(n−1))``. Over-estimating margin
  makes a strategy look worse in simulation, never better.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, Decimal, localcontext
from pathlib import Path
from typing import Any

from quantum_trader.domain.instrument_parse import filters_by_type
from quantum_trader.domain.money import ZERO, Rounding, fmt, round_to_grid, to_decimal

FORMAT_VERSION = 1
ANCHOR_SYMBOLS = ("BTCUSDT", "ETHUSDT")
DEFAULT_FUNDING_RATE = "0.00010000"
DERIVED_PRICE_TICKS = Decimal(10_000)
HEAD_DEPTH_USDT, TAIL_DEPTH_USDT = Decimal(5_000_000), Decimal(20_000)
HEAD_SPREAD_BPS, TAIL_SPREAD_BPS = Decimal("0.5"), Decimal(12)
#: (initialLeverage, notionalFloor, notionalCap, maintMarginRatio) of the default ladder.
DEFAULT_LADDER: tuple[tuple[int, int, int, str], ...] = (
    (20, 0, 5_000, "0.02"),
    (15, 5_000, 25_000, "0.025"),
    (10, 25_000, 200_000, "0.05"),
    (5, 200_000, 500_000, "0.1"),
    (4, 500_000, 1_000_000, "0.125"),
    (2, 1_000_000, 3_000_000, "0.25"),
    (1, 3_000_000, 5_000_000, "0.5"),
)
_EXCHANGE_KEYS = ("timezone", "futuresType", "rateLimits", "exchangeFilters", "assets")
_BPS = Decimal(10_000)


def build_universe(
    exchange_info: Mapping[str, Any], leverage_brackets: Any, premium_index: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Turn Binance answers into the JSON-able universe table (pure; see the module docstring).

    `leverage_brackets` is either freqtrade's/ccxt's `{"BTC/USDT:USDT": [{"info": {...}}, ...]}` or a
    raw `/fapi/v1/leverageBracket` answer (a list of `{symbol, brackets}`, or one such object).
    """
    infos = tradable_perpetuals(exchange_info)
    bracket_rows = _bracket_rows_by_symbol(leverage_brackets, infos)
    marks = {str(row["symbol"]): row for row in premium_index}
    entries = {
        str(info["symbol"]): _entry(info, bracket_rows.get(str(info["symbol"])), marks) for info in infos
    }
    ranked = _rank(entries)
    _apply_liquidity(entries, ranked)
    return {
        "format": FORMAT_VERSION,
        "source_server_time": exchange_info.get("serverTime"),
        "exchange": {key: copy.deepcopy(exchange_info.get(key)) for key in _EXCHANGE_KEYS},
        "ranked_symbols": ranked,
        "default_bracket_symbols": sorted(s for s, e in entries.items() if e["bracket_source"] == "default"),
        "derived_price_symbols": sorted(s for s, e in entries.items() if e["price_source"] == "derived"),
        "clamped_price_symbols": sorted(
            s for s, e in entries.items() if e["price_source"] == "premium_index_clamped"
        ),
        "symbols": entries,
    }


def dump_universe(table: Mapping[str, Any]) -> bytes:
    """Serialise deterministically: sorted keys, compact JSON, gzip with mtime 0 and no file name."""
    payload = json.dumps(table, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    return buffer.getvalue()


def write_universe(table: Mapping[str, Any], path: Path) -> None:
    """Write the table so that rebuilding from the same inputs gives byte-identical files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dump_universe(table))


def tradable_perpetuals(exchange_info: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """USDT-quoted perpetuals that are TRADING: the only contracts the bot may open."""
    return [
        info
        for info in exchange_info["symbols"]
        if info.get("contractType") == "PERPETUAL"
        and info.get("quoteAsset") == "USDT"
        and info.get("status") == "TRADING"
    ]


def normalise_bracket(row: Mapping[str, Any]) -> dict[str, Any]:
    """One bracket with exact decimal strings: ccxt keeps Binance's strings, a live answer has floats."""
    return {
        "bracket": int(row["bracket"]),
        "initialLeverage": int(row["initialLeverage"]),
        "notionalCap": fmt(to_decimal(row["notionalCap"], "notionalCap")),
        "notionalFloor": fmt(to_decimal(row["notionalFloor"], "notionalFloor")),
        "maintMarginRatio": fmt(to_decimal(row["maintMarginRatio"], "maintMarginRatio")),
        "cum": fmt(to_decimal(row["cum"], "cum")),
    }


def default_brackets() -> list[dict[str, Any]]:
    """The conservative ladder, with `cum` derived by Binance's rule so it is internally consistent."""
    rows: list[dict[str, Any]] = []
    cum, previous_mmr = ZERO, ZERO
    for number, (leverage, floor, cap, mmr_text) in enumerate(DEFAULT_LADDER, start=1):
        mmr = Decimal(mmr_text)
        cum += Decimal(floor) * (mmr - previous_mmr)
        previous_mmr = mmr
        rows.append(
            normalise_bracket(
                {"bracket": number, "initialLeverage": leverage, "notionalCap": cap,
                 "notionalFloor": floor, "maintMarginRatio": mmr, "cum": cum}
            )
        )
    return rows


# --- inputs ----------------------------------------------------------------------------------------
def _bracket_rows_by_symbol(source: Any, infos: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Index bracket data by Binance symbol, whichever of the accepted shapes it came in."""
    if isinstance(source, Mapping) and "symbol" in source and "brackets" in source:
        source = [source]
    if isinstance(source, Mapping):
        # ccxt/freqtrade keys are unified symbols; perpetuals are BASE/QUOTE:SETTLE without a date.
        unified = {f"{i['baseAsset']}/{i['quoteAsset']}:{i['marginAsset']}": str(i["symbol"]) for i in infos}
        return {
            unified[key]: {"brackets": [tier["info"] for tier in tiers]}
            for key, tiers in source.items()
            if key in unified
        }
    return {str(row["symbol"]): row for row in source}


def _entry(
    info: Mapping[str, Any], bracket_row: Mapping[str, Any] | None, marks: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    entry: dict[str, Any] = {"info": copy.deepcopy(dict(info))}
    if bracket_row and bracket_row.get("brackets"):
        rows = sorted((normalise_bracket(r) for r in bracket_row["brackets"]), key=lambda r: r["bracket"])
        entry.update(brackets=rows, bracket_source="binance")
        if bracket_row.get("notionalCoef") is not None:
            entry["notional_coef"] = fmt(to_decimal(bracket_row["notionalCoef"], "notionalCoef"))
    else:
        entry.update(brackets=default_brackets(), bracket_source="default")
    entry.update(_typical_price(info, marks.get(str(info["symbol"]))))
    return entry


def _typical_price(info: Mapping[str, Any], mark_row: Mapping[str, Any] | None) -> dict[str, Any]:
    price_filter = filters_by_type(info).get("PRICE_FILTER", {})
    tick = to_decimal(price_filter.get("tickSize", "0"), "tickSize")
    low = to_decimal(price_filter.get("minPrice", "0"), "minPrice")
    high = to_decimal(price_filter.get("maxPrice", "0"), "maxPrice")
    mark = to_decimal(mark_row["markPrice"], "markPrice") if mark_row and mark_row.get("markPrice") else ZERO
    funding = str((mark_row or {}).get("lastFundingRate") or DEFAULT_FUNDING_RATE)
    if mark > 0:
        price = _fit_to_band(mark, tick, low, high)
        inside = (low == 0 or mark >= low) and (high == 0 or mark <= high)
        source = "premium_index" if inside else "premium_index_clamped"
    else:
        price = _fit_to_band(tick * DERIVED_PRICE_TICKS if tick > 0 else Decimal(1), tick, low, high)
        source = "derived"
    return {
        "mark_price": str(mark_row["markPrice"]) if source != "derived" and mark_row else None,
        "typical_price": fmt(price),
        "price_source": source,
        "funding_rate": funding,
    }


def _fit_to_band(value: Decimal, tick: Decimal, low: Decimal, high: Decimal) -> Decimal:
    """Nearest on-tick price inside [minPrice, maxPrice] (a zero bound is no bound, as on Binance)."""
    price = round_to_grid(value, tick, Rounding.NEAREST, low)
    if high != 0 and price > high:
        price = round_to_grid(high, tick, Rounding.DOWN, low)
    if price < low:
        price = low
    if price <= 0:
        price = tick if tick > 0 else Decimal(1)
    return price


# --- ranking and liquidity model -------------------------------------------------------------------
def liquidity_proxy(info: Mapping[str, Any], typical_price: Decimal) -> Decimal:
    """MARKET_LOT_SIZE maxQty × price: the largest market order Binance accepts, in USDT."""
    filters = filters_by_type(info)
    lot = filters.get("MARKET_LOT_SIZE") or filters.get("LOT_SIZE") or {}
    return to_decimal(lot.get("maxQty", "0"), "maxQty") * typical_price


def _rank(entries: dict[str, dict[str, Any]]) -> list[str]:
    proxies = {
        symbol: liquidity_proxy(entry["info"], Decimal(entry["typical_price"]))
        for symbol, entry in entries.items()
    }
    for symbol, proxy in proxies.items():
        entries[symbol]["liquidity_proxy_usdt"] = fmt(proxy)
    anchors = [s for s in ANCHOR_SYMBOLS if s in entries]
    rest = sorted((s for s in entries if s not in anchors), key=lambda s: (-proxies[s], s))
    return anchors + rest


def _apply_liquidity(entries: dict[str, dict[str, Any]], ranked: list[str]) -> None:
    last = max(len(ranked) - 1, 1)
    for rank, symbol in enumerate(ranked):
        entry = entries[symbol]
        tick = to_decimal(filters_by_type(entry["info"]).get("PRICE_FILTER", {}).get("tickSize", "0"))
        spread, depth = liquidity_model(Decimal(rank) / Decimal(last), tick, Decimal(entry["typical_price"]))
        entry["spread_bps"], entry["depth_usdt"] = fmt(spread), fmt(depth)


def liquidity_model(q: Decimal, tick: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
    """(spread_bps, depth_usdt) at rank fraction q ∈ [0, 1]; 0 is the most liquid symbol."""
    with localcontext() as ctx:
        ctx.prec = 28
        depth = _log_interpolate(HEAD_DEPTH_USDT, TAIL_DEPTH_USDT, q).quantize(Decimal(1))
        spread = _log_interpolate(HEAD_SPREAD_BPS, TAIL_SPREAD_BPS, q).quantize(Decimal("0.01"))
        if price > 0:
            one_tick = (tick / price * _BPS).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
            spread = max(spread, one_tick)
    return spread, depth


def _log_interpolate(head: Decimal, tail: Decimal, q: Decimal) -> Decimal:
    return (head.ln() + q * (tail.ln() - head.ln())).exp()
