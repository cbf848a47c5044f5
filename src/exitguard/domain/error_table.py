"""The Binance error-code entries for Spot and USD-M (sources: :mod:`.error_codes`)."""

from __future__ import annotations

from exitguard.domain.enums import Product

from .error_types import ErrorCode, code_class

__all__ = [
    "ENTRIES",
    "SPOT_FILTER_FAILURE_NAMES",
    "SPOT_MATCHING_ENGINE_MESSAGES",
    "USDM_503_FAILURE_MESSAGES",
    "USDM_503_UNKNOWN_MESSAGE",
]

SPOT_FILTER_FAILURE_NAMES: tuple[str, ...] = (
    "PRICE_FILTER",
    "PERCENT_PRICE",
    "LOT_SIZE",
    "MIN_NOTIONAL",
    "NOTIONAL",
    "ICEBERG_PARTS",
    "MARKET_LOT_SIZE",
    "MAX_POSITION",
    "MAX_NUM_ORDERS",
    "MAX_NUM_ALGO_ORDERS",
    "MAX_NUM_ICEBERG_ORDERS",
    "MAX_NUM_ORDER_AMENDS",
    "MAX_NUM_ORDER_LISTS",
    "TRAILING_DELTA",
    "EXCHANGE_MAX_NUM_ORDERS",
    "EXCHANGE_MAX_NUM_ALGO_ORDERS",
    "EXCHANGE_MAX_NUM_ICEBERG_ORDERS",
    "EXCHANGE_MAX_NUM_ORDER_LISTS",
)

# Spot errors.md "Messages for -1010 ERROR_MSG_RECEIVED, -2010 NEW_ORDER_REJECTED, -2011
# CANCEL_REJECTED, and -2038": the matching-engine texts an exit manager can meet (subset).
SPOT_MATCHING_ENGINE_MESSAGES: tuple[str, ...] = (
    "Unknown order sent.",
    "Duplicate order sent.",
    "Market is closed.",
    "Account has insufficient balance for requested action.",
    "Market orders are not supported for this symbol.",
    "Stop loss orders are not supported for this symbol.",
    "Stop loss limit orders are not supported for this symbol.",
    "Take profit orders are not supported for this symbol.",
    "Take profit limit orders are not supported for this symbol.",
    "Price * QTY is zero or less.",
    "This action is disabled on this account.",
    "This account may not place or cancel orders.",
    "Unsupported order combination",
    "Order would trigger immediately.",
    "Cancel order is invalid. Check origClOrdId and orderId.",
    "Order would immediately match and take.",
    "The relationship of the prices for the orders is not correct.",
    "OCO orders are not supported for this symbol",
    "Trailing stop orders are not supported for this symbol.",
    "Order cancel-replace is not supported for this symbol.",
    "OPO orders are not supported for this symbol.",
    "This symbol is not permitted for this account.",
    "This symbol is restricted for this account.",
    "Order was not canceled due to cancel restrictions.",
    "Rest API trading is not enabled.",
    "WebSocket API trading is not enabled.",
)

# USD-M general-info, "HTTP 503 Status: Message Variants & Handling".
USDM_503_UNKNOWN_MESSAGE = "Unknown error, please check your request or try again later."
USDM_503_FAILURE_MESSAGES: frozenset[str] = frozenset(
    {
        "Service Unavailable.",
        "Request throttled by system-level protection. Reduce-only/close-position orders are "
        "exempt. Please try again.",
    }
)

_BOTH = frozenset({Product.SPOT, Product.USDM})
_SPOT = frozenset({Product.SPOT})
_USDM = frozenset({Product.USDM})


def _e(
    products: frozenset[Product],
    code: int,
    name: str,
    message: str,
    *other_messages: str,
    documented: bool = True,
) -> ErrorCode:
    classes = {code_class(p, code) for p in products}
    if len(classes) != 1:
        raise ValueError(f"error code {code} would be classed differently per product")
    return ErrorCode(
        code=code,
        name=name,
        message=message,
        error_class=classes.pop(),
        products=products,
        other_messages=other_messages,
        documented=documented,
    )


ENTRIES: tuple[ErrorCode, ...] = (
    # ---- 10xx general server or network issues ----
    _e(_SPOT, -1000, "UNKNOWN", "An unknown error occurred while processing the request."),
    # (sic) "occured" on the USD-M page.
    _e(_USDM, -1000, "UNKNOWN", "An unknown error occured while processing the request."),
    _e(
        _BOTH,
        -1001,
        "DISCONNECTED",
        "Internal error; unable to process your request. Please try again.",
    ),
    _e(_BOTH, -1002, "UNAUTHORIZED", "You are not authorized to execute this request."),
    _e(
        _SPOT,
        -1003,
        "TOO_MANY_REQUESTS",
        "Too much request weight used; current limit is %s request weight per %s. Please use "
        "WebSocket Streams for live updates to avoid polling the API.",
        "Too many requests queued.",
        "Way too much request weight used; IP banned until %s. Please use WebSocket Streams for "
        "live updates to avoid bans.",
    ),
    _e(
        _USDM,
        -1003,
        "TOO_MANY_REQUESTS",
        "Too many requests; current limit is %s requests per minute. Please use the websocket for "
        "live updates to avoid polling the API.",
        "Way too many requests; IP banned until %s. Please use the websocket for live updates to "
        "avoid bans.",
    ),
    _e(
        _BOTH,
        -1006,
        "UNEXPECTED_RESP",
        "An unexpected response was received from the message bus. Execution status unknown.",
    ),
    _e(
        _BOTH,
        -1007,
        "TIMEOUT",
        "Timeout waiting for response from backend server. Send status unknown; execution status "
        "unknown.",
    ),
    _e(
        _SPOT,
        -1008,
        "SERVER_BUSY",
        "Server is currently overloaded with other requests. Please try again in a few minutes.",
    ),
    # The USD-M page heads this "-1008 Request Throttled" (no upper-case identifier); upper-cased
    # here. Exempt: reduce-only, close-position and cancel requests (general-info).
    _e(
        _USDM,
        -1008,
        "REQUEST_THROTTLED",
        "Server is currently overloaded with other requests. Please try again in a few minutes.",
        "Request throttled by system-level protection. Reduce-only/close-position orders are "
        "exempt. Please try again.",
    ),
    # Spot -1013: the actual msg is usually one of the filter failures or matching-engine texts.
    _e(
        _SPOT,
        -1013,
        "INVALID_MESSAGE",
        "The request is rejected by the API. (i.e. The request didn't reach the Matching Engine.)",
        *(f"Filter failure: {name}" for name in SPOT_FILTER_FAILURE_NAMES),
    ),
    _e(_USDM, -1013, "INVALID_MESSAGE", "INVALID_MESSAGE."),
    _e(_BOTH, -1014, "UNKNOWN_ORDER_COMPOSITION", "Unsupported order combination."),
    _e(
        _BOTH,
        -1015,
        "TOO_MANY_ORDERS",
        "Too many new orders; current limit is %s orders per %s.",
        "Too many new orders.",
    ),
    _e(
        _BOTH,
        -1021,
        "INVALID_TIMESTAMP",
        "Timestamp for this request is outside of the recvWindow.",
        "Timestamp for this request was 1000ms ahead of the server's time.",
    ),
    _e(_BOTH, -1022, "INVALID_SIGNATURE", "Signature for this request is not valid."),
    # ---- 11xx request issues ----
    _e(
        _BOTH,
        -1100,
        "ILLEGAL_CHARS",
        "Illegal characters found in parameter '%s'; legal range is '%s'.",
        "Illegal characters found in a parameter.",
    ),
    _e(
        _BOTH,
        -1101,
        "TOO_MANY_PARAMETERS",
        "Too many parameters; expected '%s' and received '%s'.",
        "Too many parameters sent for this endpoint.",
        "Duplicate values for a parameter detected.",
    ),
    _e(
        _SPOT,
        -1102,
        "MANDATORY_PARAM_EMPTY_OR_MALFORMED",
        "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
        "A mandatory parameter was not sent, was empty/null, or malformed.",
        "Param '%s' or '%s' must be sent, but both were empty/null!",
        "Required tag '%s' missing.",
        "Field value was empty or malformed.",
        "'%s' contains unexpected value. Cannot be greater than %s.",
    ),
    _e(
        _USDM,
        -1102,
        "MANDATORY_PARAM_EMPTY_OR_MALFORMED",
        "Mandatory parameter '%s' was not sent, was empty/null, or malformed.",
        "A mandatory parameter was not sent, was empty/null, or malformed.",
        "Param '%s' or '%s' must be sent, but both were empty/null!",
    ),
    _e(_SPOT, -1103, "UNKNOWN_PARAM", "An unknown parameter was sent.", "Undefined Tag."),
    _e(_USDM, -1103, "UNKNOWN_PARAM", "An unknown parameter was sent."),
    _e(
        _BOTH,
        -1104,
        "UNREAD_PARAMETERS",
        "Not all sent parameters were read; read '%s' parameter(s) but was sent '%s'.",
        "Not all sent parameters were read.",
    ),
    _e(_BOTH, -1105, "PARAM_EMPTY", "Parameter '%s' was empty.", "A parameter was empty."),
    _e(
        _SPOT,
        -1106,
        "PARAM_NOT_REQUIRED",
        "Parameter '%s' sent when not required.",
        "A parameter was sent when not required.",
        "A tag '%s' was sent when not required.",
    ),
    _e(
        _USDM,
        -1106,
        "PARAM_NOT_REQUIRED",
        "Parameter '%s' sent when not required.",
        "A parameter was sent when not required.",
    ),
    # Spot's text changed in 2025; errors.md of 2023 said the USD-M text below.
    _e(_SPOT, -1111, "BAD_PRECISION", "Parameter '%s' has too much precision."),
    _e(_USDM, -1111, "BAD_PRECISION", "Precision is over the maximum defined for this asset."),
    _e(_BOTH, -1112, "NO_DEPTH", "No orders on book for symbol."),
    _e(_BOTH, -1114, "TIF_NOT_REQUIRED", "TimeInForce parameter sent when not required."),
    _e(_BOTH, -1115, "INVALID_TIF", "Invalid timeInForce."),
    _e(_BOTH, -1116, "INVALID_ORDER_TYPE", "Invalid orderType."),
    _e(_BOTH, -1117, "INVALID_SIDE", "Invalid side."),
    _e(_BOTH, -1121, "BAD_SYMBOL", "Invalid symbol."),
    _e(_SPOT, -1125, "INVALID_LISTEN_KEY", "This listenKey does not exist."),
    _e(
        _USDM,
        -1125,
        "INVALID_LISTEN_KEY",
        "This listenKey does not exist. Please use POST /fapi/v1/listenKey to recreate listenKey",
    ),
    _e(
        _BOTH,
        -1130,
        "INVALID_PARAMETER",
        "Data sent for parameter '%s' is not valid.",
        "Invalid data sent for a parameter.",
    ),
    # ---- spot OCO (orderList/oco) ----
    _e(_SPOT, -1158, "OCO_ORDER_TYPE_REJECTED", "Order type not supported in OCO."),
    _e(
        _SPOT,
        -1160,
        "OCO_ICEBERGQTY_TIMEINFORCE",
        "Parameter '%s' is not supported if aboveTimeInForce/belowTimeInForce is not GTC.",
    ),
    _e(_SPOT, -1165, "BUY_OCO_LIMIT_MUST_BE_BELOW", "A limit order in a buy OCO must be below."),
    _e(_SPOT, -1166, "SELL_OCO_LIMIT_MUST_BE_ABOVE", "A limit order in a sell OCO must be above."),
    _e(
        _SPOT,
        -1168,
        "BOTH_OCO_ORDERS_CANNOT_BE_LIMIT",
        "At least one OCO order must be contingent.",
    ),
    _e(
        _SPOT,
        -1196,
        "BUY_OCO_STOP_LOSS_MUST_BE_ABOVE",
        "A stop loss order in a buy OCO must be above.",
    ),
    _e(
        _SPOT,
        -1197,
        "SELL_OCO_STOP_LOSS_MUST_BE_BELOW",
        "A stop loss order in a sell OCO must be below.",
    ),
    _e(
        _SPOT,
        -1198,
        "BUY_OCO_TAKE_PROFIT_MUST_BE_BELOW",
        "A take profit order in a buy OCO must be below.",
    ),
    _e(
        _SPOT,
        -1199,
        "SELL_OCO_TAKE_PROFIT_MUST_BE_ABOVE",
        "A take profit order in a sell OCO must be above.",
    ),
    # OPO / OPOCO order lists (Spot errors.md; order lists added 2025-12-18).
    _e(_SPOT, -1222, "OPO_WORKING_MUST_BE_BUY", "Working order in an OPO list must be a bid."),
    _e(_SPOT, -1223, "OPO_PENDING_MUST_BE_SELL", "Pending orders in an OPO list must be asks."),
    _e(_SPOT, -1224, "WORKING_PARAM_REQUIRED", "Working order must include the '%s' tag."),
    _e(
        _SPOT,
        -1225,
        "PENDING_PARAM_NOT_REQUIRED",
        "Pending orders should not include the '%s' tag.",
    ),
    # ---- 20xx processing issues ----
    # UNVERIFIED for USD-M: not on the USD-M error page. Third-party code and bug reports show
    # TRAILING_STOP_MARKET with a bad callbackRate answered {"code": -2007, "msg": "Invalid
    # callBack rate."}; the name is the one clients (e.g. nexustrader's enum) use.
    _e(_USDM, -2007, "INVALID_CALLBACK_RATE", "Invalid callBack rate.", documented=False),
    # Legacy spot code: only in the 2019-2020 spot errors.md ("Invalid Api-Key ID"); absent from
    # the current page. Kept so an old-style answer still maps to REJECTED with its name.
    _e(_SPOT, -2008, "BAD_API_ID", "Invalid Api-Key ID", documented=False),
    _e(_SPOT, -2010, "NEW_ORDER_REJECTED", "NEW_ORDER_REJECTED", *SPOT_MATCHING_ENGINE_MESSAGES),
    _e(_USDM, -2010, "NEW_ORDER_REJECTED", "NEW_ORDER_REJECTED"),
    _e(
        _SPOT,
        -2011,
        "CANCEL_REJECTED",
        "CANCEL_REJECTED",
        "Unknown order sent.",
        "Cancel order is invalid. Check origClOrdId and orderId.",
        "Order was not canceled due to cancel restrictions.",
    ),
    # USD-M page: 'Cancel request failure as open order not found in the orderbook: "Unknown order
    # sent".' The period-terminated form is what the venue returns (nautilus_trader #5378).
    _e(_USDM, -2011, "CANCEL_REJECTED", "CANCEL_REJECTED", "Unknown order sent."),
    _e(_BOTH, -2013, "NO_SUCH_ORDER", "Order does not exist."),
    _e(_BOTH, -2014, "BAD_API_KEY_FMT", "API-key format invalid."),
    _e(_BOTH, -2015, "REJECTED_MBX_KEY", "Invalid API-key, IP, or permissions for action."),
    # (sic) MARGIN_NOT_SUFFICIEN is the name on the USD-M page.
    _e(_USDM, -2019, "MARGIN_NOT_SUFFICIEN", "Margin is insufficient."),
    _e(_USDM, -2020, "UNABLE_TO_FILL", "Unable to fill."),
    # Spot -2021/-2022: errors.md gives headings, not identifiers; the names are exitguard's and
    # the messages are the msg texts of the rest-api.md cancelReplace examples.
    _e(
        _SPOT,
        -2021,
        "ORDER_CANCEL_REPLACE_PARTIALLY_FAILED",
        "Order cancel-replace partially failed.",
    ),
    _e(_USDM, -2021, "ORDER_WOULD_IMMEDIATELY_TRIGGER", "Order would immediately trigger."),
    _e(_SPOT, -2022, "ORDER_CANCEL_REPLACE_FAILED", "Order cancel-replace failed."),
    # The page adds: the new reduce-only order conflicts with existing open orders; cancel them
    # and resubmit.
    _e(_USDM, -2022, "REDUCE_ONLY_REJECT", "ReduceOnly Order is rejected."),
    _e(_USDM, -2024, "POSITION_NOT_SUFFICIENT", "Position is not sufficient."),
    _e(_USDM, -2025, "MAX_OPEN_ORDER_EXCEEDED", "Reach max open order limit."),
    _e(
        _SPOT,
        -2026,
        "ORDER_ARCHIVED",
        "Order was canceled or expired with no executed qty over 90 days ago and has been "
        "archived.",
    ),
    _e(
        _USDM,
        -2026,
        "REDUCE_ONLY_ORDER_TYPE_NOT_SUPPORTED",
        "This OrderType is not supported when reduceOnly.",
    ),
    _e(_SPOT, -2035, "SUBSCRIPTION_ACTIVE", "User Data Stream subscription already active."),
    _e(_SPOT, -2036, "SUBSCRIPTION_INACTIVE", "User Data Stream subscription not active."),
    _e(
        _SPOT,
        -2039,
        "CLIENT_ORDER_ID_INVALID",
        "Client order ID is not correct for this order ID.",
    ),
    # Spot errors.md; CHANGELOG 2026-04-16: sent by GET /api/v3/referencePrice (WS API
    # ``referencePrice``) when the symbol never had a reference price (Price Range Execution
    # Rule). A query answer: nothing was changed, so REJECTED (never an unknown outcome).
    _e(_SPOT, -2043, "NO_REFERENCE_PRICE", "This symbol doesn't have a reference price."),
    # ---- USD-M 40xx filters and other issues ----
    _e(_USDM, -4001, "PRICE_LESS_THAN_ZERO", "Price less than 0."),
    _e(_USDM, -4002, "PRICE_GREATER_THAN_MAX_PRICE", "Price greater than max price."),
    _e(_USDM, -4003, "QTY_LESS_THAN_ZERO", "Quantity less than zero."),
    _e(_USDM, -4004, "QTY_LESS_THAN_MIN_QTY", "Quantity less than min quantity."),
    _e(_USDM, -4005, "QTY_GREATER_THAN_MAX_QTY", "Quantity greater than max quantity."),
    _e(_USDM, -4006, "STOP_PRICE_LESS_THAN_ZERO", "Stop price less than zero."),
    _e(_USDM, -4007, "STOP_PRICE_GREATER_THAN_MAX_PRICE", "Stop price greater than max price."),
    _e(_USDM, -4013, "PRICE_LESS_THAN_MIN_PRICE", "Price less than min price."),
    _e(_USDM, -4014, "PRICE_NOT_INCREASED_BY_TICK_SIZE", "Price not increased by tick size."),
    _e(
        _USDM,
        -4015,
        "INVALID_CL_ORD_ID_LEN",
        "Client order id is not valid.",
        "Client order id length should not be more than 36 chars",
    ),
    # (sic) HIGHTER.
    _e(
        _USDM,
        -4016,
        "PRICE_HIGHTER_THAN_MULTIPLIER_UP",
        "Price is higher than mark price multiplier cap.",
    ),
    _e(_USDM, -4023, "QTY_NOT_INCREASED_BY_STEP_SIZE", "Qty not increased by step size."),
    _e(
        _USDM,
        -4024,
        "PRICE_LOWER_THAN_MULTIPLIER_DOWN",
        "Price is lower than mark price multiplier floor.",
    ),
    _e(_USDM, -4045, "MAX_STOP_ORDER_EXCEEDED", "Reach max stop order limit."),
    _e(_USDM, -4059, "NO_NEED_TO_CHANGE_POSITION_SIDE", "No need to change position side."),
    _e(_USDM, -4060, "INVALID_POSITION_SIDE", "Invalid position side."),
    _e(
        _USDM,
        -4061,
        "POSITION_SIDE_NOT_MATCH",
        "Order's position side does not match user's setting.",
    ),
    _e(_USDM, -4062, "REDUCE_ONLY_CONFLICT", "Invalid or improper reduceOnly value."),
    _e(
        _USDM,
        -4067,
        "POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS",
        "Position side cannot be changed if there exists open orders.",
    ),
    _e(
        _USDM,
        -4068,
        "POSITION_SIDE_CHANGE_EXISTS_QUANTITY",
        "Position side cannot be changed if there exists position.",
    ),
    _e(_USDM, -4116, "DUPLICATED_CLIENT_ORDER_ID", "clientOrderId is duplicated"),
    _e(_USDM, -4117, "STOP_ORDER_TRIGGERING", "stop order is triggering"),
    # The page adds: the reduce-only order plus a same-side open order would open an
    # opposite-side position without margin; cancel the open order and try again.
    _e(
        _USDM,
        -4118,
        "REDUCE_ONLY_MARGIN_CHECK_FAILED",
        "ReduceOnly Order Failed. Please check your existing position and open orders",
    ),
    _e(
        _USDM,
        -4120,
        "STOP_ORDER_SWITCH_ALGO",
        "Order type not supported for this endpoint. Please use the Algo Order API endpoints "
        "instead.",
    ),
    _e(
        _USDM,
        -4131,
        "MARKET_ORDER_REJECT",
        "The counterparty's best price does not meet the PERCENT_PRICE filter limit",
    ),
    _e(_USDM, -4135, "INVALID_ACTIVATION_PRICE", "Invalid activation price"),
    _e(
        _USDM,
        -4137,
        "QUANTITY_EXISTS_WITH_CLOSE_POSITION",
        "Quantity must be zero with closePosition equals true",
    ),
    _e(
        _USDM,
        -4138,
        "REDUCE_ONLY_MUST_BE_TRUE",
        "Reduce only must be true with closePosition equals true",
    ),
    _e(_USDM, -4141, "SYMBOL_ALREADY_CLOSED", "Symbol is closed"),
    _e(
        _USDM,
        -4142,
        "STRATEGY_INVALID_TRIGGER_PRICE",
        "REJECT: take profit or stop order will be triggered immediately",
    ),
    _e(
        _USDM,
        -4164,
        "MIN_NOTIONAL",
        "Order's notional must be no smaller than %s (unless you choose reduce only)",
        "Order's notional must be no smaller than 5.0 (unless you choose reduce only)",
    ),
    # (sic) The page heads -4183 with -4167's name ISOLATED_REJECT_WITH_JOINT_MARGIN, apparently a
    # copy error; the texts are the stop-multiplier cap, mirroring -4184.
    _e(
        _USDM,
        -4183,
        "ISOLATED_REJECT_WITH_JOINT_MARGIN",
        "Limit price can't be higher than %s.",
        "Price is higher than stop price multiplier cap.",
    ),
    _e(
        _USDM,
        -4184,
        "PRICE_LOWER_THAN_STOP_MULTIPLIER_DOWN",
        "Limit price can't be lower than %s.",
        "Price is lower than stop price multiplier floor.",
    ),
    _e(
        _USDM,
        -4210,
        "STOP_PRICE_HIGHER_THAN_PRICE_MULTIPLIER_LIMIT",
        "Stop price can't be higher than %s",
        "Stop price is higher than price multiplier cap.",
    ),
    _e(
        _USDM,
        -4211,
        "STOP_PRICE_LOWER_THAN_PRICE_MULTIPLIER_LIMIT",
        "Stop price can't be lower than %s",
        "Stop price is lower than price multiplier floor.",
    ),
    # ---- USD-M 50xx order execution issues ----
    _e(
        _USDM,
        -5021,
        "FOK_ORDER_REJECT",
        "Due to the order could not be filled immediately, the FOK order has been rejected.",
    ),
    _e(
        _USDM,
        -5022,
        "GTX_ORDER_REJECT",
        "Due to the order could not be executed as maker, the Post Only order will be rejected.",
    ),
    _e(
        _USDM,
        -5028,
        "ME_RECVWINDOW_REJECT",
        "Timestamp for this request is outside of the ME recvWindow.",
    ),
    # goodTillDate out of range (timeInForce=GTD).
    _e(
        _USDM,
        -5040,
        "FUTURE_GOOD_TILL_DATE",
        "The goodTillDate timestamp must be greater than the current time plus 600 seconds and "
        "smaller than 253402300799000 (UTC 9999-12-31 23:59:59)",
    ),
)
