"""Reading venue answers (plain JSON, wire names), shared by the USD-M and Spot converters.

Lenient where Binance is inconsistent (numbers as strings or JSON numbers, ``""`` for "none"),
strict where a wrong value would mislead the manager (an unknown ``side``, a non-finite
decimal). Anything unreadable raises :class:`ShapeError`, which callers turn into
``UnknownOutcome``: the request may have been applied even though its answer is unreadable.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from exitguard.domain.enums import Side

__all__ = [
    "ShapeError",
    "as_list",
    "as_mapping",
    "side_field",
    "text_field",
    "to_bool",
    "to_decimal",
    "to_int",
    "to_opt_int",
]

ZERO = Decimal(0)


class ShapeError(ValueError):
    """A venue answer without a field the snapshot needs, or with an unreadable value."""


def to_decimal(value: object) -> Decimal:
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise ShapeError(f"expected a decimal, got {value!r}")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise ShapeError(f"expected a decimal, got {value!r}") from None
    if not out.is_finite():
        raise ShapeError(f"expected a finite decimal, got {value!r}")
    return out


def to_int(value: object, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ShapeError("missing integer")
        return default
    if isinstance(value, bool):
        raise ShapeError(f"expected an integer, got {value!r}")
    try:
        return int(str(value))
    except ValueError:
        raise ShapeError(f"expected an integer, got {value!r}") from None


def to_opt_int(value: object) -> int | None:
    """``actualOrderId``: ``""`` (or 0) until the algo order triggered."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    return to_int(value)


def to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None:
        return False
    raise ShapeError(f"expected a boolean, got {value!r}")


def text_field(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ShapeError(f"missing {name}")
    return value


def side_field(obj: Mapping[str, Any]) -> Side:
    raw = obj.get("side")
    try:
        return Side(str(raw))
    except ValueError:
        raise ShapeError(f"unknown side {raw!r}") from None


def as_mapping(obj: object) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ShapeError(f"expected an object, got {type(obj).__name__}")
    return obj


def as_list(obj: object) -> list[Any]:
    if not isinstance(obj, list):
        raise ShapeError(f"expected a list, got {type(obj).__name__}")
    return obj
