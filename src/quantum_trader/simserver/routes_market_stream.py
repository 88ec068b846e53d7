"""Market stream payloads (binance_futures.md §7.6): what each subscribed stream sends on a hub tick.

`MarketPublisher` keeps one track per stream name, shared by every connection subscribed to it, so a
closed kline is built once and every subscriber gets the same bytes. Mark prices go out on Binance's
timer (every 3 s, or 1 s for `@1s`) and, because the simulator's market moves in discrete steps, also
as soon as a step changes them (an array stream at most every 250 ms). A kline stream sends the open
bar when its symbol has moved (at most every 250 ms, Binance's kline update speed) and, when the clock
leaves a bar, exactly one message with `"x": true` for it (for every bar left, if the clock jumped),
built by `bar_source.bars` as `GET /fapi/v1/klines` builds it. Prices are strings, as on Binance.

`tick` returns payloads already encoded: a bar close is 222 klines in one instant, so a closed kline is
written straight to its JSON text (`kline_text`, byte for byte what `json.dumps` makes of `kline_payload`)
rather than built as a dict and encoded; that is most of the server's share of the close-to-client time.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..domain.money import fmt
from .bar_source import Bar, bar_close, bar_open, bars, opens_back
from .routes_base import ServerState
from .stream_names import StreamKind, StreamSpec

#: Fastest a kline stream repeats its open bar, and an array mark stream a change (Binance: 250 ms).
KLINE_UPDATE_S = 0.25
ALL_MARK_CHANGE_S = 0.25
#: Closed bars sent at once when the clock jumps; older ones are left to a REST backfill.
MAX_CLOSED_AT_ONCE = 1500

Payload = Any


@dataclass
class _Track:
    last_push: float = -math.inf
    seen: object = None
    open_ms: int = 0
    dirty: bool = False


def mark_price_payload(server: ServerState, symbol: str) -> dict[str, Any]:
    sim = server.sim
    state = sim.state
    mark = fmt(sim.mark_price(symbol))
    return {"e": "markPriceUpdate", "E": sim.now_ms, "s": symbol, "p": mark, "i": mark, "P": mark,
            "r": fmt(state.funding_rates.rate(symbol, sim.now_ms)),
            "T": state.funding_schedule.next_funding_time(symbol, sim.now_ms)}


def kline_payload(server: ServerState, symbol: str, interval: str, bar: Bar, closed: bool) -> dict[str, Any]:
    open_ms, o, h, lo, c, v, q = bar
    return {"e": "kline", "E": server.sim.now_ms, "s": symbol, "k": {
        "t": open_ms, "T": bar_close(open_ms, interval), "s": symbol, "i": interval, "f": 0, "L": 0,
        "o": fmt(o), "c": fmt(c), "h": fmt(h), "l": fmt(lo), "v": fmt(v), "n": 0, "x": closed,
        "q": fmt(q), "V": "0", "Q": "0", "B": "0"}}


def kline_text(server: ServerState, symbol: str, interval: str, bar: Bar, closed: bool) -> str:
    """`kline_payload` as `encode` writes it, without building the dict (tests check the two agree)."""
    open_ms, o, h, lo, c, v, q = bar
    s, i = _quoted(symbol), _quoted(interval)
    return (f'{{"e":"kline","E":{server.sim.now_ms},"s":{s},"k":{{"t":{open_ms},"T":{bar_close(open_ms, interval)},'
            f'"s":{s},"i":{i},"f":0,"L":0,"o":"{fmt(o)}","c":"{fmt(c)}","h":"{fmt(h)}","l":"{fmt(lo)}","v":"{fmt(v)}",'
            f'"n":0,"x":{"true" if closed else "false"},"q":"{fmt(q)}","V":"0","Q":"0","B":"0"}}}}')


def encode(payload: Payload) -> str:
    """The compact JSON every stream message is sent as."""
    return json.dumps(payload, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _quoted(text: str) -> str:
    return json.dumps(text)


class MarketPublisher:
    """Builds market stream payloads; every method runs under the server's lock."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.tracks: dict[str, _Track] = {}

    def forget(self, name: str) -> None:
        """The last subscriber left: a later one starts a fresh track (no stale closed bars)."""
        self.tracks.pop(name, None)

    def snapshot(self, spec: StreamSpec, wall: float) -> Payload:
        """What a new subscriber gets at once: the current mark price(s) or the open bar."""
        if spec.name not in self.tracks:
            track = self.tracks[spec.name] = self._new_track(spec)
            if spec.kind is not StreamKind.KLINE:  # the snapshot counts as this period's push
                track.last_push, track.seen = wall, self._mark_fingerprint(spec)
        if spec.kind is StreamKind.KLINE:
            return self._open_bar(spec)
        return self._marks(spec)

    def tick(self, specs: Iterable[StreamSpec], wall: float) -> list[tuple[str, str]]:
        """(stream name, encoded payload) for everything due now, in subscription order."""
        out: list[tuple[str, str]] = []
        now_ms = self.server.sim.now_ms
        history = self.server.price_history
        opens: dict[str, int] = {}  # per interval, once per tick: 200 streams cost well under a millisecond
        for spec in specs:
            track = self.tracks.get(spec.name)
            if track is None:
                track = self.tracks[spec.name] = self._new_track(spec)
            if spec.kind is StreamKind.KLINE:
                current = opens.get(spec.interval)
                if current is None:
                    current = opens[spec.interval] = bar_open(now_ms, spec.interval)
                rows = history.get(spec.symbol)
                last = rows[-1] if rows else None
                if current == track.open_ms and last is track.seen and not track.dirty:
                    continue  # the hot path: nothing happened to this stream
                out.extend((spec.name, p) for p in self._kline_tick(spec, track, wall))
            elif self._mark_due(spec, track, wall):
                track.last_push = wall
                out.append((spec.name, encode(self._marks(spec))))
        return out

    def _new_track(self, spec: StreamSpec) -> _Track:
        track = _Track()
        if spec.kind is StreamKind.KLINE:
            track.open_ms = bar_open(self.server.sim.now_ms, spec.interval)
            track.seen = self._last_step(spec.symbol)
        return track

    def _last_step(self, symbol: str) -> object:
        rows = self.server.price_history.get(symbol)
        return rows[-1] if rows else None

    def _marks(self, spec: StreamSpec) -> Payload:
        if spec.kind is StreamKind.ALL_MARK:
            return [mark_price_payload(self.server, s) for s in sorted(self.server.sim.state.instruments)]
        return mark_price_payload(self.server, spec.symbol)

    def _mark_due(self, spec: StreamSpec, track: _Track, wall: float) -> bool:
        """Binance's period has passed, or the price moved (array streams: not more than every 250 ms)."""
        if wall - track.last_push >= spec.period_s:
            track.seen = self._mark_fingerprint(spec)
            return True
        if spec.kind is StreamKind.ALL_MARK and wall - track.last_push < ALL_MARK_CHANGE_S:
            return False
        seen = self._mark_fingerprint(spec)
        if seen == track.seen:
            return False
        track.seen = seen
        return True

    def _mark_fingerprint(self, spec: StreamSpec) -> object:
        sim = self.server.sim
        if spec.kind is StreamKind.ALL_MARK:
            return tuple(sim.mark_price(s) for s in sorted(sim.state.instruments))
        return sim.mark_price(spec.symbol)

    def _open_bar(self, spec: StreamSpec) -> Payload:
        current = bar_open(self.server.sim.now_ms, spec.interval)
        (bar,) = bars(self.server, spec.symbol, spec.interval, [current])
        return kline_payload(self.server, spec.symbol, spec.interval, bar, False)

    def _kline_tick(self, spec: StreamSpec, track: _Track, wall: float) -> list[str]:
        server = self.server
        current = bar_open(server.sim.now_ms, spec.interval)
        last = self._last_step(spec.symbol)
        if current > track.open_ms:  # the clock left the bar (or several): close each now
            opens = opens_back(bar_open(current - 1, spec.interval), track.open_ms, spec.interval, MAX_CLOSED_AT_ONCE)
            built = bars(server, spec.symbol, spec.interval, opens)
            # The new bar follows on the next update round, as Binance's first update of a bar does:
            # the closing messages, which clients wait for, go out first and as fast as possible.
            track.open_ms, track.seen, track.last_push, track.dirty = current, last, wall, True
            return [kline_text(server, spec.symbol, spec.interval, bar, True) for bar in built]
        if current < track.open_ms:  # a clock set back (a test's replay): start over, nothing to close
            track.open_ms, track.dirty = current, True
        if last is not track.seen:
            track.seen, track.dirty = last, True
        if not track.dirty or wall - track.last_push < KLINE_UPDATE_S:
            return []
        track.last_push, track.dirty = wall, False
        return [encode(self._open_bar(spec))]
