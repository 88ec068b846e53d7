"""Module loggers bind once per logging configuration, and obey every new configuration from the next call."""

from __future__ import annotations

import io
import logging
from typing import Any

import structlog
from structlog.testing import capture_logs

from quantum_trader.core.loggers import get_logger
from quantum_trader.core.logging import configure_logging


class CountingFactory:
    """structlog's stdlib logger factory, counting the loggers it makes (one per bind)."""

    def __init__(self) -> None:
        self.made = 0
        self.inner = structlog.stdlib.LoggerFactory()

    def __call__(self, *args: Any) -> logging.Logger:
        self.made += 1
        return self.inner(*args)


def test_a_logger_binds_once_per_configuration() -> None:
    configure_logging(json=False, level="WARNING", stream=io.StringIO())
    factory = CountingFactory()
    structlog.configure(logger_factory=factory)
    log = get_logger("qt.test.once")
    for _ in range(50):
        log.info("below the level")
    assert factory.made == 1
    structlog.configure(logger_factory=factory)  # a new configuration, though equal: bound again at most once
    for _ in range(50):
        log.info("below the level")
    assert factory.made <= 2


def test_a_logger_obeys_capture_logs_after_first_use() -> None:
    configure_logging(json=False, level="INFO", stream=io.StringIO())
    log = get_logger("qt.test.capture")
    log.info("before the capture")
    with capture_logs() as captured:
        log.warning("during the capture", symbol="BNBUSDT")
    log.info("after the capture")
    assert [(entry["event"], entry["log_level"]) for entry in captured] == [("during the capture", "warning")]


def test_a_logger_obeys_a_new_level() -> None:
    quiet, loud = io.StringIO(), io.StringIO()
    log = get_logger("qt.test.level")
    configure_logging(json=False, level="WARNING", stream=quiet)
    log.info("unheard")
    configure_logging(json=False, level="INFO", stream=loud)
    log.info("heard")
    assert "unheard" not in quiet.getvalue() + loud.getvalue()
    assert "heard" in loud.getvalue()
