"""Venue time: real, accelerated, or stepped by hand (tests, replays).

The venue never reads the wall clock directly; it asks a :class:`VenueClock`. Only
:class:`RealtimeClock` and :class:`AcceleratedClock` read wall time (through injectable time
sources, so even they can be tested without it). :class:`SteppedClock` moves only when told to.

Waiting for venue time goes through :func:`sleep_venue`:

- realtime: ``asyncio.sleep(ms / 1000)``;
- accelerated by ``factor``: ``asyncio.sleep(ms / factor / 1000)``;
- stepped: the sleeper is parked until :meth:`SteppedClock.advance` or :meth:`SteppedClock.set`
  moves the clock to (or past) its target; it then wakes on the next loop iteration.

A duration ``<= 0`` yields to the loop once and returns (callers often compute
``deadline - now``, which can be negative).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = [
    "AcceleratedClock",
    "RealtimeClock",
    "SleepableClock",
    "SteppedClock",
    "VenueClock",
    "sleep_venue",
]


@runtime_checkable
class VenueClock(Protocol):
    """Anything that tells venue time in epoch milliseconds."""

    def now_ms(self) -> int: ...


@runtime_checkable
class SleepableClock(VenueClock, Protocol):
    """A clock that also knows how to wait ``ms`` of its own time (used by :func:`sleep_venue`)."""

    async def sleep_ms(self, ms: int) -> None: ...


class RealtimeClock:
    """Venue time is wall time."""

    __slots__ = ("_time_ns",)

    def __init__(self, *, time_ns: Callable[[], int] = time.time_ns) -> None:
        self._time_ns = time_ns

    def now_ms(self) -> int:
        return self._time_ns() // 1_000_000

    async def sleep_ms(self, ms: int) -> None:
        await asyncio.sleep(max(ms, 0) / 1000)


class AcceleratedClock:
    """Venue time runs ``factor`` times faster than wall time from ``start_ms``.

    ``start_ms`` is the venue time at construction (default: the wall time then). Elapsed wall time
    is measured on the monotonic clock, so venue time never goes backwards even if the system
    clock is adjusted. ``factor`` must be finite and > 0 (``1.0`` behaves like realtime).
    """

    __slots__ = ("_factor", "_monotonic_ns", "_origin_ns", "_start_ms")

    def __init__(
        self,
        factor: float,
        start_ms: int | None = None,
        *,
        time_ns: Callable[[], int] = time.time_ns,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0):
            raise ValueError(
                f"AcceleratedClock: factor must be a finite number > 0, got {factor!r}"
            )
        self._factor = float(factor)
        self._monotonic_ns = monotonic_ns
        self._origin_ns = monotonic_ns()
        self._start_ms = time_ns() // 1_000_000 if start_ms is None else start_ms

    @property
    def factor(self) -> float:
        return self._factor

    def now_ms(self) -> int:
        elapsed_ns = self._monotonic_ns() - self._origin_ns
        return self._start_ms + math.floor(elapsed_ns * self._factor / 1_000_000)

    async def sleep_ms(self, ms: int) -> None:
        await asyncio.sleep(max(ms, 0) / self._factor / 1000)


class SteppedClock:
    """Venue time that moves only by :meth:`advance` / :meth:`set`, and never backwards.

    Sleepers (:func:`sleep_venue`) are parked on futures ordered by target time; moving the clock
    resolves every future whose target has been reached. Call ``advance``/``set`` from the event
    loop's thread.
    """

    __slots__ = ("_now", "_seq", "_waiters")

    def __init__(self, start_ms: int) -> None:
        self._now = _check_int("SteppedClock: start_ms", start_ms)
        self._seq = itertools.count()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        """Move forward by ``ms`` (>= 0); returns the new time and wakes due sleepers."""
        _check_int("SteppedClock.advance: ms", ms)
        if ms < 0:
            raise ValueError(
                f"SteppedClock.advance: ms must be >= 0 (the clock never goes backwards), got {ms}"
            )
        return self._move_to(self._now + ms)

    def set(self, ms: int) -> int:
        """Move to ``ms`` (>= now); returns it and wakes due sleepers."""
        _check_int("SteppedClock.set: ms", ms)
        if ms < self._now:
            raise ValueError(
                f"SteppedClock.set: ms must be >= now ({self._now}), the clock never goes "
                f"backwards; got {ms}"
            )
        return self._move_to(ms)

    @property
    def sleepers(self) -> int:
        """Sleepers still parked (cancelled ones are dropped when the clock next moves)."""
        return sum(1 for _, _, fut in self._waiters if not fut.done())

    async def sleep_ms(self, ms: int) -> None:
        if ms <= 0:
            await asyncio.sleep(0)
            return
        await self.wait_until(self._now + ms)

    async def wait_until(self, target_ms: int) -> None:
        """Return once venue time is ``>= target_ms`` (immediately, after one yield, if it is)."""
        if self._now >= target_ms:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (target_ms, next(self._seq), fut))
        await fut

    def _move_to(self, ms: int) -> int:
        self._now = ms
        while self._waiters and self._waiters[0][0] <= ms:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
        return ms


async def sleep_venue(clock: VenueClock, ms: int) -> None:
    """Wait ``ms`` milliseconds of venue time on ``clock`` (see the module docstring)."""
    if not isinstance(clock, SleepableClock):
        raise TypeError(
            f"sleep_venue: {type(clock).__name__} has no sleep_ms(ms); use RealtimeClock, "
            "AcceleratedClock or SteppedClock"
        )
    await clock.sleep_ms(ms)


def _check_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int (milliseconds), got {value!r}")
    return value
