"""The config's validated scalar types: numbers through their text, ranges, names, URLs.

Each is an ``Annotated`` type with a plain validator that raises one complete sentence naming
the rule (``must be greater than 0 and at most 1 ...``); :mod:`.schema` builds the sections
from them and turns the errors into ``(path, message)`` lines. ``scripts/gen_docs.py`` names
each type in the configuration reference by its validator function.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from .modes import ExecutionMode, UrlKey

__all__ = [
    "SYMBOL_RE",
    "AccountName",
    "Asset",
    "Bips",
    "CallbackRate",
    "Dec",
    "Fraction",
    "LevelNumber",
    "Mode",
    "NonEmptyStr",
    "NonNegativeDec",
    "OffsetPercent",
    "Percent",
    "PositiveDec",
    "Symbol",
    "UtcMs",
    "check_url",
]

SYMBOL_RE = re.compile(r"[A-Z0-9]{2,20}")
_ACCOUNT_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_ASSET_RE = re.compile(r"[A-Z0-9]{1,20}")


def _got(value: object) -> str:
    """How a rejected value is echoed: scalars as written, containers by kind only."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _err(
    kind: str, message: str, value: object = None, *, echo: bool = True
) -> PydanticCustomError:
    # Passed as a context value: pydantic would read braces in the template as placeholders.
    text = f"{message}, got {_got(value)}" if echo else message
    return PydanticCustomError(kind, "{text}", {"text": text})


# --- scalar types -----------------------------------------------------------------------------


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _err("number", "must be a number", value)
    try:
        # float through repr: TOML 0.1 is the float 0.1, and we want Decimal("0.1") back.
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise _err("number", "must be a number (or a numeric string)", value) from None
    if not number.is_finite():
        raise _err("number", "must be a finite number", value)
    return number


def _positive(value: object) -> Decimal:
    number = _to_decimal(value)
    if number <= 0:
        raise _err("range", "must be greater than 0", value)
    return number


def _non_negative(value: object) -> Decimal:
    number = _to_decimal(value)
    if number < 0:
        raise _err("range", "must be 0 or more", value)
    return number


def _percent(value: object) -> Decimal:
    number = _to_decimal(value)
    if not 0 < number < 100:
        # < 100 so that a distance below the entry (a long's stop, a short's take-profit) can
        # never reach a price of zero or less.
        raise _err("range", "must be greater than 0 and less than 100 (percent)", value)
    return number


def _fraction(value: object) -> Decimal:
    number = _to_decimal(value)
    if not 0 < number <= 1:
        raise _err(
            "range", "must be greater than 0 and at most 1 (a fraction of the position)", value
        )
    return number


def _offset_percent(value: object) -> Decimal:
    number = _to_decimal(value)
    if not 0 <= number < 100:
        raise _err("range", "must be 0 or more and less than 100 (percent)", value)
    return number


def _level_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _err("int", "must be a ladder level number, 1 or more", value)
    return value


def _utc_ms(value: object) -> int:
    """An absolute time: a TOML offset date-time or an ISO 8601 string with its zone, as ms."""
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _err(
                "time", "must be an ISO 8601 time such as 2026-12-31T16:00:00Z", value
            ) from None
    if not isinstance(when, datetime):
        raise _err("time", "must be a date-time such as 2026-12-31T16:00:00Z", value)
    if when.tzinfo is None or when.utcoffset() is None:
        raise _err(
            "time",
            "must name its time zone (2026-12-31T16:00:00Z, or +01:00): a local time is ambiguous",
            echo=False,
        )
    return int(when.timestamp() * 1000)


def _callback_rate(value: object) -> Decimal:
    number = _to_decimal(value)
    # reference/binance-api.md §1.2: callbackRate min 0.1, max 10, raised to 20 on 2026-10-23.
    if not Decimal("0.1") <= number <= Decimal(20):
        raise _err("range", "must be between 0.1 and 20 (Binance callbackRate range)", value)
    return number


def _bips(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err("int", "must be an integer number of BIPS (1 BIP = 0.01 %)", value)
    if not 1 <= value <= 10_000:
        raise _err(
            "range",
            "must be between 1 and 10000 BIPS (1 BIP = 0.01 %; the symbol's TRAILING_DELTA "
            "filter narrows it further)",
            value,
        )
    return value


def _symbol(value: object) -> str:
    if not isinstance(value, str) or not SYMBOL_RE.fullmatch(value):
        raise _err("symbol", "must be an upper-case symbol such as BTCUSDT", value)
    return value


def _asset(value: object) -> str:
    if not isinstance(value, str) or not _ASSET_RE.fullmatch(value):
        raise _err("asset", "must be an upper-case asset such as USDT", value)
    return value


def _account(value: object) -> str:
    if not isinstance(value, str) or not _ACCOUNT_RE.fullmatch(value):
        raise _err("account", "must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-'", value)
    return value


def _mode(value: object) -> ExecutionMode:
    if not isinstance(value, str):
        raise _err("mode", "must be a string", value)
    try:
        return ExecutionMode.parse(value)
    except ValueError as exc:
        raise _err("mode", str(exc), echo=False) from None


def _non_empty(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err("string", "must be a non-empty string", value)
    return value


def check_url(key: UrlKey, value: object) -> str:
    """A usable base URL for ``key``, normalised (no trailing slash); ``ValueError`` otherwise."""
    schemes = ("ws", "wss") if key.is_websocket else ("http", "https")
    if not isinstance(value, str):
        raise ValueError(f"must be a {schemes[1]}:// URL string, got {_got(value)}")
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"is not a valid URL, got {text!r}") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValueError(
            f"must be an absolute {' or '.join(schemes)} URL with a host, got {text!r}"
        )
    if parts.username is not None or parts.password is not None:
        # Never echo it: the user part may hold a credential.
        raise ValueError("must not carry user:password (credentials come from the environment)")
    if parts.query or parts.fragment:
        raise ValueError(f"must be a base URL without query or fragment, got {text!r}")
    return text.rstrip("/")


def _url_validator(key: UrlKey) -> Any:
    def validate(value: object) -> str:
        try:
            return check_url(key, value)
        except ValueError as exc:
            raise _err("url", str(exc), echo=False) from None

    return PlainValidator(validate)


Dec = Annotated[Decimal, PlainValidator(_to_decimal)]
PositiveDec = Annotated[Decimal, PlainValidator(_positive)]
NonNegativeDec = Annotated[Decimal, PlainValidator(_non_negative)]
Percent = Annotated[Decimal, PlainValidator(_percent)]
Fraction = Annotated[Decimal, PlainValidator(_fraction)]
OffsetPercent = Annotated[Decimal, PlainValidator(_offset_percent)]
LevelNumber = Annotated[int, PlainValidator(_level_number)]
UtcMs = Annotated[int, PlainValidator(_utc_ms)]
CallbackRate = Annotated[Decimal, PlainValidator(_callback_rate)]
Bips = Annotated[int, PlainValidator(_bips)]
Symbol = Annotated[str, PlainValidator(_symbol)]
Asset = Annotated[str, PlainValidator(_asset)]
AccountName = Annotated[str, PlainValidator(_account)]
Mode = Annotated[ExecutionMode, PlainValidator(_mode)]
NonEmptyStr = Annotated[str, PlainValidator(_non_empty)]
