"""The research commands' exit log: one warning per kill switch, not one per position it closes.

`backtest` and `sweep` printed, before their report, one `emergency exit` warning for every position the daily
loss limit's kill switch closed: 15 lines over BNBUSDT's 2023-2024, 38 for February 2026 of 7 symbols, hundreds
with 222, all saying the same thing about the same minute, while the report counts them anyway (the stop audit's
`kill switch N`, risk's halts). Here the exits of one kill switch are held (keyed by their reason, the same for
every exit of one kill switch) and said once, when the bus reports the kill switch done (`KillSwitchDone`):
when (`sim_time`, as every line of a backtest), why, how many positions it closed, and which symbols (the first
few, then `+N more`). Nothing that went wrong is folded: an exit the exchange refused or that was not sent is its
own error line as it happens, the kill switch's errors are each a line (a backtest logs no `ErrorEvent`
otherwise), and the summary line is an error when a position was left open or the account unread.

Other exits (the monitor's emergency exits) are logged as every session logs them. Live, paper and staging do not
wire this: they keep one warning per exit (trading/exit_words.py `WarningExitLog`); the journal, the API and the
alerts read the bus, which this does not touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.bus import EventBus
from ..core.loggers import get_logger
from ..domain.events import ErrorEvent, KillSwitchDone
from ..domain.words import SHOWN, listed
from ..trading.exit_words import WarningExitLog
from ..trading.kill_switch import COMPONENT, KILL_PURPOSE, exit_reason
from ..trading.sending import SendResult

log = get_logger(__name__)


@dataclass
class _Exits:
    """One kill switch's exits so far: each position's amount as announced, and the symbols the exchange closed."""

    announced: dict[str, str] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)


class KillSwitchDigest:
    """An `ExitLog` (trading/exit_words.py) for the engine of a backtest: `attach` it to that engine's bus."""

    def __init__(self, shown: int = SHOWN) -> None:
        self.shown = shown
        self._others = WarningExitLog()
        self._pending: dict[str, _Exits] = {}

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(KillSwitchDone, self.on_done)
        bus.subscribe(ErrorEvent, self.on_error)

    def announce(self, event: str, *, symbol: str, amount: str, reason: str, purpose: str) -> None:
        if purpose != KILL_PURPOSE:
            self._others.announce(event, symbol=symbol, amount=amount, reason=reason, purpose=purpose)
            return
        self._pending.setdefault(reason, _Exits()).announced[symbol] = amount

    def outcome(self, symbol: str, reason: str, purpose: str, result: SendResult) -> None:
        exits = self._pending.get(reason) if purpose == KILL_PURPOSE else None
        if exits is None:
            return
        if result.accepted:
            exits.closed.append(symbol)
            return
        log.error("kill switch exit failed", symbol=symbol, amount=exits.announced.get(symbol), reason=reason,
                  outcome=result.outcome.value, code=result.code, message=result.message)

    def on_done(self, done: KillSwitchDone) -> None:
        """The kill switch's one line. One that had nothing to close and left nothing wrong says nothing, as
        before (its exits were the only lines it printed)."""
        reason = exit_reason(done.reason)
        exits = self._pending.pop(reason, None)
        if exits is None and done.flat:
            return
        closed = [] if exits is None else exits.closed
        say = log.warning if done.flat else log.error
        say("kill switch closed positions", reason=reason, closed=len(closed), symbols=listed(closed, self.shown),
            summary=done.summary)

    def on_error(self, event: ErrorEvent) -> None:
        if event.component == COMPONENT:
            log.error("kill switch error", message=event.message)

