"""Binance public historical data: read, fetch, cache and synthesise (data.binance.vision)."""
