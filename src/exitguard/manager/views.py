"""Read models of the running manager for the service: positions with their exits and prices,
the health snapshot. Plain JSON-safe dicts (prices as strings), built from the scopes' memory,
the store and the health board; nothing here sends or mutates.

The shapes are the service's contract (docs/service.md): the API returns them, the status page
draws them, metrics read the health snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitguard.domain.enums import Product
from exitguard.planner.model import Position, Role
from exitguard.store.exits import ExitRow

from .health import HealthBoard, ProtectionState
from .scope import ProductScope

__all__ = ["Quote", "exit_view", "health_view", "position_view"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Quote:
    mark: Decimal
    last: Decimal
    time_ms: int


def _pct(level: Decimal | None, ref: Decimal | None) -> str | None:
    if level is None or ref is None or ref == 0:
        return None
    return str(((level - ref) / ref * _HUNDRED).quantize(Decimal("0.01")))


def _dec(text: object) -> Decimal | None:
    if text is None or text == "":
        return None
    try:
        return Decimal(str(text))
    except ArithmeticError:
        return None


def _trailing_stop(
    params: Mapping[str, Any], long: bool, extreme: Decimal | None
) -> dict[str, Any] | None:
    """The trailing stop's callback and, from the best price seen since it rests, where its
    stop is now (an estimate: the venue does not report it; trigger-semantics.md §trailing)."""
    rate = _dec(params.get("callbackRate"))
    bips = _dec(params.get("trailingDelta"))
    if rate is None and bips is None:
        return None
    fraction = rate / _HUNDRED if rate is not None else (bips or Decimal(0)) / Decimal(10_000)
    activation = _dec(params.get("activatePrice") or params.get("activationPrice"))
    if activation is None and "trailingDelta" in params:
        activation = _dec(params.get("stopPrice"))
    current = None
    if extreme is not None:
        active = activation is None or (extreme >= activation if long else extreme <= activation)
        if active:
            raw = extreme * (1 - fraction) if long else extreme * (1 + fraction)
            exponent = extreme.as_tuple().exponent
            places = exponent if isinstance(exponent, int) else -2
            current = raw.quantize(Decimal(1).scaleb(min(-2, places)))
    return {
        "callback_rate": str(rate) if rate is not None else str(bips / _HUNDRED if bips else 0),
        "activation_price": None if activation is None else str(activation),
        "current_stop": None if current is None else str(current),
    }


def exit_view(
    row: ExitRow, mark: Decimal | None, long: bool, extreme: Decimal | None = None
) -> dict[str, Any]:
    """One resting exit as the API shows it (``distance_pct``: trigger vs the mark, in %)."""
    p = row.request
    if row.slot.role is Role.OCO:
        trigger = _dec(p.get("belowStopPrice") if long else p.get("aboveStopPrice"))
        price = _dec(p.get("abovePrice") if long else p.get("belowPrice"))
        kind = f"OCO {p.get('aboveType', '')}/{p.get('belowType', '')}"
    else:
        trigger = _dec(p.get("triggerPrice") or p.get("stopPrice"))
        price = _dec(p.get("price"))
        kind = str(p.get("type", ""))
    trailing = _trailing_stop(p, long, extreme) if row.slot.role is Role.TRAILING else None
    if trailing is not None and trailing["current_stop"] is not None:
        trigger_for_distance: Decimal | None = Decimal(trailing["current_stop"])
    else:
        trigger_for_distance = trigger if trigger is not None else price
    return {
        "role": row.slot.role.value,
        "client_id": row.client_id,
        "type": kind,
        "side": row.side.value,
        "trigger_price": None if trigger is None else str(trigger),
        "price": None if price is None else str(price),
        "quantity": None if row.quantity is None else str(row.quantity),
        "close_position": p.get("closePosition") == "true",
        "state": row.status.value.upper(),
        "distance_pct": _pct(trigger_for_distance, mark),
        "trailing": trailing,
        "plan": "bot" if row.policy_tag else "config",
    }


def position_view(
    scope: ProductScope,
    pos: Position,
    health: HealthBoard,
    quote: Quote | None,
    liquidation: Decimal | None,
    extreme: Decimal | None,
) -> dict[str, Any]:
    product = scope.product
    key = f"{scope.config.account}/{product.value}/{pos.symbol}/{pos.position_side.value}"
    verdict = health.positions.get(key)
    mark = quote.mark if quote is not None else None
    pnl = None if mark is None else (mark - pos.entry_price) * pos.amount
    rows = [
        r
        for r in scope.store.blocking(scope.config.account, product, frozenset({pos.symbol}))
        if r.slot.position_side is pos.position_side
    ]
    exits = [exit_view(r, mark, pos.is_long, extreme) for r in sorted(rows, key=_role_order)]
    stop = next(
        (_dec(e["trigger_price"]) for e in exits if e["role"] in ("stop_loss", "oco")), None
    )
    return {
        "id": f"{product.value}/{pos.symbol}/{pos.position_side.value}",
        "product": product.value,
        "symbol": pos.symbol,
        "position_side": pos.position_side.value,
        "side": "LONG" if pos.is_long else "SHORT",
        "size": str(pos.size),
        "entry_price": str(pos.entry_price),
        "mark_price": None if quote is None else str(quote.mark),
        "last_price": None if quote is None else str(quote.last),
        "unrealized_pnl": None if pnl is None else str(pnl.quantize(Decimal("0.0001"))),
        "liquidation_price": None if liquidation is None else str(liquidation),
        "stop_to_liquidation_pct": _pct(liquidation, stop),
        "managed": scope.managed(pos),
        "protection": {
            "state": verdict.state.value if verdict else "unmanaged",
            "since_ms": verdict.since_ms if verdict else 0,
            "reason": verdict.reason if verdict else "",
        },
        "override": scope.store.overrides.get("protection", f"{key}") is not None,
        "exits": exits,
    }


def _role_order(row: ExitRow) -> tuple[int, int]:
    order = {Role.STOP_LOSS: 0, Role.OCO: 0, Role.TRAILING: 1, Role.TAKE_PROFIT: 2}
    return (order.get(row.slot.role, 3), row.created_ms)


def health_view(
    scopes: Mapping[Product, ProductScope], health: HealthBoard, mode: str, now_ms: int
) -> dict[str, Any]:
    """The one protection signal as a snapshot (ok / degraded / bare, with reasons)."""
    reasons: list[str] = []
    positions = []
    any_bare = False
    for verdict in sorted(health.positions.values(), key=lambda v: v.position):
        positions.append(
            {
                "position": verdict.position,
                "state": verdict.state.value,
                "since_ms": verdict.since_ms,
                "reason": verdict.reason,
            }
        )
        if verdict.state is not ProtectionState.PROTECTED:
            any_bare |= verdict.state is ProtectionState.BARE
            reasons.append(f"{verdict.position} {verdict.describe(now_ms)}")
    scope_rows: dict[str, Any] = {}
    degraded = False
    pending = 0
    for product, scope in scopes.items():
        board = health.scopes.get(scope.key)
        is_degraded = board is not None and board.degraded
        paused = scope.paused
        scope_rows[product.value] = {
            "state": scope.state.value,
            "degraded": is_degraded,
            "reason": board.reason if board is not None and is_degraded else "",
            "paused": paused,
        }
        if is_degraded:
            reasons.append(f"{scope.key} degraded: {board.reason if board else ''}")
        if paused:
            reasons.append(f"{scope.key} paused: nothing new is placed")
        degraded |= is_degraded or paused or scope.state.value != "ready"
        pending += sum(
            1
            for r in scope.store.blocking(scope.config.account, product)
            if r.status.value in ("intent", "pending", "unknown")
        )
    degraded |= any(p["state"] == "degraded" for p in positions)
    status = "bare" if any_bare else "degraded" if degraded else "ok"
    return {
        "status": status,
        "ready": all(s.state.value == "ready" for s in scopes.values()),
        "mode": mode,
        "reasons": reasons,
        "positions": positions,
        "scopes": scope_rows,
        "pending_confirmations": pending,
        "time_ms": now_ms,
    }
