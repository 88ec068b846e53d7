"""Trade ids: unique per run and across runs, deterministic for a given run, readable inside client ids."""

from __future__ import annotations

import pytest

from quantum_trader.exchange.ids import client_id_for
from quantum_trader.risk.trade_ids import TRADE_ROOM, TradeIds, base36, clock_tag, session_tag


def test_ids_within_one_second_on_one_symbol_differ() -> None:
    ids = TradeIds(session_tag(3))
    assert [ids.next("BNBUSDT"), ids.next("BNBUSDT"), ids.next_kill("BNBUSDT"), ids.next("BNBUSDT")] == [
        "BNBUSDT_3_1", "BNBUSDT_3_2", "BNBUSDT_3_k3", "BNBUSDT_3_4"]


def test_the_same_run_gives_the_same_ids() -> None:
    first, second = TradeIds.from_clock(1_767_225_600_123), TradeIds.from_clock(1_767_225_600_999)
    assert [first.next("ETHUSDT") for _ in range(3)] == [second.next("ETHUSDT") for _ in range(3)]


def test_a_restarted_session_never_repeats_an_id() -> None:
    """Same tag (a journal restored from a backup): the ids the journal holds are skipped."""
    before = TradeIds(session_tag(7))
    old = {before.next("BNBUSDT") for _ in range(3)}
    seen: list[str] = []
    after = TradeIds.for_session(7, lambda tag: seen.append(tag) or old)
    assert seen == ["7"]
    assert after.next("BNBUSDT") == "BNBUSDT_7_4"
    assert TradeIds.for_session(8, lambda tag: old).next("BNBUSDT") == "BNBUSDT_8_1"


def test_session_and_clock_tags_cannot_meet() -> None:
    assert len(clock_tag(1_767_225_600_000)) == 6
    assert len(session_tag(36**5 - 1)) == 5
    assert base36(0) == "0" and base36(35) == "z" and base36(36) == "10"
    with pytest.raises(ValueError, match="must be >= 0"):
        base36(-1)


@pytest.mark.parametrize(("symbol", "ids"), [("BNBUSDT", TradeIds.from_clock(1_767_225_600_000)),
                                             ("1000SHIBUSDT", TradeIds.from_clock(1_767_225_600_000)),
                                             ("1000000MOGUSDT", TradeIds(session_tag(1234)))])
def test_ids_stay_readable_inside_client_ids(symbol: str, ids: TradeIds) -> None:
    """A day of trades at one per second still fits the room before exchange/ids.py hashes the id."""
    ids._n = 86_400 - 1  # the counter after a busy day
    trade_id = ids.next(symbol)
    assert len(trade_id) <= TRADE_ROOM
    for purpose in ("entry", "sl", "tp", "em", "soft", "kill"):
        assert client_id_for(trade_id, purpose, 2) == f"qt-{trade_id}-{purpose}-2"


@pytest.mark.parametrize("tag", ["", "a_b", "a-b"])
def test_a_tag_that_would_make_ids_ambiguous_is_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="tag"):
        TradeIds(tag)


@pytest.mark.parametrize(("symbol", "kind"), [("BNB-USDT", ""), ("", ""), ("BNBUSDT", "kk"), ("BNBUSDT", "K")])
def test_a_symbol_or_kind_that_cannot_sit_in_a_client_id_is_refused(symbol: str, kind: str) -> None:
    with pytest.raises(ValueError, match=r"^(symbol|kind): "):
        TradeIds("3").next(symbol, kind)
