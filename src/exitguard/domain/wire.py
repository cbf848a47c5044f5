"""Turning request models into Binance wire parameters and back, driven by field tables.

Wire rules: every value is a string; absent fields are omitted (never empty); booleans are
``true``/``false``; decimals never in exponent form (:func:`format_decimal`); integers in base 10.
Decoding never raises: each bad field becomes a :class:`Violation` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any
from urllib.parse import quote_plus, urlencode

from .numbers import format_decimal, parse_decimal
from .violations import Violation

__all__ = [
    "TRANSPORT_PARAMS",
    "Decoded",
    "EncodePlan",
    "FieldSpec",
    "Kind",
    "bad_value",
    "decode_fields",
    "encode_fields",
    "encode_plan",
    "encode_query",
    "prefixed",
    "query_text",
    "unknown_params",
]

# Added by the signer, never part of a request model.
TRANSPORT_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})

_DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_DECIMAL_RE = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
_INT_MAX = 2**63 - 1
_INT_RE = re.compile(r"-?[0-9]{1,19}")  # "--5" passes lstrip("-").isdigit(), then int() raises


class Kind(Enum):
    DECIMAL = "decimal"
    INT = "int"
    BOOL = "bool"
    STR = "str"
    ENUM = "enum"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One wire parameter: model attribute, wire name, value kind and the code for a bad value."""

    attr: str
    wire: str
    kind: Kind
    enum: type[StrEnum] | None = None
    bad_code: int = -1100
    bad_message: str | None = None  # Binance's own text for a bad enum value, if it has one
    wrap: Callable[[str], object] | None = None  # e.g. ClientAlgoId for STR fields


def prefixed(prefix: str, specs: Iterable[FieldSpec]) -> tuple[FieldSpec, ...]:
    """The same fields under a leg prefix: ``price`` → ``abovePrice`` (attr stays ``price``)."""
    return tuple(
        FieldSpec(
            s.attr,
            prefix + s.wire[0].upper() + s.wire[1:],
            s.kind,
            s.enum,
            s.bad_code,
            s.bad_message,
            s.wrap,
        )
        for s in specs
    )


EncodePlan = tuple[tuple[str, str, Callable[[Any], str]], ...]


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _enum_text(value: StrEnum) -> str:
    return value._value_  # the plain value, without the Enum property lookup


def _int_text(value: int) -> str:
    return str(int(value))


_ENCODERS: dict[Kind, Callable[[Any], str]] = {
    Kind.DECIMAL: format_decimal,
    Kind.BOOL: _bool_text,
    Kind.ENUM: _enum_text,
    Kind.INT: _int_text,
    Kind.STR: str,  # str() of an id subclass is a plain str
}


def encode_plan(specs: Iterable[FieldSpec]) -> EncodePlan:
    """Precompute (attribute, wire name, encoder) once per table; encoding is on the hot path."""
    return tuple((s.attr, s.wire, _ENCODERS[s.kind]) for s in specs)


def encode_fields(model: object, plan: EncodePlan, out: dict[str, str]) -> None:
    """Write the model's present fields into ``out`` as wire strings, in table order."""
    for attr, wire, encode in plan:
        value = getattr(model, attr)
        if value is not None:
            out[wire] = encode(value)


# Characters ``quote_plus`` never escapes, plus the two separators.
_UNRESERVED_QUERY = re.compile(r"[A-Za-z0-9_.~=&-]*")
_UNRESERVED_VALUE = re.compile(r"[A-Za-z0-9_.~-]*")


def query_text(text: str) -> str:
    """``text`` as ``urlencode`` writes a key or value (``quote_plus``, nothing kept safe), i.e.
    unchanged when it holds only letters, digits and ``_.-~``."""
    # isalnum() on ASCII text is the common case (symbols) and cheaper than the regex.
    if (text.isascii() and text.isalnum()) or _UNRESERVED_VALUE.fullmatch(text):
        return text
    return quote_plus(text)


def encode_query(params: Mapping[str, str]) -> str:
    """The query string ``urllib.parse.urlencode`` would make, byte for byte, without its
    per-character quoting when no key or value needs escaping (the usual case for orders).

    The joined text is safe when it holds only unreserved characters and exactly one ``=`` per
    pair and one ``&`` between pairs, i.e. no key or value carried a separator of its own.
    """
    query = "&".join([k + "=" + v for k, v in params.items()])
    n = len(params)
    if (
        _UNRESERVED_QUERY.fullmatch(query)
        and query.count("=") == n
        and query.count("&") == max(n - 1, 0)
    ):
        return query
    return urlencode(params)


@dataclass(slots=True)
class Decoded:
    """Values read from wire params by attribute name, the violations found, and bad fields."""

    values: dict[str, Any]
    violations: list[Violation]
    bad: set[str]


def decode_fields(params: Mapping[str, object], specs: Iterable[FieldSpec], into: Decoded) -> None:
    """Read ``specs`` from ``params`` into ``into``; a bad value is reported, never raised."""
    for spec in specs:
        if spec.wire not in params:
            continue
        raw = params[spec.wire]
        if raw is None or raw == "":
            continue  # Binance treats an empty parameter as not sent; mandatory checks follow.
        value = _decode_value(spec, raw)
        if value is _BAD:
            into.bad.add(spec.wire)
            into.violations.append(bad_value(spec, raw))
        else:
            into.values[spec.attr] = value


def unknown_params(params: Mapping[str, object], known: Iterable[str], into: Decoded) -> None:
    """Report parameters no table reads (Binance -1104: "Not all sent parameters were read")."""
    known_set = set(known) | TRANSPORT_PARAMS
    extra = sorted(str(k) for k in params if k not in known_set)
    if extra:
        into.violations.append(
            Violation(
                -1104,
                extra[0],
                "PARAMS.unknown",
                f"Not all sent parameters were read: {', '.join(extra)} "
                "not accepted by this endpoint.",
            )
        )


_BAD = object()


def _decode_value(spec: FieldSpec, raw: object) -> object:
    kind = spec.kind
    if kind is Kind.DECIMAL:
        # Binance's own pattern bounds every decimal: no sign, no exponent, at most 20 digits
        # either side of the point. Decimals given as objects are held to the same bounds.
        if isinstance(raw, str):
            if not _DECIMAL_RE.fullmatch(raw):
                return _BAD
        elif isinstance(raw, Decimal | int) and not isinstance(raw, bool):
            if not (isinstance(raw, int) or raw.is_finite()):
                return _BAD
            # Bounds first: the plain text of 1E+400000000 is 400 MB (the pattern allows 20
            # digits either side of the point, so nothing outside these can match it).
            if isinstance(raw, Decimal) and not (-21 <= raw.adjusted() < 20):
                return _BAD
            if not _DECIMAL_RE.fullmatch(format_decimal(Decimal(raw))):
                return _BAD
        d = parse_decimal(raw)
        return _BAD if d is None or d < 0 else d
    if kind is Kind.BOOL:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        return _BAD
    if kind is Kind.INT:
        if isinstance(raw, bool):
            return _BAD
        if isinstance(raw, int):
            return raw if abs(raw) <= _INT_MAX else _BAD
        # is_finite first: comparing a signalling NaN raises.
        if isinstance(raw, Decimal) and raw.is_finite() and raw == raw.to_integral_value():
            return int(raw) if abs(raw) <= _INT_MAX else _BAD
        if isinstance(raw, str) and _INT_RE.fullmatch(raw):
            n = int(raw)
            return n if abs(n) <= _INT_MAX else _BAD
        return _BAD
    if kind is Kind.ENUM:
        assert spec.enum is not None
        if not isinstance(raw, str):
            return _BAD
        try:
            return spec.enum(raw)
        except ValueError:
            return _BAD
    if not isinstance(raw, str):
        return _BAD
    return spec.wrap(raw) if spec.wrap is not None else raw


def bad_value(spec: FieldSpec, raw: object) -> Violation:
    """The violation for a value of ``spec`` that cannot be read (Binance -1100 for numbers and
    strings, the field's own code and text for an enum)."""
    shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:37] + "..."
    if spec.kind is Kind.ENUM:
        assert spec.enum is not None
        allowed = ", ".join(e.value for e in spec.enum)
        head = spec.bad_message or f"Invalid {spec.wire}."
        return Violation(
            spec.bad_code,
            spec.wire,
            f"{spec.wire}.enum",
            f"{head} {spec.wire} got {shown}; allowed values: {allowed}.",
        )
    rule = {
        Kind.DECIMAL: f"a non-negative decimal string matching '{_DECIMAL_RANGE}'",
        Kind.BOOL: "'true' or 'false'",
        Kind.INT: "a 64-bit integer",
        Kind.STR: "a string",
    }[spec.kind]
    return Violation(
        spec.bad_code,
        spec.wire,
        f"{spec.wire}.{spec.kind.value}",
        f"Illegal characters found in parameter '{spec.wire}'; legal range is {rule} "
        f"(got {shown}).",
    )
