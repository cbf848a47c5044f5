"""Wire the service for ``exitguard run``: hub, token, control, metrics, alerts, server."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .auth import resolve_token, token_file_for, url_file_for
from .hub import EventHub
from .server import ApiServer

if TYPE_CHECKING:
    from pathlib import Path

    from exitguard.config import Config
    from exitguard.manager.service import ExitManager

__all__ = ["RunningService", "start_service"]

log = logging.getLogger("exitguard.service")


@dataclass
class RunningService:
    server: ApiServer
    hub: EventHub
    url: str
    token_file: Path | None
    notifier: Any | None

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"url": self.url, "page": self.url + "/"}
        if self.token_file is not None:
            out["token_file"] = str(self.token_file.resolve())
        return out

    async def stop(self, reason: str = "stopped") -> None:
        self.hub.publish("manager_stopped", {"reason": reason})
        await self.server.stop()
        if self.notifier is not None:
            self.notifier.stop(5.0)


async def start_service(config: Config, manager: ExitManager, venue: str) -> RunningService:
    """Start the API for ``manager``; raises ``TokenError``/``OSError`` when it cannot."""
    from exitguard.manager.control import GuardControl

    settings = config.api
    token, token_file = resolve_token(
        os.environ, settings.loopback_only, token_file_for(config.state_db)
    )
    hub = EventHub(now_ms=_now)
    manager.listen(hub.publish)
    from .metrics import ServiceMetrics

    metrics = ServiceMetrics()
    hub.listen(metrics.on_event)
    notifier = None
    if config.notifications is not None and getattr(config.notifications, "enabled", True):
        from .alerts import Notifier

        notifier = Notifier(config.notifications)
        notifier.start()
        hub.listen(notifier.on_event)
    control = GuardControl(manager, mode=config.mode.value, venue=venue, manages=config.manages)
    server = ApiServer(
        control,
        hub,
        token,
        host=settings.host,
        port=settings.port,
        metrics=metrics,
        notifier=notifier,
        price_interval_s=settings.price_interval_s,
        max_body_bytes=settings.max_body_bytes,
    )
    try:
        url = await server.start()
    except BaseException:
        if notifier is not None:
            notifier.stop(1.0)
        raise
    if str(config.state_db) != ":memory:":
        with contextlib.suppress(OSError):  # a convenience for `exitguard status`, not a need
            url_file_for(config.state_db).write_text(url + "\n", encoding="utf-8")
    return RunningService(server, hub, url, token_file, notifier)


def _now() -> int:
    from exitguard.manager.service import wall_clock_ms

    return wall_clock_ms()
