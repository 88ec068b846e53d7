"""The daily loss limit's day start, read back from the journal by account (reader `day_start_equity`).

A restart mid-day measures the day from its first equity snapshot of the same account; another account's
day (a fresh paper account after `paper-reset`, another API key), another day and a backtest never count.
On SQLite and PostgreSQL (the journal's two databases).
"""

from __future__ import annotations

from decimal import Decimal

from journal_pg import pg_cluster, pg_url  # noqa: F401  (fixtures)
from test_journal import db_url, publish  # noqa: F401  (fixture)

from quantum_trader.domain import events as ev
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.risk.daily_loss import DAY_MS

DAY = 20_454 * DAY_MS  # 2026-01-01 00:00 UTC
HOUR = 3_600_000


def equity(value: str, time_ms: int) -> ev.EquitySnapshot:
    amount = Decimal(value)
    return ev.EquitySnapshot(wallet=amount, equity=amount, available=amount, open_positions=0, time_ms=time_ms)


def test_the_first_snapshot_of_the_day_of_the_same_account_only(db_url: str) -> None:  # noqa: F811
    with Journal.open(db_url) as journal:
        journal.start_session("paper", "{}", "t", started_ms=DAY - HOUR, account="paper account a")
        publish(journal, equity("9000", DAY - HOUR))  # yesterday
        journal.start_session("backtest", "{}", "t", started_ms=DAY)  # no account: never a reference
        publish(journal, equity("1", DAY + 1))
        journal.start_session("paper", "{}", "t", started_ms=DAY + HOUR, account="paper account b")
        publish(journal, equity("500", DAY + HOUR))  # another account, earlier in the day
        journal.start_session("paper", "{}", "t", started_ms=DAY + 2 * HOUR, account="paper account a")
        publish(journal, equity("10000.5", DAY + 2 * HOUR), equity("9700", DAY + 3 * HOUR))
        journal.start_session("paper", "{}", "t", started_ms=DAY + 4 * HOUR, account="paper account a")
        publish(journal, equity("9650", DAY + 4 * HOUR))  # the restart: not the day's start
    reader = JournalReader(db_url)
    try:
        assert reader.day_start_equity("paper account a", DAY, DAY + DAY_MS) == (Decimal("10000.5"), DAY + 2 * HOUR)
        assert reader.day_start_equity("paper account b", DAY, DAY + DAY_MS) == (Decimal("500"), DAY + HOUR)
        assert reader.day_start_equity("paper account a", DAY - DAY_MS, DAY) == (Decimal("9000"), DAY - HOUR)
        assert reader.day_start_equity("paper account c", DAY, DAY + DAY_MS) is None
        assert reader.day_start_equity("paper account a", DAY + DAY_MS, DAY + 2 * DAY_MS) is None
    finally:
        reader.close()


def kill(reason: str, time_ms: int) -> ev.ProtectionAction:
    return ev.ProtectionAction(symbol="*", action="kill_switch", reason=reason, time_ms=time_ms)


def resume(time_ms: int) -> ev.ProtectionAction:
    return ev.ProtectionAction(symbol="*", action="resume", reason="by request", time_ms=time_ms)


def test_a_daily_halt_belongs_to_its_account(db_url: str) -> None:  # noqa: F811
    with Journal.open(db_url) as journal:
        journal.start_session("paper", "{}", "t", started_ms=DAY, account="paper account a")
        publish(journal, kill("daily loss limit: equity 9400 fell 6.00%", DAY + HOUR), resume(DAY + 2 * HOUR),
                kill("manual kill switch", DAY + 3 * HOUR), resume(DAY + 4 * HOUR))
        journal.start_session("paper", "{}", "t", started_ms=DAY + 5 * HOUR, account="paper account b")
        publish(journal, kill("daily loss limit: equity 10 fell 50.00%", DAY + 5 * HOUR),
                kill("manual kill switch", DAY + 6 * HOUR))
    reader = JournalReader(db_url)
    prefix = "daily loss limit"
    try:
        everyone = [("daily loss limit: equity 10 fell 50.00%", DAY + 5 * HOUR), ("manual kill switch", DAY + 6 * HOUR)]
        assert reader.kills_since_resume() == everyone
        assert reader.kills_since_resume("paper account b", prefix) == everyone
        assert reader.kills_since_resume("paper account c", prefix) == [("manual kill switch", DAY + 6 * HOUR)]
    finally:
        reader.close()


def reference(price: str | None, time_ms: int) -> ev.ProtectionAction:
    return ev.ProtectionAction(symbol="*", action=ev.DAILY_REFERENCE, reason="r", time_ms=time_ms,
                               price=None if price is None else Decimal(price))


def test_the_daily_references_of_the_account_in_the_window(db_url: str) -> None:  # noqa: F811
    with Journal.open(db_url) as journal:
        journal.start_session("paper", "{}", "t", started_ms=DAY, account="paper account a")
        publish(journal, reference("10000", DAY + HOUR), reference(None, DAY + 2 * HOUR),
                reference("9300", DAY + 2 * HOUR))  # a resume's new allowance, then its first point, same ms
        journal.start_session("paper", "{}", "t", started_ms=DAY, account="paper account b")
        publish(journal, reference("20000", DAY + 3 * HOUR), reference(None, DAY + 4 * HOUR))
    reader = JournalReader(db_url)
    try:
        assert reader.day_references("paper account a", DAY, DAY + DAY_MS) == [
            (Decimal("10000"), DAY + HOUR), (None, DAY + 2 * HOUR), (Decimal("9300"), DAY + 2 * HOUR)]
        assert reader.day_references("paper account b", DAY, DAY + DAY_MS)[-1] == (None, DAY + 4 * HOUR)
        assert reader.day_references("paper account a", DAY + DAY_MS, DAY + 2 * DAY_MS) == []
        assert reader.day_references("paper account c", DAY, DAY + DAY_MS) == []
    finally:
        reader.close()
