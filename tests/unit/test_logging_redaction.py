"""Secrets never reach a log line: canary values in messages, fields and exceptions, through both paths."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from quantum_trader.core.logging import REDACTED, STDLIB_LOGGERS, Redactor, configure_logging

CANARY = "canary-7f3a9c2e51"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = {name: logging.getLogger(name) for name in STDLIB_LOGGERS}
    libs = {name: (list(lib.handlers), lib.propagate) for name, lib in loggers.items()}
    yield
    configure_logging(True, stream=io.StringIO())  # the process's redactor (`scrub`) loses the test's secrets
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, (lib_handlers, propagate) in libs.items():
        logging.getLogger(name).handlers[:] = lib_handlers
        logging.getLogger(name).propagate = propagate
    structlog.reset_defaults()


def _emit_everything() -> None:
    log = structlog.get_logger("qt.test")
    log.info(f"connecting with {CANARY}", key_hint=f"prefix-{CANARY}-suffix", nested={"deep": [CANARY]})
    log.info("credentials", api_key="k-123", api_secret="s-456", password="p", token="t", signature="sig")
    try:
        raise RuntimeError(f"exchange said: bad signature for {CANARY}")
    except RuntimeError:
        log.exception("order failed")
    std = logging.getLogger("uvicorn.error")
    std.warning("stdlib line with %s", CANARY)
    try:
        raise ValueError(f"GET /fapi/v1/order?symbol=BNBUSDT&signature=abcdef0123&x={CANARY}")
    except ValueError:
        logging.getLogger("ccxt").exception("request failed")


@pytest.mark.parametrize("as_json", [True, False])
def test_canary_never_appears_via_capsys(as_json: bool, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(as_json, secrets=[CANARY])
    _emit_everything()
    err = capsys.readouterr().err
    assert "order failed" in err and "stdlib line with" in err and "RuntimeError" in err  # the lines are there
    assert CANARY not in err
    for leaked in ("k-123", "s-456", "abcdef0123"):
        assert leaked not in err
    assert REDACTED in err


def test_json_lines_parse_and_fields_are_masked() -> None:
    stream = io.StringIO()
    configure_logging(True, secrets=[CANARY], stream=stream)
    _emit_everything()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 5
    assert lines[0]["event"] == f"connecting with {REDACTED}"
    assert lines[0]["key_hint"] == f"prefix-{REDACTED}-suffix" and lines[0]["nested"] == {"deep": [REDACTED]}
    assert {lines[1][k] for k in ("api_key", "api_secret", "password", "token", "signature")} == {REDACTED}
    assert "exception" in lines[2] and REDACTED in lines[2]["exception"]
    assert lines[3]["logger"] == "uvicorn.error" and lines[3]["level"] == "warning"


def test_level_filters() -> None:
    stream = io.StringIO()
    configure_logging(True, level="WARNING", stream=stream)
    structlog.get_logger().info("hidden")
    structlog.get_logger().warning("shown")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["shown"]


def test_redactor_text_patterns_without_known_secrets() -> None:
    text = Redactor().text('Authorization: Bearer abc.def {"apiKey": "xyz"} token=q1')
    assert "abc.def" not in text and "xyz" not in text and "q1" not in text
