"""The exchange-faithful Binance USDⓈ-M futures simulator."""
