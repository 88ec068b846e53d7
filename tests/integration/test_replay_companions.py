"""`backtest --data` and `replay:` with mark-price klines and funding files beside the klines.

The engine's stop-loss is a MARK_PRICE stop: with a hand-made mark file whose mark dips through it while
the last stays above, the backtest (run_backtest with the companions `backtest --data` finds) and the
session's bar feed (what `run` with `replay:PATH` plays) both stop the trade out; on the same klines
without the mark file, neither does. Funding in the backtest report follows the recorded rate.
"""

from __future__ import annotations

import asyncio
import functools
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from test_simserver_support import running_server
from typer.testing import CliRunner

from quantum_trader.cli.main import app
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.feeds.market_feed import BarFeed
from quantum_trader.marketdata.bars import BarChunk, iter_binance_klines
from quantum_trader.marketdata.companions import companions_of
from quantum_trader.research.backtest import BacktestResult, run_backtest
from quantum_trader.runtime.parts import build_parts
from quantum_trader.runtime.wiring import TradingRules
from quantum_trader.settings.model import load_settings
from quantum_trader.signals.strategy import SignalBatch
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.simserver.feed import replay_feed

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
SYMBOL = "BNBUSDT"
HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume," \
         "taker_buy_quote_volume,ignore"
N_BARS = 600  # through the 08:00 funding
CALM = (600.0, 601.0, 599.0, 600.0)
DIP_BAR = 300  # the mark reaches 585 here (the 2 % stop of a long from 600 is 588); the last never does


def _write(path: Path, bars: list[tuple[float, float, float, float]], step: int = 60_000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [HEADER] + [f"{T0 + i * step},{o},{h},{lo},{c},1,{T0 + (i + 1) * step - 1},0,1,0,0,0"
                       for i, (o, h, lo, c) in enumerate(bars)]
    path.write_text("\n".join(rows) + "\n")


def _folder(root: Path, *, marks: bool, rate: str | None = None, dip: int = DIP_BAR) -> Path:
    _write(root / f"{SYMBOL}-1m-2026-01-05.csv", [CALM] * N_BARS)
    if marks:
        mark = [CALM] * N_BARS
        mark[dip] = (600.0, 600.0, 585.0, 599.0)
        _write(root / "markPriceKlines" / f"{SYMBOL}-1m-2026-01-05.csv", mark)
    if rate is not None:
        (root / "fundingRate").mkdir()
        (root / "fundingRate" / f"{SYMBOL}-fundingRate-2026-01.csv").write_text(
            f"calc_time,funding_interval_hours,last_funding_rate\n{T0 + 8 * 3_600_000},8,{rate}\n")
    return root


class LongAtFirstBar:
    """One confident long at the first bar's close, nothing else."""

    name = "test-long"

    def __init__(self) -> None:
        self.fired = False

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        batch = SignalBatch.empty(len(chunk), chunk.n_symbols)
        if not self.fired and len(chunk):
            batch.direction[0, 0], batch.confidence[0, 0] = 1, 0.9
            self.fired = True
        return batch


def _backtest(data: Path) -> BacktestResult:
    instruments = {SYMBOL: load_universe().instrument(SYMBOL)}
    return asyncio.run(run_backtest(iter_binance_klines(data, chunk_bars=128), instruments, LongAtFirstBar(),
                                    TradingRules(), companions=companions_of(data)))


def _other_intervals(folder: Path) -> None:
    """5m and 1d days of klines and of mark klines beside the 1m ones, as `download --interval` leaves them."""
    for interval, step in (("5m", 300_000), ("1d", 86_400_000)):
        for sub in (".", "markPriceKlines"):
            _write(folder / sub / f"{SYMBOL}-{interval}-2026-01-05.csv", [CALM] * (N_BARS * 60_000 // step or 1), step)


def test_backtest_stops_out_on_the_recorded_mark(tmp_path: Path) -> None:
    result = _backtest(_folder(tmp_path / "marks", marks=True))
    assert [t.exit_reason.value for t in result.trades] == ["stop_loss"]
    assert result.trades[0].time_ms == T0 + (DIP_BAR + 1) * 60_000  # seen at the close of the bar of the dip
    assert result.trades[0].exit_price >= Decimal(599)  # filled at the last, which never left 599-601
    plain = _backtest(_folder(tmp_path / "plain", marks=False))
    assert plain.trades == [] and plain.open_positions == 1


@pytest.mark.parametrize("rate", ["0.00250000", "-0.00100000", None])
def test_backtest_funding_at_the_recorded_rate(tmp_path: Path, rate: str | None) -> None:
    """The trade is open at 08:00 (mark 600) and stopped out at bar 540: its funding is −qty × 600 × rate,
    the recorded rate, or the simulator's default 0.01 % without a funding file."""
    result = _backtest(_folder(tmp_path, marks=True, rate=rate, dip=540))
    [trade] = result.trades
    assert trade.exit_reason.value == "stop_loss" and trade.opened_ms < T0 + 8 * 3_600_000 < trade.time_ms
    expected = -trade.quantity * Decimal(600) * Decimal(rate or "0.0001")
    assert trade.funding == expected.quantize(Decimal("1E-8"))


def test_session_feed_plays_the_recorded_mark(tmp_path: Path) -> None:
    for marks, expected in ((True, 0), (False, 2)):
        folder = _folder(tmp_path / str(marks), marks=marks)
        sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=T0))
        sim.set_prices({SYMBOL: "600"})
        sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "2"})
        sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET",
                            "triggerPrice": "588", "closePosition": "true", "workingType": "MARK_PRICE"})
        aligner = companions_of(folder).marks([SYMBOL])
        feed = BarFeed("replay", functools.partial(iter_binance_klines, folder, chunk_bars=256), speed=None,
                       clock=SimulatedClock(T0), sim=sim, marks=None if aligner is None else aligner.align)

        async def nothing(chunk: BarChunk) -> None:
            return None

        asyncio.run(feed.run(nothing, asyncio.Event()))
        assert feed.status.bars == N_BARS
        assert sim.position(SYMBOL).amount == expected
        assert np.isclose(float(sim.mark_price(SYMBOL)), 600.0)


def test_backtest_cli_reads_the_companions(tmp_path: Path) -> None:
    folder = _folder(tmp_path, marks=True, rate="0.0005")
    result = CliRunner().invoke(app, ["backtest", "--data", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bars"] == N_BARS
    (folder / "fundingRate" / f"{SYMBOL}-fundingRate-2026-02.csv").write_text("time,rate\n1,2\n")
    broken = CliRunner().invoke(app, ["backtest", "--data", str(folder), "--json"])
    assert broken.exit_code == 2 and "not a funding file" in broken.output


def test_mark_files_of_other_intervals_beside_are_left_out(tmp_path: Path) -> None:
    """`download --interval 5m` into a folder of 1m and 1d days put three intervals in markPriceKlines/, and
    every backtest there failed ('kline files mix intervals'): the 1m klines take the 1m marks only."""
    folder = _folder(tmp_path, marks=True)
    _other_intervals(folder)
    result = _backtest(folder / f"{SYMBOL}-1m-2026-01-05.csv")
    assert [t.exit_reason.value for t in result.trades] == ["stop_loss"]  # on the 1m file's mark dip
    done = CliRunner().invoke(app, ["backtest", "--data", str(folder / f"{SYMBOL}-5m-2026-01-05.csv"), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["bars"] == N_BARS // 5
    unnamed = folder / f"{SYMBOL}.csv"  # a name without the interval: the backtest takes the bars' own
    unnamed.write_text((folder / f"{SYMBOL}-1m-2026-01-05.csv").read_text())
    assert [t.exit_reason.value for t in _backtest(unnamed).trades] == ["stop_loss"]


@pytest.mark.parametrize(("mark_file", "says"), [
    (f"{SYMBOL}-2026-01-05.csv", "are 300 s apart, the klines' 60 s"),  # 5m bars, no interval in the name
    (f"{SYMBOL}-1m-2026-01-05.csv", "not a Binance kline CSV"),  # three columns
])
def test_an_error_in_the_mark_files_names_their_folder(tmp_path: Path, mark_file: str, says: str) -> None:
    folder = _folder(tmp_path, marks=False)
    mark = folder / "markPriceKlines" / mark_file
    _write(mark, [CALM] * 10, step=300_000)
    if "1m" in mark_file:
        mark.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=f"^mark-price klines in {folder / 'markPriceKlines'}: ") as refused:
        _backtest(folder)
    assert says in str(refused.value)
    done = CliRunner().invoke(app, ["backtest", "--data", str(folder), "--json"])
    assert done.exit_code == 2 and "markPriceKlines: " in done.output and says in done.output


def test_run_with_replay_uses_the_companions(tmp_path: Path) -> None:
    """What `run` builds for `QT_FEED=replay:PATH` in process: recorded funding in the simulator, and a feed
    whose mark dip stops out a MARK_PRICE stop the last never reaches."""
    folder = _folder(tmp_path / "data", marks=True, rate="0.0025")
    settings = load_settings({"feed": f"replay:{folder}", "symbols": SYMBOL, "speed": "max",
                              "paper_state": str(tmp_path / "paper")}, env={})

    async def play() -> ExchangeSimulator:
        parts = await build_parts(settings)
        try:
            sim = parts.sim
            assert sim is not None
            sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "2"})
            sim.new_algo_order({"algoType": "CONDITIONAL", "symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET",
                                "triggerPrice": "588", "closePosition": "true", "workingType": "MARK_PRICE"})

            async def nothing(chunk: BarChunk) -> None:
                return None

            await parts.feed.run(nothing, asyncio.Event())
            return sim
        finally:
            await parts.exchange.close()

    sim = asyncio.run(play())
    assert sim.state.funding_rates.rate(SYMBOL, T0 + 8 * 3_600_000) == Decimal("0.0025")
    assert sim.position(SYMBOL).amount == 0


@pytest.mark.parametrize(("marks", "rate"), [(True, "0.0025"), (False, None)])
def test_sim_server_replays_the_companions(tmp_path: Path, marks: bool, rate: str | None) -> None:
    """`sim-server --feed replay:PATH`, the live path's simulator, replays what `run` and `backtest` replay:
    the recorded mark stops out a MARK_PRICE stop the last never reaches, and funding is the recorded rate.
    Before, it played the klines only (mark = last, funding 0.01 %), so the live path proved less."""
    folder = _folder(tmp_path / "data", marks=marks, rate=rate)
    feed, start_ms = replay_feed(folder / f"{SYMBOL}-1m-*.csv", [SYMBOL], speed=None)
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=start_ms))
    sim.set_prices({SYMBOL: "600"})
    with running_server(sim, feed=feed) as server:
        server.call("POST", "/fapi/v1/order", {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "2"})
        server.call("POST", "/fapi/v1/algoOrder", {
            "algoType": "CONDITIONAL", "symbol": SYMBOL, "side": "SELL", "type": "STOP_MARKET", "triggerPrice": "588",
            "closePosition": "true", "workingType": "MARK_PRICE"})
        feed.start()
        try:
            assert feed.wait_done(30)
        finally:
            feed.stop()
        [risk] = server.call("GET", "/fapi/v2/positionRisk", {"symbol": SYMBOL})
        premium = server.call("GET", "/fapi/v1/premiumIndex", {"symbol": SYMBOL})
        dip = {"symbol": SYMBOL, "interval": "1m", "startTime": T0 + DIP_BAR * 60_000, "limit": 1}
        [mark_bar] = server.call("GET", "/fapi/v1/markPriceKlines", dip)
        [last_bar] = server.call("GET", "/fapi/v1/klines", dip)
    assert feed.bars_played == N_BARS
    assert Decimal(risk["positionAmt"]) == (0 if marks else 2)
    assert Decimal(premium["lastFundingRate"]) == Decimal(rate or "0.0001")
    # markPriceKlines show the recorded mark's dip through the stop (they were built from last prices)
    assert Decimal(mark_bar[3]) == (585 if marks else 599) and Decimal(last_bar[3]) == 599
