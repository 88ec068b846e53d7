"""Secrets in notification URLs never show: not in the redacted names, /health's status, logs, or settings errors."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_notify_receiver import receiving

from quantum_trader.domain.errors import ConfigError
from quantum_trader.notify.messages import Message
from quantum_trader.notify.redact import Scrubber, guard_apprise_logs, redact_url
from quantum_trader.notify.sender import RetryPolicy, notifier_from_urls
from quantum_trader.settings.model import load_settings

TG_TOKEN = "123456789:AAHsecretTOKENxyz0123456789"
TELEGRAM = f"tgram://{TG_TOKEN}/987654321"
MAIL_PASSWORD = "hunter2-Pa55"
MAIL = f"mailto://alerts:{MAIL_PASSWORD}@mail.example.com?to=ops@example.com"
NTFY_TOKEN = "tk_abcdefghijklmnop"
NTFY = f"ntfys://{NTFY_TOKEN}@ntfy.example.com/trades"
SECRETS = ("AAHsecretTOKENxyz", TG_TOKEN, MAIL_PASSWORD, NTFY_TOKEN)


def clean(text: str) -> bool:
    return not any(secret in text for secret in SECRETS)


def test_redacted_urls_keep_the_service_and_lose_the_secrets() -> None:
    shown = [redact_url(url) for url in (TELEGRAM, MAIL, NTFY)]
    assert all(clean(text) for text in shown), shown
    assert shown[0].startswith("tgram://") and shown[0].rstrip("/").endswith("/987654321")
    assert shown[1] == "mailto://**********@mail.example.com/ops%40example.com"
    assert shown[2] == "ntfys://**********@ntfy.example.com/trades"
    assert redact_url("json://127.0.0.1:8080/hook") == "json://127.0.0.1:8080/hook"
    assert redact_url("nonsense://user:pw@host") == "nonsense://**********"


def test_apprise_log_lines_are_scrubbed_of_the_configured_secrets(caplog: pytest.LogCaptureFixture) -> None:
    guard_apprise_logs(Scrubber([TELEGRAM, MAIL]))
    with caplog.at_level(logging.DEBUG, logger="apprise"):
        logging.getLogger("apprise").warning("Telegram POST URL: https://api.telegram.org/bot%s/sendMessage",
                                             TG_TOKEN)
        logging.getLogger("urllib3.connectionpool").warning('"POST /bot%s/sendMessage HTTP/1.1" 200', TG_TOKEN)
        logging.getLogger("apprise").warning("login with %s failed", MAIL_PASSWORD)
    assert len(caplog.records) == 3 and clean(caplog.text), caplog.text
    assert "/bot**********/sendMessage" in caplog.text


def test_status_and_failure_reports_never_hold_the_password(caplog: pytest.LogCaptureFixture,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with receiving(always_fail=True) as receiver:
        url = f"json://alerts:{MAIL_PASSWORD}@127.0.0.1:{receiver.port}/hook?token={NTFY_TOKEN}"
        notifier = notifier_from_urls([url], retry=RetryPolicy(attempts=2, base_delay_s=0.01))
        notifier.submit(Message("t", "x", "y"))
        with caplog.at_level(logging.DEBUG):
            asyncio.run(notifier.drain(10.0))
        assert receiver.requests == 2
    status = notifier.status()
    assert status["failed"] == 1 and status["destinations"] == [f"json://**********@127.0.0.1:{receiver.port}/hook"]
    logged = caplog.text + capsys.readouterr().out  # stdlib (apprise, urllib3) and structlog lines
    assert clean(str(status)) and clean(logged), (status, logged)
    assert "notification failed" in logged and "Failed to send JSON POST notification" in logged


def test_a_bad_url_stops_start_up_naming_the_setting_and_the_entry_redacted() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(env={"QT_NOTIFY_URLS": f"json://127.0.0.1:9/hook, nosuch://user:{MAIL_PASSWORD}@host/x"})
    text = str(error.value)
    assert text.startswith("QT_NOTIFY_URLS=**********: entry 2 of 2 (nosuch://**********) is not a notification URL")
    assert clean(text)


def test_the_urls_are_masked_in_the_public_settings_and_split_on_commas() -> None:
    settings = load_settings(env={"QT_NOTIFY_URLS": f"{TELEGRAM}, {MAIL} ,"})
    assert settings.notify_url_list == (TELEGRAM, MAIL)
    assert settings.public_dict()["notify_urls"] == "**********"
    assert clean(repr(settings)) and clean(str(settings.public_dict()))
    assert load_settings(env={}).notify_url_list == ()
