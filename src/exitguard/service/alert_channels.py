"""Where alerts go: a generic JSON/form webhook (``urllib``) and apprise. Blocking by design: they
run in the notifier's worker thread, never on the event loop.

``send`` raises :class:`DeliveryError` on failure (the notifier retries and logs); error texts
never carry the URL (it may hold a token): urllib's own texts do not, and ours name the channel.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

from exitguard.config.notifications import WebhookSettings

from .alert_rules import Alert, render_template

__all__ = [
    "AppriseChannel",
    "AppriseLike",
    "Channel",
    "DeliveryError",
    "WebhookChannel",
    "default_apprise",
    "webhook_body",
]

_USER_AGENT = "exitguard-alerts"
# Apprise's own per-service socket timeouts are 4 s; this bounds the whole call (all services).
_APPRISE_CALL_TIMEOUT_S = 15.0


class DeliveryError(Exception):
    """One failed attempt; ``retry`` is False when trying again cannot help."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class Channel(Protocol):
    name: str
    attempt_s: float  # the longest one send() can take (stop() waits that much past its deadline)

    def send(self, alert: Alert) -> None: ...


class AppriseLike(Protocol):
    def add(self, url: str) -> bool: ...

    def notify(self, *, body: str, title: str, notify_type: str, timeout: float) -> object: ...


def webhook_body(hook: WebhookSettings, alert: Alert) -> dict[str, Any]:
    """The body: the event's template rendered, else the whole alert."""
    template = hook.templates.get(alert.event)
    if template is not None:
        return {key: render_template(text, alert) for key, text in template.items()}
    return alert.as_dict()


def _form(body: dict[str, Any]) -> bytes:
    flat: dict[str, str] = {}
    for key, value in body.items():
        if isinstance(value, dict):  # the whole alert's fields: one form field each
            for sub, item in value.items():
                flat.setdefault(sub, "" if item is None else str(item))
        else:
            flat[key] = "" if value is None else str(value)
    return urlencode(flat).encode()


class WebhookChannel:
    """POST/PUT one alert to a URL; any 2xx is success (freqtrade's webhook, roughly)."""

    def __init__(self, hook: WebhookSettings) -> None:
        self.name = hook.name
        self.attempt_s = hook.timeout_s
        self._hook = hook

    def send(self, alert: Alert) -> None:
        hook = self._hook
        body = webhook_body(hook, alert)
        if hook.format == "json":
            data, ctype = json.dumps(body).encode(), "application/json"
        else:
            data, ctype = _form(body), "application/x-www-form-urlencoded"
        headers = {"Content-Type": ctype, "User-Agent": _USER_AGENT, **hook.headers}
        request = urllib.request.Request(hook.url, data=data, headers=headers, method=hook.method)
        try:
            with urllib.request.urlopen(request, timeout=hook.timeout_s) as response:
                response.read(65536)  # drain a little so keep-alive servers see a clean close
                status = response.status
        except urllib.error.HTTPError as exc:
            # 4xx other than 408/429 will fail the same way again (bad token, bad template).
            retry = exc.code >= 500 or exc.code in (408, 429)
            raise DeliveryError(f"HTTP {exc.code}", retry=retry) from None
        except urllib.error.URLError as exc:
            raise DeliveryError(f"cannot reach the webhook: {exc.reason}") from None
        except (TimeoutError, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")


def default_apprise() -> AppriseLike:
    # Imported here: apprise loads its plugins at import (slow), and only the worker needs it.
    import apprise

    instance: AppriseLike = apprise.Apprise()
    return instance


_NOTIFY_TYPES = {"info": "info", "warning": "warning", "error": "failure"}


class AppriseChannel:
    """Every configured apprise URL behind one ``Apprise`` object (built on first use)."""

    name = "apprise"
    attempt_s = _APPRISE_CALL_TIMEOUT_S

    def __init__(
        self,
        urls: tuple[str, ...],
        factory: Callable[[], AppriseLike],
        warn: Callable[[str], None],
    ) -> None:
        self._urls = urls
        self._factory = factory
        self._warn = warn
        self._apprise: AppriseLike | None = None
        self._usable = 0

    def _setup(self) -> AppriseLike:
        if self._apprise is None:
            instance = self._factory()
            for index, url in enumerate(self._urls):
                if instance.add(url):
                    self._usable += 1
                else:
                    # The path, never the URL: it holds the service's token.
                    self._warn(
                        f"notifications.apprise[{index}]: apprise did not accept this URL "
                        "(unknown service or bad format); it gets no alerts"
                    )
            self._apprise = instance
        return self._apprise

    def send(self, alert: Alert) -> None:
        instance = self._setup()
        if not self._usable:
            raise DeliveryError("no usable apprise URL", retry=False)
        try:
            ok = instance.notify(
                body=alert.text,
                title=alert.title,
                notify_type=_NOTIFY_TYPES.get(alert.severity, "info"),
                timeout=_APPRISE_CALL_TIMEOUT_S,
            )
        except Exception as exc:  # a plugin bug must not reach the worker loop
            raise DeliveryError(f"apprise raised {type(exc).__name__}: {exc}") from None
        if not ok:
            raise DeliveryError("apprise reported a failed delivery")
