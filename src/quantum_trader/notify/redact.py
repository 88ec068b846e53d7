"""Notification URLs carry secrets (a Telegram bot token, a mail password, a webhook key, an ntfy topic):
show them redacted.

The rule, the same for every scheme: a destination is shown as `scheme://host[:port]/**********`. Nothing
after the host (path, query, fragment) and no user part is ever shown, because for most services that is
exactly where the secret lives (a Slack or generic webhook's key in the path, an ntfy topic, which anyone
who knows it can read and post to). The host is shown only where it provably is a host: the generic
webhook and mail schemes (`json`, `form`, `xml`, `mailto`, with their `s` twins), and ntfy when the host
holds a dot or is an IPv6 literal (an ntfy topic cannot: apprise reads `ntfy://topic` as a topic on
ntfy.sh), and only when apprise parsed the same host (two parsers agreeing, so an odd URL whose user part
could be read as a host is masked). For the other schemes the "host" is often the token itself
(`tgram://TOKEN/CHAT`, `discord://ID/KEY`, Discord's and Slack's `https://` webhook URLs), so everything
after the scheme is masked. A user part is replaced by the mask, so a reader still sees that credentials
are configured. An URL apprise cannot read shows its scheme only.

Error text (an exception from a plugin, a log line from apprise or urllib3) can embed the raw URL, its
path or one of its pieces; `Scrubber` replaces every piece `secret_parts` finds, and `SecretFilter`
applies it to apprise's stdlib loggers, so even a plugin's debug line cannot leak one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from ..core.logging import secret_pattern
from ..settings.rules import MASK
from ..settings.rules import redact_unparsed_url as redact_unparsed

#: Path segments at least this long are treated as secrets when scrubbing text (tokens, webhook keys,
#: topics); shorter ones would mask common words all over the logs and are hardly secrets on their own.
_SECRET_SEGMENT = 6
#: Schemes whose host part is always a real host (shown); for the others it is often the token itself.
_HOST_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"})
#: Schemes whose host may be a topic (`ntfy://topic`); a topic is `[A-Za-z0-9_-]{1,64}`, a host with a dot
#: or an IPv6 literal cannot be one.
_NTFY_SCHEMES = frozenset({"ntfy", "ntfys"})
_GUARDED_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")
#: apprise's options that say how to send, never who may send (their values are no secret): `format=markdown`,
#: `priority=high`, `tags=warning`, `method=POST`... A parameter not listed here keeps its value masked.
_OPTIONS = frozenset({"format", "overflow", "method", "priority", "tags", "avatar", "image", "mode", "verify", "rto",
                      "cto", "emojis", "batch", "footer", "thumbnail", "preview", "silent", "content", "name",
                      "retry", "wait", "tz", "lang", "discovery", "sound", "click", "icon", "attach", "delay"})
#: Values that are a switch, whatever the parameter: a secret is never one of these.
_FLAGS = frozenset({"yes", "no", "true", "false", "on", "off", "y", "n", "1", "0"})


def _parts(url: str) -> tuple[str, str | None, str, str] | None:
    """(scheme, user part or None, host[:port], everything after it) as written, or None if no `://`."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not scheme:
        return None
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, hostport = netloc.rpartition("@")
    return scheme.lower(), userinfo if at else None, hostport, tail


def _host(hostport: str) -> str:
    """`host[:port]` without the port; an IPv6 literal keeps its brackets."""
    if hostport.startswith("["):
        return hostport.partition("]")[0] + "]"
    return hostport.partition(":")[0]


def host_is_shown(scheme: str, hostport: str) -> bool:
    """True where the URL's host is provably a host name or address, not a token or a topic."""
    host = _host(hostport)
    if not host:
        return False
    if scheme in _HOST_SCHEMES:
        return True
    if scheme in _NTFY_SCHEMES:
        return "." in host or host.startswith("[")
    return False


def redact_url(url: str) -> str:
    """The URL as a person may see it in logs, the API and error lines: `scheme://host[:port]/**********`
    (see the module's docstring for which hosts are shown); an unreadable URL shows its scheme only."""
    import apprise  # imported here: loading apprise's plugins costs time, only sessions with alerts pay it

    parts = _parts(url)
    plugin = apprise.Apprise.instantiate(url.strip())
    if parts is None or plugin is None:
        return redact_unparsed(url)
    scheme, userinfo, hostport, tail = parts
    parsed_host = str(getattr(plugin, "host", None) or "")
    if not host_is_shown(scheme, hostport) or _host(hostport).lower() != parsed_host.lower():
        return f"{scheme}://{MASK}"
    user = f"{MASK}@" if userinfo is not None else ""
    rest = f"/{MASK}" if tail.strip("/") else ""
    return f"{scheme}://{user}{hostport}{rest}"


def _secret_query_values(query: str) -> list[str]:
    """The values of `query` that may be secret: all but an option's (`_OPTIONS`) and a yes/no."""
    return [value for name, value in parse_qsl(query, keep_blank_values=False)
            if name.lower() not in _OPTIONS and value.lower() not in _FLAGS]


def secret_parts(url: str) -> list[str]:
    """Every piece of `url` that may be secret, to scrub from free text: the whole URL (with and without its
    query), the user part, password, the query's values but an option's, the path, its long segments, the
    fragment with its `#`, and the host where it is not provably one (a token, a topic). Raw and percent-decoded
    forms alike. Not an option's value (`priority=high`, `tags=warning`, `method=POST`, `format=markdown`) nor a
    bare channel name (`#trading`'s `trading`): those are no secret, and scrubbing them masked the words
    `warning`, `POST` or `trading` in every log line."""
    text = url.strip()
    parts = [text, text.partition("?")[0], text.partition("#")[0]]
    try:
        split = urlsplit(text)
    except ValueError:
        return parts
    userinfo, _, hostport = split.netloc.rpartition("@")
    secret_values = _secret_query_values(split.query)
    parts.extend((userinfo, *_secret_user_parts(userinfo), split.path, *secret_values))
    if secret_values:
        parts.append(split.query)
    if split.fragment:
        parts.append(f"#{split.fragment}")
    pieces = [p for p in split.path.split("/") if len(p) >= _SECRET_SEGMENT]
    if not host_is_shown(split.scheme.lower(), hostport):  # the "host" is a token: tgram://TOKEN/CHAT
        pieces.extend(p for p in (hostport, *hostport.split(":")) if len(p) >= _SECRET_SEGMENT)
    parts.extend(pieces)
    found = {form for p in parts for form in (p, unquote(p))}
    return sorted({p for p in found if len(p) >= 3 and p.strip("/")}, key=len, reverse=True)


def _secret_user_parts(userinfo: str) -> tuple[str, ...]:
    """The pieces of a URL's user part to scrub on their own: the password, and the user name unless it is a
    login name that is a plain word. A user with a password is a login (`mailto://alerts:PASSWORD@host`), and a
    lower-case word of under 16 letters as its name (`alerts`, `bot`) is no secret: scrubbing it masked that word
    wherever it appeared, `quantum_trader.alerts` in every log line of the alerts worker. A user part without a
    password is the credential itself (`ntfys://TOKEN@host`, `pover://USER_KEY@TOKEN`): always scrubbed."""
    user, has_password, password = userinfo.partition(":")
    plain_login = bool(has_password) and user.isalpha() and user.islower() and len(user) < 16
    return (password,) if plain_login else (user, password)


class Scrubber:
    """Replaces the secret pieces of the configured URLs in any text (an error line, a log record)."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.secrets = sorted({piece for url in urls for piece in secret_parts(url)}, key=len, reverse=True)
        self._pattern = secret_pattern(self.secrets)  # a piece of digits alone is not masked inside a longer number

    def text(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)


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
