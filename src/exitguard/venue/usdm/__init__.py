"""USD-M Futures side of the paper venue: accounts, matching, the Algo Service, events."""

from .exchange import Account, UsdmExchange, UserEvent

__all__ = ["Account", "UsdmExchange", "UserEvent"]
