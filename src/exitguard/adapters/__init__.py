"""Exchange adapters: the only code that talks to an exchange, through the official Binance SDKs."""
