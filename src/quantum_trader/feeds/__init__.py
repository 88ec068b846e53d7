"""Where a running session's bars come from: recorded or synthetic bars at `--speed` (`market_feed`), Binance's
kline websockets (`live_feed`), and the history a strategy warms up on before the first live bar (`warmup`).

Their own package because a feed is a job of its own: the session (`runtime`) only chooses one and listens.
"""
