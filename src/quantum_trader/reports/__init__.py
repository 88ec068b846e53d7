"""Self-contained HTML reports (backtest, stop audit, scanner evaluation) with the charting library inlined."""
