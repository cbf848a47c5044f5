"""Environment variables: the execution mode, credentials (only ever from here), URL overrides and
LIVE's confirmation. An empty variable counts as unset (``VAR=`` lines in .env files).

Credential values are never echoed in a message, and every one read is registered with
:func:`exitguard.logs.register_secret`, so it is replaced wherever it would appear in a log line.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from exitguard.logs import register_secret

from .errors import IssueList
from .modes import LIVE_CONFIRMATION_TEXT, URL_ENV_VARS, ExecutionMode, UrlKey
from .schema import check_url

__all__ = ["ENV_VARS", "Credentials", "EnvSettings", "read_env"]

MODE_VAR = "EXECUTION_MODE"
KEY_VAR = "BINANCE_API_KEY"
SECRET_VAR = "BINANCE_API_SECRET"
KEY_FILE_VAR = "BINANCE_PRIVATE_KEY_FILE"
PASSPHRASE_VAR = "BINANCE_PRIVATE_KEY_PASSPHRASE"
CONFIRM_VAR = "EXITGUARD_LIVE_CONFIRM"
CONFIG_VAR = "EXITGUARD_CONFIG"  # the CLI's default --config
# Read elsewhere (exitguard.data), listed so that the typo warning stays quiet about them.
_READ_ELSEWHERE = ("EXITGUARD_DATA_BASE_URL",)

ENV_VARS: tuple[str, ...] = (
    MODE_VAR,
    KEY_VAR,
    SECRET_VAR,
    KEY_FILE_VAR,
    PASSPHRASE_VAR,
    CONFIRM_VAR,
    CONFIG_VAR,
    *URL_ENV_VARS.values(),
)

_MAX_KEY_FILE = 64 * 1024  # a PEM key is < 1 KiB; anything this big is the wrong file
_PEM_RE = re.compile(
    r"-----BEGIN (?P<kind>(?:ENCRYPTED )?PRIVATE KEY)-----(?P<body>.*?)-----END (?P=kind)-----",
    re.DOTALL,
)
_ED25519_OID = bytes.fromhex("06032b6570")  # 1.3.101.112 in DER, inside a PKCS#8 key


@dataclass(frozen=True, slots=True)
class Credentials:
    """Scoped API credentials from the environment. ``repr`` never shows a value."""

    api_key: str
    api_secret: str | None = None  # HMAC-SHA256
    private_key_file: Path | None = None  # Ed25519, PKCS#8 PEM
    private_key_passphrase: str | None = None

    @property
    def kind(self) -> Literal["hmac", "ed25519"]:
        return "hmac" if self.api_secret is not None else "ed25519"

    def __repr__(self) -> str:
        where = (
            f", private_key_file={str(self.private_key_file)!r}" if self.private_key_file else ""
        )
        return f"Credentials(kind={self.kind!r}, api_key=<redacted>{where})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class EnvSettings:
    mode: ExecutionMode | None
    credentials: Credentials | None
    urls: Mapping[UrlKey, str]
    live_confirmed: bool


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None


def _check_secret_text(name: str, value: str, issues: IssueList) -> bool:
    if any(c.isspace() for c in value):
        issues.add(
            f"env.{name}",
            "must not contain whitespace (a trailing newline from a file is the usual cause); "
            "the value is not shown",
        )
        return False
    return True


def _check_key_file(path_text: str, passphrase: str | None, issues: IssueList) -> Path | None:
    where = f"env.{KEY_FILE_VAR}"
    path = Path(path_text).expanduser()
    if not path.is_file():
        issues.add(where, f"no such file: {str(path)!r} (an Ed25519 private key in PEM format)")
        return None
    try:
        if path.stat().st_size > _MAX_KEY_FILE:
            issues.add(where, f"{str(path)!r} is too large to be a PEM private key")
            return None
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        issues.add(where, f"cannot read {str(path)!r} as a PEM file ({type(exc).__name__})")
        return None
    match = _PEM_RE.search(text)
    if match is None:
        issues.add(
            where,
            f"{str(path)!r} holds no '-----BEGIN PRIVATE KEY-----' block (PKCS#8 PEM, Ed25519)",
        )
        return None
    if match["kind"].startswith("ENCRYPTED"):
        if passphrase is None:
            issues.add(where, f"{str(path)!r} is encrypted; set {PASSPHRASE_VAR}")
            return None
        return path
    try:
        der = base64.b64decode("".join(match["body"].split()), validate=True)
    except (binascii.Error, ValueError):
        issues.add(where, f"{str(path)!r}: the PEM body is not valid base64")
        return None
    if _ED25519_OID not in der[:32]:
        # RSA keys are PKCS#8 too; the Spot WebSocket API session logon accepts Ed25519 only.
        issues.add(where, f"{str(path)!r} is not an Ed25519 private key")
        return None
    return path


def _read_credentials(env: Mapping[str, str], issues: IssueList) -> Credentials | None:
    key = _get(env, KEY_VAR)
    secret = _get(env, SECRET_VAR)
    key_file = _get(env, KEY_FILE_VAR)
    passphrase = _get(env, PASSPHRASE_VAR)
    for value in (key, secret, passphrase):
        if value is not None:
            register_secret(value)
    before = len(issues)
    if key is None:
        for name, value in ((SECRET_VAR, secret), (KEY_FILE_VAR, key_file)):
            if value is not None:
                issues.add(f"env.{name}", f"is set but {KEY_VAR} is not; set both")
        return None
    _check_secret_text(KEY_VAR, key, issues)
    if secret is not None:
        _check_secret_text(SECRET_VAR, secret, issues)
    if secret is None and key_file is None:
        issues.add(
            f"env.{KEY_VAR}",
            f"needs {SECRET_VAR} (HMAC) or {KEY_FILE_VAR} (Ed25519 PEM path) beside it",
        )
    if secret is not None and key_file is not None:
        issues.add(
            f"env.{KEY_FILE_VAR}",
            f"set either {SECRET_VAR} (HMAC) or {KEY_FILE_VAR} (Ed25519), not both",
        )
    if passphrase is not None and key_file is None:
        issues.add(f"env.{PASSPHRASE_VAR}", f"is set but {KEY_FILE_VAR} is not")
    path = None
    if key_file is not None and secret is None:
        path = _check_key_file(key_file, passphrase, issues)
    if len(issues) > before:
        return None
    return Credentials(
        api_key=key, api_secret=secret, private_key_file=path, private_key_passphrase=passphrase
    )


def read_env(env: Mapping[str, str], issues: IssueList, warnings: IssueList) -> EnvSettings:
    """Everything exitguard reads from the environment; problems go to ``issues``."""
    mode = None
    if (text := _get(env, MODE_VAR)) is not None:
        try:
            mode = ExecutionMode.parse(text)
        except ValueError as exc:
            issues.add(f"env.{MODE_VAR}", str(exc))
    credentials = _read_credentials(env, issues)
    urls: dict[UrlKey, str] = {}
    for key, name in URL_ENV_VARS.items():
        if (value := _get(env, name)) is not None:
            try:
                urls[key] = check_url(key, value)
            except ValueError as exc:
                issues.add(f"env.{name}", str(exc))
    confirmed = False
    if (confirm := _get(env, CONFIRM_VAR)) is not None:
        if confirm.strip() == LIVE_CONFIRMATION_TEXT:
            confirmed = True
        else:
            issues.add(
                f"env.{CONFIRM_VAR}",
                f"must be exactly {LIVE_CONFIRMATION_TEXT!r} to confirm LIVE, got {confirm!r}",
            )
    for name in sorted(env):
        if name.startswith("EXITGUARD_") and name not in ENV_VARS and name not in _READ_ELSEWHERE:
            warnings.add(
                f"env.{name}",
                "not an exitguard variable (typo?); known: "
                + ", ".join(n for n in ENV_VARS if n.startswith("EXITGUARD_")),
            )
    return EnvSettings(mode, credentials, urls, confirmed)
