"""API commands as workflows of a scope: each one waits its turn in the scope's own queue, so it
runs in order with the private events and never beside another workflow (seed 001: one workflow
at a time per scope). The caller awaits the result, bounded; a command that outlives the wait
still runs to its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Command", "enqueue", "run_all"]


class Command:
    """An API command's turn in the scope's queue: ``work`` runs as one workflow, and its
    result (or error) goes to ``done``."""

    __slots__ = ("done", "work")

    def __init__(self, work: Callable[[], Awaitable[Any]], done: asyncio.Future[Any]) -> None:
        self.work = work
        self.done = done


async def enqueue(
    queue: asyncio.Queue[Any], work: Callable[[], Awaitable[Any]], timeout_s: float
) -> Any:
    """Queue ``work`` behind what is queued now and return its result (TimeoutError after
    ``timeout_s``: it may still run later)."""
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    queue.put_nowait(Command(work, done))
    async with asyncio.timeout(timeout_s):
        return await asyncio.shield(done)


async def run_all(commands: list[Command]) -> None:
    """Run queued commands one after the other; an error goes to its caller, not the scope."""
    for command in commands:
        if command.done.done():
            continue
        try:
            result = await command.work()
        except asyncio.CancelledError:
            command.done.cancel()
            raise
        except Exception as exc:
            command.done.set_exception(exc)
        else:
            command.done.set_result(result)
