"""Shared parsing steps for request models: mandatory structure, unknown keys, the result type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..violations import Violation
from ..wire import Decoded, FieldSpec, decode_fields, unknown_params

__all__ = ["ParseResult", "decode", "mandatory_missing", "not_an_object", "parse_flat"]

T = TypeVar("T")


@dataclass(slots=True)
class ParseResult(Generic[T]):
    """A parsed request (``None`` when its structure is unusable), every violation found while
    reading it, and the wire names of fields whose values were malformed."""

    request: T | None
    violations: list[Violation] = field(default_factory=list)
    bad_fields: frozenset[str] = frozenset()


def parse_flat(
    cls: Callable[..., T], params: object, specs: Sequence[FieldSpec], required: Sequence[FieldSpec]
) -> ParseResult[T]:
    """Parse a request whose wire parameters map one-to-one onto its fields; never raises."""
    if not isinstance(params, Mapping):
        return ParseResult(None, [not_an_object()])
    d = decode(params, specs, required)
    unknown_params(params, [s.wire for s in specs], d)
    request = None
    if all(s.attr in d.values for s in required):
        request = cls(**d.values)
    return ParseResult(request, d.violations, frozenset(d.bad))


def mandatory_missing(wire: str) -> Violation:
    """Binance -1102 for a mandatory parameter that is absent or empty."""
    return Violation(
        -1102,
        wire,
        f"{wire}.mandatory",
        f"Mandatory parameter '{wire}' was not sent, was empty/null, or malformed.",
    )


def not_an_object() -> Violation:
    return Violation(
        -1102, None, "PARAMS.object", "Parameters must be a JSON object of name → value."
    )


def decode(
    params: Mapping[str, object],
    specs: Iterable[FieldSpec],
    required: Iterable[FieldSpec],
    into: Decoded | None = None,
) -> Decoded:
    """Decode ``specs``; report each ``required`` field that is absent (and not already bad)."""
    out = into if into is not None else Decoded({}, [], set())
    decode_fields(params, specs, out)
    for spec in required:
        if spec.attr not in out.values and spec.wire not in out.bad:
            out.violations.append(mandatory_missing(spec.wire))
    return out
