"""The live campaign's targets (issue 10) and the one number they need defined: "one reconnect".

Longest unprotected ≤ 2 monitor intervals + one reconnect. One reconnect is what the bot itself waits
before its user-data stream is back after a drop, from its own code: the event pump's pause before it
subscribes again (runtime/pump.py `pump_forever`, `retry_after_s`) plus the user stream's first backoff
(exchange/user_stream.py `StreamOptions.backoff_s`, applied when a connection dies young). The
connection's handshake and the REST reconciliation after it are not added: over loopback they take
milliseconds, and a slow one is exactly what the target should catch. The monitor interval is the
bot's default setting (the campaign runs the bot with defaults; a test that slows its monitor on
purpose is still graded against the default, which is how it proves the grader can fail).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from ...exchange.user_stream import StreamOptions
from ...runtime.pump import pump_forever
from ...settings.model import Settings

#: Peak request weight (the server's count for the bot's IP, any minute) as a share of the limit.
PEAK_WEIGHT_SHARE = 0.5
RESTART_RULE = ("while the bot's process is dead (kill -9 until the restart) nothing is counted; the restart is the "
                "new process's spawn, so its start-up (imports, connecting, the start-up sweep) counts")


def default_monitor_interval_s() -> float:
    return float(Settings.model_fields["monitor_interval"].default)


def one_reconnect_s() -> float:
    pause = inspect.signature(pump_forever).parameters["retry_after_s"].default
    return float(pause) + StreamOptions().backoff_s


@dataclass(frozen=True, slots=True)
class Targets:
    monitor_interval_s: float
    reconnect_s: float
    weight_limit: int

    @classmethod
    def for_limit(cls, weight_limit: int) -> Targets:
        return cls(default_monitor_interval_s(), one_reconnect_s(), weight_limit)

    @property
    def unprotected_limit_s(self) -> float:
        return round(2 * self.monitor_interval_s + self.reconnect_s, 3)

    @property
    def peak_weight_limit(self) -> int:
        return int(self.weight_limit * PEAK_WEIGHT_SHARE)

    def explain(self) -> str:
        return (f"2 x {self.monitor_interval_s:g} s monitor interval (the bot's default) + one reconnect "
                f"{self.reconnect_s:g} s (the event pump's {self.reconnect_s - StreamOptions().backoff_s:g} s pause "
                f"before it subscribes again + the user stream's first backoff {StreamOptions().backoff_s:g} s)")

    def verdict(self, figures: dict[str, float]) -> dict[str, dict[str, object]]:
        """Each target: its value, its limit, met or not."""
        checks = {
            "longest_unprotected_s": (figures["longest_unprotected_s"], self.unprotected_limit_s),
            "duplicate_orders": (figures["duplicate_orders"], 0),
            "unknown_positions": (figures["unknown_positions"], 0),
            "bans": (figures["bans"], 0),
            "peak_weight": (figures["peak_weight"], self.peak_weight_limit),
        }
        return {name: {"value": value, "limit": limit, "met": value <= limit}
                for name, (value, limit) in checks.items()}
