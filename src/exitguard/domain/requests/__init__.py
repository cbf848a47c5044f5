"""Request models that serialise to exactly Binance's wire parameters and parse back.

Each name loads its own module on first use (module ``__getattr__``, PEP 562): a USD-M order
does not build the Spot order-list models (see ``exitguard.domain``'s docstring for why).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._base import ParseResult
    from .spot import SpotOrderRequest
    from .spot_lists import ListLeg, OcoLeg, SpotOcoRequest, SpotOtocoRequest, SpotOtoRequest
    from .usdm import AlgoOrderRequest, FuturesOrderRequest

_HOMES: dict[str, tuple[str, ...]] = {
    "_base": ("ParseResult",),
    "spot": ("SpotOrderRequest",),
    "spot_lists": ("ListLeg", "OcoLeg", "SpotOcoRequest", "SpotOtoRequest", "SpotOtocoRequest"),
    "usdm": ("AlgoOrderRequest", "FuturesOrderRequest"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> object:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
