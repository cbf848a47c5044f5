"""The API token: from ``EXITGUARD_API_TOKEN``, or generated once for a loopback-only API and
kept in a file of mode 0600 next to the state database (so a bot keeps working across
restarts). Compared in constant time; never logged (registered as a secret)."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from exitguard.logs import register_secret

__all__ = [
    "TOKEN_ENV",
    "TokenError",
    "check_token",
    "resolve_token",
    "token_file_for",
    "url_file_for",
]

TOKEN_ENV = "EXITGUARD_API_TOKEN"
_MIN_LENGTH = 16
# Browsers cannot set headers on a WebSocket: the stream also takes this subprotocol prefix.
SUBPROTOCOL_PREFIX = "exitguard.bearer."


class TokenError(ValueError):
    """No usable token: the API does not start (one line, names the setting)."""


def token_file_for(state_db: Path) -> Path:
    name = "exitguard" if str(state_db) == ":memory:" else state_db.name
    folder = Path(".") if str(state_db) == ":memory:" else state_db.parent
    return folder / f"{name}.api-token"


def url_file_for(state_db: Path) -> Path:
    """Where a running service writes its base URL (``exitguard status`` reads it: with
    ``port = 0`` the port is known only once bound)."""
    token = token_file_for(state_db)
    return token.with_name(token.name.replace(".api-token", ".api-url"))


def _read_token_file(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise TokenError(
            f"{path}: the token file is readable by others (mode {mode:o}); "
            f"chmod 600 it or delete it to have a new one generated"
        )
    token = path.read_text(encoding="utf-8").strip()
    return token if len(token) >= _MIN_LENGTH else None


def _write_token_file(path: Path) -> str:
    token = secrets.token_urlsafe(32)  # URL-safe: also valid in a WebSocket subprotocol
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def resolve_token(
    env: dict[str, str] | os._Environ[str], loopback_only: bool, token_file: Path
) -> tuple[str, Path | None]:
    """(token, the file it was read from or written to; None when it came from the env)."""
    token = env.get(TOKEN_ENV, "").strip()
    if token:
        if len(token) < _MIN_LENGTH:
            raise TokenError(f"{TOKEN_ENV}: must be at least {_MIN_LENGTH} characters")
        if not all(c.isalnum() or c in "-_.~" for c in token):
            raise TokenError(f"{TOKEN_ENV}: use only letters, digits and - _ . ~")
        register_secret(token)
        return token, None
    if not loopback_only:
        raise TokenError(
            f"api: {TOKEN_ENV} must be set when the API listens beyond 127.0.0.1 "
            "(api.host with api.allow_remote = true)"
        )
    token = _read_token_file(token_file) or _write_token_file(token_file)
    register_secret(token)
    return token, token_file


def check_token(expected: str, authorization: str | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def check_subprotocols(expected: str, offered: list[str]) -> str | None:
    """The offered WebSocket subprotocol carrying the token, if one matches."""
    for proto in offered:
        if proto.startswith(SUBPROTOCOL_PREFIX) and hmac.compare_digest(
            proto[len(SUBPROTOCOL_PREFIX) :].encode(), expected.encode()
        ):
            return proto
    return None
