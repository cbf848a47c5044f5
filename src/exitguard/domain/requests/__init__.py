"""Request models that serialise to exactly Binance's wire parameters and parse back."""

from ._base import ParseResult
from .spot import SpotOrderRequest
from .spot_lists import ListLeg, OcoLeg, SpotOcoRequest, SpotOtocoRequest, SpotOtoRequest
from .usdm import AlgoOrderRequest, FuturesOrderRequest

__all__ = [
    "AlgoOrderRequest",
    "FuturesOrderRequest",
    "ListLeg",
    "OcoLeg",
    "ParseResult",
    "SpotOcoRequest",
    "SpotOrderRequest",
    "SpotOtoRequest",
    "SpotOtocoRequest",
]
