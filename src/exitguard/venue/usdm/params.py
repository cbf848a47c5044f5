"""Reading plain (non-order) endpoint parameters with Binance's error codes."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import VenueError

_INT = re.compile(r"-?[0-9]{1,19}")

__all__ = ["opt_int", "opt_str", "req_str"]


def req_str(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise VenueError(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def opt_str(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return None if value in (None, "") else value


def opt_int(
    params: Mapping[str, str], name: str, low: int | None = None, high: int | None = None
) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    assert raw is not None
    if not _INT.fullmatch(raw):
        raise VenueError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,19}}$'.",
        )
    value = int(raw)
    if (low is not None and value < low) or (high is not None and value > high):
        raise VenueError(
            -1100, f"Illegal value for parameter '{name}': {value} is outside [{low}, {high}]."
        )
    return value
