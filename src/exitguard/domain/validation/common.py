"""Rules shared by several request kinds: not-required parameters, goodTillDate, counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from decimal import Decimal

from ..dialect import Dialect
from ..enums import TimeInForce
from ..violations import Violation
from ..wire import FieldSpec, Kind, bad_value

__all__ = ["GTD_MAX_MS", "check_good_till_date", "not_required", "over_limit"]

# USD-M New-Order / New-Algo-Order: goodTillDate < 253402300799000 (9999-12-31T23:59:59Z).
GTD_MAX_MS = 253_402_300_799_000
_GTD_CODE = -5040  # FUTURE_GOOD_TILL_DATE (USD-M error-code page)


def not_required(field: str, why: str) -> Violation:
    """Binance -1106: a parameter sent where the order type or mode does not take it."""
    return Violation(
        -1106, field, f"{field}.not_required", f"Parameter '{field}' sent when not required: {why}."
    )


def check_good_till_date(
    tif: TimeInForce | None,
    good_till_date: int | None,
    now_ms: int | None,
    dialect: Dialect,
    field: str = "goodTillDate",
) -> list[Violation]:
    """goodTillDate is mandatory with timeInForce=GTD and refused without it; it must lie more
    than 600 s after now (primit: at least 600 s) and before 253402300799000 (USD-M New-Order)."""
    if tif is not TimeInForce.GTD:
        if good_till_date is not None:
            return [not_required(field, "goodTillDate is only used with timeInForce=GTD")]
        return []
    if good_till_date is None:
        return [
            Violation(
                -1102,
                field,
                f"{field}.mandatory",
                f"Mandatory parameter '{field}' was not sent, was empty/null, or malformed: "
                "timeInForce=GTD needs it.",
            )
        ]
    out: list[Violation] = []
    if good_till_date >= GTD_MAX_MS or good_till_date <= 0:
        out.append(
            Violation(
                _GTD_CODE,
                field,
                f"{field}.range",
                f"Invalid goodTillDate: {field} {good_till_date} must be below {GTD_MAX_MS}.",
            )
        )
    if now_ms is not None:
        earliest = now_ms + dialect.gtd_min_lead_ms
        too_soon = (
            good_till_date < earliest if dialect.gtd_min_inclusive else good_till_date <= earliest
        )
        if too_soon:
            relation = ">=" if dialect.gtd_min_inclusive else ">"
            out.append(
                Violation(
                    _GTD_CODE,
                    field,
                    f"{field}.lead",
                    f"Invalid goodTillDate: {field} {good_till_date} must be {relation} now "
                    f"{now_ms} + {dialect.gtd_min_lead_ms // 1000} s.",
                )
            )
    return out


def over_limit(
    code: int, rule: str, text: str, open_now: int | None, adding: int, limit: int | None
) -> list[Violation]:
    """A count limit (MAX_NUM_ORDERS, the algo cap): refuse when ``open_now + adding > limit``."""
    if open_now is None or limit is None or open_now + adding <= limit:
        return []
    return [
        Violation(
            code,
            None,
            rule,
            f"{text} {open_now} open + {adding} new exceeds the limit of {limit} ({rule}).",
        )
    ]


def non_finite_numbers(
    req: object, specs: Iterable[FieldSpec], n: Callable[[str], str] = str
) -> list[Violation]:
    """-1100 for each decimal field holding NaN or an infinity.

    ``from_params`` never builds such a request (Binance's decimal pattern refuses them), but
    code can; no price or quantity rule can compare them, so validation reports them and
    checks nothing else rather than raising (rule: validators never raise).
    """
    out: list[Violation] = []
    for spec in specs:
        if spec.kind is Kind.DECIMAL:
            value = getattr(req, spec.attr, None)
            if isinstance(value, Decimal) and not value.is_finite():
                wire = n(spec.wire)
                out.append(
                    bad_value(spec if wire == spec.wire else replace(spec, wire=wire), value)
                )
    return out
