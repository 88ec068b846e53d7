"""trading.audit: slippage against the planned stop, realised loss in four units, and the breach verdict."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantum_trader.domain.events import Direction, ExitReason, TradeClosed
from quantum_trader.domain.position import LossReport
from quantum_trader.trading.audit import (
    VERDICT_BREACH,
    VERDICT_GAP,
    VERDICT_OK,
    VERDICT_UNKNOWN,
    AuditRow,
    audit_row,
    audit_rows,
    audit_summary,
    gap_explains,
    net_pnl,
)

D = Decimal
LONG, SHORT = Direction.LONG, Direction.SHORT


def closed(direction: Direction = LONG, *, exit_price: str, pnl: str, reason: ExitReason = ExitReason.STOP_LOSS,
           entry: str = "100", stop: str | None = "98", planned_loss: str | None = "2", qty: str = "1",
           fees: str = "0", funding: str = "0", leverage: int = 10, equity: str = "1000",
           trade_id: str = "t1") -> TradeClosed:
    """One closed trade in one line; defaults are the brief's example (entry 100, stop 98, 10x, 1000 USDT)."""
    return TradeClosed(
        trade_id=trade_id, symbol="BNBUSDT", direction=direction, quantity=D(qty), entry_price=D(entry),
        exit_price=D(exit_price), exit_reason=reason, realized_pnl=D(pnl), fees=D(fees), funding=D(funding),
        planned_stop=None if stop is None else D(stop), planned_loss=None if planned_loss is None else D(planned_loss),
        leverage=leverage, equity_at_entry=D(equity), opened_ms=1_000, time_ms=2_000,
    )


@dataclass(frozen=True)
class Row:
    name: str
    trade: TradeClosed
    slippage_bps: Decimal | None
    realised: LossReport
    breach: bool


ROWS = [
    Row("long stop filled exactly at the stop",
        closed(LONG, exit_price="98", pnl="-2"), D(0), LossReport(D(-2), D(-2), D(-20), D("-0.2")), False),
    Row("short stop filled exactly at the stop",
        closed(SHORT, exit_price="102", pnl="-2", stop="102"), D(0), LossReport(D(-2), D(-2), D(-20), D("-0.2")),
        False),
    Row("long gapped 3% through the stop at 10x",
        closed(LONG, exit_price="95", pnl="-5"), D(3) / D(98) * 10_000, LossReport(D(-5), D(-5), D(-50), D("-0.5")),
        True),
    Row("short gapped 3% through the stop at 10x",
        closed(SHORT, exit_price="105", pnl="-5", stop="102"), D(3) / D(102) * 10_000,
        LossReport(D(-5), D(-5), D(-50), D("-0.5")), True),
    Row("long stop filled better than the stop: negative slippage",
        closed(LONG, exit_price="98.5", pnl="-1.5"), D("-0.5") / D(98) * 10_000,
        LossReport(D("-1.5"), D("-1.5"), D(-15), D("-0.15")), False),
    Row("take-profit: no slippage against the stop, a gain",
        closed(LONG, exit_price="104", pnl="4", reason=ExitReason.TAKE_PROFIT), None,
        LossReport(D(4), D(4), D(40), D("0.4")), False),
    Row("liquidation: no stop fill, so no slippage, but the loss still breaches",
        closed(LONG, exit_price="90.5", pnl="-9.5", reason=ExitReason.LIQUIDATION), None,
        LossReport(D("-9.5"), D("-9.5"), D(-95), D("-0.95")), True),
    Row("emergency market exit: the stop never fired, so no slippage",
        closed(SHORT, exit_price="102.204", pnl="-2.204", stop="102", reason=ExitReason.EMERGENCY),
        None, LossReport(D("-2.204"), D("-2.204"), D("-22.04"), D("-0.2204")), False),
    Row("manual exit beyond the stop: no slippage figure, but the loss still breaches",
        closed(LONG, exit_price="97", pnl="-3", reason=ExitReason.MANUAL), None,
        LossReport(D(-3), D(-3), D(-30), D("-0.3")), True),
    Row("no planned stop or loss: no slippage, never a breach",
        closed(LONG, exit_price="90", pnl="-10", stop=None, planned_loss=None), None,
        LossReport(D(-10), D(-10), D(-100), D(-1)), False),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_audit_row_table(row: Row) -> None:
    audited = audit_row(row.trade)
    assert audited.slippage_bps == row.slippage_bps
    assert audited.realised == row.realised
    assert audited.breach is row.breach
    assert audited.notional == abs(row.trade.quantity) * row.trade.entry_price
    assert (audited.trade_id, audited.exit_reason, audited.planned_stop) == (
        row.trade.trade_id, row.trade.exit_reason, row.trade.planned_stop)


def test_gap_example_of_the_brief_in_full() -> None:
    row = audit_row(closed(LONG, exit_price="95", pnl="-5"), gap=True)
    assert row.realised == LossReport(D(-5), D(-5), D(-50), D("-0.5"))
    assert row.loss_limit == D("2.5")  # planned 2 + 0.5 % of 100 notional
    assert row.breach is True
    assert "exceeds planned loss 2" in row.breach_reason
    assert row.gap_explained is True
    assert row.to_dict()["slippage_bps"] == "306.12"


def test_each_row_carries_the_audits_word_for_its_exit() -> None:
    """One wording for every reader (the CLI, the reports, the API and so the dashboard, the alerts)."""
    unknown = replace(closed(exit_price="100", pnl="0", reason=ExitReason.UNKNOWN), exit_price=None, realized_pnl=None)
    rows = [audit_row(closed(exit_price="98", pnl="-2")), audit_row(closed(exit_price="95", pnl="-5")),
            audit_row(closed(exit_price="95", pnl="-5"), gap=True), audit_row(unknown)]
    assert [r.verdict for r in rows] == [VERDICT_OK, VERDICT_BREACH, VERDICT_GAP, VERDICT_UNKNOWN]
    assert [r.to_dict()["verdict"] for r in rows] == ["ok", "BREACH", "BREACH (gap)", "unknown"]


def test_gap_flag_is_only_reported_on_a_breach() -> None:
    assert audit_row(closed(LONG, exit_price="95", pnl="-5")).gap_explained is False
    assert audit_row(closed(LONG, exit_price="98", pnl="-2"), gap=True).gap_explained is None


@pytest.mark.parametrize(("fees", "breach"), [("0.1", False), ("0.10000001", True)])
def test_tolerance_boundary_equal_is_not_a_breach(fees: str, breach: bool) -> None:
    # planned 2 + 0.5 % of 100 = 2.5; a price loss of 2.4 plus fees of 0.1 lands exactly on it.
    row = audit_row(closed(LONG, exit_price="97.6", pnl="-2.4", fees=fees))
    assert row.loss_limit == D("2.5")
    assert row.breach is breach


def test_tolerance_is_a_share_of_notional() -> None:
    trade = closed(LONG, exit_price="97", pnl="-3")  # loss 3 vs planned 2
    assert audit_row(trade).breach is True  # limit 2.5
    assert audit_row(trade, tolerance_pct_notional=D(1)).breach is False  # limit 3: exactly on it
    assert audit_row(trade, tolerance_pct_notional=D(0)).breach is True


def test_realised_is_net_of_fees_and_signed_funding() -> None:
    trade = closed(LONG, exit_price="98", pnl="-2", fees="0.3", funding="-0.2")  # paid fees, paid funding
    assert net_pnl(trade) == D("-2.5")
    row = audit_row(trade)
    assert row.realised.usdt == D("-2.5")
    assert row.realised_loss == D("2.5")
    assert row.breach is False  # exactly the limit
    received = audit_row(replace(trade, funding=D("0.5")))
    assert received.realised.usdt == D("-1.8")


def test_no_planned_loss_says_so() -> None:
    row = audit_row(closed(LONG, exit_price="90", pnl="-10", stop=None, planned_loss=None))
    assert row.breach is False
    assert row.breach_reason == "no planned stop"
    assert row.loss_limit is None
    assert row.gap_explained is None


def test_margin_uses_leverage_and_quantity_sign_is_ignored_for_notional() -> None:
    row = audit_row(closed(SHORT, exit_price="102", pnl="-4", stop="102", qty="-2", leverage=5, planned_loss="4"))
    assert row.notional == D(200)
    assert row.realised == LossReport(D(-4), D(-2), D(-10), D("-0.4"))  # margin 40


def test_to_json_has_decimals_as_strings() -> None:
    doc = json.loads(audit_row(closed(SHORT, exit_price="105", pnl="-5", stop="102"), gap=True).to_json())
    assert doc["direction"] == "short"
    assert doc["exit_reason"] == "stop_loss"
    assert doc["planned_stop"] == "102"
    assert doc["planned_loss"] == "2"
    assert doc["slippage_bps"] == "294.12"
    # Four decimals, trailing zeros kept: a column of the audit reads alike.
    assert doc["realised"] == {"usdt": "-5", "pct_notional": "-5.0000", "pct_margin": "-50.0000",
                               "pct_equity": "-0.5000"}
    assert doc["breach"] is True
    assert doc["gap_explained"] is True
    none_doc = audit_row(closed(LONG, exit_price="104", pnl="4", reason=ExitReason.TAKE_PROFIT)).to_dict()
    assert none_doc["slippage_bps"] is None


def test_summary_counts_worsts_and_means() -> None:
    rows = audit_rows([
        closed(LONG, exit_price="98", pnl="-2", trade_id="a"),                                     # 0 bps
        closed(LONG, exit_price="95", pnl="-5", trade_id="b"),                                     # 306.12 bps
        closed(LONG, exit_price="104", pnl="4", reason=ExitReason.TAKE_PROFIT, trade_id="c"),
        closed(SHORT, exit_price="102", pnl="-2", stop="102", reason=ExitReason.EMERGENCY, trade_id="d"),  # none
    ], gaps=frozenset({"b"}))
    assert [r.gap_explained for r in rows] == [None, True, None, None]
    summary = audit_summary(rows)
    assert summary["trades"] == 4
    assert summary["by_exit_reason"] == {"stop_loss": 2, "take_profit": 1, "emergency": 1, "liquidation": 0,
                                         "manual": 0, "kill_switch": 0, "unknown": 0}
    assert summary["breaches"] == 1
    assert summary["breach_trade_ids"] == ["b"]
    assert summary["stop_exits_with_slippage"] == 2
    assert summary["exits_without_slippage"] == {"take_profit": 1, "emergency": 1}
    assert summary["worst_slippage_bps"] == "306.12"
    assert summary["mean_slippage_bps"] == "153.06"  # 306.1224.../2
    assert summary["worst_realised_pct_equity"] == "-0.5000"
    json.dumps(summary)


def test_summary_of_nothing() -> None:
    summary = audit_summary([])
    assert summary["trades"] == 0
    assert summary["breaches"] == 0
    assert summary["worst_slippage_bps"] is None
    assert summary["mean_slippage_bps"] is None
    assert summary["worst_realised_pct_equity"] is None


prices = st.decimals(min_value=D("0.01"), max_value=D(100_000), places=2)


@given(entry=prices, stop=prices, exit_=prices, short=st.booleans())
def test_slippage_is_positive_exactly_when_the_fill_is_worse_than_the_stop(
        entry: Decimal, stop: Decimal, exit_: Decimal, short: bool) -> None:
    direction = SHORT if short else LONG
    pnl = (exit_ - entry) * direction.sign
    row: AuditRow = audit_row(closed(direction, entry=str(entry), stop=str(stop), exit_price=str(exit_),
                                     pnl=str(pnl)))
    assert row.slippage_bps is not None
    worse = exit_ > stop if short else exit_ < stop
    assert (row.slippage_bps > 0) is worse
    assert (row.slippage_bps == 0) is (exit_ == stop)


@given(loss=st.decimals(min_value=D(0), max_value=D(50), places=4))
def test_breach_exactly_when_loss_exceeds_the_limit(loss: Decimal) -> None:
    row = audit_row(closed(LONG, exit_price="98", pnl=str(-loss)))
    assert row.breach is (loss > D("2.5"))


def test_an_unknown_exit_is_counted_apart_and_never_judged() -> None:
    """Closed while away with no exchange record: whatever figures the row carries, no breach is claimed."""
    rows = audit_rows([
        closed(exit_price="90", pnl="-10", reason=ExitReason.UNKNOWN, trade_id="u"),  # would be a breach if judged
        closed(exit_price="98", pnl="-2", trade_id="s"),
    ])
    unknown = rows[0]
    assert (unknown.breach, unknown.slippage_bps) == (False, None)
    assert "not judged" in unknown.breach_reason
    summary = audit_summary(rows)
    assert (summary["breaches"], summary["unknown_exits"], summary["unknown_trade_ids"]) == (0, 1, ["u"])
    assert summary["by_exit_reason"]["unknown"] == 1
    assert summary["worst_realised_pct_equity"] == "-0.2000"  # the stop-loss, not the unknown row


def test_an_exit_nobody_knows_has_no_price_or_pnl_in_the_audit() -> None:
    """No exchange record (trading/away_exits.py): exit price and realised are null, not the entry price and
    zeros, and nothing of it enters the summary's figures; it is still counted, with its reason."""
    nothing = replace(closed(exit_price="100", pnl="0", reason=ExitReason.UNKNOWN, trade_id="u"),
                      exit_price=None, realized_pnl=None)
    rows = audit_rows([nothing, closed(exit_price="98", pnl="-2", trade_id="s")])
    doc = rows[0].to_dict()
    assert (doc["exit_price"], doc["realised"], doc["slippage_bps"], doc["breach"]) == (None, None, None, False)
    assert rows[0].realised_loss is None
    json.dumps(doc)
    summary = audit_summary(rows)
    assert (summary["trades"], summary["unknown_exits"], summary["by_exit_reason"]["unknown"]) == (2, 1, 1)
    assert (summary["stop_exits_with_slippage"], summary["worst_realised_pct_equity"]) == (1, "-0.2000")
    assert audit_summary(rows[:1])["worst_realised_pct_equity"] is None


def test_emergency_exits_are_no_stop_slippage_and_stay_out_of_the_mean() -> None:
    """The tester's audit: two emergency exits 202.99 and 202.79 bps on the good side of a stop that never
    fired made the mean -107.73 bps and hid the one real stop fill, 82.6 bps worse than its trigger."""
    rows = audit_rows([
        closed(LONG, exit_price="102.0299", pnl="2.0299", reason=ExitReason.EMERGENCY, trade_id="e1"),
        closed(LONG, exit_price="99.174", pnl="-0.826", stop="100", trade_id="s"),
        closed(LONG, exit_price="102.0279", pnl="2.0279", reason=ExitReason.EMERGENCY, trade_id="e2"),
    ])
    assert [r.to_dict()["slippage_bps"] for r in rows] == [None, "82.6", None]
    summary = audit_summary(rows)
    assert (summary["mean_slippage_bps"], summary["worst_slippage_bps"]) == ("82.6", "82.6")
    assert (summary["stop_exits_with_slippage"], summary["exits_without_slippage"]) == (1, {"emergency": 2})


def test_a_stop_fill_slips_from_its_trigger_not_from_its_plan() -> None:
    """A trailed stop (planned 98, trailed to 101) filled at 100.9: 9.9 bps of slippage, not -296 bps."""
    trade = closed(LONG, exit_price="100.9", pnl="0.9")
    assert audit_row(trade, trigger=D("101")).to_dict()["slippage_bps"] == "9.9"
    assert audit_row(trade).to_dict()["slippage_bps"] == "-295.92"  # no trigger known: the planned stop
    [row] = audit_rows([trade], triggers={"t1": D("101")})
    assert row.to_dict()["slippage_bps"] == "9.9"


# --- a gap, told from the journal's witness of the first price after the trigger ---------------------------
GAP = closed(LONG, exit_price="95", pnl="-5")  # stop 98, planned loss 2, limit 2.5: a breach


@pytest.mark.parametrize(("trade", "after", "explained"), [
    (GAP, "95.02", True),  # jumped 98 -> 95.02, filled at 95: the gap's 2.98 accounts for the loss
    (closed(SHORT, exit_price="105", pnl="-5", stop="102"), "104.97", True),
    (GAP, "97.9", False),  # the price crossed just past the stop; the fill 2.9 below it is not the jump's
    (GAP, "98.5", False),  # the first price seen was still on the safe side: no jump through the stop
    (replace(GAP, fees=D(1)), "95.02", False),  # 1 USDT more than the jump explains: something else failed
    (closed(LONG, exit_price="97.95", pnl="-2.05", fees="0.6"), "95", False),  # filled at the stop; price read late
    (replace(GAP, exit_reason=ExitReason.EMERGENCY), "95.02", False),  # a market exit is no stop fill
], ids=["long-gap", "short-gap", "continuous", "safe-side", "more-than-the-gap", "late-read", "emergency"])
def test_a_stop_filled_at_the_first_price_after_a_jump_through_it_is_a_gap(
        trade: TradeClosed, after: str, explained: bool) -> None:
    assert gap_explains(trade, D(after)) is explained
    row = audit_row(trade, after_trigger=D(after))
    assert row.breach is True
    assert row.gap_explained is explained
    assert ("explained by a gap" in row.breach_reason) is explained
    assert row.to_dict()["price_after_trigger"] == after


def test_the_gap_is_measured_from_the_trigger_of_the_stop_that_filled() -> None:
    """A stop trailed to 99 and jumped through to 95.02: 3.98 of gap, measured from where the stop really was."""
    trade = closed(LONG, exit_price="95", pnl="-5")
    row = audit_row(trade, trigger=D(99), after_trigger=D("95.02"))
    assert (row.gap_explained, row.to_dict()["stop_trigger"]) == (True, "99")
    assert "jumped through the stop 99 to 95.02" in row.breach_reason
    assert audit_row(trade).gap_explained is False  # no witness: not explained, as before


def test_each_row_says_when_the_trade_opened_and_closed() -> None:
    """The backtest's and the audit's trade lists had no times (only the HTML report showed them); an unknown
    exit has an opening but no closing time."""
    known = audit_row(closed(exit_price="98", pnl="-2")).to_dict()
    assert (known["opened_ms"], known["closed_ms"]) == (1_000, 2_000)
    unknown = audit_row(replace(closed(exit_price="100", pnl="0", reason=ExitReason.UNKNOWN),
                                exit_price=None, realized_pnl=None)).to_dict()
    assert (unknown["opened_ms"], unknown["closed_ms"]) == (1_000, None)
