"""Self-contained HTML reports (backtest, stop audit, scanner evaluation): the backtest's with the charting
library inlined, the others with inline SVG charts."""
