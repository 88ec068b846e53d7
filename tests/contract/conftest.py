"""The `venue` fixture: every conformance test runs once per `Exchange` adapter.

`ccxt` and `ccxt-retrying` talk HTTP to a real simulator server on a free 127.0.0.1 port.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchange_venues import CcxtVenue, InProcessVenue, running_server


@pytest.fixture(params=["inprocess", "ccxt", "ccxt-retrying"])
def venue(request: pytest.FixtureRequest) -> Iterator[InProcessVenue | CcxtVenue]:
    if request.param == "inprocess":
        yield InProcessVenue()
        return
    with running_server() as server:
        yield CcxtVenue(server, retrying=request.param == "ccxt-retrying")
