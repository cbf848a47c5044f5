"""Local validation: every rule an order breaks, as Binance-shaped violations; never raises."""

from .context import MarketContext, Names
from .spot import validate_spot_order
from .spot_lists import validate_spot_oco, validate_spot_oto, validate_spot_otoco
from .usdm import validate_algo_order, validate_futures_order

__all__ = [
    "MarketContext",
    "Names",
    "validate_algo_order",
    "validate_futures_order",
    "validate_spot_oco",
    "validate_spot_order",
    "validate_spot_oto",
    "validate_spot_otoco",
]
