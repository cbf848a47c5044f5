"""Capped exponential backoff with jitter, per key (a slot, a client id, a recovery).

Transient refusals (429/-1003, 418, -1021, 5xx, connection refused) definitely did not execute:
they are retried after ``min(cap, initial * 2**n)`` scaled by a jitter in [0.5, 1], and never
sooner than the venue's ``Retry-After`` (binance-api.md: a 429 carries it; retrying earlier
turns a 429 into a 418 IP ban). Jitter keeps several scopes (or several exitguard processes on
one IP) from retrying in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Backoff", "RetryBook"]

K = TypeVar("K")


@dataclass(slots=True)
class Backoff:
    attempts: int
    not_before_ms: int
    reason: str
    first_ms: int  # when the first failure of this run happened


class RetryBook(Generic[K]):
    """When each key may be tried again. In memory: a restart simply tries at once."""

    def __init__(self, initial_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.cap_s = cap_s
        self._rng = rng or random.Random()
        self._book: dict[K, Backoff] = {}

    def delay_s(self, attempts: int, retry_after_s: float | None = None) -> float:
        base = min(self.cap_s, self.initial_s * float(2 ** max(0, attempts - 1)))
        delay = base * (0.5 + 0.5 * self._rng.random())
        if retry_after_s:
            delay = max(delay, retry_after_s)
        return delay

    def failed(
        self, key: K, now_ms: int, reason: str, retry_after_s: float | None = None
    ) -> Backoff:
        """Record a failure of ``key``; returns its new backoff."""
        old = self._book.get(key)
        attempts = 1 if old is None else old.attempts + 1
        delay_ms = int(self.delay_s(attempts, retry_after_s) * 1000)
        entry = Backoff(
            attempts, now_ms + delay_ms, reason, now_ms if old is None else old.first_ms
        )
        self._book[key] = entry
        return entry

    def due(self, key: K, now_ms: int) -> bool:
        entry = self._book.get(key)
        return entry is None or now_ms >= entry.not_before_ms

    def get(self, key: K) -> Backoff | None:
        return self._book.get(key)

    def succeeded(self, key: K) -> None:
        self._book.pop(key, None)

    def keys(self) -> list[K]:
        return list(self._book)

    def __contains__(self, key: object) -> bool:
        return key in self._book
