"""Run the service inside the manager's process and event loop (``exitguard run``).

uvicorn serves the app as one more task of the loop; the price poller, the health sampler for
metrics and the alert worker start and stop with it. The service is optional to protection: if
it cannot bind its port it says so at ERROR and the manager goes on protecting (the ready line
reports ``api: null``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .hub import EventHub

if TYPE_CHECKING:
    from exitguard.manager.control import GuardControl

__all__ = ["ApiServer"]

log = logging.getLogger("exitguard.service")


def alert_counts(stats: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The notifier's stats as metrics count them: per channel sent/failed; what was never
    offered to a channel (deduplicated, collapsed, dropped) under the channel "all"."""
    out: dict[str, dict[str, int]] = {
        name: {"sent": c.get("sent", 0), "failed": c.get("failed", 0)}
        for name, c in stats.get("channels", {}).items()
    }
    out["all"] = {
        "suppressed": stats.get("suppressed", 0) + stats.get("rate_limited", 0),
        "dropped": stats.get("dropped", 0),
    }
    return out


@dataclass
class ApiServer:
    control: GuardControl
    hub: EventHub
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    metrics: Any | None = None
    notifier: Any | None = None
    price_interval_s: float = 1.0
    max_body_bytes: int = 16_384

    def __post_init__(self) -> None:
        self._server: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.url: str | None = None

    async def start(self) -> str:
        """Bind and serve; returns the base URL (``http://127.0.0.1:PORT``)."""
        import uvicorn

        from .app import ServiceSettings, create_app

        app = create_app(
            self.control,
            self.hub,
            ServiceSettings(self.token, self.max_body_bytes),
            metrics=self.metrics,
        )
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,  # request lines would carry paths only, but keep logs about protection
            lifespan="off",
            ws_max_size=65_536,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        # ``serve()`` would take over SIGINT/SIGTERM (``capture_signals``), which belong to
        # ``exitguard run``'s own shutdown; ``_serve`` is the same server without that.
        serve = asyncio.create_task(_serve(server, self.host, self.port), name="api-server")
        self._tasks.append(serve)
        async with asyncio.timeout(10):
            while not server.started:
                if serve.done():
                    serve.result()  # raises the bind error
                    raise OSError(f"api: could not listen on {self.host}:{self.port}")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        self.url = f"http://{shown}:{port}"
        self._tasks.append(
            asyncio.create_task(
                self.control.run_price_poller(self._publish, self.price_interval_s),
                name="api-prices",
            )
        )
        if self.metrics is not None:
            self._tasks.append(asyncio.create_task(self._sample_health(), name="api-metrics"))
        return self.url

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        self.hub.publish(kind, data)

    async def _sample_health(self) -> None:
        metrics = self.metrics
        assert metrics is not None
        while True:
            try:
                metrics.set_health(self.control.health())
                if self.notifier is not None:
                    metrics.observe_alerts(alert_counts(self.notifier.stats))
            except Exception:
                log.exception("metrics sample failed")
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                async with asyncio.timeout(5):
                    await task
        self._tasks.clear()


async def _serve(server: Any, host: str, port: int) -> None:
    """uvicorn ends the *process* (``sys.exit(3)``) when it cannot bind; raised from a task that
    SystemExit would stop ``exitguard run`` and its protection with it. The service is optional:
    turn it into an error the caller reports (``api_error``) while protection goes on."""
    try:
        await server._serve()
    except SystemExit:
        raise OSError(f"api: could not listen on {host}:{port} (address in use?)") from None
