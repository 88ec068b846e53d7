"""Choose and build the adapter for QT_EXCHANGE, with the guard that makes paper mode safe.

Paper trading must never reach a real exchange, whatever URL is configured: with
QT_PAPER_TRADING=true a URL is accepted only if it answers `GET /sim/v1/info` with
`{"simulator": true}` (Binance has no such path). Anything else (404, a refused connection, a
non-JSON page) stops start-up with one `ConfigError` line, which the CLI maps to exit code 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from ..domain.errors import ConfigError
from ..sim.engine import ExchangeSimulator
from .budget import WeightBudget
from .clock_sync import ClockReading
from .inprocess import InProcessExchange
from .mark_board import MarkBoard
from .port import Exchange
from .retry import RetryingExchange, RetryPolicy
from .secrets import Secret

SIM = "sim"
#: `quantum-trader sim-server` defaults, used in paper mode when no keys are configured.
SIM_SERVER_KEY, SIM_SERVER_SECRET = "sim-key", "sim-secret"
INFO_PATH = "/sim/v1/info"
#: How the exchange's URL is named in a refusal unless the caller got it from an option (`--exchange`).
SETTING = "QT_EXCHANGE"
#: `127.0.0.1:8090`, `localhost:8090`, `fapi.binance.com`: a URL given without its scheme.
HOST_PORT = re.compile(r"(?:[\w-]+\.)+[\w-]+(?::\d{1,5})?|[\w-]+:\d{1,5}")


def given(url: str, setting: str = SETTING) -> str:
    """The URL as the user gave it: `QT_EXCHANGE=URL` from the environment, `--exchange URL` from an option
    (a line naming QT_EXCHANGE sent a user who typed `--exchange` to look for a variable they never set)."""
    return f"{setting}={url}" if setting.startswith("QT_") else f"{setting} {url}"


def _instead(setting: str) -> str:
    """The other way out of a refused URL: the in-process simulator for the variable; a command's `--exchange`
    reads one exchange, so there it is a running sim-server's URL."""
    if setting.startswith("QT_"):
        return f"set {setting}=sim for the in-process simulator"
    return f"give {setting} the URL of a running one (http://127.0.0.1:8090 by default)"


def _not_a_simulator(url: str, setting: str = SETTING) -> ConfigError:
    fix = ("Set QT_EXCHANGE=sim or point it at `quantum-trader sim-server`." if setting.startswith("QT_")
           else f"Point {setting} at `quantum-trader sim-server`.")
    return ConfigError(
        f'{given(url, setting)} is not a simulator (GET {INFO_PATH} did not answer {{"simulator": true}}); '
        f"with QT_PAPER_TRADING=true orders may only go to a simulator. {fix}"
    )


def _key_refused(url: str, answer: str, setting: str = SETTING) -> ConfigError:
    return ConfigError(f"QT_API_KEY / QT_API_SECRET: {given(url, setting)} refused the key ({answer[:200]}); "
                       "a sim-server accepts the key and secret it was started with (default sim-key / sim-secret)")


def check_url(url: str, setting: str = SETTING) -> str:
    """`url` as a base URL (paths are added to it), or a ConfigError naming it as it was given (`setting`:
    the variable, or the option such as `--exchange`) with an example; a missing scheme gets a guess."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname and not parts.path.strip("/") and not parts.query:
        return url.rstrip("/")
    guess = f"http://{url.strip()}"
    hint = f"; did you mean {guess}?" if HOST_PORT.fullmatch(url.strip()) else ""
    if setting.startswith("QT_"):
        raise ConfigError(f"{setting}={url!r} is not valid: use 'sim' or a base URL such as "
                          f"https://fapi.binance.com or http://127.0.0.1:8090{hint}")
    raise ConfigError(f"{setting} {url}: not a base URL (http:// or https://, a host, no path); give e.g. "
                      f"http://127.0.0.1:8090 for a sim-server or https://fapi.binance.com{hint}")


def nobody_answers(url: str, why: str, setting: str = SETTING) -> ConfigError:
    return ConfigError(f"{given(url, setting)}: nothing answers there ({why}); start `quantum-trader sim-server` "
                       f"at that address, or {_instead(setting)}")


async def is_simulator(url: str, api_key: Secret, *, timeout_s: float = 5.0, setting: str = SETTING) -> bool:
    """True only for an answer 200 whose JSON body has `"simulator": true`; a URL where nothing answers is a
    ConfigError saying so (it is not "not a simulator": a sim-server that is not started yet, a wrong port)."""
    import aiohttp  # only a URL exchange needs HTTP here (importing it costs every command 0.1 s)

    headers = {"X-MBX-APIKEY": api_key.reveal()} if api_key else {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session, \
                session.get(url + INFO_PATH, headers=headers, allow_redirects=False) as response:
            if response.status == 401:  # it knows the path but not the key: say which setting to fix
                raise _key_refused(url, await response.text(), setting)
            if response.status != 200:
                return False
            body = json.loads(await response.text())
    except (aiohttp.ClientConnectorError, TimeoutError) as exc:
        raise nobody_answers(url, "connection refused" if isinstance(exc, aiohttp.ClientConnectorError)
                              else f"no answer within {timeout_s:g} s", setting) from None
    except (aiohttp.ClientError, ValueError):
        return False
    return isinstance(body, dict) and body.get("simulator") is True


async def connect(exchange: str, *, paper: bool, api_key: str | Secret | None = None,
                  api_secret: str | Secret | None = None, sim: ExchangeSimulator | None = None,
                  policy: RetryPolicy | None = None, timeout_s: float = 10.0,
                  budget: WeightBudget | None = None, reading_interval_s: float | None = None,
                  ws_url: str | None = None, clock_reading: ClockReading | None = None,
                  now_ms: Callable[[], int] | None = None, marks: MarkBoard | None = None,
                  setting: str = SETTING) -> Exchange:
    """The adapter for QT_EXCHANGE: `sim` in process, or Binance-compatible REST at a base URL, whose every
    call passes `budget` (exchange/budget.py; a default one at 50 % of the limit when not given), and
    whose monitor reads the whole account every `reading_interval_s` while its user-data stream is up
    (at `ws_url`, QT_WS_URL; None derives it from the URL); `clock_reading` receives the measured offset
    between this machine's clock and the exchange's (clock_sync.py). `now_ms`: the session's clock, which the
    in-process simulator's time follows at every order (exchange/inprocess.py). `marks`: where the session's
    market stream keeps the marks it hears, which a URL adapter answers `mark_since` from (mark_board.py).
    `setting`: how the user gave `exchange`, for the lines that refuse it (`--exchange` of `positions`, `orders`)."""
    if exchange.strip().lower() == SIM:
        return InProcessExchange(sim if sim is not None else ExchangeSimulator(), now_ms=now_ms)
    url = check_url(exchange.strip(), setting)
    key, secret = Secret.of(api_key), Secret.of(api_secret)
    if paper:
        if not key and not secret:
            key, secret = Secret(SIM_SERVER_KEY), Secret(SIM_SERVER_SECRET)
        if not await is_simulator(url, key, setting=setting):
            raise _not_a_simulator(url, setting)
    elif not key or not secret:
        raise ConfigError("QT_API_KEY and QT_API_SECRET are required with QT_PAPER_TRADING=false "
                          f"({given(url, setting)}); set both, or set QT_PAPER_TRADING=true")
    # ccxt takes ~1 s to import: only a URL needs it
    from .ccxt_adapter import DEFAULT_READING_INTERVAL_S, CcxtExchange
    from .ccxt_client import RECV_WINDOW_MS

    policy = policy or RetryPolicy(in_flight_window=RECV_WINDOW_MS / 1000 + 1.0)
    # A proven simulator enforces Binance's weights itself; ccxt's own pacing would only slow paper runs.
    adapter = CcxtExchange(url, api_key=key, api_secret=secret, timeout_s=timeout_s, throttle=not paper,
                           budget=budget, reading_interval_s=DEFAULT_READING_INTERVAL_S if reading_interval_s is None
                           else reading_interval_s, ws_url=ws_url, clock_reading=clock_reading,
                           marks=marks)
    return RetryingExchange(adapter, policy)
