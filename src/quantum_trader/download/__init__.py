"""`quantum-trader download`: Binance history into the files backtests, `train` and replays read.

Its own package because fetching history is a job of its own, not part of running a session (`runtime`):
`downloader` pages the REST API within the request budget, `files` writes Binance's CSV layouts, `gaps`
says in words why a day has no data.
"""
