"""Scenario files (CONTRACT §6): the example files' exact outcomes, routing, parsing and the CLI.

The three BNB files replay the original system's failure three ways on one path (short 1.15 at
896.80, stop 914.74, mark 896 → 900 → 905 → 910 → 920): a spot STOP_LOSS type (rejected, naked),
a stop-limit (triggered by the gap, never filled) and a STOP_MARKET via the Algo API (filled just
past 920). Numbers are exact: the run is deterministic (fixed seed and clock, Decimal money).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quantum_trader.cli.main import app
from quantum_trader.domain.errors import ConfigError
from quantum_trader.sim.scenario import load_scenario, parse_scenario, route_order, run_scenario

D = Decimal
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
REQUIRED_KEYS = {"orders", "position", "wallet_balance", "realized_pnl", "fees", "events"}
ORDER_KEYS = {"request", "accepted", "error", "order"}
BASE = {"symbol": "BNBUSDT", "balance": 1000, "leverage": 10, "margin_type": "ISOLATED", "start_price": 896.80}


def run(name: str) -> dict[str, Any]:
    return run_scenario(EXAMPLES / name).to_dict()


# --- the three ways of the original case ----------------------------------------------------------
def test_spot_stop_loss_type_is_rejected_and_the_short_stays_naked() -> None:
    report = run("bnb_short_stop_loss.yaml")
    entry, stop = report["orders"]
    assert entry["accepted"]
    assert entry["order"]["status"] == "FILLED"
    assert entry["filled_at"] == "896.77"
    assert stop["api"] == "order"
    assert stop["endpoint"] == "/fapi/v1/order"
    assert stop["accepted"] is False
    assert stop["error"] == {"code": -1116, "msg": "Invalid orderType."}
    assert stop["order"] is None
    assert report["position"]["positionAmt"] == "-1.15"
    assert report["position"]["entryPrice"] == "896.77"
    assert report["position_open"] is True
    assert report["protected"] is False
    assert not [e for e in report["events"] if e["e"] == "ALGO_UPDATE"]
    loss = report["loss"]
    assert loss["state"] == "open"
    assert (loss["pnl_usdt"], loss["pct_notional"], loss["pct_margin"], loss["pct_equity"]) == (
        "-27.23014275", "-2.6404", "-26.4041", "-2.723")
    assert D(loss["pnl_usdt"]) < D(loss["planned_loss_usdt"]) == D("-20.6655")
    assert report["verdict"]["level"] == "danger"
    assert report["verdict"]["text"].startswith("Position open with NO working stop-loss")


def test_stop_limit_triggers_on_the_gap_but_its_limit_never_fills() -> None:
    report = run("bnb_short_stop_limit.yaml")
    stop = report["orders"][1]
    assert stop["api"] == "algo"
    assert stop["accepted"]
    assert stop["triggered"] is True
    assert stop["request"]["algoType"] == "CONDITIONAL"
    assert stop["request"]["reduceOnly"] == "true"
    assert stop["order"]["algoStatus"] == "TRIGGERED"
    child = stop["spawned_order"]
    assert (child["type"], child["origType"], child["status"], child["price"]) == ("LIMIT", "STOP", "NEW", "914.74")
    assert stop["order"]["actualOrderId"] == str(child["orderId"])
    assert stop["order"]["actualPrice"] == "0"
    assert stop["filled_at"] is None
    assert report["position"]["positionAmt"] == "-1.15"
    assert report["protected"] is False
    assert report["position"]["markPrice"] == "920"
    assert report["position"]["liquidationPrice"] == "981.09"
    loss = report["loss"]
    assert loss["unrealized_pnl"] == "-26.7145"
    assert loss["pnl_usdt"] == "-27.23014275"
    assert D(loss["pct_notional"]) < D(loss["planned_pct_notional"]) < 0  # worse than planned, and open
    assert "rests unfilled" in report["verdict"]["text"]


def test_stop_market_via_algo_api_fills_just_past_920() -> None:
    report = run("bnb_short_stop_market.yaml")
    stop = report["orders"][1]
    assert stop["request"] == {"algoType": "CONDITIONAL", "side": "BUY", "type": "STOP_MARKET",
                               "triggerPrice": "914.74", "closePosition": "true", "workingType": "MARK_PRICE",
                               "symbol": "BNBUSDT"}
    assert stop["order"]["algoStatus"] == "FINISHED"
    assert stop["spawned_order"]["status"] == "FILLED"
    assert stop["filled_at"] == "920.07"
    assert D(stop["filled_at"]) > 920
    assert stop["order"]["actualPrice"] == "920.07"
    assert stop["slippage_bps_vs_stop"] == "58.27"
    assert report["position"]["positionAmt"] == "0"
    assert report["position_open"] is False
    assert report["protected"] is None
    assert (report["wallet_balance"], report["realized_pnl"], report["fees"]) == ("972.160317", "-26.795", "1.044683")
    loss = report["loss"]
    assert loss["exit_reason"] == "stop_loss"
    assert loss["exit_price"] == "920.07"
    assert (loss["pnl_usdt"], loss["pct_notional"], loss["pct_margin"], loss["pct_equity"]) == (
        "-27.839683", "-2.6995", "-26.9951", "-2.784")
    assert 2 < -D(loss["pct_notional"]) < 3
    assert 2 < -D(report["realized_pnl"]) / D(loss["entry_notional"]) * 100 < 3
    assert report["verdict"] == {"level": "warn", "text": "Stop filled at 920.07, 0.58% past the stop"}


def test_classic_endpoint_answers_4120_for_a_conditional_type() -> None:
    stop = run("bnb_short_stop_market_classic_endpoint.yaml")["orders"][1]
    assert stop["api"] == "order"
    assert stop["error"]["code"] == -4120
    assert "triggerPrice" not in stop["request"]
    assert stop["request"]["stopPrice"] == "914.74"


def test_take_profit_fills_and_the_close_position_stop_expires() -> None:
    report = run("btc_long_take_profit.yaml")
    _, stop, take_profit = report["orders"]
    assert stop["order"]["algoStatus"] == "EXPIRED"
    assert stop["triggered"] is False
    assert take_profit["order"]["algoStatus"] == "FINISHED"
    assert take_profit["filled_at"] == "104090.9"
    assert report["loss"]["exit_reason"] == "take_profit"
    assert D(report["loss"]["pnl_usdt"]) > 0


def test_gap_through_stop_liquidates_the_high_leverage_long_first() -> None:
    report = run("eth_long_gap_through_stop_liquidation.yaml")
    assert report["orders"][1]["order"]["algoStatus"] == "CANCELED"
    assert report["loss"]["exit_reason"] == "liquidation"
    assert report["loss"]["pct_margin"] == "-100"
    assert any(e["e"] == "LIQUIDATION" for e in report["events"])
    assert report["verdict"]["level"] == "danger"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_has_the_contract_keys_and_types(path: Path) -> None:
    report = run_scenario(path).to_dict()
    assert report.keys() >= REQUIRED_KEYS
    assert all(isinstance(report[k], str) for k in ("wallet_balance", "realized_pnl", "fees"))
    assert isinstance(report["events"], list)
    assert isinstance(report["position"], dict)
    assert report["position"]["symbol"] == load_scenario(path).symbol
    for entry in report["orders"]:
        assert entry.keys() >= ORDER_KEYS
        assert (entry["error"] is None) == entry["accepted"] == (entry["order"] is not None)
        assert entry["error"] is None or set(entry["error"]) == {"code", "msg"}
    json.loads(json.dumps(report))  # plain JSON types only


# --- routing and parsing --------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "api", "sent"), [
    ({"type": "STOP_MARKET", "stopPrice": "1"}, "algo", {"algoType": "CONDITIONAL", "type": "STOP_MARKET",
                                                          "triggerPrice": "1", "symbol": "X"}),
    ({"type": "TRAILING_STOP_MARKET", "activationPrice": "2", "callbackRate": "1"}, "algo",
     {"algoType": "CONDITIONAL", "type": "TRAILING_STOP_MARKET", "activatePrice": "2", "callbackRate": "1",
      "symbol": "X"}),
    ({"type": "take_profit", "stopPrice": "1", "triggerPrice": "3"}, "algo",
     {"algoType": "CONDITIONAL", "type": "take_profit", "triggerPrice": "3", "symbol": "X"}),
    ({"type": "STOP_LOSS", "stopPrice": "1"}, "order", {"type": "STOP_LOSS", "stopPrice": "1", "symbol": "X"}),
    ({"type": "LIMIT", "price": "1"}, "order", {"type": "LIMIT", "price": "1", "symbol": "X"}),
    ({"api": "order", "type": "STOP", "stopPrice": "1"}, "order", {"type": "STOP", "stopPrice": "1", "symbol": "X"}),
    ({"api": "algo", "type": "STOP", "stopPrice": "1"}, "algo", {"type": "STOP", "stopPrice": "1", "symbol": "X"}),
])
def test_routing_follows_ccxt_unless_api_is_explicit(params: dict[str, str], api: str, sent: dict[str, str]) -> None:
    assert route_order(params, "X") == (api, sent)


def test_yaml_numbers_and_booleans_become_binance_strings() -> None:
    order = {"side": "BUY", "type": "STOP", "quantity": 1.15, "price": 914.74, "reduceOnly": True, "x": 1e-05,
             "n": 3, "api": "ALGO"}
    spec = parse_scenario({**BASE, "orders": [order], "path": [900, {"last": 901, "mark": 900.5}]})
    assert spec.orders[0] == {"side": "BUY", "type": "STOP", "quantity": "1.15", "price": "914.74",
                              "reduceOnly": "true", "x": "0.00001", "n": "3", "api": "algo"}
    assert spec.start_price == D("896.8")
    assert [(p.last, p.mark) for p in spec.path] == [(D(900), None), (D(901), D("900.5"))]


def test_a_json_scenario_file_runs_like_yaml(tmp_path: Path) -> None:
    file = tmp_path / "s.json"
    file.write_text(json.dumps({**BASE, "start_price": "896.80",
                                "orders": [{"side": "SELL", "type": "MARKET", "quantity": "1.15"}], "path": [900]}))
    report = run_scenario(file).to_dict()
    assert report["position"]["positionAmt"] == "-1.15"
    assert report["protected"] is False


@pytest.mark.parametrize(("change", "named"), [
    ({"levrage": 10}, "levrage"),
    ({"margin_type": "ISO"}, "margin_type"),
    ({"balance": -5}, "balance"),
    ({"symbol": "NOPEUSDT"}, "symbol"),
    ({"leverage": 500}, "leverage"),
    ({"path": [900, {"last": 901, "mrk": 1}]}, "path[1].mrk"),
    ({"orders": [{"side": "BUY", "quantity": None}]}, "orders[0].quantity"),
    ({"orders": [{"side": "BUY", "api": "fapi"}]}, "orders[0].api"),
])
def test_bad_fields_are_one_clear_error_naming_the_field(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_scenario({**BASE, **change}, "bad.yaml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("bad.yaml: ")
    assert named in message


def test_missing_field_is_named() -> None:
    data = dict(BASE)
    del data["start_price"]
    with pytest.raises(ConfigError, match="start_price: required field is missing"):
        parse_scenario(data)


def test_leverage_above_the_symbols_maximum_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"leverage: 100 .*maximum is 75"):
        run_scenario(parse_scenario({**BASE, "leverage": 100}))


# --- the command line -----------------------------------------------------------------------------
def test_cli_json_prints_one_json_document_and_nothing_else() -> None:
    result = CliRunner().invoke(app, ["scenario", str(EXAMPLES / "bnb_short_stop_market.yaml"), "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report.keys() >= REQUIRED_KEYS
    assert report["loss"]["exit_price"] == "920.07"
    assert result.stdout.strip().count("\n") == 0
    assert result.stderr == ""


def test_cli_readable_output_shows_codes_losses_and_verdict() -> None:
    result = CliRunner().invoke(app, ["scenario", str(EXAMPLES / "bnb_short_stop_loss.yaml")])
    assert result.exit_code == 0
    for text in ("-1116 Invalid orderType.", "UNPROTECTED", "-27.23014275 USDT", "-2.6404% of notional",
                 "-26.4041% of margin", "-2.723% of equity", "NO working stop-loss"):
        assert text in " ".join(result.stdout.split()), text


@pytest.mark.parametrize(("content", "named"), [("symbol: BNBUSDT\nlevrage: [", "YAML"),
                                                 (json.dumps({**BASE, "levrage": 3}), "levrage")])
def test_cli_bad_file_exits_2_with_one_line_naming_the_problem(tmp_path: Path, content: str, named: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(content)
    result = CliRunner().invoke(app, ["scenario", str(file), "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert named in result.stderr


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["scenario", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr
