"""Risk rules as objects: each can refuse one signal, and say which symbols nothing can pass on now.

Live trading asks `refusal(signal, now_ms)` for every signal. The backtest asks the very same rule
objects which bars it may skip: `blocked(symbols, now_ms)` for symbols no signal can pass on (a
position already open, every slot taken, a manual halt, no margin left) and, for rules whose answer depends on the
signal alone (`signal_only`: an unknown symbol, a confidence below QT_MIN_CONFIDENCE), `refusal` once
per kind of signal before the replay starts. So a rule added to `default_rules` changes live refusals
and backtest skipping together; the backtest never reads risk's internals.

`blocked` is stricter than "refused now": a skipped bar is never revisited, so a rule reports only a
block that lasts until risk's state changes through an event (a position opens or closes, a kill
switch, a resume). A block that lifts with time alone (a cooldown, a daily-loss halt at the next UTC
midnight, the first-day cap after 24 h) is left out; those signals still reach risk and are refused
there, exactly as live.

Every rule shares one `RiskBook`, owned and updated by `RiskManager` from the bus. A rule may name its
reason in one word (`kind`, e.g. `cooldown`), which a refused decision carries so a backtest can count its
refusals by reason; a rule without one is known by its class name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING, Final, Literal, Protocol

from ..domain.events import FORCED, Signal
from ..domain.instrument import Instrument
from ..domain.money import ZERO, fmt
from ..domain.words import listed
from .daily_loss import DAY_MS

if TYPE_CHECKING:  # sizing.py imports this module (setting_name)
    from .sizing import SizingRules


class _All(enum.Enum):
    ALL = "all"


#: `blocked`'s answer when no signal on any symbol can pass (a halt, every slot taken).
ALL: Final = _All.ALL
Blocked = frozenset[str] | Literal[_All.ALL]
NONE: Final[frozenset[str]] = frozenset()
_CENT, _SATOSHI = Decimal("0.01"), Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_positions: int
    min_confidence: float
    cooldown_s: float = 0.0
    #: QT_DAILY_LOSS_LIMIT_PCT; None = no daily loss guard (backtests and tests that do not want one).
    daily_loss_limit_pct: Decimal | None = None
    #: When live trading began (clock ms); None = not live, no first-day cap.
    live_since_ms: int | None = None
    #: QT_LIVE_MAX_POSITIONS: the cap during the 24 h after `live_since_ms`.
    live_max_positions: int = 2
    #: How a refusal names a limit (by Settings field) given otherwise than as its variable: a backtest's
    #: `--param max_positions`, a sweep's `--grid max_positions` (`setting_name`).
    setting_names: Mapping[str, str] = field(default_factory=dict)

    def named(self, setting: str) -> str:
        return setting_name(self.setting_names, setting)


def setting_name(names: Mapping[str, str], setting: str) -> str:
    """A setting (a Settings field) as the user gave it, for a refusal's words: its option where `names` lists one
    (`--param max_positions`, `--grid max_positions`), else its variable (`QT_MAX_POSITIONS`): a backtest run with
    `--param max_positions=1` must not tell its user to change a variable they never set."""
    return names.get(setting, "QT_" + setting.upper())


@dataclass(eq=False, slots=True)
class RiskBook:
    """What the rules read: the positions counted, the halt, the cooldowns. `RiskManager` writes it."""

    limits: RiskLimits
    instruments: Mapping[str, Instrument]
    #: Positions the exchange reports (any origin) plus entries in flight.
    open_symbols: set[str] = field(default_factory=set)
    #: symbol -> signal time (ms) before which a new entry is refused (after a stop-out).
    cooldown_until: dict[str, int] = field(default_factory=dict)
    #: symbol -> the exit that started its cooldown, in a user's words ("a stop-loss", "an emergency exit").
    cooldown_after: dict[str, str] = field(default_factory=dict)
    halted_reason: str | None = None
    #: Set for a daily-loss halt only: the halt lifts at this time (the next UTC midnight).
    halted_until_ms: int | None = None
    #: The cross wallet the exchange last reported (None before its first report) and the symbols holding a
    #: cross-margined position: what `MarginLeftRule` reads.
    cross_wallet: Decimal | None = None
    cross_symbols: set[str] = field(default_factory=set)

    def halt_in_force(self, now_ms: int) -> str | None:
        """The halt reason in force at `now_ms`, lifting a daily-loss halt whose day has ended."""
        if self.halted_until_ms is not None and now_ms >= self.halted_until_ms:
            self.halted_reason, self.halted_until_ms = None, None
        return self.halted_reason

    def position_cap(self, now_ms: int) -> tuple[int, str]:
        """The open-position cap in force and the setting that sets it, as the user gave it (the refusal's words)."""
        limits = self.limits
        if self.first_day_cap(now_ms):
            return limits.live_max_positions, limits.named("live_max_positions")
        return limits.max_positions, limits.named("max_positions")

    def first_day_cap(self, now_ms: int) -> bool:
        """Whether the first live day's cap (QT_LIVE_MAX_POSITIONS) is the one in force."""
        limits = self.limits
        first_day = limits.live_since_ms is not None and now_ms < limits.live_since_ms + DAY_MS
        return first_day and limits.live_max_positions <= limits.max_positions


class RiskRule(Protocol):
    #: True when `refusal` depends on the signal alone, never on the book or the time, so one answer
    #: holds for every bar: the backtest then drops such signals before replaying anything.
    signal_only: bool

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        """Why this signal must be refused, whatever its price (the wording users and tests read)."""
        ...

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        """Which of `symbols` no signal can pass on from now until the book changes (see the module doc)."""
        ...


#: How a manual halt ends (a daily-loss halt lifts at the next UTC midnight by itself).
UNTIL_RESUMED = "until resumed: `quantum-trader resume`, POST /api/v1/resume or the dashboard"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a rule refused a signal: the reason in one word (`kind`) and in the words a user reads."""

    kind: str
    reason: str


class HaltRule:
    """Halted (kill switch, daily loss limit, a supervisor): refuse everything."""

    signal_only = False
    kind = "halted"

    def __init__(self, book: RiskBook) -> None:
        self.book = book

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        reason = self.book.halt_in_force(now_ms)
        return None if reason is None else f"trading halted: {reason}{self._until_text()}"

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        halted = self.book.halt_in_force(now_ms) is not None
        return ALL if halted and self.book.halted_until_ms is None else NONE  # a daily halt lifts by itself

    def _until_text(self) -> str:
        until = self.book.halted_until_ms
        if until is None:
            return f" ({UNTIL_RESUMED})"  # a manual halt lasts until someone resumes entries: say how
        return f" (until {datetime.fromtimestamp(until / 1000, UTC):%Y-%m-%d %H:%M} UTC)"


class TradableRule:
    """A symbol the exchange does not list cannot be traded."""

    signal_only = True
    kind = "not_tradable"

    def __init__(self, book: RiskBook) -> None:
        self.book = book
        self._asked: frozenset[str] | None = None
        self._answer: frozenset[str] = NONE

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        if signal.symbol in self.book.instruments:
            return None
        return f"{signal.symbol}: not a tradable symbol of this session ({listed(sorted(self.book.instruments))})"

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        if symbols is not self._asked:  # the backtest asks about the same set at every step
            self._asked, self._answer = symbols, frozenset(symbols.difference(self.book.instruments))
        return self._answer


class ConfidenceRule:
    """A strategy's signal below QT_MIN_CONFIDENCE; a forced entry (`source == FORCED`) is exempt."""

    signal_only = True
    kind = "low_confidence"

    def __init__(self, book: RiskBook) -> None:
        self.book = book

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        floor = self.book.limits.min_confidence
        if signal.source != FORCED and not signal.confidence >= floor:  # NaN is below, not above
            return f"confidence {signal.confidence:.2f} below {self.book.limits.named('min_confidence')} {floor:.2f}"
        return None

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        return NONE  # per signal, not per symbol: see `signal_only`


class OnePerSymbolRule:
    """At most one position per symbol."""

    signal_only = False
    kind = "position_open"

    def __init__(self, book: RiskBook) -> None:
        self.book = book

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        if signal.symbol in self.book.open_symbols:
            return f"{signal.symbol}: a position is already open (one per symbol)"
        return None

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        return symbols.intersection(self.book.open_symbols) if self.book.open_symbols else NONE


class PositionCapRule:
    """QT_MAX_POSITIONS, or QT_LIVE_MAX_POSITIONS during the first live day."""

    signal_only = False
    kind = "position_cap"

    def __init__(self, book: RiskBook) -> None:
        self.book = book

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        cap, setting = self.book.position_cap(now_ms)
        count = len(self.book.open_symbols)
        if count < cap:
            return None
        first_day = " during the first live day" if self.book.first_day_cap(now_ms) else ""
        return f"{count} position{'' if count == 1 else 's'} open: {setting} is {cap}{first_day}"

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        # The first-day cap rises by itself after 24 h; QT_MAX_POSITIONS only lifts when a position closes.
        return ALL if len(self.book.open_symbols) >= self.book.limits.max_positions else NONE


class CooldownRule:
    """No new entry on a symbol for QT_COOLDOWN_S after a stop-out there (stop-loss, emergency, liquidation)."""

    signal_only = False
    kind = "cooldown"

    def __init__(self, book: RiskBook) -> None:
        self.book = book

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        until = self.book.cooldown_until.get(signal.symbol, 0)
        if until > signal.time_ms:
            after = self.book.cooldown_after.get(signal.symbol, "a stop-out")
            return (f"{signal.symbol}: cooling down after {after} for {(until - signal.time_ms) / 1000:.0f} s more "
                    "(QT_COOLDOWN_S)")
        return None

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        return NONE  # a cooldown ends by itself: never a reason to skip a bar


class MarginLeftRule:
    """No entry can be sized: no cross position is open, and the cross wallet the exchange last reported is too
    small for the smallest order of any symbol (its MIN_NOTIONAL, at QT_LEVERAGE, within the margin buffer).

    The available balance sizing reads is then at most that wallet (no cross P&L adds to it, open orders only
    take from it), so sizing would refuse every signal for margin: refused here, the signal costs no account
    read, and the block lets a backtest skip such signals. With no cross position the cross wallet grows only
    through an event: a position closing (its isolated margin comes back), a transfer. Funding does not move it:
    an isolated position's is paid from and into its own margin, as Binance does."""

    signal_only = False
    kind = "no_margin"

    def __init__(self, book: RiskBook, sizing: SizingRules) -> None:
        self.book, self.sizing = book, sizing
        #: The lowest MIN_NOTIONAL of the session's symbols (read once: a session's instruments are read when it
        #: is wired and never changed); 0 when one has none, so that nothing is ever too small.
        self.smallest_order = min((inst.min_notional for inst in book.instruments.values()), default=ZERO)

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        wallet = self._short_wallet()
        if wallet is None:
            return None
        floor, sizing = self.smallest_order, self.sizing
        need = (floor / (sizing.leverage * sizing.margin_buffer)).quantize(_CENT, ROUND_UP)
        return (f"no margin left for any entry: the cross wallet holds {fmt(wallet.quantize(_SATOSHI))} USDT, and the "
                f"smallest order ({fmt(floor)} USDT) needs {fmt(need)} USDT at {sizing.leverage}x "
                f"({sizing.named('leverage')}): a position must close first")

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        return ALL if self._short_wallet() is not None else NONE

    def _short_wallet(self) -> Decimal | None:
        """The cross wallet, when it cannot hold the margin of any order (else None)."""
        book, sizing = self.book, self.sizing
        wallet = book.cross_wallet
        if wallet is None or book.cross_symbols:
            return None
        if max(wallet, ZERO) * sizing.margin_buffer * sizing.leverage < self.smallest_order:
            return wallet
        return None


def default_rules(book: RiskBook, sizing: SizingRules | None = None) -> list[RiskRule]:
    """The rules in the order they are asked; the first refusal wins, so the reason a user reads is the
    most basic one (halted before symbol before confidence before capacity before cooldown before margin).
    `sizing`: the rules entries are sized by; without, no margin rule (sizing still refuses)."""
    rules: list[RiskRule] = [HaltRule(book), TradableRule(book), ConfidenceRule(book), OnePerSymbolRule(book),
                             PositionCapRule(book), CooldownRule(book)]
    if sizing is not None:
        rules.append(MarginLeftRule(book, sizing))
    return rules


class RiskPipeline:
    """The ordered rules, asked as one: by `RiskManager` for each signal, by the backtest for what to skip."""

    def __init__(self, rules: Sequence[RiskRule]) -> None:
        self.rules = tuple(rules)
        self._signal_only = tuple(rule for rule in self.rules if rule.signal_only)

    def refusal(self, signal: Signal, now_ms: int) -> str | None:
        """The first rule's refusal, or None when every rule lets the signal through (sizing comes next)."""
        refused = self.first_refusal(signal, now_ms)
        return None if refused is None else refused.reason

    def first_refusal(self, signal: Signal, now_ms: int) -> Refusal | None:
        """`refusal` with the refusing rule's `kind` (its class name where it declares none)."""
        for rule in self.rules:
            reason = rule.refusal(signal, now_ms)
            if reason is not None:
                return Refusal(str(getattr(rule, "kind", type(rule).__name__)), reason)
        return None

    def signal_refusal(self, signal: Signal) -> str | None:
        """The refusal of the rules that read the signal alone: it holds at any time, in any state."""
        for rule in self._signal_only:
            reason = rule.refusal(signal, signal.time_ms)
            if reason is not None:
                return reason
        return None

    def blocked(self, symbols: frozenset[str], now_ms: int) -> Blocked:
        """The union of every rule's `blocked` (ALL as soon as one says ALL)."""
        union = NONE
        for rule in self.rules:
            answer = rule.blocked(symbols, now_ms)
            if answer is ALL:
                return ALL
            if answer:
                union = union | answer if union else answer
        return union
