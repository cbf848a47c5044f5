"""A scope's long-running tasks under a supervisor (the Erlang/OTP idea): the private-stream
pump, the event consumer and the exit plans' timer are restarted when they die, and a periodic
tick is queued for the protection supervisor's checks, so the process is never alive-but-dead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["ScopeTasks"]

TaskFactory = Callable[[], Coroutine[Any, Any, None]]


class ScopeTasks:
    """Owns the ``pump`` and ``consume`` tasks (and any ``extra`` ones, e.g. the ``wake``
    timer) and the supervising loop of one scope."""

    def __init__(
        self,
        name: str,
        pump: TaskFactory,
        consume: TaskFactory,
        on_died: Callable[[str, BaseException | None], None],
        on_tick: Callable[[], None],
        extra: dict[str, TaskFactory] | None = None,
    ) -> None:
        self.name = name
        self._factories = {"pump": pump, "consume": consume, **(extra or {})}
        self._on_died = on_died
        self._on_tick = on_tick
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None

    def start(self, which: str) -> None:
        self._tasks[which] = asyncio.create_task(
            self._factories[which](), name=f"{self.name}-{which}"
        )

    def supervise(self, interval_s: float) -> None:
        self._loop_task = asyncio.create_task(
            self._supervise(interval_s), name=f"{self.name}-supervise"
        )

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        found = list(self._tasks.values())
        return found + ([self._loop_task] if self._loop_task is not None else [])

    def alive(self) -> bool:
        return bool(self._tasks) and all(not t.done() for t in self.tasks)

    async def _supervise(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.restart_dead()
            self._on_tick()

    def restart_dead(self) -> None:
        """Restart every task that ended (none should: each one loops until cancelled)."""
        for which, task in list(self._tasks.items()):
            if not task.done():
                continue
            error = None if task.cancelled() else task.exception()
            self.start(which)
            self._on_died(which, error)

    async def stop(self) -> None:
        tasks = self.tasks
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._loop_task = None
