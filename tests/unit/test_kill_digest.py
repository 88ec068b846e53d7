"""The research commands' exit log (research/kill_digest.py): a kill switch's exits folded into one line, and
nothing that went wrong folded away (an exit refused, a position left open, the kill switch's own errors).
The backtest end to end: tests/integration/test_backtest_kill_digest.py.
"""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.events import ErrorEvent, KillSwitchDone
from quantum_trader.domain.words import listed
from quantum_trader.research.kill_digest import KillSwitchDigest
from quantum_trader.trading.sending import SendResult, Sent

SUMMARY = "kill switch closed positions"
WHY = "kill switch: daily loss limit: equity 98994.28 fell 1.01% from 100000 at the UTC day's start"


def _announce(digest: KillSwitchDigest, *symbols: str) -> None:
    for symbol in symbols:
        digest.announce("emergency exit", symbol=symbol, amount="-1.5", reason=WHY, purpose="kill")


def test_an_exit_that_failed_is_its_own_error_line_and_the_summary_says_the_position_is_still_open() -> None:
    digest = KillSwitchDigest()
    with capture_logs() as logs:
        _announce(digest, "BTCUSDT", "ETHUSDT")
        digest.outcome("BTCUSDT", WHY, "kill", SendResult(Sent.ACCEPTED))
        digest.outcome("ETHUSDT", WHY, "kill", SendResult(Sent.REJECTED, code=-1001, message="disconnected"))
        assert [(e["event"], e["log_level"], e["symbol"], e["amount"], e["code"]) for e in logs] == [
            ("kill switch exit failed", "error", "ETHUSDT", "-1.5", -1001)]  # at once, before the summary
        digest.on_done(KillSwitchDone(reason=WHY.removeprefix("kill switch: "), time_ms=1,
                                      summary="cancelled 2 orders, closed 1 position; 1 refused; ETHUSDT still open",
                                      still_open=("ETHUSDT -1.5 still open, protected by its stop-loss",)))
    assert [(e["event"], e["log_level"]) for e in logs][1:] == [(SUMMARY, "error")]
    assert (logs[1]["closed"], logs[1]["symbols"], logs[1]["reason"]) == (1, "BTCUSDT", WHY)


def test_other_exits_and_the_kill_switchs_errors_are_each_a_line() -> None:
    """The monitor's emergency exits are not a kill switch's: logged as every session logs them. A kill switch that
    closed nothing and left nothing wrong says nothing, as before."""
    digest, bus = KillSwitchDigest(), EventBus()
    digest.attach(bus)
    with capture_logs() as logs:
        digest.announce("emergency exit", symbol="BTCUSDT", amount="0.01", reason="the stop could not be placed",
                        purpose="em")
        asyncio.run(bus.publish(ErrorEvent(component="kill_switch", message="cancel x: -1001 down", time_ms=1)))
        asyncio.run(bus.publish(ErrorEvent(component="monitor", message="not the kill switch's", time_ms=1)))
        asyncio.run(bus.publish(KillSwitchDone(reason="manual kill switch", summary="cancelled 0 orders, closed 0 "
                                               "positions", time_ms=1)))
    assert [(e["event"], e["log_level"]) for e in logs] == [("emergency exit", "warning"),
                                                            ("kill switch error", "error")]
    assert logs[0]["purpose"] == "em" and logs[1]["message"] == "cancel x: -1001 down"


def test_the_symbols_are_the_first_few_then_how_many_more() -> None:
    assert listed(["A", "B"], 5) == "A, B"
    assert listed(["A", "B", "C", "D", "E", "F", "G"], 5) == "A, B, C, D, E +2 more"
    assert listed([], 5) == ""
