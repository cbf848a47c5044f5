"""The one protection signal: per managed position ``protected`` / ``bare since T (why)`` /
``degraded (why)``, per scope ``ok`` / ``degraded (why)``.

Logs, ``exitguard status`` (through the store's ``protection`` table), and later the HTTP health
endpoint, alerts and metrics all read this one signal (design: protection supervisor); they
subscribe with :meth:`HealthBoard.subscribe` instead of re-deriving it.

Failing loud: a position that becomes bare is logged at WARNING at once (symbol, slot, reason),
at ERROR once it has been bare for ``bare_error_after_s``, and again at ERROR every
``bare_reminder_s`` while it stays bare; its return to protected is logged with how long it was
bare. A scope that degrades is logged at ERROR.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["EVENT_LEVELS", "HealthBoard", "PositionHealth", "ProtectionState", "event_level"]

log = logging.getLogger("exitguard.health")


class ProtectionState(StrEnum):
    PROTECTED = "protected"
    BARE = "bare"
    DEGRADED = "degraded"


@dataclass(slots=True)
class PositionHealth:
    position: str  # account/product/SYMBOL/positionSide
    state: ProtectionState
    since_ms: int
    reason: str = ""
    # bookkeeping for the loud log lines
    escalated: bool = False
    last_reminder_ms: int = 0

    def describe(self, now_ms: int) -> str:
        if self.state is ProtectionState.PROTECTED:
            return "protected"
        bare_s = (now_ms - self.since_ms) / 1000
        return f"{self.state.value} for {bare_s:.1f}s: {self.reason}"


@dataclass(slots=True)
class ScopeHealth:
    scope: str  # account/product
    degraded: bool = False
    reason: str = ""
    since_ms: int = 0


# Notices (the scope's ``emit`` kinds) that mean a position may lack an exit, or a part of the
# manager is not working: they are never logged at INFO.
EVENT_LEVELS: dict[str, int] = {
    "rejected": logging.WARNING,
    "exit_rejected": logging.WARNING,
    "transient": logging.WARNING,
    "unknown_outcome": logging.WARNING,
    "unresolved": logging.WARNING,
    "hold": logging.WARNING,
    "fallback": logging.WARNING,
    "skip": logging.WARNING,
    "hydration_failed": logging.WARNING,
    "stream_not_open": logging.WARNING,
    "event_unreadable": logging.WARNING,
    "adopted_unowned": logging.WARNING,
    "bare_interval": logging.WARNING,
    "position_bare": logging.WARNING,
    "gate_refused": logging.WARNING,
    "checkpoint_failed": logging.WARNING,
    "market_read_failed": logging.WARNING,  # the liquidation guard plans on older prices
    "one_shot": logging.WARNING,  # a plan closes (part of) a position: time stop, liquidation
    "one_shot_waits": logging.WARNING,  # Spot: the close waits for the cancels that free it
    "spot_close_without_stop": logging.WARNING,  # Spot: exits cancelled, the SELL goes now
    "position_still_bare": logging.ERROR,
    "market_closed": logging.ERROR,  # a symbol not TRADING (CANCEL_ONLY): exits cannot go in
    "scope_degraded": logging.ERROR,
    "scope_error": logging.ERROR,
    "store_write_failed": logging.ERROR,
    "cancel_failed": logging.ERROR,
}


def event_level(kind: str) -> int:
    return EVENT_LEVELS.get(kind, logging.INFO)


Listener = Callable[[str, dict[str, object]], None]


@dataclass(slots=True)
class HealthBoard:
    """Every scope's verdicts, kept current by the supervisors; persisted for ``status``."""

    bare_error_after_s: float = 10.0
    bare_reminder_s: float = 30.0
    positions: dict[str, PositionHealth] = field(default_factory=dict)
    scopes: dict[str, ScopeHealth] = field(default_factory=dict)
    _listeners: list[Listener] = field(default_factory=list)

    def subscribe(self, listener: Listener) -> None:
        """``listener(kind, data)`` for every change of a verdict (and each bare reminder)."""
        self._listeners.append(listener)

    def _tell(self, kind: str, data: dict[str, object]) -> None:
        for listener in self._listeners:
            try:
                listener(kind, data)
            except Exception:  # a broken subscriber must not stop protection
                log.exception("health listener failed")

    # -- scopes --------------------------------------------------------------------------

    def scope_degraded(self, scope: str, reason: str, now_ms: int) -> None:
        current = self.scopes.setdefault(scope, ScopeHealth(scope))
        if current.degraded and current.reason == reason:
            return
        if not current.degraded:
            current.since_ms = now_ms
        current.degraded, current.reason = True, reason
        self._tell("scope_degraded", {"scope": scope, "reason": reason})

    def scope_ok(self, scope: str, now_ms: int) -> None:
        current = self.scopes.setdefault(scope, ScopeHealth(scope))
        if current.degraded:
            took = (now_ms - current.since_ms) / 1000
            current.degraded, current.reason = False, ""
            self._tell("scope_ok", {"scope": scope, "degraded_s": round(took, 3)})

    def scope_reason(self, scope: str) -> str | None:
        current = self.scopes.get(scope)
        return current.reason if current is not None and current.degraded else None

    # -- positions -----------------------------------------------------------------------

    def update(
        self,
        scope: str,
        verdicts: dict[str, tuple[ProtectionState, str]],
        now_ms: int,
        persist: Callable[[str, str, int, str], None] | None = None,
        forget: Callable[[str], None] | None = None,
        *,
        escalate: bool = True,
    ) -> None:
        """Replace ``scope``'s position verdicts (position -> (state, reason)); positions of the
        scope missing from ``verdicts`` are gone (flat or unmanaged)."""
        prefix = scope + "/"
        for position in [p for p in self.positions if p.startswith(prefix)]:
            if position not in verdicts:
                old = self.positions.pop(position)
                if old.state is not ProtectionState.PROTECTED:
                    self._tell("position_gone", {"position": position, "was": old.state.value})
                if forget is not None:
                    forget(position)
        for position, (state, reason) in verdicts.items():
            self._one(position, state, reason, now_ms, persist, escalate)

    def _one(
        self,
        position: str,
        state: ProtectionState,
        reason: str,
        now_ms: int,
        persist: Callable[[str, str, int, str], None] | None,
        escalate: bool = True,
    ) -> None:
        old = self.positions.get(position)
        if old is None or old.state is not state:
            was_bare = old is not None and old.state is not ProtectionState.PROTECTED
            if was_bare and state is ProtectionState.PROTECTED:
                assert old is not None
                self._tell(
                    "position_protected",
                    {"position": position, "bare_s": round((now_ms - old.since_ms) / 1000, 3)},
                )
            current = PositionHealth(position, state, now_ms, reason, last_reminder_ms=now_ms)
            if old is not None and old.state is not ProtectionState.PROTECTED:
                # bare -> degraded (or back): the position has lacked protection all along
                current.since_ms = old.since_ms
            self.positions[position] = current
            if state is not ProtectionState.PROTECTED:
                self._tell(
                    "position_bare",
                    {"position": position, "state": state.value, "reason": reason},
                )
            if persist is not None:
                persist(position, state.value, current.since_ms, reason)
            return
        if reason != old.reason:
            old.reason = reason
            if persist is not None:
                persist(position, state.value, old.since_ms, reason)
        if state is ProtectionState.PROTECTED or not escalate:
            return
        bare_s = (now_ms - old.since_ms) / 1000
        due_first = not old.escalated and bare_s >= self.bare_error_after_s
        due_again = old.escalated and (now_ms - old.last_reminder_ms) / 1000 >= self.bare_reminder_s
        if due_first or due_again:
            old.escalated = True
            old.last_reminder_ms = now_ms
            self._tell(
                "position_still_bare",
                {
                    "position": position,
                    "state": state.value,
                    "bare_s": round(bare_s, 1),
                    "reason": old.reason,
                },
            )

    def bare(self) -> list[PositionHealth]:
        return [h for h in self.positions.values() if h.state is not ProtectionState.PROTECTED]

    def ok(self) -> bool:
        return not self.bare() and not any(s.degraded for s in self.scopes.values())


def safe_persist(write: Callable[[], None]) -> bool:
    """Run a store write for the health signal; a failing store must not stop protection."""
    try:
        write()
    except sqlite3.Error:
        return False
    return True
