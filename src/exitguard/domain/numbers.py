"""Exact prices and quantities: Decimal at the edges, integer ticks/steps inside.

Binance takes decimals as plain strings; Python's ``str(Decimal("0.00001"))`` is ``1E-5`` and
``str(0.00001)`` is ``1e-05``, both of which Binance rejects. Every decimal that reaches the wire
goes through :func:`format_decimal`.
"""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from enum import StrEnum

__all__ = [
    "Rounding",
    "format_decimal",
    "is_multiple",
    "parse_decimal",
    "round_to_step",
    "steps_of",
]


# Grid arithmetic runs in this context: wire values reach 20 digits either side of the point
# (40 in all), which the default 28-digit context would round. Context methods are exact here.
_WIDE = Context(
    prec=64, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


class Rounding(StrEnum):
    """How a value is brought onto a tick or step grid. There is no default: callers choose."""

    DOWN = "down"  # towards -infinity
    UP = "up"  # towards +infinity
    NEAREST = "nearest"  # half-even, for display and reference prices only

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


_DECIMAL_MODES = {
    Rounding.DOWN: ROUND_FLOOR,
    Rounding.UP: ROUND_CEILING,
    Rounding.NEAREST: ROUND_HALF_EVEN,
}


def parse_decimal(value: object) -> Decimal | None:
    """Parse a wire or config value into a finite Decimal; ``None`` if it is not one.

    Accepts ``str``, ``int`` and ``Decimal``. ``float`` and ``bool`` are refused on purpose: a float
    has already lost the exact value, and ``True`` is not a quantity.
    """
    if isinstance(value, bool | float):
        return None
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or text != value or "_" in text:
            return None
        try:
            d = Decimal(text)
        except (InvalidOperation, ValueError):
            return None
    else:
        return None
    if not d.is_finite():
        return None
    return d


def format_decimal(value: Decimal) -> str:
    """Plain decimal text, never exponent form (``1E-8`` → ``0.00000001``; ``1E+2`` → ``100``)."""
    if value.__class__ is Decimal:
        # str() is about three times cheaper than format(); without an exponent and a sign it
        # is the same text (str switches to exponent form only for exponent > 0 or adjusted
        # exponent < -6). Subclasses may override __str__, so only exact Decimals take this.
        text = str(value)
        if "E" not in text and text[0] != "-":
            return text
    text = format(value, "f")
    if text.startswith("-") and value.is_zero():
        return text[1:]
    return text


def steps_of(value: Decimal, step: Decimal, origin: Decimal, rounding: Rounding) -> int:
    """Number of whole ``step``s from ``origin`` to ``value``, rounded as asked (``step`` > 0)."""
    quotient = _WIDE.divide(_WIDE.subtract(value, origin), step)
    return int(quotient.to_integral_value(rounding=rounding.decimal_mode, context=_WIDE))


def round_to_step(value: Decimal, step: Decimal, origin: Decimal, rounding: Rounding) -> Decimal:
    """``value`` moved onto the grid ``origin + k*step`` with the given rounding.

    A value already on the grid is returned as given. Otherwise the result carries as many decimals
    as the grid needs (``0.0105`` on step ``0.001`` → ``0.010``). A step of zero means "no grid".
    """
    if step <= 0 or is_multiple(value, step, origin):
        return value
    k = steps_of(value, step, origin, rounding)
    result = _WIDE.add(origin, _WIDE.multiply(step, Decimal(k)))
    exponent = min(_exponent(step), _exponent(origin), 0)
    return result.quantize(Decimal(1).scaleb(exponent), context=_WIDE)


def _exponent(value: Decimal) -> int:
    """Decimal places the value needs, as a (non-positive) exponent: ``0.01000000`` → -2."""
    if value.is_zero():
        return 0
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return min(exponent, 0)


def is_multiple(value: Decimal, step: Decimal, origin: Decimal = Decimal(0)) -> bool:
    """True when ``(value - origin) % step == 0``; a step of zero disables the check."""
    if step <= 0:
        return True
    return _WIDE.remainder(_WIDE.subtract(value, origin), step).is_zero()
