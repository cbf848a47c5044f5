"""Local validation: every rule an order breaks, as Binance-shaped violations; never raises.

Each name loads its own module on first use (module ``__getattr__``, PEP 562): validating a
USD-M order does not import the Spot rules (see ``exitguard.domain``'s docstring for why).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import MarketContext, Names
    from .spot import validate_spot_order
    from .spot_lists import validate_spot_oco, validate_spot_oto, validate_spot_otoco
    from .usdm import validate_algo_order, validate_futures_order

_HOMES: dict[str, tuple[str, ...]] = {
    "context": ("MarketContext", "Names"),
    "spot": ("validate_spot_order",),
    "spot_lists": ("validate_spot_oco", "validate_spot_oto", "validate_spot_otoco"),
    "usdm": ("validate_algo_order", "validate_futures_order"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> object:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
