"""Which journaled sessions are evidence for going live, and how long the monitor ran clean on the wall clock.

Live money runs through the Binance adapter (ccxt) on the wall clock. Paper trading proves something
for live only on that same path: `quantum-trader run` in paper mode with QT_EXCHANGE set to the URL of
a simulator server (`quantum-trader sim-server`) and the exchange feed, whose clock is the wall clock.
The in-process simulator (QT_EXCHANGE=sim) skips REST, request weights, latency and streams, and a
simulated clock passes an hour in seconds (`--speed max`): such sessions are for development, and
readiness lists them as not counted, saying why. A session journaled before the path was recorded
(migration 0002) is not counted either: nothing shows which path it ran on. Given the settings of the
start readiness is asked for, a live-path session whose setup differs from that start's (readmodels/setup.py)
is not counted either: it proved something other than what the start will trade.

"Continuous" monitoring: the monitor journals a heartbeat (an equity snapshot) after a successful
sweep, at most one per `EQUITY_EVERY_MS` (a minute) of session time. A stretch is continuous while
consecutive heartbeats of one session are at most a minute plus `MISSED_SWEEPS` monitor intervals (at
least `MIN_LATENESS_MS`, for network jitter with short intervals) apart on the wall clock and no error of
that session is journaled between them; its length is wall time from its first heartbeat to its last.
A heartbeat missed (the monitor blocked by rate limits, a ban or a hang, or restarted) or any error
starts a new stretch. A minute is the resolution: the heartbeat cannot see shorter silences, which the
monitor's own errors and /health report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

from ..core.clock import Clock, WallClock
from ..exchange.factory import SIM
from ..settings.model import Settings
from ..trading.monitor import EQUITY_EVERY_MS
from .setup import recorded_settings, setup_differences

JsonRow = dict[str, Any]
INPROCESS, CCXT = "inprocess", "ccxt"
WALL, SIMULATED = "wall", "simulated"
#: Sweeps a heartbeat may miss (beyond the heartbeat period) before the monitoring counts as interrupted.
MISSED_SWEEPS = 3
#: The least lateness of a heartbeat tolerated, whatever the interval: network jitter on a one-second monitor.
MIN_LATENESS_MS = 10_000
#: QT_MONITOR_INTERVAL's default, for a session whose settings do not say.
DEFAULT_INTERVAL_S = 1.0
#: Sessions listed per item (newest first), so the evidence stays readable after months of paper trading.
LISTED = 20


def public_url(url: str) -> str:
    """The base URL without credentials, path or query: what the journal may keep."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "", "", ""))


class SessionPath(TypedDict):
    """`Journal.start_session`'s path arguments: which adapter and clock a session runs on."""

    adapter: str
    exchange_url: str | None
    clock: str
    speed: str


def session_path(settings: Settings, clock: Clock) -> SessionPath:
    """The path of a session built from these settings on this clock (the adapter follows `exchange.factory.connect`:
    `sim` is the in-process simulator, a URL the ccxt adapter)."""
    inprocess = settings.exchange.strip().lower() == SIM
    wall = isinstance(clock, WallClock)
    return SessionPath(adapter=INPROCESS if inprocess else CCXT,
                       exchange_url=None if inprocess else public_url(settings.exchange),
                       clock=WALL if wall else SIMULATED, speed="1" if wall else settings.speed)


def not_counted_because(row: JsonRow) -> str | None:
    """Why a journaled session is no evidence for live trading, or None when it is."""
    if row.get("mode") != "paper":  # whatever its path: a backtest journals no adapter or clock, and needs none
        return f"a {row.get('mode')} session, not paper trading"
    reasons = []
    adapter, clock = row.get("adapter"), row.get("clock")
    if adapter is None or clock is None:
        return "its adapter and clock were not journaled (a session from before readiness recorded them)"
    if adapter == INPROCESS:
        reasons.append("the in-process simulator, not the adapter live trading uses")
    elif adapter != CCXT or not row.get("exchange_url"):
        reasons.append(f"adapter {adapter} without a simulator server URL")
    if clock != WALL:
        reasons.append(f"a simulated clock (speed {row.get('speed')}): its hours are not wall-clock hours")
    return "; ".join(reasons) or None


def describe(row: JsonRow) -> JsonRow:
    return {"id": row["id"], "mode": row.get("mode"), "adapter": row.get("adapter"),
            "exchange_url": row.get("exchange_url"), "clock": row.get("clock"), "speed": row.get("speed")}


def _excluded(row: JsonRow, why: str | None, differences: list[str]) -> JsonRow | None:
    """A session left out, described with why (and its setup's differences), or None when it counts."""
    if why is not None:
        return {**describe(row), "why": why}
    if differences:
        return {**describe(row), "why": "its setup differs from this start's: " + "; ".join(differences),
                "setup_differences": differences}
    return None


@dataclass(frozen=True)
class SessionEvidence:
    """The journal's sessions split into the counted (live path, and this start's setup when one is given) and
    the rest, each described. A session with another setup (readmodels/setup.py) is listed with its
    `setup_differences`: it proved something other than what this start will trade."""

    counted: dict[int, JsonRow]
    excluded: dict[int, JsonRow]
    settings: dict[int, str]

    @classmethod
    def of(cls, rows: Iterable[JsonRow], start: Settings | None = None) -> SessionEvidence:
        counted: dict[int, JsonRow] = {}
        excluded: dict[int, JsonRow] = {}
        settings: dict[int, str] = {}
        for row in rows:
            why = not_counted_because(row)
            differences = setup_differences(start, row.get("settings")) if why is None and start else []
            left_out = _excluded(row, why, differences)
            if left_out is None:
                counted[int(row["id"])] = describe(row)
            else:
                excluded[int(row["id"])] = left_out
            settings[int(row["id"])] = str(row.get("settings") or "{}")
        return cls(counted, excluded, settings)

    def counted_settings(self) -> list[JsonRow]:
        """The journaled settings of every counted session."""
        return [recorded_settings(self.settings.get(i)) for i in self.counted]

    def other_setups(self) -> list[JsonRow]:
        """Live-path paper sessions left out only because their setup differs from this start's, newest first."""
        return sorted((d for d in self.excluded.values() if "setup_differences" in d), key=lambda d: -int(d["id"]))

    def counts(self, session_id: int | None) -> bool:
        return session_id is not None and int(session_id) in self.counted

    def only_counted(self, rows: Iterable[JsonRow]) -> list[JsonRow]:
        return [r for r in rows if self.counts(r.get("session_id"))]

    def of_rows(self, rows: Iterable[JsonRow]) -> JsonRow:
        """`sessions` (counted) and `not_counted` (with why) among the sessions these rows were journaled in."""
        ids = {r.get("session_id") for r in rows}
        found = sorted((int(i) for i in ids if i is not None), reverse=True)
        not_counted = [self.excluded.get(i, {"id": i, "why": "no such session in the journal"})
                       for i in found if i not in self.counted]
        if None in ids:
            not_counted.append({"id": None, "why": "journaled outside any session"})
        return {"sessions": [self.counted[i] for i in found if i in self.counted][:LISTED],
                "not_counted": not_counted[:LISTED]}

    def max_gap_ms(self, session_id: int) -> int:
        """The longest wall-clock gap between heartbeats that still counts as continuous, for this session."""
        try:
            interval_s = float(json.loads(self.settings.get(session_id, "{}")).get("monitor_interval")
                               or DEFAULT_INTERVAL_S)
        except (ValueError, TypeError, AttributeError):
            interval_s = DEFAULT_INTERVAL_S
        return EQUITY_EVERY_MS + max(MIN_LATENESS_MS, round(MISSED_SWEEPS * interval_s * 1000))


def longest_clean_ms(beats: list[JsonRow], error_times: list[int], max_gap_ms: int) -> int:
    """The longest continuous error-free stretch of one session's heartbeats, in wall-clock ms.

    `beats` are in session-time order; `error_times` are the session's error times (session time), sorted.
    A heartbeat without wall time cannot be measured: it interrupts the stretch."""
    best, start, previous, e = 0, None, None, 0
    for beat in beats:
        t, wall = int(beat["time_ms"]), beat.get("wall_ms")
        broken = False
        while e < len(error_times) and error_times[e] <= t:
            broken, e = True, e + 1
        if wall is None:
            start = previous = None
            continue
        wall = int(wall)
        if start is None or previous is None or broken or not 0 <= wall - previous <= max_gap_ms:
            start = wall
        previous = wall
        best = max(best, wall - start)
    return best


def spans(beats: list[JsonRow]) -> JsonRow:
    """How much session time and wall time a session's heartbeats cover (shown for sessions not counted)."""
    times = [int(b["time_ms"]) for b in beats]
    walls = [int(b["wall_ms"]) for b in beats if b.get("wall_ms") is not None]
    return {"session_time_s": (max(times) - min(times)) // 1000 if times else 0,
            "wall_s": (max(walls) - min(walls)) // 1000 if walls else None}
