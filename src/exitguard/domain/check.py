"""One entry point from raw parameters to a verdict: parse, quantise, validate, serialise.

Used by ``exitguard check-order`` and by every later part that accepts orders from outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .dialect import BINANCE, Dialect
from .enums import Product
from .filters import ExchangeRules, SymbolRules
from .quantize_requests import Adjustment, quantize_request
from .validation.context import MarketContext
from .violations import Violation

if TYPE_CHECKING:
    from .requests import ParseResult

__all__ = ["CheckResult", "OrderKind", "check_order"]


class OrderKind(StrEnum):
    """Which endpoint the parameters are meant for."""

    SPOT = "spot"  # POST /api/v3/order
    SPOT_OCO = "spot-oco"  # POST /api/v3/orderList/oco
    SPOT_OTO = "spot-oto"  # POST /api/v3/orderList/oto
    SPOT_OTOCO = "spot-otoco"  # POST /api/v3/orderList/otoco
    USDM = "usdm"  # POST /fapi/v1/order
    USDM_ALGO = "usdm-algo"  # POST /fapi/v1/algoOrder

    @property
    def product(self) -> Product:
        return Product.USDM if self.value.startswith("usdm") else Product.SPOT


@dataclass(slots=True)
class CheckResult:
    """The verdict on one order: the (quantised) request and its wire parameters when it could be
    read, every violation, and the quantisation changes made."""

    kind: OrderKind
    request: Any
    params: dict[str, str] | None
    violations: list[Violation] = field(default_factory=list)
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.request is not None and not self.violations


def _parse(kind: OrderKind, params: object, dialect: Dialect) -> ParseResult[Any]:
    # Each kind imports only its own request model (CLI start time: exitguard.domain docstring).
    if kind is OrderKind.USDM_ALGO:
        from .requests.usdm import AlgoOrderRequest

        return AlgoOrderRequest.from_params(params, dialect)
    if kind is OrderKind.USDM:
        from .requests.usdm import FuturesOrderRequest

        return FuturesOrderRequest.from_params(params)
    if kind is OrderKind.SPOT:
        from .requests.spot import SpotOrderRequest

        return SpotOrderRequest.from_params(params)
    from .requests.spot_lists import SpotOcoRequest, SpotOtocoRequest, SpotOtoRequest

    parsers: dict[OrderKind, Callable[[object], ParseResult[Any]]] = {
        OrderKind.SPOT_OCO: SpotOcoRequest.from_params,
        OrderKind.SPOT_OTO: SpotOtoRequest.from_params,
        OrderKind.SPOT_OTOCO: SpotOtocoRequest.from_params,
    }
    return parsers[kind](params)


def _validate(
    kind: OrderKind,
    request: Any,
    rules: SymbolRules,
    ctx: MarketContext,
    dialect: Dialect,
    bad_fields: frozenset[str],
) -> list[Violation]:
    """The rules of ``kind``'s endpoint; each kind imports only its own validation module."""
    if kind is OrderKind.USDM_ALGO or kind is OrderKind.USDM:
        from .validation.usdm import validate_algo_order, validate_futures_order

        usdm = validate_algo_order if kind is OrderKind.USDM_ALGO else validate_futures_order
        return usdm(request, rules, ctx, dialect, bad_fields)
    if kind is OrderKind.SPOT:
        from .validation.spot import validate_spot_order

        return validate_spot_order(request, rules, ctx, bad_fields)
    from .validation.spot_lists import validate_spot_oco, validate_spot_oto, validate_spot_otoco

    lists: dict[OrderKind, Callable[[Any, SymbolRules, MarketContext, frozenset[str]], Any]] = {
        OrderKind.SPOT_OCO: validate_spot_oco,
        OrderKind.SPOT_OTO: validate_spot_oto,
        OrderKind.SPOT_OTOCO: validate_spot_otoco,
    }
    return list(lists[kind](request, rules, ctx, bad_fields))


def check_order(
    kind: OrderKind,
    params: object,
    exchange: ExchangeRules,
    ctx: MarketContext | None = None,
    dialect: Dialect = BINANCE,
    *,
    quantize: bool = True,
) -> CheckResult:
    """Parse ``params`` for ``kind``, optionally quantise, and validate; never raises on input.

    Raises ``ValueError`` only for a caller mistake: ``exchange`` rules of the other product.
    """
    if exchange.product is not kind.product:
        raise ValueError(
            f"exchange rules: {kind.value} orders need {kind.product.value} exchangeInfo, "
            f"got {exchange.product.value}"
        )
    parsed = _parse(kind, params, dialect)
    violations = list(parsed.violations)
    request = parsed.request
    if request is None:
        return CheckResult(kind, None, None, violations)
    rules = exchange.get(request.symbol)
    if rules is None:
        violations.append(
            Violation(
                -1121,
                "symbol",
                "symbol.unknown",
                f"Invalid symbol: {request.symbol!r} is not in exchangeInfo "
                + (
                    f"(it has {', '.join(sorted(exchange.symbols))})."
                    if len(exchange.symbols) <= 8
                    else f"({len(exchange.symbols)} symbols)."
                ),
            )
        )
        return CheckResult(kind, request, request.to_params(), violations)
    adjustments: list[Adjustment] = []
    if quantize:
        request, adjustments = quantize_request(request, rules)
    assert request is not None
    violations += _validate(
        kind, request, rules, ctx or MarketContext(), dialect, parsed.bad_fields
    )
    return CheckResult(kind, request, request.to_params(), violations, adjustments)
