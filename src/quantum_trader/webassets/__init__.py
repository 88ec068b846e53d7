"""Front-end files the project ships: the vendored charting library, shared by the dashboard (served by the
API) and the self-contained HTML reports (inlined), so both draw charts with no network at all.

Data only, and at the bottom of the layers, so both `api` and `reports` can read it.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

#: The charting library's file name, as the dashboard serves it under /static/vendor/.
CHART_LIBRARY = "lightweight-charts.standalone.production.js"
CHART_LIBRARY_LICENSE = "lightweight-charts.LICENSE"


@cache
def vendor_text(name: str) -> str:
    """One vendored file's text (read once: the reports inline it, the API serves it)."""
    return (files(__name__) / "vendor" / name).read_text(encoding="utf-8")


def chart_library() -> str:
    """The standalone Lightweight Charts bundle, which defines `window.LightweightCharts`."""
    return vendor_text(CHART_LIBRARY)
