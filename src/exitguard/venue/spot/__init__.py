"""Spot side of the paper venue: balances, orders and order lists, matching, triggers, events."""

from .accounts import SpotAccount
from .base import SpotFees
from .exchange import DEFAULT_SPOT_BALANCES, DEFAULT_SPOT_START_PRICES, SpotExchange

__all__ = [
    "DEFAULT_SPOT_BALANCES",
    "DEFAULT_SPOT_START_PRICES",
    "SpotAccount",
    "SpotExchange",
    "SpotFees",
]
