"""Configuration errors: every problem at once, each with the path it belongs to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["ConfigError", "ConfigFileError", "ConfigIssue", "IssueList"]


class ConfigIssue(NamedTuple):
    """One problem: ``path`` like ``policy.usdm.BTCUSDT.trailing.callback_rate`` (``env.NAME`` for
    environment variables), ``message`` naming the rule and, where safe, the value given."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration is invalid; ``issues`` lists every problem found, not just the first."""

    def __init__(self, issues: Iterable[ConfigIssue | tuple[str, str]]) -> None:
        self.issues: list[ConfigIssue] = [ConfigIssue(*i) for i in issues]
        count = len(self.issues)
        head = f"{count} configuration error{'s' if count != 1 else ''}"
        super().__init__(head + "".join(f"\n  {i}" for i in self.issues))


class ConfigFileError(ConfigError):
    """The file itself is unusable: missing, unreadable, or not valid TOML (``config check`` exit 2).

    ``line`` / ``column`` are set for TOML syntax errors.
    """

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None):
        super().__init__([ConfigIssue(path, message)])
        self.line = line
        self.column = column


class IssueList(list[ConfigIssue]):
    """An accumulator: validation steps append instead of raising, so all problems are reported."""

    def add(self, path: str, message: str) -> None:
        self.append(ConfigIssue(path, message))
