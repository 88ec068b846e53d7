"""The in-process paper account of a session: where it lives, and reopening it where it stopped.

A paper account is only worth its readiness hour if a restart does not wipe it, so `run` with
`QT_EXCHANGE=sim` reopens the simulator saved in `QT_PAPER_STATE` (sim/paper_store.py) and the
synthetic market continues from it: from the saved prices, at the saved simulated time (or the wall
clock's, if that is later: a paced session does not fall behind the wall by its downtime), on a new
random path. The session's clock starts there and the first bar played is the one closing after it
(feeds/market_feed.py), so a quick restart moves the clock on by the wall time it took, never by a bar.
The path's seed is (QT_SEED, start time): deterministic for a given seed and saved account; a session
that played a bar saved a later time, so the next one never replays its path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.loggers import get_logger
from ..domain.errors import ConfigError
from ..domain.instrument import Instrument
from ..domain.money import fmt
from ..marketdata.holes import MAX_GAP_MS, DataHole
from ..settings.model import Settings
from ..sim.engine import ExchangeSimulator
from ..sim.paper_store import PaperAccountInUse, PaperAccountStore
from ..sim.state import SimConfig
from .paper_owner import bind_paper_account

log = get_logger(__name__)
FOLDER_NAME = "paper_account"


def paper_state_dir(settings: Settings) -> Path:
    """`QT_PAPER_STATE`, else `paper_account` beside the SQLite journal (./data/paper_account by default)."""
    if settings.paper_state:
        return Path(settings.paper_state).expanduser()
    from sqlalchemy.engine import make_url  # here, not at import: every CLI command imports this module (0.2 s)

    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().parent / FOLDER_NAME
    return Path("data") / FOLDER_NAME


@dataclass(frozen=True)
class PaperAccount:
    sim: ExchangeSimulator
    store: PaperAccountStore
    #: Where this session's clock starts (its first bar is the one closing after it), and its path's seed.
    start_ms: int
    seed: int | tuple[int, int]
    resumed: bool


def open_paper_account(settings: Settings, instruments: Mapping[str, Instrument], wall_ms: int, *,
                       journal_id: str | None = None) -> PaperAccount:
    """The simulator of this session: the saved account when there is one, else a fresh one saved at once.
    `wall_ms`: where a fresh session starts (the wall's time now, or a replay's first bar). `journal_id`: the
    session's journal, which must own a resumed account (runtime/paper_owner.py)."""
    sim = ExchangeSimulator(dict(instruments), SimConfig(balance=settings.sim_balance,
                                                         default_leverage=settings.leverage, seed=settings.seed,
                                                         start_time_ms=wall_ms, retain_history=False))
    folder = paper_state_dir(settings)
    store = PaperAccountStore(folder)
    try:
        resumed = store.open(sim)
    except (PaperAccountInUse, OSError) as exc:
        raise ConfigError(f"QT_PAPER_STATE={folder}: {exc}") from None
    if resumed and settings.feed.startswith("replay:") and wall_ms - sim.now_ms > MAX_GAP_MS:
        store.close()  # the clock would jump across the hole and the account pay funding for all of it
        raise ConfigError(f"QT_FEED={settings.feed}: the paper account in QT_PAPER_STATE={folder} stopped at the "
                          f"start of a hole in the data: {DataHole(sim.now_ms, wall_ms)}; resuming would jump its "
                          "clock across it and pay funding for all of it: replay data that continues from the "
                          "account, or start afresh with `quantum-trader paper-reset`")
    if journal_id is not None:
        try:
            bind_paper_account(folder, journal_id, resumed=resumed, db_url=settings.db_url)
        except ConfigError:
            store.close()
            raise
    if not resumed:
        return PaperAccount(sim, store, wall_ms, settings.seed, resumed=False)
    start = max(sim.now_ms, wall_ms)
    log.info("paper account resumed", folder=str(folder), wallet=fmt(sim.wallet_balance), sim_time_ms=sim.now_ms,
             positions={p.symbol: f"{fmt(p.amount)}@{fmt(p.entry_price)}" for p in sim.account.open_positions()},
             open_orders=len(sim.open_orders()) + len(sim.open_algo_orders()), clock_start_ms=start)
    sim.set_time(start)  # funding falls due over the downtime, as on the exchange
    return PaperAccount(sim, store, start, (settings.seed, start), resumed=True)
