"""``[notifications]``: where alerts go (apprise URLs, generic JSON webhooks) and how often.

The section is validated like the others (:mod:`.schema`: unknown keys are errors naming the path
and the allowed keys). Apprise and webhook URLs, and webhook header values, routinely carry
credentials (a Telegram bot token, a Discord webhook token, an ``Authorization`` header): they are
registered with :func:`exitguard.logs.register_secret` before validation and never echoed in an
error, which names the path and the rule only.

The runtime (``exitguard.service.alerts``) uses :class:`NotificationSettings`, built by
:func:`load_notifications` (the loader's entry point) or :func:`notification_settings`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, PlainValidator, StrictBool, StrictInt, field_validator, model_validator

from exitguard.logs import register_secret

from .errors import IssueList
from .schema import (
    NonNegativeDec,
    PositiveDec,
    _err,
    _Section,
    _unique,
    validate_section,
)

__all__ = [
    "ALERT_EVENTS",
    "SUMMARY_EVENT",
    "TEMPLATE_PLACEHOLDERS",
    "NotificationSettings",
    "NotificationsSection",
    "WebhookSection",
    "WebhookSettings",
    "load_notifications",
    "notification_settings",
    "template_placeholders",
]

# The alert events (service contract: which hub events each one comes from is in alert_rules).
ALERT_EVENTS: tuple[str, ...] = (
    "exit_placed",
    "exit_filled",
    "exit_refused",
    "fallback",
    "position_bare",
    "scope_degraded",
    "scope_recovered",
    "manager_started",
    "manager_stopped",
)
# The rate limiter's "N more alerts suppressed" alert: always sent, may have a template too.
SUMMARY_EVENT = "summary"
_TEMPLATE_EVENTS = (*ALERT_EVENTS, SUMMARY_EVENT)

# What a template may name: the alert's own keys, then its fields (missing ones render empty).
TEMPLATE_PLACEHOLDERS: tuple[str, ...] = (
    "event",
    "severity",
    "title",
    "text",
    "time_ms",
    "account",
    "product",
    "symbol",
    "position_side",
    "position",
    "role",
    "slot",
    "client_id",
    "type",
    "side",
    "status",
    "price",
    "trigger_price",
    "qty",
    "reason",
    "code",
    "action",
    "state",
    "bare_s",
    "scope",
    "degraded_s",
    "mode",
    "venue",
    "products",
    "suppressed",
)
_PLACEHOLDER_SET = frozenset(TEMPLATE_PLACEHOLDERS)

# RFC 9110 §5.6.2 token: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_APPRISE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://\S+")
_MAX_TIMEOUT_S = Decimal(60)


# --- field validators (never echo a value that may hold a secret) ------------------------------


def _http_url(value: object) -> str:
    if not isinstance(value, str):
        raise _err("url", "must be an http(s) URL string", echo=False)
    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise _err("url", "must be an http(s) URL (it does not parse)", echo=False) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _err("url", "must be an http(s) URL", echo=False)
    return text


def _apprise_url(value: object) -> str:
    # Never echoed: an apprise URL holds its service's token.
    if not isinstance(value, str) or not _APPRISE_URL.fullmatch(value.strip()):
        raise _err(
            "url",
            "must be an apprise URL (scheme://...), e.g. tgram://bottoken/chatid or ntfy://topic",
            echo=False,
        )
    return value.strip()


def _header_name(value: object) -> str:
    if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value):
        raise _err("string", "must be an HTTP header name (RFC 9110 token)", echo=False)
    return value


def _header_value(value: object) -> str:
    # Never echoed: header values are how webhooks authenticate.
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise _err("string", "must be a string without line breaks", echo=False)
    return value


def template_placeholders(template: str) -> list[str]:
    """The names a template refers to; ``ValueError`` for a malformed one or a compound field."""
    names: list[str] = []
    for _literal, name, _spec, _conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier():
            # "{}", "{0}", "{fields.symbol}", "{x[0]}": only plain names (no attribute access).
            raise ValueError(f"placeholder {{{name}}} must be a plain name such as {{symbol}}")
        names.append(name)
    return names


def _template(value: object) -> str:
    if not isinstance(value, str):
        raise _err("string", "must be a template string", value)
    try:
        names = template_placeholders(value)
    except ValueError as exc:
        raise _err(
            "string", f"{exc} (write {{{{ and }}}} for literal braces)", echo=False
        ) from None
    unknown = [n for n in names if n not in _PLACEHOLDER_SET]
    if unknown:
        raise _err(
            "string",
            f"unknown placeholder {{{unknown[0]}}}; allowed: {', '.join(TEMPLATE_PLACEHOLDERS)}",
            echo=False,
        )
    return value


def _template_event(value: object) -> str:
    if not isinstance(value, str) or value not in _TEMPLATE_EVENTS:
        raise _err("string", f"unknown event; allowed: {', '.join(_TEMPLATE_EVENTS)}", value)
    return value


def _alert_event(value: object) -> str:
    if not isinstance(value, str) or value not in ALERT_EVENTS:
        raise _err("string", f"unknown event; allowed: {', '.join(ALERT_EVENTS)}", value)
    return value


def _body_key(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _err("string", "must be a non-empty body key", value)
    return value


HttpUrl = Annotated[str, PlainValidator(_http_url)]
AppriseUrl = Annotated[str, PlainValidator(_apprise_url)]
HeaderName = Annotated[str, PlainValidator(_header_name)]
HeaderValue = Annotated[str, PlainValidator(_header_value)]
Template = Annotated[str, PlainValidator(_template)]
TemplateEvent = Annotated[str, PlainValidator(_template_event)]
AlertEvent = Annotated[str, PlainValidator(_alert_event)]
BodyKey = Annotated[str, PlainValidator(_body_key)]


# --- the section --------------------------------------------------------------------------------


class WebhookSection(_Section):
    """One ``[[notifications.webhook]]``: a generic JSON (or form) webhook, freqtrade style."""

    url: HttpUrl
    method: Literal["POST", "PUT"] = "POST"
    timeout_s: PositiveDec = Decimal(5)
    format: Literal["json", "form"] = "json"
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    # event -> {body key -> template}; an event without one gets the whole alert as the body.
    templates: dict[TemplateEvent, dict[BodyKey, Template]] = Field(default_factory=dict)

    @field_validator("headers", mode="before")
    @classmethod
    def _headers_table(cls, value: object) -> object:
        if not isinstance(value, dict):
            # Not echoed: a mistyped headers value is most likely the token itself.
            raise _err("string", 'must be a table of "Header-Name" = "value"', echo=False)
        return value

    @field_validator("timeout_s")
    @classmethod
    def _timeout(cls, value: Decimal) -> Decimal:
        if value > _MAX_TIMEOUT_S:
            # The worker thread waits this long per attempt; alerts behind it wait too.
            raise _err("range", f"must be at most 60 seconds, got {value}", echo=False)
        return value


class NotificationsSection(_Section):
    enabled: StrictBool = True  # on when the table exists
    apprise: list[AppriseUrl] = Field(default_factory=list)
    webhook: list[WebhookSection] = Field(default_factory=list)
    bare_alert_s: NonNegativeDec = Decimal(10)
    min_interval_s: NonNegativeDec = Decimal(60)
    max_per_minute: StrictInt = 20
    events: list[AlertEvent] = Field(default_factory=lambda: list(ALERT_EVENTS))

    @field_validator("apprise", mode="before")
    @classmethod
    def _apprise_list(cls, value: object) -> object:
        if not isinstance(value, list):
            raise _err(
                "url",
                'must be a list of apprise URLs, e.g. ["tgram://bottoken/chatid", "ntfy://topic"]',
                echo=False,
            )
        return value

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhook_list(cls, value: object) -> object:
        if isinstance(value, dict):
            raise _err(
                "string",
                "must be an array of tables: write [[notifications.webhook]] (double brackets)",
                echo=False,
            )
        return value

    @field_validator("max_per_minute")
    @classmethod
    def _rate(cls, value: int) -> int:
        if not 1 <= value <= 600:
            raise _err("range", "must be between 1 and 600 alerts a minute", value)
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        if not value:
            raise _err(
                "string",
                "must name at least one event (set enabled = false to turn alerts off)",
                echo=False,
            )
        _unique(value, "event")
        return value

    @model_validator(mode="after")
    def _has_channel(self) -> NotificationsSection:
        if self.enabled and not self.apprise and not self.webhook:
            raise _err(
                "string",
                "enabled but no channel: add apprise URLs or a [[notifications.webhook]] "
                "(or set enabled = false)",
                echo=False,
            )
        return self


# --- what the runtime uses ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    name: str  # "webhook[0]": how logs and stats name it (the URL may hold a token)
    url: str = field(repr=False)
    method: Literal["POST", "PUT"] = "POST"
    timeout_s: float = 5.0
    format: Literal["json", "form"] = "json"
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """``[notifications]`` as the notifier uses it; times in integer ms."""

    enabled: bool = True
    apprise: tuple[str, ...] = field(default=(), repr=False)
    webhooks: tuple[WebhookSettings, ...] = ()
    bare_alert_ms: int = 10_000
    min_interval_ms: int = 60_000
    max_per_minute: int = 20
    events: frozenset[str] = frozenset(ALERT_EVENTS)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channel names used in logs and stats."""
        names = ("apprise",) if self.apprise else ()
        return names + tuple(w.name for w in self.webhooks)


def _ms(seconds: Decimal) -> int:
    return int(seconds * 1000)


def notification_settings(section: NotificationsSection) -> NotificationSettings:
    return NotificationSettings(
        enabled=section.enabled,
        apprise=tuple(section.apprise),
        webhooks=tuple(
            WebhookSettings(
                name=f"webhook[{index}]",
                url=hook.url,
                method=hook.method,
                timeout_s=float(hook.timeout_s),
                format=hook.format,
                headers=MappingProxyType(dict(hook.headers)),
                templates=MappingProxyType(
                    {event: MappingProxyType(dict(body)) for event, body in hook.templates.items()}
                ),
            )
            for index, hook in enumerate(section.webhook)
        ),
        bare_alert_ms=_ms(section.bare_alert_s),
        min_interval_ms=_ms(section.min_interval_s),
        max_per_minute=section.max_per_minute,
        events=frozenset(section.events),
    )


def _url_secrets(url: str, *, host_is_secret: bool) -> list[str]:
    """The parts of ``url`` that may be credentials: the whole, user info, path segments, query
    values, and for apprise the host too (``tgram://{bot_token}/{chat_id}``)."""
    found = [url, url.strip()]
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return found
    found += [parts.netloc, parts.path, parts.query]
    found += [p for p in (parts.username, parts.password) if p]
    if host_is_secret:
        found.append(parts.netloc.rsplit("@", 1)[-1])
    found += [seg for seg in parts.path.split("/") if seg]
    found += [value for _key, value in parse_qsl(parts.query, keep_blank_values=True)]
    return found


def _register_secrets(raw: Mapping[str, object]) -> None:
    """Register every URL and header value before validation, valid or not: it is in the file
    already, so keep it out of every log line (register_secret ignores values under 8 chars)."""
    apprise = raw.get("apprise")
    if isinstance(apprise, str):
        apprise = [apprise]
    if isinstance(apprise, list):
        for item in apprise:
            if isinstance(item, str):
                for part in _url_secrets(item, host_is_secret=True):
                    register_secret(part)
    hooks = raw.get("webhook")
    if isinstance(hooks, dict):
        hooks = [hooks]
    if not isinstance(hooks, list):
        return
    for hook in hooks:
        if not isinstance(hook, dict):
            continue
        url = hook.get("url")
        if isinstance(url, str):
            for part in _url_secrets(url, host_is_secret=False):
                register_secret(part)
        headers = hook.get("headers")
        if isinstance(headers, dict):
            for value in headers.values():
                if isinstance(value, str):
                    register_secret(value)


def load_notifications(raw: object, issues: IssueList) -> NotificationSettings | None:
    """``raw`` = the ``notifications`` table of the file (``None`` when absent).

    Returns None when the table is absent or has errors (each appended to ``issues`` with its
    path); otherwise the settings (``enabled`` may be False: configured but off).
    """
    if raw is None:
        return None
    if isinstance(raw, dict):
        _register_secrets(raw)
    section = validate_section(NotificationsSection, raw, ("notifications",), issues)
    return notification_settings(section) if section is not None else None
