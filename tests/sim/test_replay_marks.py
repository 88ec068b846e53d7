"""Replays from recorded mark prices and funding (mark-price klines and funding files beside the klines).

Hand-made files: the mark dips through a MARK_PRICE stop while the last does not (the stop fires only with
the marks), the last dips while the mark does not (a MARK_PRICE stop holds, a CONTRACT_PRICE one fires),
and a funding file with a known rate moves the wallet by exactly amount × recorded mark × that rate.
Without the files the replay is the one it always was (mark = last, the default rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from quantum_trader.marketdata.bars import iter_binance_klines
from quantum_trader.marketdata.companions import Companions, companions_of
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.recorded_funding import use_recorded_funding
from quantum_trader.sim.replay import BarReplayer
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
SYMBOL = "BNBUSDT"
HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume," \
         "taker_buy_quote_volume,ignore"
CALM = [(600, 601, 599, 600), (600, 601, 598, 599), (599, 600, 597, 598), (598, 599, 597, 598), (598, 600, 597, 599)]
DIP = [*CALM[:2], (599, 600, 588, 598), *CALM[3:]]  # bar 2 reaches 588


def _klines(path: Path, bars: Sequence[tuple[float, float, float, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [HEADER] + [f"{T0 + i * 60_000},{o},{h},{lo},{c},0,{T0 + i * 60_000 + 59_999},0,0,0,0,0"
                       for i, (o, h, lo, c) in enumerate(bars)]
    path.write_text("\n".join(rows) + "\n")


def _data(folder: Path, last: Sequence[tuple[float, float, float, float]],
          mark: Sequence[tuple[float, float, float, float]] | None) -> Path:
    _klines(folder / f"{SYMBOL}-1m-2026-01-05.csv", last)
    if mark is not None:
        _klines(folder / "markPriceKlines" / f"{SYMBOL}-1m-2026-01-05.csv", mark)
    return folder


def _long_with_stop(working_type: str, stop: str = "590") -> ExchangeSimulator:
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=T0))
    sim.set_prices({SYMBOL: "600"})
    sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "2"})
    sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET",
                        "triggerPrice": stop, "closePosition": "true", "workingType": working_type})
    return sim


def _replay(sim: ExchangeSimulator, folder: Path, companions: Companions | None = None) -> None:
    companions = companions_of(folder) if companions is None else companions
    if companions:
        use_recorded_funding(sim, companions.funding([SYMBOL]))
    marks = companions.marks([SYMBOL])
    replayer = BarReplayer(sim, [SYMBOL])
    for chunk in iter_binance_klines(folder, chunk_bars=3):  # marks aligned across chunk boundaries too
        for _ in replayer.steps(chunk, marks=None if marks is None else marks.align(chunk)):
            pass


def _exit_price(sim: ExchangeSimulator) -> Decimal:
    sells = [f for f in sim.state.fills if f.side.value == "SELL"]
    assert len(sells) == 1
    return sells[0].price


def test_mark_dip_fires_a_mark_price_stop_the_last_never_reaches(tmp_path: Path) -> None:
    folder = _data(tmp_path, CALM, DIP)
    sim = _long_with_stop("MARK_PRICE")
    _replay(sim, folder)
    assert sim.position(SYMBOL).amount == 0
    assert Decimal(597) <= _exit_price(sim) <= Decimal(600)  # filled at the last of that moment, not at 590
    assert sim.mark_price(SYMBOL) == Decimal(599)  # the recorded mark close


def test_without_mark_files_the_same_klines_hold_the_stop(tmp_path: Path) -> None:
    folder = _data(tmp_path, CALM, None)
    assert not companions_of(folder)
    sim = _long_with_stop("MARK_PRICE")
    _replay(sim, folder)
    assert sim.position(SYMBOL).amount == 2


def test_last_dip_with_a_calm_mark(tmp_path: Path) -> None:
    folder = _data(tmp_path, DIP, CALM)
    held = _long_with_stop("MARK_PRICE")
    _replay(held, folder)
    assert held.position(SYMBOL).amount == 2  # the mark never reached 590
    fired = _long_with_stop("CONTRACT_PRICE")
    _replay(fired, folder)
    assert fired.position(SYMBOL).amount == 0 and Decimal(588) <= _exit_price(fired) <= Decimal(590)  # slippage
    approximated = _long_with_stop("MARK_PRICE")
    _replay(approximated, _data(tmp_path / "no-marks", DIP, None))
    assert approximated.position(SYMBOL).amount == 0  # mark = last: the old approximation fires


@pytest.mark.parametrize("with_files", [True, False])
def test_funding_at_the_recorded_rate_and_mark(tmp_path: Path, with_files: bool) -> None:
    bars = [(600, 600.5, 599.5, 600)] * 481  # through the 08:00 bar
    marks = [(603, 603.5, 602.5, 603.21)] * 481
    folder = _data(tmp_path, bars, marks if with_files else None)
    if with_files:
        funding = folder / "fundingRate" / f"{SYMBOL}-fundingRate-2026-01.csv"
        funding.parent.mkdir()
        funding.write_text("calc_time,funding_interval_hours,last_funding_rate\n"
                           f"{T0},8,0.00010000\n{T0 + 8 * 3_600_000},8,0.00050000\n")
    sim = _long_with_stop("MARK_PRICE", stop="500")
    before = sim.account.wallet_balance
    _replay(sim, folder)
    paid = sim.account.wallet_balance - before
    # A long pays amount × mark × rate: recorded 603.21 at 0.05 %, else last 600 at the default 0.01 %.
    assert paid == (-2 * Decimal("603.21") * Decimal("0.0005") if with_files else -2 * Decimal(600) * Decimal("0.0001"))
