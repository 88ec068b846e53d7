"""The packaged universe must be Binance's real filters and brackets, served back in Binance's shapes."""

from __future__ import annotations

import copy
import gzip
import itertools
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.domain.errors import OrderRejected
from quantum_trader.domain.instrument import Instrument
from quantum_trader.domain.instrument_parse import instrument_from_symbol_info
from quantum_trader.domain.money import Rounding, on_grid
from quantum_trader.sim.universe import Universe, load_universe
from quantum_trader.sim.universe_build import build_universe, default_brackets, dump_universe

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
EXCHANGE_INFO = SHARED / "exchange_info" / "binance_um_futures_exchangeInfo_2024-10-02.json.gz"
BRACKETS = SHARED / "freqtrade" / "exchange" / "binance_leverage_tiers_2024-10-24.json"
PREMIUM_INDEX = SHARED / "premium_index_funding" / "premiumIndex_2025-06-17.json"
D = Decimal


@pytest.fixture(scope="module")
def universe() -> Universe:
    return load_universe()


def _read(path: Path) -> Any:
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def exchange_info_raw() -> Any:
    return _read(EXCHANGE_INFO)


def _mini_info(symbol: str, *, tick: str = "0.0010", quote: str = "USDT", contract: str = "PERPETUAL",
               status: str = "TRADING", market_max: str = "1000") -> dict[str, Any]:
    return {
        "symbol": symbol, "pair": symbol, "contractType": contract, "status": status,
        "baseAsset": symbol.removesuffix(quote), "quoteAsset": quote, "marginAsset": quote,
        "pricePrecision": 4, "quantityPrecision": 1, "onboardDate": 1,
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "20000", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": "0.1", "maxQty": "100000", "stepSize": "0.1"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.1", "maxQty": market_max, "stepSize": "0.1"},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"],
    }


def _mini_exchange_info(*infos: dict[str, Any]) -> dict[str, Any]:
    return {"timezone": "UTC", "serverTime": 1, "futuresType": "U_MARGINED", "rateLimits": [],
            "exchangeFilters": [], "assets": [], "symbols": list(infos)}


# --- size and real filters -------------------------------------------------------------------------
def test_universe_has_every_tradable_usdt_perpetual(universe: Universe) -> None:
    assert len(universe) >= 222
    assert len(universe) == 297
    assert len(set(universe.symbols)) == len(universe)
    assert all(s.endswith("USDT") for s in universe.symbols)


def test_btcusdt_filters_are_mainnet_2024_10_02(universe: Universe) -> None:
    btc = universe.instrument("BTCUSDT")
    assert btc.tick_size == D("0.10")
    assert btc.step_size == D("0.001")
    assert btc.min_notional == D("100")
    assert btc.market_lot_size.max_qty == D("120")
    assert btc.liquidation_fee == D("0.012500")
    assert btc.max_leverage == 125
    assert btc.order_types[:2] == ("LIMIT", "MARKET")


def test_bnbusdt_filters(universe: Universe) -> None:
    bnb = universe.instrument("BNBUSDT")
    assert (bnb.tick_size, bnb.step_size, bnb.min_notional) == (D("0.010"), D("0.01"), D("5"))
    assert bnb.market_lot_size.max_qty == D("2000")
    assert bnb.lot_size.max_qty == D("100000")
    assert bnb.percent_price.multiplier_up == D("1.0500")
    assert bnb.percent_price.multiplier_decimal == 4


def test_decimal_fields_are_exact_not_floats(universe: Universe) -> None:
    for symbol in universe.symbols:
        inst = universe.instrument(symbol)
        raw = {f["filterType"]: f for f in universe.raw_symbol_info(symbol)["filters"]}
        # same digits and exponent as Binance's string: "0.010" stays 0.010, not 0.01 or 0.01000000001
        assert inst.tick_size.as_tuple() == Decimal(raw["PRICE_FILTER"]["tickSize"]).as_tuple()
        assert inst.step_size.as_tuple() == Decimal(raw["LOT_SIZE"]["stepSize"]).as_tuple()
        assert isinstance(inst.typical_price, Decimal)
        assert inst.typical_price > 0
        assert isinstance(inst.liquidity.depth_usdt, Decimal)


def test_bnbusdt_rounding_on_real_tick(universe: Universe) -> None:
    bnb = universe.instrument("BNBUSDT")
    assert bnb.round_price(D("914.7456"), Rounding.UP) == D("914.75")
    assert bnb.round_price(D("914.7456"), Rounding.DOWN) == D("914.74")
    assert bnb.round_qty(D("1.159")) == D("1.15")


@given(st.decimals(min_value=D("6.6"), max_value=D("100000"), places=6))
def test_round_up_lands_on_tick_and_never_below(price: Decimal) -> None:
    bnb = load_universe().instrument("BNBUSDT")
    rounded = bnb.round_price(price, Rounding.UP)
    assert rounded >= price
    assert rounded - price < bnb.tick_size
    assert on_grid(rounded, bnb.tick_size, bnb.price_filter.min_price)


# --- brackets ------------------------------------------------------------------------------------
def _bracket_problems(inst: Instrument) -> list[str]:
    problems: list[str] = []
    brackets = inst.brackets
    if not brackets or brackets[0].notional_floor != 0 or brackets[0].cum != 0:
        problems.append("first bracket must start at 0 with cum 0")
    for prev, cur in itertools.pairwise(brackets):
        if cur.bracket != prev.bracket + 1:
            problems.append(f"bracket numbering {prev.bracket}->{cur.bracket}")
        if cur.notional_floor != prev.notional_cap:
            problems.append(f"gap at bracket {cur.bracket}")
        if cur.initial_leverage > prev.initial_leverage:
            problems.append(f"leverage rises at bracket {cur.bracket}")
        if cur.maint_margin_ratio < prev.maint_margin_ratio:
            problems.append(f"MMR falls at bracket {cur.bracket}")
        expected = prev.cum + cur.notional_floor * (cur.maint_margin_ratio - prev.maint_margin_ratio)
        if cur.cum != expected:  # exact: the 2024-10-24 snapshot satisfies Binance's rule everywhere
            problems.append(f"cum {cur.cum} != {expected} at bracket {cur.bracket}")
    return problems


def test_every_bracket_ladder_is_contiguous_monotone_and_cumulative(universe: Universe) -> None:
    failures = {s: p for s in universe.symbols if (p := _bracket_problems(universe.instrument(s)))}
    assert failures == {}


def test_bracket_checker_detects_a_broken_cum(universe: Universe) -> None:
    inst = universe.instrument("ETHUSDT")
    third = inst.brackets[2]
    broken = instrument_from_symbol_info(
        universe.raw_symbol_info("ETHUSDT"),
        [*universe.leverage_brackets("ETHUSDT")[0]["brackets"][:2],
         {"bracket": 3, "initialLeverage": third.initial_leverage, "notionalCap": str(third.notional_cap),
          "notionalFloor": str(third.notional_floor), "maintMarginRatio": str(third.maint_margin_ratio),
          "cum": "951"}],
    )
    assert _bracket_problems(broken) == ["cum 951 != 950.0000 at bracket 3"]


def test_btcusdt_brackets_match_binance(universe: Universe) -> None:
    first, second = universe.instrument("BTCUSDT").brackets[:2]
    assert (first.initial_leverage, first.notional_cap) == (125, D(50000))
    assert first.maint_margin_ratio == D("0.004")
    assert (second.notional_floor, second.cum) == (D(50000), D(50))


def test_default_ladder_is_conservative_and_consistent() -> None:
    inst = instrument_from_symbol_info(_mini_info("FOOUSDT"), default_brackets())
    assert _bracket_problems(inst) == []
    assert inst.max_leverage == 20
    assert inst.brackets[-1].cum == D("898150")  # the same as COMBOUSDT's real last bracket


# --- rank and liquidity --------------------------------------------------------------------------
def test_rank_puts_btc_then_eth_then_proxy_descending(universe: Universe) -> None:
    assert universe.top(2) == ("BTCUSDT", "ETHUSDT")
    assert universe.top(5) == universe.symbols[:5]
    with resources.files("quantum_trader.sim").joinpath("data", "universe.json.gz").open("rb") as handle:
        table = json.loads(gzip.decompress(handle.read()))
    proxies = [D(table["symbols"][s]["liquidity_proxy_usdt"]) for s in universe.symbols[2:]]
    assert proxies == sorted(proxies, reverse=True)


def test_liquidity_head_is_deep_and_tight_tail_is_thin(universe: Universe) -> None:
    for symbol in ("BTCUSDT", "ETHUSDT"):
        liq = universe.instrument(symbol).liquidity
        assert D("0.2") <= liq.spread_bps <= D("1")
        assert liq.depth_usdt >= D(3_000_000)
    tail = universe.instrument(universe.symbols[-1]).liquidity
    assert D(10_000) <= tail.depth_usdt <= D(100_000)
    assert tail.spread_bps >= D(5)
    depths = [universe.instrument(s).liquidity.depth_usdt for s in universe.symbols]
    assert depths == sorted(depths, reverse=True)


def test_spread_is_never_narrower_than_one_tick(universe: Universe) -> None:
    for symbol in universe.symbols:
        inst = universe.instrument(symbol)
        assert inst.liquidity.spread_bps >= inst.tick_size / inst.typical_price * 10_000, symbol


def test_typical_prices_are_tradable_and_funding_recorded(universe: Universe) -> None:
    for symbol in universe.symbols:
        inst = universe.instrument(symbol)
        inst.check_price(inst.typical_price)  # raises OrderRejected if off-tick or outside the band
    assert universe.instrument("BTCUSDT").typical_price == D("106599.9")
    assert universe.typical_funding_rate("BTCUSDT") == D("0.00004758")
    assert universe.price_source("LINAUSDT") == "premium_index_clamped"


# --- membership and errors -----------------------------------------------------------------------
def test_unknown_symbol_is_binance_invalid_symbol(universe: Universe) -> None:
    for call in (universe.instrument, universe.raw_symbol_info, universe.typical_funding_rate,
                 lambda s: universe.subset([s]), lambda s: universe.exchange_info(0, [s])):
        with pytest.raises(OrderRejected) as info:
            call("NOPEUSDT")
        assert (info.value.code, info.value.msg) == (-1121, "Invalid symbol.")
    assert "NOPEUSDT" not in universe
    assert "BTCUSDT" in universe


def test_subset_keeps_rank_order(universe: Universe) -> None:
    sub = universe.subset(["BNBUSDT", "BTCUSDT"])
    assert sub.symbols == ("BTCUSDT", "BNBUSDT")
    assert len(sub) == 2
    assert "ETHUSDT" not in sub
    with pytest.raises(OrderRejected):
        sub.instrument("ETHUSDT")
    assert sub.instrument("BNBUSDT") == universe.instrument("BNBUSDT")
    with pytest.raises(ValueError, match="n must be"):
        universe.top(-1)


# --- Binance shapes ------------------------------------------------------------------------------
def test_exchange_info_has_binance_layout_and_strings(universe: Universe, exchange_info_raw: Any) -> None:
    answer = universe.exchange_info(1_700_000_000_000)
    assert list(answer) == ["timezone", "serverTime", "futuresType", "rateLimits", "exchangeFilters",
                            "assets", "symbols"]
    assert answer["serverTime"] == 1_700_000_000_000
    assert answer["rateLimits"] == exchange_info_raw["rateLimits"]
    assert answer["assets"] == exchange_info_raw["assets"]
    assert len(answer["symbols"]) == len(universe)
    original = {s["symbol"]: s for s in exchange_info_raw["symbols"]}
    for info in answer["symbols"]:
        assert info["orderTypes"], info["symbol"]
        assert info["timeInForce"], info["symbol"]
        assert info == original[info["symbol"]]  # every field, unchanged
        for flt in info["filters"]:
            for key, value in flt.items():
                assert isinstance(value, str) or key == "limit", (info["symbol"], key)


def test_exchange_info_for_named_symbols_and_no_aliasing(universe: Universe) -> None:
    answer = universe.exchange_info(1, ["BNBUSDT"])
    assert [s["symbol"] for s in answer["symbols"]] == ["BNBUSDT"]
    answer["symbols"][0]["filters"].clear()
    assert universe.raw_symbol_info("BNBUSDT")["filters"]


def test_leverage_brackets_are_numbers(universe: Universe) -> None:
    (row,) = universe.leverage_brackets("BTCUSDT")
    assert row["symbol"] == "BTCUSDT"
    first = row["brackets"][0]
    assert first == {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                     "maintMarginRatio": 0.004, "cum": 0.0}
    assert all(not isinstance(v, str) for b in row["brackets"] for v in b.values())
    assert len(universe.leverage_brackets()) == len(universe)


# --- builder -------------------------------------------------------------------------------------
def test_rebuild_is_byte_identical_to_packaged_file(exchange_info_raw: Any) -> None:
    table = build_universe(exchange_info_raw, _read(BRACKETS), _read(PREMIUM_INDEX))
    packaged = resources.files("quantum_trader.sim").joinpath("data", "universe.json.gz").read_bytes()
    rebuilt = dump_universe(table)
    assert gzip.decompress(rebuilt) == gzip.decompress(packaged), "table content drifted: run tools/"
    assert rebuilt == packaged
    assert len(packaged) < 200_000


def test_builder_filters_contracts_and_fills_gaps(exchange_info_raw: Any) -> None:
    infos = [_mini_info("AAAUSDT", market_max="10"), _mini_info("BBBUSDT", tick="0.0100"),
             _mini_info("CCCUSDC", quote="USDC"), _mini_info("DDDUSDT", status="SETTLING"),
             _mini_info("EEEUSDT", contract="CURRENT_QUARTER")]
    raw_brackets = [{"symbol": "AAAUSDT", "notionalCoef": 1.5, "brackets": [
        {"bracket": 2, "initialLeverage": 10, "notionalCap": 20000, "notionalFloor": 5000,
         "maintMarginRatio": 0.025, "cum": 25.0},
        {"bracket": 1, "initialLeverage": 20, "notionalCap": 5000, "notionalFloor": 0,
         "maintMarginRatio": 0.02, "cum": 0.0}]}]
    premium = [{"symbol": "AAAUSDT", "markPrice": "2.12345678", "lastFundingRate": "-0.00030000"}]
    table = build_universe(_mini_exchange_info(*infos), raw_brackets, premium)
    uni = Universe(table)
    assert uni.symbols == ("BBBUSDT", "AAAUSDT")  # BBB: 1000 × 100 (derived) beats AAA: 10 × 2.123
    assert uni.default_bracket_symbols == ("BBBUSDT",)
    assert uni.derived_price_symbols == ("BBBUSDT",)
    aaa = uni.instrument("AAAUSDT")
    assert aaa.typical_price == D("2.123")
    assert [b.bracket for b in aaa.brackets] == [1, 2]
    assert aaa.brackets[1].maint_margin_ratio == D("0.025")
    assert uni.typical_funding_rate("AAAUSDT") == D("-0.00030000")
    assert uni.typical_funding_rate("BBBUSDT") == D("0.0001")
    assert uni.instrument("BBBUSDT").typical_price == D("100")  # tickSize × 10^4
    assert uni.leverage_brackets("AAAUSDT")[0]["notionalCoef"] == 1.5
    assert table == build_universe(_mini_exchange_info(*copy.deepcopy(infos)), raw_brackets, premium)


def test_instrument_from_live_symbol_info(exchange_info_raw: Any) -> None:
    info = next(s for s in exchange_info_raw["symbols"] if s["symbol"] == "ETHUSDT")
    live_brackets = [{"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                      "maintMarginRatio": 0.004, "cum": 0.0}]
    eth = instrument_from_symbol_info(info, live_brackets)
    assert eth.brackets[0].maint_margin_ratio == D("0.004")
    assert eth.tick_size == D("0.01")
    assert eth.min_notional == D("20")
    assert eth.max_num_algo_orders == 10
