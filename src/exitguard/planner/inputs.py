"""What one planning pass reads (:class:`PlanInput`). Pure data."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from exitguard.domain.enums import PositionMode, PositionSide, Product
from exitguard.domain.filters import ExchangeRules

from .model import KnownExit, Position, PositionKey, PositionProgress, SlotKey
from .policy import ProtectionPolicy

__all__ = ["PlanInput"]


@dataclass(frozen=True, slots=True)
class PlanInput:
    """Everything one planning pass reads. ``policies`` maps (product, symbol) to the effective
    policy; ``position_policies`` (product, symbol, positionSide) to a plan for one position,
    which wins over the symbol's. A position with neither is not managed."""

    positions: tuple[Position, ...]
    exits: tuple[KnownExit, ...]
    policies: Mapping[tuple[Product, str], ProtectionPolicy]
    rules: Mapping[Product, ExchangeRules]
    position_modes: Mapping[Product, PositionMode] = field(default_factory=dict)
    holds: frozenset[SlotKey] = frozenset()
    position_policies: Mapping[tuple[Product, str, PositionSide], ProtectionPolicy] = field(
        default_factory=dict
    )
    # What the store remembers per position (ladder fills, open time, one-shots); a position
    # without a row is at the plan's start.
    progress: Mapping[PositionKey, PositionProgress] = field(default_factory=dict)
    now_ms: int = 0  # the clock time stops and the ROI table read (integer ms UTC)
    marks: Mapping[tuple[Product, str], Decimal] = field(default_factory=dict)  # mark/last

    def policy_for(self, pos: Position) -> ProtectionPolicy | None:
        """The plan for ``pos``: its own, else its symbol's, else None (not managed)."""
        own = self.position_policies.get((pos.product, pos.symbol, pos.position_side))
        return own if own is not None else self.policies.get((pos.product, pos.symbol))

    def managed(self) -> Iterator[tuple[Position, ProtectionPolicy]]:
        """Each open position that has a plan, with the plan."""
        for pos in self.positions:
            policy = self.policy_for(pos) if pos.amount != 0 else None
            if policy is not None:
                yield pos, policy
