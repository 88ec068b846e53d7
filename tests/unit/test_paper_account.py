"""Reopening the paper account for a session: where it lives, where the market continues, on which path.

A resumed account's clock starts at the saved simulated time (or the wall's, if that is later), and its
market with the bar in progress then, from the saved prices, on a path seeded by (QT_SEED, start): a restart
never replays a bar the run before it played, nor moves the clock on by more than the wall time it took,
yet the same seed and saved account always give the same path.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from quantum_trader.domain.errors import ConfigError
from quantum_trader.domain.instrument import Instrument
from quantum_trader.marketdata.bars import bars_from, synthetic_bars
from quantum_trader.runtime.paper_account import PaperAccount, open_paper_account, paper_state_dir
from quantum_trader.runtime.parts import _bar_source
from quantum_trader.settings.model import Settings, load_settings
from quantum_trader.sim.universe import load_universe

SYMBOLS = ("BTCUSDT", "BNBUSDT")
MINUTE_MS = 60_000
WALL = 1_800_000_000_000 // MINUTE_MS * MINUTE_MS


def settings(tmp_path: Path, **extra: str) -> Settings:
    return load_settings(env={"QT_DB_URL": f"sqlite:///{tmp_path / 'db' / 'journal.db'}",
                              "QT_SYMBOLS": ",".join(SYMBOLS), **extra})


def instruments() -> dict[str, Instrument]:
    universe = load_universe()
    return {s: universe.instrument(s) for s in SYMBOLS}


def reopen(s: Settings, wall: int = WALL) -> PaperAccount:
    account = open_paper_account(s, instruments(), wall)
    account.sim.detach_listener()  # a clean stop: releases the folder for the next open
    return account


def test_the_account_lives_beside_the_journal_unless_told_otherwise(tmp_path: Path) -> None:
    assert paper_state_dir(settings(tmp_path)) == tmp_path / "db" / "paper_account"
    assert paper_state_dir(settings(tmp_path, QT_PAPER_STATE=str(tmp_path / "x"))) == tmp_path / "x"
    assert paper_state_dir(load_settings(env={"QT_DB_URL": "postgresql://u:p@h/db"})) == Path("data/paper_account")
    assert paper_state_dir(load_settings(env={})) == Path("data/paper_account")


def test_a_fresh_account_starts_at_the_wall_time_with_the_plain_seed_and_is_saved_at_once(tmp_path: Path) -> None:
    s = settings(tmp_path)
    account = reopen(s, WALL + 12_345)  # the wall's time, not its minute: at --speed 1 the clock is the wall
    assert (account.resumed, account.start_ms, account.seed) == (False, WALL + 12_345, s.seed)
    assert account.sim.now_ms == WALL + 12_345
    assert (tmp_path / "db" / "paper_account" / "state-a.json").exists()
    first, chunks = _bar_source(s, SYMBOLS, dict.fromkeys(SYMBOLS, 100.0), start_ms=account.start_ms, seed=s.seed)
    assert first == WALL == int(next(chunks()).open_time[0])  # the bar in progress, played at its close


def test_a_resumed_account_continues_after_its_last_bar_on_a_new_path(tmp_path: Path) -> None:
    s = settings(tmp_path, QT_SPEED="max")
    first = open_paper_account(s, instruments(), WALL)
    sim = first.sim
    sim.set_time(WALL + 500 * MINUTE_MS)  # a --speed max session ran far ahead of the wall clock
    sim.set_prices({"BNBUSDT": "612.34"})
    sim.new_order({"symbol": "BNBUSDT", "side": "SELL", "type": "MARKET", "quantity": "1"})
    sim.detach_listener()
    again = open_paper_account(s, instruments(), WALL + MINUTE_MS)
    assert again.resumed and again.sim.position("BNBUSDT").amount == Decimal(-1)
    assert again.start_ms == WALL + 500 * MINUTE_MS and again.seed == (s.seed, WALL + 500 * MINUTE_MS)
    start, chunks = _bar_source(s, SYMBOLS, {x: float(again.sim.last_price(x)) for x in SYMBOLS},
                                start_ms=again.start_ms, seed=again.seed)
    bar = next(chunks())
    assert start == again.start_ms and int(bar.open_time[0]) == start  # the bar after the one closing there
    assert bar.open[0, 1] == pytest.approx(612.34, rel=0.05)  # from the saved price, not the typical one
    again.sim.detach_listener()


def test_a_paced_account_does_not_fall_behind_the_wall_by_its_downtime(tmp_path: Path) -> None:
    s = settings(tmp_path)
    reopen(s, WALL)
    later = WALL + 90 * MINUTE_MS
    assert reopen(s, later).start_ms == later


def test_quick_restarts_move_the_clock_by_the_wall_time_they_took_not_a_minute_each(tmp_path: Path) -> None:
    """A user's 25 restarts within minutes left the session 23 minutes ahead of the wall: each added a bar."""
    s = settings(tmp_path)
    starts = [reopen(s, WALL + 2_000 * n).start_ms for n in range(25)]
    assert starts == [WALL + 2_000 * n for n in range(25)]
    ahead = open_paper_account(s, instruments(), WALL)
    ahead.sim.set_time(WALL + 7 * MINUTE_MS)  # a session at --speed 60 ran ahead of the wall...
    ahead.sim.detach_listener()
    assert [reopen(s, WALL + 50_000).start_ms for _ in range(3)] == [WALL + 7 * MINUTE_MS] * 3  # ...and stays there


def test_a_second_bot_on_the_same_account_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    s = settings(tmp_path)
    held = open_paper_account(s, instruments(), WALL)
    with pytest.raises(ConfigError, match=r"QT_PAPER_STATE=.*in use"):
        open_paper_account(s, instruments(), WALL)
    held.sim.detach_listener()


def test_a_seed_with_the_start_time_gives_its_own_path_deterministically() -> None:
    def closes(seed: int | tuple[int, int]) -> npt.NDArray[np.float64]:
        return next(synthetic_bars(["A", "B"], [100.0, 10.0], 50, seed=seed)).close

    assert np.array_equal(closes((7, WALL)), closes((7, WALL)))
    assert not np.array_equal(closes((7, WALL)), closes(7))
    assert not np.array_equal(closes((7, WALL)), closes((7, WALL + MINUTE_MS)))


def test_a_replay_resumes_after_the_bars_it_played() -> None:
    chunks = list(synthetic_bars(["A"], [100.0], 10, seed=1, chunk_bars=4, start_ms=0))
    kept = list(bars_from(iter(chunks), 5 * MINUTE_MS))
    assert [int(t) for c in kept for t in c.open_time] == [m * MINUTE_MS for m in range(5, 10)]
    assert list(bars_from(iter(chunks), 10 * MINUTE_MS)) == []
