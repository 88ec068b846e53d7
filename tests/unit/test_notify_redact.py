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
from quantum_trader.notify.sender import NotifierError, RetryPolicy, notifier_from_urls
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


#: Found in a user trial: secrets in the path of webhook and ntfy URLs were shown unchanged.
WEBHOOK_KEY, TOPIC, SLACK_KEY, FORM_KEY = ("XyZsecretWebhookToken123", "my-secret-topic", "XXXXsecretXXXX",
                                           "abcdef0123456789secret")
PATH_SECRETS = (WEBHOOK_KEY, TOPIC, SLACK_KEY, FORM_KEY, "/hooks/T0AAA", "T000/B000")


def test_redacted_urls_keep_the_service_and_lose_the_secrets() -> None:
    shown = [redact_url(url) for url in (TELEGRAM, MAIL, NTFY)]
    assert all(clean(text) for text in shown), shown
    assert shown == ["tgram://**********",  # the "host" is the bot token, the path the chat
                     "mailto://**********@mail.example.com/**********",
                     "ntfys://**********@ntfy.example.com/**********"]
    assert redact_url("json://127.0.0.1:8080/hook") == "json://127.0.0.1:8080/**********"
    assert redact_url("json://127.0.0.1:8080") == "json://127.0.0.1:8080"
    assert redact_url("nonsense://user:pw@host") == "nonsense://**********"


@pytest.mark.parametrize(("url", "shown"), [
    (f"json://127.0.0.1:18101/hooks/T0AAA/{WEBHOOK_KEY}", "json://127.0.0.1:18101/**********"),
    (f"ntfy://127.0.0.1:18101/{TOPIC}", "ntfy://127.0.0.1:18101/**********"),
    (f"ntfys://ntfy.sh/{TOPIC}", "ntfys://ntfy.sh/**********"),  # the README's own example
    (f"ntfys://{TOPIC}", "ntfys://**********"),  # apprise reads a lone ntfy "host" as a topic on ntfy.sh
    (f"jsons://hooks.slack.com/services/T000/B000/{SLACK_KEY}", "jsons://hooks.slack.com/**********"),
    (f"form://host/hook/{FORM_KEY}", "form://host/**********"),
    (f"xml://user:{MAIL_PASSWORD}@[::1]:9000/in?token={NTFY_TOKEN}#{TOPIC}", "xml://**********@[::1]:9000/**********"),
    (f"https://discord.com/api/webhooks/123456/{WEBHOOK_KEY}", "https://**********"),  # native URL: host != plugin's
    (f"discord://123456/{WEBHOOK_KEY}", "discord://**********"),
])
def test_nothing_after_the_host_is_shown_whatever_the_scheme(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_error_text_is_scrubbed_of_the_raw_url_its_path_and_its_pieces() -> None:
    urls = [f"json://127.0.0.1:18101/hooks/T0AAA/{WEBHOOK_KEY}", f"ntfy://127.0.0.1:18101/{TOPIC}"]
    scrub = Scrubber(urls).text
    texts = [f"ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=18101): Max retries exceeded with url: "
             f"/hooks/T0AAA/{WEBHOOK_KEY} (Caused by NewConnectionError)",
             f"Failed to send ntfy notification to topic '{TOPIC}': error=111.",
             f"A Connection error occurred sending ntfy:{urls[1]} notification.", f"bad URL {urls[0]}?x=1"]
    for text in texts:
        clean_text = scrub(text)
        assert not any(secret in clean_text for secret in PATH_SECRETS), clean_text
        assert clean_text.startswith(text[:8]) and "**********" in clean_text  # the rest of the text stays


def test_a_login_name_that_is_a_plain_word_is_not_scrubbed_but_its_password_and_a_token_user_are() -> None:
    scrub = Scrubber([MAIL, NTFY, "ntfys://shorttoken@ntfy.example.com/trades"]).text
    line = f"quantum_trader.alerts: mail to alerts failed, password {MAIL_PASSWORD}, token {NTFY_TOKEN} shorttoken"
    assert scrub(line) == ("quantum_trader.alerts: mail to alerts failed, password **********, token ********** "
                           "**********")
    assert scrub("alerts:hunter2-Pa55") == "**********"  # the whole user part still goes as one


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
    assert status["failed"] == 1 and status["destinations"] == [f"json://**********@127.0.0.1:{receiver.port}/**********"]
    logged = caplog.text + capsys.readouterr().out  # stdlib (apprise, urllib3) and structlog lines
    assert clean(str(status)) and clean(logged), (status, logged)
    assert "notification failed" in logged and "Failed to send JSON POST notification" in logged


def test_a_worker_crash_reaches_the_supervisor_without_the_url() -> None:
    """The supervisor shows a dead task's text in /health, the journal and an alert: it must be scrubbed."""
    url = f"ntfy://127.0.0.1:9/{TOPIC}"

    async def broken_sleep(_s: float) -> None:
        raise OSError(f"while sending to {url}: broken")

    notifier = notifier_from_urls([url], retry=RetryPolicy(attempts=2, base_delay_s=0.01))
    notifier._sleep = broken_sleep  # a bug outside the per-send guard
    notifier.submit(Message("t", "x", "y"))
    with pytest.raises(NotifierError) as error:
        asyncio.run(asyncio.wait_for(notifier.run(), 30))
    assert TOPIC not in str(error.value) and str(error.value) == "OSError: while sending to **********: broken"
    assert error.value.__cause__ is None and error.value.__suppress_context__


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
