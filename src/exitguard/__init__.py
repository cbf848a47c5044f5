"""exitguard: keeps Binance Spot and USD-M positions protected by stop, take-profit,
trailing and OCO exits."""

__version__ = "0.1.0"
