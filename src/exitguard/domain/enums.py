"""Wire enums for Spot and USD-M orders, as the Binance docs spell them.

Sources: Spot ``rest-api.md#new-order-trade`` and ``enums.md``; USD-M ``New-Order`` and
``New-Algo-Order`` pages (see ``shared/reference/binance-api.md`` sections 1.2 and 3.1).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ALGO_ORDER_TYPES",
    "AlgoOrderType",
    "FuturesOrderType",
    "NewOrderRespType",
    "PositionMode",
    "PositionSide",
    "PriceMatch",
    "Product",
    "SelfTradePreventionMode",
    "Side",
    "SpotOrderType",
    "TimeInForce",
    "WorkingType",
]


class Product(StrEnum):
    SPOT = "spot"
    USDM = "usdm"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class PositionSide(StrEnum):
    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class PositionMode(StrEnum):
    """USD-M account setting ``dualSidePosition``: false = one-way, true = hedge."""

    ONE_WAY = "one_way"
    HEDGE = "hedge"


class SpotOrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"


class FuturesOrderType(StrEnum):
    """Every ``type`` the USD-M order endpoint knows; the conditional five get -4120 there."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"


class AlgoOrderType(StrEnum):
    """``type`` values accepted by ``POST /fapi/v1/algoOrder`` with ``algoType=CONDITIONAL``.

    ``TAKE_PROFIT_LIMIT`` is deliberately absent: it is strategy language, not a USD-M type
    (seed 001).
    """

    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"


ALGO_ORDER_TYPES = frozenset(t.value for t in AlgoOrderType)


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"
    GTD = "GTD"
    RPI = "RPI"


class WorkingType(StrEnum):
    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class NewOrderRespType(StrEnum):
    ACK = "ACK"
    RESULT = "RESULT"
    FULL = "FULL"


class SelfTradePreventionMode(StrEnum):
    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"
    DECREMENT = "DECREMENT"
    TRANSFER = "TRANSFER"


class PriceMatch(StrEnum):
    NONE = "NONE"
    OPPONENT = "OPPONENT"
    OPPONENT_5 = "OPPONENT_5"
    OPPONENT_10 = "OPPONENT_10"
    OPPONENT_20 = "OPPONENT_20"
    QUEUE = "QUEUE"
    QUEUE_5 = "QUEUE_5"
    QUEUE_10 = "QUEUE_10"
    QUEUE_20 = "QUEUE_20"
