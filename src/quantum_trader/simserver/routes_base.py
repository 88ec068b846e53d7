"""Shared route plumbing: the server's state, the request's params, and the route table.

Handlers are plain synchronous functions `(server, call) -> JSON`; the app wraps them with
authentication, weight counting, error bodies and one lock, so each handler reads like the Binance
endpoint it imitates and nothing else.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from ..domain import binance_errors as be
from ..sim.engine import ExchangeSimulator
from ..sim.params import param_int, required, text
from ..sim.universe import Universe
from .clock_shift import ShiftedClock
from .faults import FaultBook
from .weights import OrderCounter, WeightCounter

if TYPE_CHECKING:
    from .stream_hub import StreamHub

#: One recorded market step: (sim time ms, last price, mark price). Where the mark moved with the last (the
#: synthetic feed, a replay without mark-price klines) both are the same Decimal object, so a step costs
#: only the tuple's third slot; where they differ (a replay's recorded marks, a manual step setting a mark)
#: markPriceKlines are built from the marks, as Binance builds them.
PriceStep = tuple[int, Decimal, Decimal]
#: One feed bar's traded volume: (sim time ms, base-asset volume, quote volume). The quote volume is an
#: estimate, the base volume times the bar's typical price (high + low + close) / 3: the simulator has no tape
#: of trades to sum prices times quantities over, which is what Binance reports.
VolumeStep = tuple[int, Decimal, Decimal]

#: Price steps kept per symbol for klines, at most: a server of a few symbols keeps weeks of 1m bars.
PRICE_HISTORY_LIMIT = 100_000
#: Price steps kept over all symbols (about 200 bytes each, with the feed bar's volume row). A feed bar records
#: four per symbol, so a 222-symbol server at 100,000 each grew to about 4 GB; this bounds it near 1.1 GB of
#: resident memory (measured) and still keeps 4,500 one-minute bars (three days) per symbol.
PRICE_HISTORY_BUDGET = 4_000_000
#: At least a full page of 1m klines (1,500 bars of four steps) per symbol, however many symbols.
PRICE_HISTORY_FLOOR = 4 * 1_500


def price_history_rows(n_symbols: int) -> int:
    """Price steps kept per symbol on a server of `n_symbols`."""
    return max(PRICE_HISTORY_FLOOR, min(PRICE_HISTORY_LIMIT, PRICE_HISTORY_BUDGET // max(n_symbols, 1)))


class Security(Enum):
    """Binance security types (§5.1): public, API key only, or key and signature."""

    NONE = "NONE"
    API_KEY = "API_KEY"
    SIGNED = "SIGNED"


@dataclass
class ServerState:
    """One simulated account behind its API keys (`api_key`, the one it was started with, and any added since:
    `keys`); `lock` serialises every touch of the simulator."""

    sim: ExchangeSimulator
    universe: Universe
    api_key: str
    api_secret: str
    clock: Callable[[], int]
    weights: WeightCounter
    orders: OrderCounter
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: `PriceStep`s per symbol, one per market step that moved it: what klines and markPriceKlines are
    #: built from. Bounded, so a long-running server's memory stays flat.
    price_history: dict[str, deque[PriceStep]] = field(default_factory=dict)
    #: The bound of each symbol's `price_history` (`price_history_rows`; create_app sets it).
    history_rows: int = PRICE_HISTORY_LIMIT
    #: `VolumeStep`s per symbol, one per feed bar that had a volume (replayed data's own, or the synthetic
    #: market's): summed into the klines' `v` and `q` and the 24 h ticker. Manual steps trade no volume.
    volume_history: dict[str, deque[VolumeStep]] = field(default_factory=dict)
    #: The feed's progress for /sim/v1/info (name, bars played, history bars and whether they are played).
    feed_progress: dict[str, object] = field(default_factory=dict)
    listen_key: str | None = None
    listen_key_expires_ms: int = 0
    #: Index into `sim.events` of the next event not yet pushed to websocket subscribers.
    stream_cursor: int = 0
    #: The websocket side (`stream_hub.StreamHub`), set when the app registers its stream routes.
    streams: StreamHub | None = None
    #: Network faults armed by `POST /sim/v1/faults` (`routes_faults`); consulted outside `lock`.
    faults: FaultBook = field(default_factory=FaultBook)
    #: What `POST /sim/v1/clock` shifts (`clock` is it in an app; None where a test builds the state by hand).
    clock_shift: ShiftedClock | None = None
    #: The simulator's clock follows `clock` (`catch_up`): set where no feed's bars move it (`--feed manual`).
    follows_clock: bool = False
    #: A paced feed's market clock (feed_pace.py): the time the simulator may stand at between its bars, or
    #: None when it must stay (no bar waiting, the feed stopped or unpaced). The feed sets it on `attach`.
    market_clock: Callable[[], int | None] | None = None
    #: Why only the feed may move the simulator's clock now (it has bars to play), or None: `/sim/v1/advance`
    #: is refused meanwhile (routes_control.py). The feed sets it on `attach`.
    feed_owns_clock: Callable[[], str | None] | None = None
    #: Every API key of the account with its secret (`api_key` among them until deleted): a user rotating keys
    #: makes a new one for the same account, switches to it and deletes the old (routes_keys.py).
    keys: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys.setdefault(self.api_key, self.api_secret)

    def catch_up(self) -> None:
        """Move the simulator's clock up to the server's (caller holds `lock`), where it follows it, or up to a
        paced feed's market clock.

        Without a feed nothing else moves it, and every fill, order update and user trade was stamped with the
        server's start while `/fapi/v1/time` went on: a client looking for its fills from a minute before its
        order (trading/away_exits.py) found none. With a paced feed it runs between the bars the same way, so an
        order sent half a minute after a bar is stamped then, not at the bar. The clock never goes back (a
        `/sim/v1/advance` ahead of the server's clock holds until the server's catches up), and funding due on
        the way is paid as on any move."""
        if self.follows_clock:
            self.sim.set_time(self.clock())
        elif self.market_clock is not None:
            market_ms = self.market_clock()
            if market_ms is not None:
                self.sim.set_time(market_ms)

    def record_prices(self, symbols: Iterable[str]) -> None:
        """Note the stepped symbols' last and mark prices at the current simulated time (after a market step)."""
        sim = self.sim
        for symbol in symbols:
            last, mark = sim.last_price(symbol), sim.mark_price(symbol)
            self.price_rows(symbol).append((sim.now_ms, last, last if mark == last else mark))

    def price_rows(self, symbol: str) -> deque[PriceStep]:
        """The symbol's bounded price history, to append steps to."""
        rows = self.price_history.get(symbol)
        if rows is None:
            rows = self.price_history[symbol] = deque(maxlen=self.history_rows)
        return rows

    def record_volume(self, symbol: str, volume: Decimal, quote: Decimal, time_ms: int | None = None) -> None:
        """Note a feed bar's volume (and its quote estimate: `VolumeStep`) at `time_ms` (inside the bar: the
        feed plays a bar at its last millisecond), or at the current simulated time. A feed bar records four
        prices and one volume, so a quarter of the price bound reaches as far back (manual steps add prices
        only, so the volumes reach at least as far)."""
        rows = self.volume_history.get(symbol)
        if rows is None:
            rows = self.volume_history[symbol] = deque(maxlen=max(self.history_rows // 4, 1))
        rows.append((self.sim.now_ms if time_ms is None else time_ms, volume, quote))


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it: method, merged string params, the JSON body (control), caller IP."""

    method: str
    params: Mapping[str, str]
    json: Any = None
    client_ip: str = ""

    def need(self, name: str) -> str:
        """A mandatory param (-1102 when missing or empty)."""
        return required(self.params, name)

    def opt(self, name: str) -> str | None:
        return text(self.params, name)

    def opt_int(self, name: str) -> int | None:
        return param_int(self.params, name)

    def need_int(self, name: str) -> int:
        value = self.opt_int(name)
        if value is None:
            raise be.mandatory_param(name)
        return value


Handler = Callable[[ServerState, Call], Any]


@dataclass(frozen=True)
class Route:
    """One endpoint: the app registers it with FastAPI and wraps `handler` with its security."""

    method: str
    path: str
    security: Security
    handler: Handler


@dataclass
class RouteTable:
    """Collects routes from a `routes_*` module via the `route` decorator."""

    routes: list[Route] = field(default_factory=list)

    def route(self, method: str, path: str, security: Security = Security.SIGNED) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, security, handler))
            return handler

        return register
