"""The paper venue: a Binance-compatible exchange on loopback (imports only exitguard.domain)."""
