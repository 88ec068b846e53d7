"""Quantum Trader: Binance USDⓈ-M futures trading whose stop-losses are proven in a faithful simulator."""

__version__ = "0.1.0"
