"""Notification URLs carry secrets (a Telegram bot token, a mail password, a webhook key): show them redacted.

Why apprise's own rendering first: each plugin knows which of its URL parts is secret
(`url(privacy=True)` turns `tgram://123:AAH.../chat` into `tgram://1...z/chat`). On top of that the
query string is dropped (it is only options, and some plugins accept tokens there) and any user part
left readable is masked (apprise shows an ntfy access token given as the user in clear). Apprise logs
through the stdlib logger `apprise`; `SecretFilter` scrubs every secret piece of the configured URLs
from its records, so even a plugin's debug line cannot leak one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from ..settings.rules import MASK
from ..settings.rules import redact_unparsed_url as redact_unparsed

#: Path segments at least this long are treated as secrets when scrubbing text (tokens, webhook keys).
_SECRET_SEGMENT = 6
#: Schemes whose host part is a real host (shown); for the others it is often the token itself.
_HOST_SCHEMES = frozenset({"json", "jsons", "ntfy", "ntfys", "form", "forms", "xml", "xmls", "mailto", "mailtos"})
_GUARDED_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")


def redact_url(url: str) -> str:
    """The URL as a person may see it in logs, the API and error lines: no secret, still recognisable."""
    import apprise  # imported here: loading apprise's plugins costs time, only sessions with alerts pay it

    plugin = apprise.Apprise.instantiate(url.strip())
    if plugin is None:
        return redact_unparsed(url)
    shown = str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
    scheme, sep, rest = shown.partition("://")
    if not sep:
        return redact_unparsed(url)
    if "@" in rest:
        _user, _, rest = rest.rpartition("@")
        rest = f"{MASK}@{rest}"
    return f"{scheme}://{rest}"


def secret_parts(url: str) -> list[str]:
    """Every piece of `url` that may be secret: the whole URL, user, password, query values, long path parts."""
    text = url.strip()
    parts = [text]
    try:
        split = urlsplit(text)
    except ValueError:
        return parts
    userinfo, _, host = split.netloc.rpartition("@")
    parts.extend(unquote(piece) for piece in (userinfo, *userinfo.split(":")))
    parts.extend(unquote(v) for _, v in parse_qsl(split.query, keep_blank_values=False))
    if split.scheme not in _HOST_SCHEMES:  # the "host" is a token: tgram://TOKEN/CHAT, discord://ID/KEY
        pieces = [host, *host.split(":"), *split.path.split("/")]
        parts.extend(unquote(p) for p in pieces if len(p) >= _SECRET_SEGMENT)
    return sorted({p for p in parts if len(p) >= 3}, key=len, reverse=True)


class Scrubber:
    """Replaces the secret pieces of the configured URLs in any text (an error line, a log record)."""

    def __init__(self, urls: Iterable[str]) -> None:
        found = {piece for url in urls for piece in secret_parts(url)}
        self.secrets = sorted(found, key=len, reverse=True)  # longest first: a secret inside another goes whole

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text


class SecretFilter(logging.Filter):
    """A logging filter that rewrites each record's message with the URLs' secrets masked."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__("notify-secrets")
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.scrubber.text(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def guard_apprise_logs(scrubber: Scrubber) -> None:
    """Attach the filter (once per scrubber) to the loggers that see the URLs: apprise's plugins log through
    `apprise`, and urllib3 logs each request line (a Telegram token is in its path) at DEBUG."""
    for name in _GUARDED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) and f.scrubber is scrubber for f in logger.filters):
            logger.addFilter(SecretFilter(scrubber))
