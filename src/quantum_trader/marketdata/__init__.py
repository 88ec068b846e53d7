"""Market data feeds: synthetic, replay of Binance public data, live."""
