"""Turn (position, policy, symbol rules) into the exit request each role wants. Pure.

One small named function per exit scenario (the freqtrade lesson): each returns a domain request
without a client id, on the symbol's grids, rounded the safe way (``exitguard.domain.quantize``):
triggers fire no later than asked, limit prices are no worse than asked, quantities floor.

USD-M (seed 001, binance-api.md §1): the stop-loss is an algo STOP_MARKET with
``closePosition=true`` and neither quantity nor reduceOnly, unless the policy asks for a
quantity-based reduce-only stop; the fixed take-profit is a regular reduce-only LIMIT order, an
algo TAKE_PROFIT only when the policy asks for a conditional take-profit; trailing is an algo
TRAILING_STOP_MARKET. In hedge mode ``positionSide`` is LONG/SHORT and ``reduceOnly`` is never
sent (Binance refuses it there, -1106); in one-way mode ``positionSide`` is omitted (BOTH).

Spot (binance-api.md §3): with both a stop-loss and a take-profit the pair is one OCO
(``/api/v3/orderList/oco``: a LIMIT_MAKER take-profit above a STOP_LOSS(_LIMIT) below for a
long), because two separate SELL orders would each lock the whole balance; otherwise a single
STOP_LOSS(_LIMIT), a LIMIT take-profit, or a STOP_LOSS with ``trailingDelta``.
"""

from __future__ import annotations

from decimal import Decimal

from exitguard.domain.enums import (
    AlgoOrderType,
    FuturesOrderType,
    PositionMode,
    PositionSide,
    Side,
    SpotOrderType,
    TimeInForce,
)
from exitguard.domain.filters import SymbolRules
from exitguard.domain.numbers import Rounding
from exitguard.domain.quantize import (
    exit_limit_rounding,
    exit_trigger_rounding,
    quantize_exit_quantity,
    quantize_price,
)
from exitguard.domain.requests import (
    AlgoOrderRequest,
    FuturesOrderRequest,
    OcoLeg,
    SpotOcoRequest,
    SpotOrderRequest,
)

from .model import ExitRequest, Position, Role, exit_side_for
from .policy import ProtectionPolicy, StopLossPolicy, TakeProfitPolicy, TrailingPolicy

__all__ = [
    "close_now_request",
    "spot_roles",
    "stop_trigger_price",
    "take_profit_price",
    "usdm_roles",
    "wanted_request",
]

_HUNDRED = Decimal(100)


def usdm_roles(policy: ProtectionPolicy) -> tuple[Role, ...]:
    """The USD-M slots a policy fills: one per configured exit."""
    roles: list[Role] = []
    if policy.stop_loss is not None:
        roles.append(Role.STOP_LOSS)
    if policy.take_profit is not None:
        roles.append(Role.TAKE_PROFIT)
    if policy.trailing is not None:
        roles.append(Role.TRAILING)
    return tuple(roles)


def spot_roles(policy: ProtectionPolicy) -> tuple[Role, ...]:
    """The single Spot slot a policy fills (a balance can back only one resting SELL)."""
    if policy.stop_loss is not None and policy.take_profit is not None:
        return (Role.OCO,)
    if policy.stop_loss is not None:
        return (Role.STOP_LOSS,)
    if policy.trailing is not None:
        return (Role.TRAILING,)
    if policy.take_profit is not None:
        return (Role.TAKE_PROFIT,)
    return ()


def stop_trigger_price(position: Position, stop: StopLossPolicy, rules: SymbolRules) -> Decimal:
    """Entry minus (long) or plus (short) the stop distance, rounded to fire no later."""
    side = exit_side_for(position)
    raw = stop.distance.price_from(position.entry_price, -1 if position.is_long else 1)
    return quantize_price(raw, rules, exit_trigger_rounding(side, is_stop=True))


def take_profit_price(position: Position, tp: TakeProfitPolicy, rules: SymbolRules) -> Decimal:
    """Entry plus (long) or minus (short) the take-profit distance, never worse than asked."""
    side = exit_side_for(position)
    raw = tp.distance.price_from(position.entry_price, 1 if position.is_long else -1)
    return quantize_price(raw, rules, exit_limit_rounding(side))


def _activation_price(position: Position, trailing: TrailingPolicy, rules: SymbolRules) -> Decimal:
    assert trailing.activation is not None
    raw = trailing.activation.price_from(position.entry_price, 1 if position.is_long else -1)
    # Activation is a profit target: round so it is reached no later than asked.
    side = exit_side_for(position)
    return quantize_price(raw, rules, exit_trigger_rounding(side, is_stop=False))


def _hedge(mode: PositionMode) -> bool:
    return mode is PositionMode.HEDGE


def _position_side(position: Position, mode: PositionMode) -> PositionSide | None:
    return position.position_side if _hedge(mode) else None


def _reduce_only(mode: PositionMode) -> bool | None:
    return None if _hedge(mode) else True


def usdm_stop_loss(
    position: Position, stop: StopLossPolicy, rules: SymbolRules, mode: PositionMode
) -> AlgoOrderRequest:
    """STOP_MARKET closePosition (seed 001), or a reduce-only quantity stop when configured."""
    quantity_based = stop.quantity_based
    return AlgoOrderRequest(
        symbol=position.symbol,
        side=exit_side_for(position),
        type=AlgoOrderType.STOP_MARKET,
        position_side=_position_side(position, mode),
        quantity=(
            quantize_exit_quantity(position.size, rules, market=True) if quantity_based else None
        ),
        trigger_price=stop_trigger_price(position, stop, rules),
        working_type=stop.working_type,
        price_protect=stop.price_protect,
        close_position=None if quantity_based else True,
        reduce_only=_reduce_only(mode) if quantity_based else None,
    )


def usdm_take_profit(
    position: Position,
    tp: TakeProfitPolicy,
    rules: SymbolRules,
    mode: PositionMode,
    quantity: Decimal | None = None,
) -> AlgoOrderRequest | FuturesOrderRequest:
    """A reduce-only LIMIT (seed 001: fixed TP is not an algo order), or algo TAKE_PROFIT.
    ``quantity``: a ladder level's (on the step already); else the whole position."""
    side = exit_side_for(position)
    price = take_profit_price(position, tp, rules)
    qty = quantity if quantity is not None else quantize_exit_quantity(position.size, rules)
    if tp.conditional:
        trigger = quantize_price(price, rules, exit_trigger_rounding(side, is_stop=False))
        return AlgoOrderRequest(
            symbol=position.symbol,
            side=side,
            type=AlgoOrderType.TAKE_PROFIT,
            position_side=_position_side(position, mode),
            time_in_force=TimeInForce.GTC,
            quantity=qty,
            price=price,
            trigger_price=trigger,
            working_type=tp.working_type,
            price_protect=tp.price_protect,
            reduce_only=_reduce_only(mode),
        )
    return FuturesOrderRequest(
        symbol=position.symbol,
        side=side,
        type=FuturesOrderType.LIMIT,
        position_side=_position_side(position, mode),
        time_in_force=TimeInForce.GTC,
        quantity=qty,
        price=price,
        reduce_only=_reduce_only(mode),
    )


def usdm_trailing(
    position: Position, trailing: TrailingPolicy, rules: SymbolRules, mode: PositionMode
) -> AlgoOrderRequest:
    """TRAILING_STOP_MARKET with the policy's callbackRate and optional activation price."""
    activate = (
        _activation_price(position, trailing, rules) if trailing.activation is not None else None
    )
    return AlgoOrderRequest(
        symbol=position.symbol,
        side=exit_side_for(position),
        type=AlgoOrderType.TRAILING_STOP_MARKET,
        position_side=_position_side(position, mode),
        quantity=quantize_exit_quantity(position.size, rules, market=True),
        callback_rate=trailing.callback_rate,
        activate_price=activate,
        working_type=trailing.working_type,
        reduce_only=_reduce_only(mode),
    )


def _spot_stop_leg(position: Position, stop: StopLossPolicy, rules: SymbolRules) -> OcoLeg:
    trigger = stop_trigger_price(position, stop, rules)
    if stop.limit_offset_percent is None:
        return OcoLeg(type=SpotOrderType.STOP_LOSS, stop_price=trigger)
    limit = quantize_price(
        trigger * (_HUNDRED - stop.limit_offset_percent) / _HUNDRED, rules, Rounding.DOWN
    )
    return OcoLeg(
        type=SpotOrderType.STOP_LOSS_LIMIT,
        stop_price=trigger,
        price=limit,
        time_in_force=TimeInForce.GTC,
    )


def spot_stop_loss(
    position: Position,
    stop: StopLossPolicy,
    rules: SymbolRules,
    quantity: Decimal | None = None,
) -> SpotOrderRequest:
    """STOP_LOSS, or STOP_LOSS_LIMIT with the policy's limit offset below the trigger.
    ``quantity``: a ladder's runner; else the whole balance."""
    size = position.size if quantity is None else quantity
    qty = quantize_exit_quantity(size, rules, market=stop.limit_offset_percent is None)
    return _spot_stop_leg(position, stop, rules).as_order(position.symbol, Side.SELL, qty)


def spot_take_profit(
    position: Position,
    tp: TakeProfitPolicy,
    rules: SymbolRules,
    quantity: Decimal | None = None,
) -> SpotOrderRequest:
    """A resting LIMIT SELL at the take-profit price (``quantity``: a ladder level's)."""
    return SpotOrderRequest(
        symbol=position.symbol,
        side=Side.SELL,
        type=SpotOrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=quantity if quantity is not None else quantize_exit_quantity(position.size, rules),
        price=take_profit_price(position, tp, rules),
    )


def spot_trailing(
    position: Position, trailing: TrailingPolicy, rules: SymbolRules
) -> SpotOrderRequest:
    """STOP_LOSS with ``trailingDelta``; with an activation distance the ``stopPrice`` is the
    activation price (trailing FAQ: tracking starts once the market reaches it)."""
    stop_price = (
        _activation_price(position, trailing, rules) if trailing.activation is not None else None
    )
    # A SELL stop with stopPrice above the market is a take-profit-type activation: Binance
    # models "activate above, then trail" as TAKE_PROFIT with trailingDelta (trailing FAQ).
    kind = SpotOrderType.TAKE_PROFIT if stop_price is not None else SpotOrderType.STOP_LOSS
    return SpotOrderRequest(
        symbol=position.symbol,
        side=Side.SELL,
        type=kind,
        quantity=quantize_exit_quantity(position.size, rules, market=True),
        stop_price=stop_price,
        trailing_delta=trailing.trailing_delta_bips,
    )


def spot_oco(
    position: Position,
    policy: ProtectionPolicy,
    rules: SymbolRules,
    quantity: Decimal | None = None,
) -> SpotOcoRequest:
    """LIMIT_MAKER take-profit above, STOP_LOSS(_LIMIT) below (trailingDelta when configured).
    ``quantity``: a ladder level's (its OCO's take-profit is the level); else the balance."""
    assert policy.stop_loss is not None and policy.take_profit is not None
    below = _spot_stop_leg(position, policy.stop_loss, rules)
    if policy.trailing is not None and policy.trailing.trailing_delta_bips is not None:
        below = OcoLeg(
            type=below.type,
            stop_price=below.stop_price,
            price=below.price,
            time_in_force=below.time_in_force,
            trailing_delta=policy.trailing.trailing_delta_bips,
        )
    above = OcoLeg(
        type=SpotOrderType.LIMIT_MAKER, price=take_profit_price(position, policy.take_profit, rules)
    )
    return SpotOcoRequest(
        symbol=position.symbol,
        side=Side.SELL,
        quantity=quantity if quantity is not None else quantize_exit_quantity(position.size, rules),
        above=above,
        below=below,
    )


def wanted_request(
    role: Role,
    position: Position,
    policy: ProtectionPolicy,
    rules: SymbolRules,
    mode: PositionMode = PositionMode.ONE_WAY,
) -> ExitRequest | None:
    """The request ``role`` wants for ``position``; ``None`` when the policy has no such exit."""
    if position.product.value == "usdm":
        if role is Role.STOP_LOSS and policy.stop_loss is not None:
            return usdm_stop_loss(position, policy.stop_loss, rules, mode)
        if role is Role.TAKE_PROFIT and policy.take_profit is not None:
            return usdm_take_profit(position, policy.take_profit, rules, mode)
        if role is Role.TRAILING and policy.trailing is not None:
            return usdm_trailing(position, policy.trailing, rules, mode)
        return None
    if role is Role.OCO:
        return spot_oco(position, policy, rules)
    if role is Role.STOP_LOSS and policy.stop_loss is not None:
        return spot_stop_loss(position, policy.stop_loss, rules)
    if role is Role.TRAILING and policy.trailing is not None:
        return spot_trailing(position, policy.trailing, rules)
    if role is Role.TAKE_PROFIT and policy.take_profit is not None:
        return spot_take_profit(position, policy.take_profit, rules)
    return None


def close_now_request(
    position: Position, rules: SymbolRules, mode: PositionMode = PositionMode.ONE_WAY
) -> FuturesOrderRequest | SpotOrderRequest:
    """The ``close_now`` fallback: a reduce-only MARKET exit of the whole position (Spot: a
    MARKET SELL of the balance)."""
    side = exit_side_for(position)
    qty = quantize_exit_quantity(position.size, rules, market=True)
    if position.product.value == "usdm":
        return FuturesOrderRequest(
            symbol=position.symbol,
            side=side,
            type=FuturesOrderType.MARKET,
            position_side=_position_side(position, mode),
            quantity=qty,
            reduce_only=_reduce_only(mode),
        )
    return SpotOrderRequest(
        symbol=position.symbol, side=side, type=SpotOrderType.MARKET, quantity=qty
    )
