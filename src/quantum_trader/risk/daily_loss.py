"""The daily loss limit (`QT_DAILY_LOSS_LIMIT_PCT`): a bad day stops itself before it becomes a bad month.

Why equity snapshots and not closed trades: realised P&L misses what open positions are losing right
now, and a kill switch that waits for the stops to fill is too late. Every session publishes an
`EquitySnapshot` at least once a minute of session time (a backtest at every UTC midnight, so its day
starts from the midnight equity, at each chunk end, and at the first bar close that may reach `floor()`,
which its replay finds in arrays), so the guard sees the account as the exchange values it, open losses
included.

The reference is the equity at the first snapshot of each UTC day (day = time_ms // 86_400_000, as
Binance's daily figures are UTC too), moved by transfers in or out of the wallet and renewed by a manual
resume after the day's kill switch; each reference is journaled (`daily_reference`), and a session
restarted within the day takes the last one back (`restore_day`, runtime/startup.py `restore_day_start`),
then moves it by the transfers the exchange's income history lists after it (made while the bot was away:
`count_transfers_while_away`).
When equity falls to or below start x (1 - limit/100), the guard publishes one `KillSwitch` for that day
and nothing else: the kill-switch handler cancels and flattens, and the risk manager halts entries until
the next UTC midnight (or a manual `resume()`). All arithmetic is Decimal, so "exactly at the limit" means
exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal

from ..core.bus import EventBus
from ..domain.events import DAILY_REFERENCE, EquitySnapshot, KillSwitch, ProtectionAction
from ..domain.exchange_types import BalanceUpdate
from ..domain.money import fmt

DAY_MS = 86_400_000
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
#: Every daily-loss kill switch's reason starts with this, so people and logs can tell it from a manual one.
REASON_PREFIX = "daily loss limit"


def utc_day(time_ms: int) -> int:
    """Days since the epoch, UTC: the key the limit resets on."""
    return time_ms // DAY_MS


def next_midnight_ms(time_ms: int) -> int:
    """The start of the UTC day after the one `time_ms` falls in."""
    return (utc_day(time_ms) + 1) * DAY_MS


def undated_moves(references: Iterable[tuple[Decimal | None, int]], journaled: Iterable[Decimal]) -> list[Decimal]:
    """The transfers the day's journaled references (equity, time_ms; in the order written) moved the reference by
    without dating it: a reference moved and stamped with its predecessor's time, which no journaled transfer
    explains. Versions before 09d9945 (2026-12-05) moved the reference by a transfer without moving its stamp and
    journaled no transfer, so a restart onto a newer version read the income history after that stamp and counted
    the transfer a second time (measured: a 1,000 USDT deposit made the reference 12,000 on an 11,000 account, and
    the daily kill switch fired at "fell 8.33%"). Since then a move is stamped with its transfer's time, or keeps
    its stamp only for a transfer dated before it (the income history's reading after the stamp leaves that one
    out), and every transfer is journaled: that move is explained. A resume's new allowance starts afresh."""
    moves: list[Decimal] = []
    previous: tuple[Decimal, int] | None = None
    for equity, time_ms in references:
        if equity is None:
            moves, previous = [], None
            continue
        if previous is not None and time_ms == previous[1] and equity != previous[0]:
            moves.append(equity - previous[0])
        previous = (equity, time_ms)
    return list((Counter(moves) - Counter(journaled)).elements())


def loss_floor(start_equity: Decimal, limit_pct: Decimal) -> Decimal:
    """The equity at or below which the day's trading stops."""
    return start_equity * (1 - limit_pct / HUNDRED)


def _pct(value: Decimal) -> str:
    return f"{value:.2f}"


def _usdt(value: Decimal) -> str:
    """To the cent: equity sums P&L at averaged entry prices, which carry many more digits than anyone reads
    ("equity 949901.3559142900000000000002" in an alert)."""
    return fmt(value.quantize(CENT))


class DailyLossGuard:
    """Watches `EquitySnapshot`s; publishes at most one `KillSwitch` per UTC day when the limit is hit."""

    def __init__(self, bus: EventBus, limit_pct: Decimal) -> None:
        if not 0 < limit_pct <= HUNDRED:
            raise ValueError(f"QT_DAILY_LOSS_LIMIT_PCT={limit_pct}: must be greater than 0 and at most 100")
        self.bus, self.limit_pct = bus, limit_pct
        self.day: int | None = None
        self.start_equity: Decimal | None = None
        #: When `start_equity` was set: the day's first snapshot (session time), or the transfer that last moved it.
        self.start_ms: int | None = None
        self.tripped_day: int | None = None
        #: The kill switches this guard published (the risk manager lets these, and only these, expire).
        self.published: list[KillSwitch] = []
        #: Transfers a restored reference holds whose time the journal lost (`undated_moves`): amounts.
        self.undated: list[Decimal] = []

    def attach(self) -> None:
        self.bus.subscribe(EquitySnapshot, self.on_equity)
        self.bus.subscribe(BalanceUpdate, self.on_balance)

    async def on_balance(self, event: BalanceUpdate) -> None:
        """Money moved in or out of the futures wallet moves the day's reference with it: a withdrawal is no
        trading loss (it used to flatten every position at the next point), a deposit no allowance to lose."""
        if event.is_transfer:
            await self.move(event)

    async def move(self, transfer: BalanceUpdate) -> bool:
        """Move the reference by one transfer (from the stream, or the income history at a restart) and journal
        it, stamped with the later of the reference's time and the transfer's (the exchange's clock, the
        session's on the live path): a restart then reads the income history only after it, so a transfer is
        counted once. Nothing before the day's first point, which then measures from after it. True when it
        moved."""
        if self.start_equity is None or self.start_ms is None:
            return False
        self.start_equity += transfer.change
        self.start_ms = max(self.start_ms, transfer.time_ms)
        await self.bus.publish(self.reference_action(self.start_equity, self.start_ms))
        return True

    def is_own(self, event: KillSwitch) -> bool:
        """True for a kill switch this guard published (a daily one), False for a manual or other one."""
        return any(event is mine for mine in self.published)

    async def on_equity(self, snapshot: EquitySnapshot) -> None:
        measured = self.start_ms
        kill = self.check(snapshot)
        if self.start_ms != measured and self.start_equity is not None and self.start_ms is not None:
            await self.bus.publish(self.reference_action(self.start_equity, self.start_ms))
        if kill is not None:
            await self.bus.publish(kill)

    @staticmethod
    def reference_action(equity: Decimal | None, time_ms: int) -> ProtectionAction:
        """The journal's record of a new reference (None: a resume began a new allowance, measured from the next
        equity point): a restart within the day reads the last one back instead of starting the day again."""
        reason = (f"{REASON_PREFIX}: the day is measured from equity {_usdt(equity)}" if equity is not None else
                  f"{REASON_PREFIX}: resumed after today's kill switch; the rest of the day is measured from the "
                  "next equity point")
        return ProtectionAction(symbol="*", action=DAILY_REFERENCE, reason=reason, time_ms=time_ms, price=equity)

    def restore_day(self, day: int, start_equity: Decimal, start_ms: int, undated: Iterable[Decimal] = ()) -> None:
        """A restart within `day`: the day is measured from `start_equity` (its last journaled reference), not
        from the equity of the restart, so a crash loop cannot give a losing day a fresh allowance. `undated`: the
        transfers that reference holds whose time the journal lost (`undated_moves`), for `take_back`."""
        self.day, self.start_equity, self.start_ms = day, start_equity, start_ms
        self.undated = list(undated)

    def take_back(self, transfers: Sequence[BalanceUpdate]) -> list[BalanceUpdate]:
        """Of `transfers` (the income history's after the restored reference, about to be counted), those the
        reference holds already (`undated`: each amount claims the earliest transfer of that amount); the reference
        is taken back by them, so counting them all moves it by each transfer once. Returns them."""
        held: list[BalanceUpdate] = []
        for amount in self.undated:
            claim = next((t for t in transfers if t.change == amount and all(t is not h for h in held)), None)
            if claim is not None and self.start_equity is not None:
                held.append(claim)
                self.start_equity -= amount
        self.undated = []
        return held

    def rebase(self) -> None:
        """A manual resume after today's kill switch: the next snapshot starts the rest of the day afresh."""
        self.day = self.start_equity = self.start_ms = self.tripped_day = None

    def floor(self) -> Decimal | None:
        """The equity at or below which a snapshot of the current day trips the limit; None once it has
        tripped that day, or before the first snapshot (a backtest's replay suspends where equity may reach it)."""
        start = self.start_equity
        if start is None or start <= 0 or self.tripped_day == self.day:
            return None
        return loss_floor(start, self.limit_pct)

    def status(self) -> dict[str, str | int | None]:
        """For /health: the limit, the day's reference equity and when it was set (the day's first point, or the
        transfer that last moved it), and the floor in force
        (None once the day's kill switch has fired, or before the first snapshot)."""
        floor = self.floor()
        return {"limit_pct": fmt(self.limit_pct),
                "day_start_equity": None if self.start_equity is None else _usdt(self.start_equity),
                "day_start_ms": self.start_ms, "floor": None if floor is None else _usdt(floor)}

    def check(self, snapshot: EquitySnapshot) -> KillSwitch | None:
        """Record the day's starting equity; return the kill switch when this snapshot breaks the limit."""
        day = utc_day(snapshot.time_ms)
        if self.day is None or day > self.day:  # a snapshot from an earlier day (out of order) never resets
            self.day, self.start_equity, self.start_ms = day, snapshot.equity, snapshot.time_ms
        start = self.start_equity
        if self.tripped_day == day or start is None or start <= 0 or day != self.day:
            return None
        if snapshot.equity > loss_floor(start, self.limit_pct):
            return None
        self.tripped_day = day
        drop = (start - snapshot.equity) / start * HUNDRED
        kill = KillSwitch(reason=f"{REASON_PREFIX}: equity {_usdt(snapshot.equity)} fell {_pct(drop)}% from "
                                 f"{_usdt(start)} at the UTC day's start", time_ms=snapshot.time_ms)
        self.published.append(kill)
        return kill
