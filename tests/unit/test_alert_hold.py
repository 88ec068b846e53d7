"""notify.alerts: a stop-loss breach heard before its stop's witness waits for it, briefly, and only that one.

The order itself, as the REST poller produces it, is tested end to end in
tests/integration/test_alert_evidence_order.py; these are the hold's edges.
"""

from __future__ import annotations

import asyncio
import dataclasses

from test_notify_messages import gapped_short, run, stop_fired, witnessed

from quantum_trader.core.bus import EventBus
from quantum_trader.domain.events import ExitReason
from quantum_trader.notify.alerts import HOLD_S, Alerts
from quantum_trader.notify.messages import Message
from quantum_trader.risk.daily_loss import REASON_PREFIX
from quantum_trader.trading.audit import audit_row
from quantum_trader.trading.stop_witness import ACTION as STOP_WITNESSED
from quantum_trader.trading.stop_witness import READ_TIMEOUT_S, STREAM_WAIT_S

SHORT_HOLD_S = 0.05


def listening(hold_s: float = SHORT_HOLD_S) -> tuple[EventBus, Alerts, list[Message]]:
    got: list[Message] = []
    bus = EventBus()
    alerts = Alerts(got.append, judge=audit_row, daily_loss_prefix=REASON_PREFIX, stop_witnessed=STOP_WITNESSED,
                    hold_s=hold_s)
    alerts.attach(bus)
    return bus, alerts, got


def titles(got: list[Message]) -> list[str]:
    return [m.title.split(" Exit ")[0] for m in got]


@run
async def test_a_breach_heard_first_waits_for_its_witness_and_is_sent_the_moment_it_comes() -> None:
    bus, _, got = listening(hold_s=60.0)  # never reached: the witness releases it
    await bus.publish(gapped_short())
    assert got == []
    await bus.publish(stop_fired())
    await bus.publish(witnessed())
    assert titles(got) == ["BREACH (gap)"] and "not heard" not in got[0].body


@run
async def test_without_a_witness_it_goes_after_the_bound_and_says_it_was_judged_without_one() -> None:
    bus, _, got = listening()
    await bus.publish(gapped_short())
    await asyncio.sleep(SHORT_HOLD_S / 5)
    assert got == []
    await asyncio.sleep(SHORT_HOLD_S * 2)
    assert titles(got) == ["BREACH"]
    assert f"not heard within {SHORT_HOLD_S:g} s of the close" in got[0].body and "quantum-trader audit" in got[0].body


@run
async def test_a_witness_that_read_no_mark_sends_it_at_once_as_the_audit_judges_it() -> None:
    """The audit has no mark either (a witness without a price is no evidence): plain BREACH, nothing to wait for."""
    bus, _, got = listening(hold_s=60.0)
    await bus.publish(gapped_short())
    await bus.publish(dataclasses.replace(witnessed(), price=None))
    assert titles(got) == ["BREACH"] and "not heard" not in got[0].body


@run
async def test_only_a_stop_loss_breach_waits() -> None:
    """A stop-loss within its plan (no word of it depends on the witness) and another exit's breach go at once."""
    bus, _, got = listening(hold_s=60.0)
    within = dataclasses.replace(gapped_short(), exit_price=gapped_short().entry_price + 10, realized_pnl=-75)
    await bus.publish(within)
    emergency = dataclasses.replace(gapped_short(), trade_id="t10", exit_reason=ExitReason.EMERGENCY)
    await bus.publish(emergency)
    assert [m.kind for m in got] == ["exit", "exit_breach"]


@run
async def test_a_stopping_session_sends_what_is_held() -> None:
    bus, alerts, got = listening(hold_s=60.0)
    await bus.publish(gapped_short())
    alerts.flush()
    assert titles(got) == ["BREACH"] and "not heard within 60 s" in got[0].body
    alerts.flush()
    assert len(got) == 1


def test_outside_an_event_loop_nothing_is_held() -> None:
    got: list[Message] = []
    Alerts(got.append, judge=audit_row, daily_loss_prefix=REASON_PREFIX,
           stop_witnessed=STOP_WITNESSED).on_closed(gapped_short())
    assert titles(got) == ["BREACH"]


def test_the_bound_outlasts_the_witness_read() -> None:
    """A witness whose mark is still to come waits up to STREAM_WAIT_S for the stream's, then gives a REST read
    READ_TIMEOUT_S: the hold must leave it that and the close's handlers."""
    assert HOLD_S >= STREAM_WAIT_S + READ_TIMEOUT_S + 2

