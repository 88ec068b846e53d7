"""The journal's pure parts: money to text and back, and the event-to-row mapping."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.domain import events as ev
from quantum_trader.domain.enums import OrderType, Side
from quantum_trader.domain.exchange_types import OrderIntent
from quantum_trader.journal import codec
from quantum_trader.journal.models import decimal_to_text, money_to_text


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_money_text_parses_back_to_an_equal_decimal_without_exponent(value: Decimal) -> None:
    text = decimal_to_text(value)
    assert Decimal(text) == value
    assert "E" not in text.upper()


def test_plain_notation_for_tiny_and_huge() -> None:
    assert money_to_text(Decimal("0.00000001")) == "0.00000001"
    assert money_to_text(Decimal("123456789.12345678")) == "123456789.12345678"
    assert money_to_text(7) == "7"
    assert money_to_text(None) is None


@pytest.mark.parametrize("bad", [1.5, True, "1.5"])
def test_money_refuses_what_is_not_decimal(bad: object) -> None:
    with pytest.raises(TypeError, match="DecimalText takes Decimal"):
        money_to_text(bad)


def test_intent_row_is_pending_and_dry_run_is_not() -> None:
    intent = OrderIntent(client_id="t1-entry-0", symbol="BTCUSDT", side=Side.SELL, type=OrderType.MARKET,
                         quantity=Decimal("0.5"))
    [(key, row), (_, event_row)] = codec.intent_rows(
        ev.OrderIntentRecorded(intent=intent, trade_id="t1", purpose="entry", time_ms=3), 9)
    assert key == codec.ORDER_UPSERT
    assert (row["status"], row["side"], row["quantity"], row["session_id"]) == ("INTENT", "SELL", Decimal("0.5"), 9)
    assert (event_row["status"], event_row["reason"]) == ("INTENT", "entry")
    [(_, dry), (_, dry_event)] = codec.not_sent_rows(
        ev.OrderNotSent(intent=intent, trade_id="t1", purpose="entry", reason="would enter", time_ms=3), None)
    assert (dry["status"], dry["dry_run"], dry["reject_msg"]) == ("DRY_RUN", True, "would enter")
    assert (dry_event["status"], dry_event["reason"]) == ("DRY_RUN", "would enter")


def test_kill_switch_is_a_protection_action() -> None:
    [(key, row)] = codec.kill_switch_rows(ev.KillSwitch(reason="daily loss", time_ms=5), None)
    assert (key, row["action"], row["symbol"], row["reason"]) == ("protection_actions", "kill_switch", "*",
                                                                  "daily loss")
