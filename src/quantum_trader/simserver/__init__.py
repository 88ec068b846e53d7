"""The simulator served as a Binance USDⓈ-M compatible HTTP API, for unmodified clients."""
