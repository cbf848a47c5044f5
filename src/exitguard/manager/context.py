"""What a scope's collaborators may see of it: a narrow interface, so ``manager/`` has no import
circle and each part (applying events, submitting, fallbacks, adoption) can be tested alone.

:class:`~.scope.ProductScope` implements :class:`ScopeContext`; the collaborators import this
module, never :mod:`.scope`. The scope's own settings, state names and counters live here too,
because the collaborators read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from exitguard.domain.dialect import BINANCE, Dialect
from exitguard.domain.enums import PositionMode, PositionSide, Product
from exitguard.domain.filters import ExchangeRules
from exitguard.planner.model import Action, Position, SlotKey
from exitguard.planner.policy import ProtectionPolicy
from exitguard.store.exits import ExitStore

from .ops import ProductOps

__all__ = ["ScopeConfig", "ScopeContext", "ScopeState", "ScopeStats"]


class ScopeState(StrEnum):
    STARTING = "starting"
    HYDRATING = "hydrating"
    REPLAYING = "replaying"
    READY = "ready"
    RECOVERY_REQUIRED = "recovery_required"
    STOPPED = "stopped"


@dataclass(slots=True)
class ScopeConfig:
    account: str
    policy_for: Callable[[Product, str], ProtectionPolicy | None]
    # The one mutation gate: (product, symbol, notional) -> refusal reason, or None to allow.
    gate: Callable[[Product, str, Decimal], str | None] = lambda *_: None
    crash_at: str | None = None  # tests: SIGKILL ourselves at this point (CRASH_POINTS)
    # Retries (hydration, transient refusals, unknown outcomes) back off exponentially from
    # ``retry_initial_s`` up to ``retry_cap_s``, with jitter; the cap keeps "protected within
    # 10 s of a fault clearing" (the supervisor's promise) with room for one round trip.
    retry_initial_s: float = 0.25
    retry_cap_s: float = 4.0
    # Startup tries to hydrate this many times before it returns and leaves the retries to the
    # supervisor (the process stays up and says the scope is degraded; it never exits).
    startup_attempts: int = 3
    # Startup waits this long for the private stream to open before hydrating (see start()).
    stream_open_timeout_s: float = 10.0
    # The supervisor's period: compare wanted with live exits and repair (no REST unless an
    # unknown outcome is due to be resolved or a recovery is due).
    supervise_interval_s: float = 1.0
    # A bare position is logged at WARNING at once, at ERROR after this long, and reminded at
    # ERROR every ``bare_reminder_s`` while it stays bare.
    bare_error_after_s: float = 10.0
    bare_reminder_s: float = 30.0
    # The venue's rules the pre-send check uses (config manager.dialect).
    dialect: Dialect = BINANCE
    # While a held position's symbol is not TRADING (Spot CANCEL_ONLY, HALT, ...), its status is
    # read again (a recovery re-reads exchangeInfo) this often, to place the exits once it trades.
    status_recheck_s: float = 60.0
    # Exit plans that change by time (ROI steps, time stops) re-plan at the planner's next wake
    # time; the timer looks again at least this often (a clock that jumps, a new position).
    wake_cap_s: float = 1.0
    # The liquidation guard reads marks and liquidation prices (positionRisk); with no service
    # polling them the scope reads them itself this often, and a mark older than
    # ``market_max_age_s`` decides nothing.
    market_poll_s: float = 2.0
    market_max_age_s: float = 10.0


@dataclass(slots=True)
class ScopeStats:
    plan_passes: int = 0
    events_applied: int = 0
    duplicates: int = 0
    deferred_events: int = 0  # arrived while a workflow was active; handled after it
    skipped_replans: int = 0
    recoveries: int = 0
    hydrations: int = 0
    placed: int = 0
    cancelled: int = 0
    checkpoints: int = 0  # idle WAL checkpoints run off the event loop
    supervisor_ticks: int = 0
    retries: int = 0  # placements retried after a transient refusal or a "not found"
    resolved_unknowns: int = 0
    adopted: int = 0  # app-prefixed open orders the store did not know, taken into slots
    restarts: int = 0  # the scope's consumer task restarted by its supervisor
    paused_skips: int = 0  # actions not taken because the scope is paused (API)
    last_actions: list[Action] = field(default_factory=list)


class ScopeContext(Protocol):
    """The part of a scope the collaborators use (state access, emit, hold, retry)."""

    product: Product
    ops: ProductOps
    store: ExitStore
    config: ScopeConfig
    rules: ExchangeRules | None
    position_mode: PositionMode
    positions: dict[tuple[str, PositionSide], Position]
    position_times: dict[tuple[str, PositionSide], int]
    stats: ScopeStats
    pass_reason: str  # why the running planning pass runs ("supervisor" = a repair)

    def now_ms(self) -> int: ...
    def emit(self, kind: str, **data: Any) -> None: ...
    def hold(self, slot: SlotKey, reason: str) -> None: ...
    def position_for(self, slot: SlotKey) -> Position | None: ...
    def policy(self, symbol: str) -> ProtectionPolicy | None: ...
    def policy_for_slot(self, slot: SlotKey) -> ProtectionPolicy | None:
        """The plan in force for the slot's position (its own, else its symbol's)."""

    def crash_point(self, point: str) -> None: ...
    def release_stale_holds(self) -> None: ...
    def retry_later(self, slot: SlotKey, reason: str, retry_after_s: float | None = None) -> None:
        """The slot's last attempt did not place anything; try again after a backoff."""

    def placed(self, slot: SlotKey) -> None:
        """The slot's exit was accepted: forget its backoff."""

    def request_recovery(self, reason: str) -> None:
        """Local state lacks something only REST can tell: hydrate after this batch."""
