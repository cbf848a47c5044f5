"""``[api]``: the HTTP API, status page and metrics that ``exitguard run`` serves.

Loopback by default: a host beyond 127.0.0.1 needs ``allow_remote = true`` (and then the token
must come from ``EXITGUARD_API_TOKEN``; see exitguard.service.auth).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from decimal import Decimal

from pydantic import StrictBool, StrictInt, field_validator, model_validator

from .errors import IssueList
from .schema import PositiveDec, _err, _Section, check_port, validate_section

__all__ = ["ApiSection", "ApiSettings", "load_api"]

DEFAULT_PORT = 8737


class ApiSection(_Section):
    enabled: StrictBool = True
    host: str = "127.0.0.1"
    port: StrictInt = DEFAULT_PORT  # 0 = any free port (the ready line says which)
    allow_remote: StrictBool = False
    max_body_bytes: StrictInt = 16_384
    price_interval_s: PositiveDec = Decimal(1)  # display prices: one read per symbol per interval

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        return check_port(value)

    @field_validator("max_body_bytes")
    @classmethod
    def _body(cls, value: int) -> int:
        if not 1024 <= value <= 1_048_576:
            raise _err("range", "must be between 1024 and 1048576 bytes", value)
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if value == "localhost":
            return "127.0.0.1"
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise _err(
                "string", "must be an IP address such as 127.0.0.1 or 0.0.0.0", value
            ) from None
        return value

    @model_validator(mode="after")
    def _remote(self) -> ApiSection:
        if not is_loopback_host(self.host) and not self.allow_remote:
            raise _err(
                "string",
                f"{self.host} is reachable from other machines: set api.allow_remote = true "
                "(and EXITGUARD_API_TOKEN) to mean it",
                echo=False,
            )
        return self


def is_loopback_host(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


@dataclass(frozen=True, slots=True)
class ApiSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    allow_remote: bool = False
    max_body_bytes: int = 16_384
    price_interval_s: float = 1.0

    @property
    def loopback_only(self) -> bool:
        return is_loopback_host(self.host)


def load_api(raw: object, issues: IssueList) -> ApiSettings:
    section = validate_section(ApiSection, raw if raw is not None else {}, ("api",), issues)
    if section is None:
        return ApiSettings()
    return ApiSettings(
        enabled=section.enabled,
        host=section.host,
        port=section.port,
        allow_remote=section.allow_remote,
        max_body_bytes=section.max_body_bytes,
        price_interval_s=float(section.price_interval_s),
    )
