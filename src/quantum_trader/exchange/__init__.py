"""The exchange port: one protocol for every venue (in-process simulator, simulator server, testnet, Binance)."""
