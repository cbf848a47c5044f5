"""How one exit reads to a person: its type, trigger and limit prices, quantity, state and
distance from the price (the API's ``/positions`` and ``exitguard status``). Light on purpose:
the CLI imports it without the manager."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exitguard.planner.model import Role
from exitguard.store.exits import ExitRow

__all__ = ["decimal_or_none", "exit_view", "pct"]

_HUNDRED = Decimal(100)


def pct(level: Decimal | None, ref: Decimal | None) -> str | None:
    if level is None or ref is None or ref == 0:
        return None
    return str(((level - ref) / ref * _HUNDRED).quantize(Decimal("0.01")))


def decimal_or_none(text: object) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        return Decimal(str(text))
    except ArithmeticError:
        return None


def _trailing_stop(
    params: Mapping[str, Any], long: bool, extreme: Decimal | None
) -> dict[str, Any] | None:
    """The trailing stop's callback and, from the best price seen since it rests, where its
    stop is now (an estimate: the venue does not report it; trigger-semantics.md §trailing)."""
    rate = decimal_or_none(params.get("callbackRate"))
    bips = decimal_or_none(params.get("trailingDelta"))
    if rate is None and bips is None:
        return None
    fraction = rate / _HUNDRED if rate is not None else (bips or Decimal(0)) / Decimal(10_000)
    activation = decimal_or_none(params.get("activatePrice") or params.get("activationPrice"))
    if activation is None and "trailingDelta" in params:
        activation = decimal_or_none(params.get("stopPrice"))
    current = None
    if extreme is not None:
        active = activation is None or (extreme >= activation if long else extreme <= activation)
        if active:
            raw = extreme * (1 - fraction) if long else extreme * (1 + fraction)
            exponent = extreme.as_tuple().exponent
            places = exponent if isinstance(exponent, int) else -2
            current = raw.quantize(Decimal(1).scaleb(min(-2, places)))
    return {
        "callback_rate": str(rate) if rate is not None else str(bips / _HUNDRED if bips else 0),
        "activation_price": None if activation is None else str(activation),
        "current_stop": None if current is None else str(current),
    }


def exit_view(
    row: ExitRow, mark: Decimal | None, long: bool, extreme: Decimal | None = None
) -> dict[str, Any]:
    """One resting exit as the API shows it (``distance_pct``: trigger vs the mark, in %)."""
    p = row.request
    if row.slot.role is Role.OCO:
        trigger = decimal_or_none(p.get("belowStopPrice") if long else p.get("aboveStopPrice"))
        price = decimal_or_none(p.get("abovePrice") if long else p.get("belowPrice"))
        kind = f"OCO {p.get('aboveType', '')}/{p.get('belowType', '')}"
    else:
        trigger = decimal_or_none(p.get("triggerPrice") or p.get("stopPrice"))
        price = decimal_or_none(p.get("price"))
        kind = str(p.get("type", ""))
    trailing = _trailing_stop(p, long, extreme) if row.slot.role is Role.TRAILING else None
    if trailing is not None and trailing["current_stop"] is not None:
        trigger_for_distance: Decimal | None = Decimal(trailing["current_stop"])
    else:
        trigger_for_distance = trigger if trigger is not None else price
    return {
        "role": row.slot.role.value,
        "client_id": row.client_id,
        "type": kind,
        "side": row.side.value,
        "trigger_price": None if trigger is None else str(trigger),
        "price": None if price is None else str(price),
        "quantity": None if row.quantity is None else str(row.quantity),
        "close_position": p.get("closePosition") == "true",
        "state": row.status.value.upper(),
        "distance_pct": pct(trigger_for_distance, mark),
        "trailing": trailing,
        "plan": "bot" if row.policy_tag.split("|")[0] else "config",
    }
