"""Start-up: what a (re)starting session reads from the exchange before it trades, and how it waits for it.

A restart is when protection matters most: the bot was away, a position may have lost its stop, and
nothing watches it until the first monitor sweep. So start-up is ordered to reach that sweep early
(the journal's pending intents and trades closed while away, then every open position announced and
read back by a full sweep, before the strategy and the API are built), and it is patient: a short
outage (5xx, timeouts, 429, a 418 ban shorter than the patience) is waited out with capped backoff
and logged, instead of the process exiting and leaving the position unwatched until something
restarts it (exchange/retry.py `patient`). The wait has a limit, QT_STARTUP_PATIENCE_S, so an exchange
that stays away ends the process with one line naming the setting (a supervisor such as systemd then
restarts it and alerts). Every read up to that sweep is made at protection priority (exchange/budget.py
`urgent`): a user's own calls early in the minute used to leave start-up waiting up to a minute on the routine
pacing of the bot's request budget, with a position perhaps without a stop; the exchange's limit still holds
(`PROTECTION_SHARE`, 429s and bans). A refusal that waiting cannot fix (a bad key, -2015) fails at once, exit 2,
naming QT_API_KEY and QT_API_SECRET, and so does an account in Hedge Mode, naming the fix (the bot trades
One-way Mode only). Also here: live mode's readiness gate (exit 3), what the journal records of the
session's instruments, and the halt of entries a restart keeps (a kill switch holds until a person
resumes, the daily loss limit until the UTC day ends: a restart is neither).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from decimal import Decimal

from ..core.bus import EventBus
from ..core.loggers import get_logger
from ..domain.errors import ConfigError, ExchangeError, RetryableExchangeError
from ..domain.events import ProtectionAction, TradeOpened
from ..domain.exchange_types import FUNDING_FEE, BalanceUpdate
from ..domain.instrument import Instrument
from ..domain.money import fmt
from ..domain.stops import protection_prices
from ..exchange.budget import urgent
from ..exchange.factory import given
from ..exchange.port import Exchange, ExchangeReader
from ..journal.codec import RESUME
from ..journal.reader import JournalReader
from ..journal.writer import Journal
from ..readmodels.adopted import adopted_trades
from ..readmodels.journal import opened_from_entry, readiness_from_journal
from ..risk.daily_loss import DAY_MS, REASON_PREFIX, DailyLossGuard, undated_moves, utc_day
from ..settings.model import Settings
from ..trading.away_funding import funding_from_ms
from ..trading.execution import Execution
from ..trading.monitor import PositionMonitor
from ..trading.reconcile import close_trades_gone_while_away, settle_pending_intents
from ..trading.trades import OpenTrade
from .wiring import Engine, announce_positions

log = get_logger(__name__)

#: Binance codes about the key itself (-2014 format, -2015 key/IP/permission, -1022 signature, -1002 unauthorised).
CREDENTIAL_CODES = frozenset({-1002, -1022, -2014, -2015})


class ExchangeUnavailableError(RuntimeError):
    """Start-up waited QT_STARTUP_PATIENCE_S for the exchange and it did not answer: the process ends (exit 1)."""


class NotReady(Exception):
    """Live mode refused: the readiness checklist does not pass (exit code 3)."""

    def __init__(self, failed: list[dict[str, object]]) -> None:
        super().__init__("readiness not met: " + ", ".join(str(i["name"]) for i in failed))
        self.failed = failed


def first_live_ms(db_url: str) -> int | None:
    """When the journal's first live session started: the first live day's cap survives restarts."""
    reader = JournalReader(db_url)
    try:
        return min((int(r["started_ms"]) for r in reader.sessions() if r["mode"] == "live"), default=None)
    finally:
        reader.close()


def check_readiness(settings: Settings) -> None:
    reader = JournalReader(settings.db_url)
    try:
        result = readiness_from_journal(reader, settings)
    finally:
        reader.close()
    failed = [i for i in result["items"] if not i["passed"]]
    if failed:
        raise NotReady(failed)


@contextmanager
def startup_errors(settings: Settings) -> Iterator[None]:
    """Turns start-up's exchange failures into messages that name the setting to fix."""
    try:
        yield
    except RetryableExchangeError as exc:
        raise ExchangeUnavailableError(  # an outage longer than the patience, or a ban ending after it
            f"the exchange at {given(settings.exchange, settings.name_of('exchange'))} was not back within start-up's "
            f"QT_STARTUP_PATIENCE_S={settings.startup_patience_s:g} s (last answer: HTTP {exc.http_status} code "
            f"{exc.code} {exc.msg}); raise QT_STARTUP_PATIENCE_S to wait longer") from exc
    except ExchangeError as exc:
        if exc.code not in CREDENTIAL_CODES:
            raise
        raise ConfigError(
            f"QT_API_KEY / QT_API_SECRET: the exchange at {given(settings.exchange, settings.name_of('exchange'))} "
            "refused them "
            f"(code {exc.code}: {exc.msg}); check the key and secret, the key's IP whitelist and its futures "
            "permission") from exc


def hedge_mode_refusal(exchange: str, setting: str) -> str:
    """The one line a session in Hedge Mode stops with: the problem and the fix (in process: a fresh paper
    account, since only a test switches the simulated one). `setting`: how the user gave `exchange`
    (`Settings.name_of`): `run --exchange URL` is named `--exchange URL`, never a QT_EXCHANGE they did not set."""
    fix = ("`quantum-trader paper-reset` starts a fresh paper account in One-way Mode" if exchange == "sim" else
           "switch it in Binance (Preferences > Position Mode > One-way) or POST /fapi/v1/positionSide/dual "
           "dualSidePosition=false, with no open positions or orders")
    return (f"the account at {given(exchange, setting)} is in Hedge Mode (dualSidePosition=true); Quantum Trader "
            f"trades One-way Mode only and the exchange would refuse its every order, stops included: {fix}")


async def refuse_hedge_mode(exchange: ExchangeReader, settings: Settings) -> None:
    """Start-up's position-mode read (GET /fapi/v1/positionSide/dual, weight 30, patient like every start-up read):
    an account in Hedge Mode is a ConfigError (exit 2). The bot's orders (positionSide BOTH, reduceOnly,
    closePosition) are One-way Mode's; in Hedge Mode Binance refuses them (-4061, -1106), so a position opened
    by hand could never get its stop or be closed by the kill switch. The mode is not switched here: that
    changes the user's account, and Binance refuses it while a position or an order is open."""
    if await exchange.hedge_mode():
        raise ConfigError(hedge_mode_refusal(settings.exchange, settings.name_of("exchange")))


@asynccontextmanager
async def closing_on_error(exchange: Exchange) -> AsyncIterator[None]:
    """The adapter's connections are closed when start-up fails after it connected (the session that would
    close them never runs)."""
    try:
        yield
    except BaseException:
        await exchange.close()
        raise


async def reconcile_journal(engine: Engine, monitor: PositionMonitor, exchange: Exchange,
                            reader: JournalReader) -> None:
    """The journal against the exchange: intents never answered are settled, what the income history lists
    since the bot stopped is counted (transfers, funding: `read_income_while_away`), trades closed while the bot
    was away are closed with the exit the exchange recorded, and the rest are adopted by the tracker, the monitor
    and the client-id allocator. Either way a trade keeps the fees and funding the journal says it paid
    before the restart (readmodels/adopted.py), and the funding paid while the bot was stopped."""
    await settle_pending_intents(engine.bus, engine.clock, exchange, reader.pending_intents())
    await open_unrecorded_trades(engine, exchange, reader)
    trades = adopted_trades(reader)
    income = await read_income_while_away(exchange, engine.risk.daily_loss, trades)
    await count_transfers_while_away(engine.bus, engine.risk.daily_loss, income)
    for trade in await close_trades_gone_while_away(engine.bus, engine.clock, exchange, trades, income or ()):
        engine.trades.adopt(trade)
        monitor.adopt(trade.opened)
        engine.execution.ids.learn(trade.opened.trade_id, reader.client_ids_of_trade(trade.opened.trade_id))


async def open_unrecorded_trades(engine: Engine, exchange: Exchange, reader: JournalReader) -> int:
    """Entries the exchange filled whose trade was never recorded (killed between the fill and the record):
    the trade is opened now from the journal's own entry order and risk decision, so the position is the
    bot's trade (closed with its real exit, audited) rather than an unknown one. Returns how many."""
    entries = reader.entries_without_trade()
    if not entries:
        return 0
    now_equity = (await exchange.account()).equity
    for row in entries:
        equity = reader.equity_before(int(row["created_ms"])) or now_equity
        opened = as_placed(opened_from_entry(row, equity), reader.first_protection(str(row["trade_id"])),
                           engine.execution)
        log.warning("a filled entry's trade was never recorded; opening it from the journal",
                    trade_id=opened.trade_id, symbol=opened.symbol, quantity=str(opened.quantity))
        await engine.bus.publish(ProtectionAction(
            symbol=opened.symbol, action="trade_recovered", time_ms=engine.clock.now_ms(), trade_id=opened.trade_id,
            reason="entry filled before a crash; trade opened from the journal's entry order and risk decision"))
        await engine.bus.publish(opened)
    return len(entries)


def as_placed(opened: TradeOpened, placed: Mapping[str, Decimal], execution: Execution) -> TradeOpened:
    """A recovered trade's stop and take-profit as its first session planned them for its fill: the levels it
    placed (`placed`, the journal's first `sl` and `tp` orders), else those execution places for the fill price
    (rounded toward the entry). Not the risk decision's: risk sized the trade before the fill, from the last
    price, and a short filled at 0.1048 was recovered with the decision's stop 0.1069, one tick looser than the
    0.1068 placed, and its stop re-placed there. The decision's plan stays only for a symbol this session does
    not trade (no instrument to round with)."""
    inst = execution.instruments.get(opened.symbol)
    if inst is None:
        return opened
    cfg = execution.config
    stop, take = protection_prices(inst, opened.direction, opened.entry_price, cfg.stop_loss_pct, cfg.take_profit_pct)
    return replace(opened, planned_stop=placed.get("sl", stop), planned_take_profit=placed.get("tp", take))


def restore_halt(engine: Engine, reader: JournalReader, account: str | None = None) -> str | None:
    """Entries stay halted across a restart: the journal's kill switches since the last resume are replayed into
    risk before anything can signal, but not a daily-loss one of another account (`account`: this session's,
    runtime/account_name.py; a fresh paper account after `paper-reset` did not lose that money). Returns the
    halt in force (None: entries are active)."""
    reason = engine.risk.restore_halt(reader.kills_since_resume(account, REASON_PREFIX))
    if reason is not None:
        until = engine.risk.halted_until_ms
        log.warning("entries stay halted from before the restart; `quantum-trader resume` (POST /api/v1/resume) "
                    "allows them again" + ("" if until is None else ", or the UTC day's end"),
                    reason=reason, until_ms=until)
    return reason


def restore_day_start(engine: Engine, reader: JournalReader, account: str | None) -> Decimal | None:
    """A restart within a UTC day keeps the daily loss limit's reference: the last one the guard journaled today for
    the same account (runtime/account_name.py; `daily_reference`: the day's first equity point, or the first after
    a manual resume that followed today's daily kill switch). Returns that equity, or None: no daily limit, no
    named account, nothing journaled today, or a resume whose new allowance no point measured yet (the next
    point is the reference)."""
    if account is None or engine.risk.daily_loss is None:
        return None
    midnight = utc_day(engine.clock.now_ms()) * DAY_MS
    references = reader.day_references(account, midnight, midnight + DAY_MS)
    equity, time_ms = references[-1] if references else (None, 0)
    if equity is None:  # none today, or a resume began a new allowance: the next point is the reference
        return None
    undated = undated_moves(references, reader.transfer_amounts(account, midnight, midnight + DAY_MS))
    if not engine.risk.restore_day_start(equity, time_ms, undated):
        return None
    log.info("daily loss limit: today's reference, journaled before the restart, still holds",
             equity=fmt(equity), time_ms=time_ms)
    return equity


def _reference_ms(guard: DailyLossGuard | None) -> int | None:
    """When the daily loss limit's restored reference was set (None: no limit, or no reference restored)."""
    return None if guard is None or guard.start_equity is None else guard.start_ms


async def read_income_while_away(exchange: ExchangeReader, guard: DailyLossGuard | None,
                                 trades: Iterable[OpenTrade]) -> list[BalanceUpdate] | None:
    """After `restore_day_start`: one reading of the exchange's income history (paged, weight 30 a page) for what
    no stream told the stopped bot: the transfers after the daily loss limit's restored reference
    (`count_transfers_while_away`) and the funding of the trades the journal holds open, after the last payment it
    holds for each (trading/away_funding.py). From the earliest of those times, every kind when transfers are
    wanted (one request covers their six kinds and funding), else FUNDING_FEE alone; one request covers every
    symbol. Returns [] with nothing to read. An income history that cannot be read is a warning, not a refused
    start (None): the limit then errs on the side of stopping, and the trades miss that funding."""
    reference = _reference_ms(guard)
    starts = [*([] if reference is None else [reference + 1]), *(funding_from_ms(trade) for trade in trades)]
    if not starts:
        return []
    try:
        return await exchange.income(min(starts), None if reference is not None else FUNDING_FEE)
    except ExchangeError as exc:
        log.warning("the income history could not be read: a transfer made while the bot was stopped would count "
                    "as a trading loss for the daily loss limit, and its trades miss the funding paid meanwhile",
                    error=str(exc))
        return None


async def count_transfers_while_away(bus: EventBus, guard: DailyLossGuard | None,
                                     income: Iterable[BalanceUpdate] | None) -> Decimal:
    """The transfers the income history lists after the restored reference (made while the bot was stopped, which
    no stream told it of) are published as the stream's would be, so the guard moves the reference and the
    journal records them. A withdrawal to spot while the bot was down used to count as a loss at the restart, and
    past the limit flattened every position. One the restored reference holds already (moved by a version that did
    not date it: risk/daily_loss.py `undated_moves`) is taken back out of it first, so it is journaled now (the
    dashboard's "today" leaves it out) and counted once. Returns the net amount newly counted (0 with no reference
    restored)."""
    if guard is None or guard.start_equity is None or guard.start_ms is None or income is None:
        return Decimal(0)
    reference = guard.start_ms  # capture: each transfer published moves it
    found = [update for update in income if update.is_transfer and update.time_ms > reference]
    held = guard.take_back(found)
    for transfer in found:
        await bus.publish(transfer)
    net = sum((transfer.change for transfer in found), Decimal(0)) - sum((t.change for t in held), Decimal(0))
    if held:
        log.info("daily loss limit: the restored reference held transfers its version did not date; counted once",
                 transfers=len(held), equity=fmt(guard.start_equity))
    if len(found) > len(held):
        log.info("daily loss limit: transfers made while the bot was stopped move today's reference",
                 transfers=len(found) - len(held), net=fmt(net), equity=fmt(guard.start_equity))
    return net


async def resume_entries(engine: Engine, reason: str = "entries resumed by request") -> None:
    """The manual reset: risk allows entries again, and the journal records it (action `resume`, symbol `*`), so
    the next start no longer restores the halts before it."""
    rebased = engine.risk.resume()
    await engine.bus.publish(ProtectionAction(symbol="*", action=RESUME, reason=reason, time_ms=engine.clock.now_ms()))
    if rebased:  # after today's daily kill switch: a restart must not re-arm the old floor
        await engine.bus.publish(DailyLossGuard.reference_action(None, engine.clock.now_ms()))


async def protect_at_start(engine: Engine, monitor: PositionMonitor) -> None:
    """Risk and the monitor learn every open position, then the first sweep reads the exchange and repairs."""
    count = await announce_positions(engine)
    await reconciling_sweep(monitor)
    log.info("start-up sweep done", positions=count)


async def reconciling_sweep(monitor: PositionMonitor) -> None:
    """At start-up and after a reconnect the monitor must read the exchange, whatever share of the minute's
    request weight routine reads have used: the reading runs at protection priority."""
    with urgent():
        await monitor.sweep(reading=True)


def record_instruments(journal: Journal, instruments: dict[str, Instrument], time_ms: int) -> None:
    """The instruments this session trades, with the filters in force (a later audit may need them)."""
    for symbol, inst in sorted(instruments.items()):
        filters = {"tick_size": fmt(inst.tick_size), "step_size": fmt(inst.step_size),
                   "min_qty": fmt(inst.lot_size.min_qty), "min_notional": fmt(inst.min_notional),
                   "max_leverage": inst.max_leverage}
        journal.record_instrument(symbol, json.dumps(filters, sort_keys=True), time_ms)
