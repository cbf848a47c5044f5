"""Venue dialects of the USD-M algo order as data, not as scattered ``if``s.

``binance``: the USD-M Algo Service as documented today (New-Algo-Order page; callbackRate maximum
raised from 10 to 20 on 2026-10-23 per the derivatives change log).
``primit``: the Binance-compatible venue of seed 003 (one-way only, ``quoteOrderQty``, ``stopPrice``
alias, callbackRate in [0.1, 10], other time-in-force values treated as GTC, goodTillDate >= now +
600 s, conditional types still accepted on ``/fapi/v1/order``; an unsupported type, side or
positionSide is -1130; clientAlgoId ``[A-Za-z0-9_.-]{1,36}``; the trigger-order limit and a missing
reference price are -2010; newOrderRespType ACK or RESULT; absent trigger fields are ``null``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["BINANCE", "DIALECTS", "PRIMIT", "Dialect", "get_dialect"]


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    callback_rate_min: Decimal
    callback_rate_max: Decimal
    callback_rate_code: int  # code for an out-of-range callbackRate
    one_way_only: bool
    quote_order_qty: bool  # algo orders may be sized in quote currency
    stop_price_alias: bool  # ``stopPrice`` accepted as ``triggerPrice``
    algo_type_required: bool
    coerce_time_in_force_to_gtc: bool  # TIFs other than GTC/GTD are accepted and treated as GTC
    conditional_types_on_order_endpoint: bool  # False: /fapi/v1/order answers -4120
    gtd_min_lead_ms: int
    gtd_min_inclusive: bool  # primit: >= now + 600 s; binance: > now + 600 s
    # Where a trailing stop without activatePrice starts: "latest" (the workingType price,
    # New-Algo-Order page) or "mark" (seed 003: "Defaults to current mark price").
    trailing_default_activation: str = "latest"
    # Code for an unsupported type / side / positionSide value; None: Binance's own codes
    # (-1116 orderType, -1117 side, -4060 positionSide).
    unsupported_code: int | None = None
    # clientAlgoId pattern (full match) and the code for an id that breaks it; None: Binance's
    # ``^[\.A-Z\:/a-z0-9_-]{1,36}$`` and -4015 (ids.check_client_id).
    client_algo_id_pattern: str | None = None
    client_algo_id_code: int = -4015
    algo_limit_code: int = -4045  # trigger-order limit reached
    reference_price_code: int = -2010  # quoteOrderQty cannot be converted: no reference price
    # newOrderRespType values the algo endpoint accepts; None: every value of the enum.
    algo_resp_types: frozenset[str] | None = None
    # Trigger fields an order type does not use (activatePrice/callbackRate off trailing stops,
    # triggerPrice on them) are JSON null in algo rows instead of Binance's "".
    null_absent_trigger_fields: bool = False


BINANCE = Dialect(
    name="binance",
    callback_rate_min=Decimal("0.1"),
    callback_rate_max=Decimal("20"),
    # Not on Binance's error page; third-party captures show {"code": -2007, "msg": "Invalid
    # callBack rate."} for an out-of-range callbackRate. Chosen -2007, tested.
    callback_rate_code=-2007,
    one_way_only=False,
    quote_order_qty=False,
    stop_price_alias=False,
    algo_type_required=True,
    coerce_time_in_force_to_gtc=False,
    conditional_types_on_order_endpoint=False,
    gtd_min_lead_ms=600_000,
    gtd_min_inclusive=False,
)

PRIMIT = Dialect(
    name="primit",
    callback_rate_min=Decimal("0.1"),
    callback_rate_max=Decimal("10"),
    callback_rate_code=-1100,  # seed 003: "-1100 ... callbackRate out of range"
    one_way_only=True,
    quote_order_qty=True,
    stop_price_alias=True,
    algo_type_required=False,
    coerce_time_in_force_to_gtc=True,
    conditional_types_on_order_endpoint=True,
    gtd_min_lead_ms=600_000,
    gtd_min_inclusive=True,
    trailing_default_activation="mark",
    # Seed 003 error table: "-1130 Unsupported type / side / positionSide".
    unsupported_code=-1130,
    # Seed 003: "clientAlgoId ... (<= 36 chars, [A-Za-z0-9_.-])". The seed names no code for a
    # bad id; -4015 (Binance's "Client order id is not valid.") kept, tested.
    client_algo_id_pattern=r"[A-Za-z0-9_.-]{1,36}",
    # Seed 003: "-2010 Per-user / per-position trigger-order limit reached, or reference price
    # unavailable".
    algo_limit_code=-2010,
    algo_resp_types=frozenset({"ACK", "RESULT"}),  # seed 003: "newOrderRespType ACK, RESULT"
    null_absent_trigger_fields=True,  # seed 003 response example: "activatePrice": null
)

DIALECTS = {d.name: d for d in (BINANCE, PRIMIT)}


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(
            f"dialect {name!r}: must be one of {', '.join(sorted(DIALECTS))}"
        ) from None
