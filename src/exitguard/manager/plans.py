"""Which plan protects each position: a bot's (handed over through the API), a runtime policy
override for its symbol, or the config's policy; and whether the scope is paused.

The runtime plans live in the store (:mod:`exitguard.store.overrides`) so they survive restarts;
this is the scope's read side of them, decoded once per stored version (the planner asks for
every position on every supervisor tick).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from exitguard.domain.enums import PositionSide, Product
from exitguard.planner.policy import ProtectionPolicy
from exitguard.planner.policy_codec import policy_from_dict
from exitguard.store.exits import ExitStore
from exitguard.store.overrides import Override

from .context import ScopeConfig

__all__ = ["PlanBook"]


class PlanBook:
    """The plans of one scope (``key`` = account/product)."""

    def __init__(self, config: ScopeConfig, store: ExitStore, product: Product, key: str) -> None:
        self.config = config
        self.store = store
        self.product = product
        self.key = key
        self._decoded_plans: dict[tuple[str, str], tuple[Override, ProtectionPolicy]] = {}

    def policy(self, symbol: str) -> ProtectionPolicy | None:
        """The symbol's policy: a runtime override (API) over the config's; None = unmanaged.

        An override never makes a symbol managed that the config leaves out: the mutation gate
        would refuse its orders anyway (manager.symbols).
        """
        configured = self.config.policy_for(self.product, symbol)
        if configured is None:
            return None
        override = self.store.overrides.get("policy", f"{self.key}/{symbol}")
        return configured if override is None else self._decoded(override)

    def own(self, symbol: str, side: PositionSide) -> ProtectionPolicy | None:
        """The bot's plan for one position (API ``protection``), if one was handed over."""
        override = self.store.overrides.get("protection", f"{self.key}/{symbol}/{side.value}")
        return None if override is None else self._decoded(override)

    def position_policy(self, symbol: str, side: PositionSide) -> ProtectionPolicy | None:
        """The plan for one position: a bot's over the symbol's (for a managed symbol only)."""
        policy = self.policy(symbol)
        if policy is None:
            return None
        own = self.own(symbol, side)
        return policy if own is None else own

    def _decoded(self, override: Override) -> ProtectionPolicy:
        key = (override.kind, override.key)
        cached = self._decoded_plans.get(key)
        if cached is not None and cached[0] is override:
            return cached[1]
        policy = policy_from_dict(override.body)
        self._decoded_plans[key] = (override, policy)
        return policy

    @property
    def paused(self) -> bool:
        """Paused through the API: nothing new is placed; the exits that rest stay."""
        return self.store.overrides.get("pause", self.key) is not None

    def forget_closed(self, open_positions: Collection[tuple[str, PositionSide]]) -> Iterator[str]:
        """Drop the bot plans whose position is no longer open (a plan lasts until its position
        closes); yields each dropped plan's position key."""
        prefix = self.key + "/"
        for override in self.store.overrides.of_kind("protection", prefix):
            symbol, side = override.key[len(prefix) :].split("/")
            if (symbol, PositionSide(side)) not in open_positions:
                self.store.overrides.delete("protection", override.key)
                yield override.key
