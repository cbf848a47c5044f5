"""JSON from the network, with nesting depth and number size bounded BEFORE it is parsed.

``json.loads`` recurses once per nesting level, and with ``parse_float=Decimal`` a 51-byte text
such as ``{"x":1e400000000}`` becomes a Decimal whose plain (``format(d, "f")``) text is 400 MB.
Every JSON input of the venue (REST parameters holding JSON, the control API, the WebSocket API
and stream control frames) goes through :func:`loads_bounded`, which looks at the raw text with
regular expressions (linear time, no recursion) and refuses before any object is built:

- nesting deeper than ``max_depth`` arrays/objects;
- a number token longer than ``max_number_len`` characters;
- a number whose exponent is beyond ``max_exponent`` in size (``1e400000000``, ``1E-99999``);
- ``NaN`` / ``Infinity`` (not JSON; Python's parser would take them).

The refusal is a :class:`JsonBoundError` (a ``ValueError``, which every caller already treats
as "not JSON") naming the bound.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from itertools import accumulate
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_NUMBER_LEN",
    "JsonBoundError",
    "check_bounds",
    "loads_bounded",
]

MAX_DEPTH = 16  # deeper than any Binance request (batchOrders is a list of flat objects: 2)
MAX_NUMBER_LEN = 64  # Binance decimals have at most 20 + 1 + 20 characters
MAX_EXPONENT = 40  # |exponent| of a number written with e/E

# A JSON string (escapes included). The alternatives are disjoint: no backtracking blow-up.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[^\[\]{}]+")
_EXPONENT = re.compile(r"[eE][+-]?0*([0-9]+)")
_CONSTANTS = re.compile(r"NaN|Infinity")


class JsonBoundError(ValueError):
    """The text is beyond a bound (depth, number length, exponent) or not JSON at all."""


def check_bounds(
    text: str,
    max_depth: int = MAX_DEPTH,
    max_number_len: int = MAX_NUMBER_LEN,
    max_exponent: int = MAX_EXPONENT,
) -> None:
    """Raise :class:`JsonBoundError` when ``text`` breaks a bound; cheap and never recursive."""
    bare = _STRING.sub('""', text)  # what is outside strings: structure, numbers, literals
    brackets = _BRACKETS.sub("", bare)
    if brackets:
        depth = max(accumulate(1 if c in "[{" else -1 for c in brackets))
        if depth > max_depth:
            raise JsonBoundError(f"JSON nested {depth} levels deep; the limit is {max_depth}")
    if re.search(rf"[-+0-9.eE]{{{max_number_len + 1},}}", bare):
        raise JsonBoundError(f"a JSON number is longer than {max_number_len} characters")
    for m in _EXPONENT.finditer(bare):
        digits = m.group(1)
        if len(digits) > len(str(max_exponent)) or int(digits) > max_exponent:
            raise JsonBoundError(
                f"a JSON number has an exponent beyond {max_exponent} (e.g. 1e{digits[:12]})"
            )
    if _CONSTANTS.search(bare):
        raise JsonBoundError("NaN and Infinity are not JSON numbers")


def loads_bounded(
    text: str | bytes,
    max_depth: int = MAX_DEPTH,
    max_number_len: int = MAX_NUMBER_LEN,
    *,
    max_exponent: int = MAX_EXPONENT,
    decimal: bool = True,
) -> Any:
    """``json.loads`` after :func:`check_bounds`; floats parse as ``Decimal`` unless
    ``decimal=False``. Raises :class:`JsonBoundError` (a ``ValueError``) for anything refused."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonBoundError(f"JSON is not UTF-8: {exc.reason}") from None
    check_bounds(text, max_depth, max_number_len, max_exponent)
    try:
        if decimal:
            return json.loads(text, parse_float=Decimal)
        return json.loads(text)
    except RecursionError:  # unreachable after check_bounds; kept as a last line
        raise JsonBoundError("JSON nested too deeply") from None
    except ValueError as exc:
        raise JsonBoundError(f"not JSON: {exc}") from None
