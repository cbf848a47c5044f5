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

from .exit_views import decimal_or_none, exit_view, pct
from .health import HealthBoard, ProtectionState
from .scope import ProductScope

__all__ = ["Quote", "exit_view", "health_view", "position_view"]


@dataclass(frozen=True, slots=True)
class Quote:
    mark: Decimal
    last: Decimal
    time_ms: int


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
        (decimal_or_none(e["trigger_price"]) for e in exits if e["role"] in ("stop_loss", "oco")),
        None,
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
        "stop_to_liquidation_pct": pct(liquidation, stop),
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
