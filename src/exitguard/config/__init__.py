"""exitguard configuration: ``exitguard.toml`` + environment, execution modes and the mutation gate.

Entry points: :func:`load_config` (raises :class:`ConfigError` listing every problem),
:meth:`Config.policy_for` (the planner's :class:`~exitguard.planner.policy.ProtectionPolicy`) and
:meth:`Config.mutation_gate` (the single allow/refuse decision for every mutating request).
"""

from __future__ import annotations

from .env import ENV_VARS, Credentials
from .errors import ConfigError, ConfigFileError, ConfigIssue
from .loader import Config, EmbeddedVenueSettings, VenueKind, load_config
from .modes import (
    LIVE_CONFIRMATION_TEXT,
    OFFICIAL_URLS,
    PRODUCT_URL_KEYS,
    URL_ENV_VARS,
    Endpoints,
    ExecutionMode,
    GateDecision,
    GateSettings,
    MutationGate,
    UrlKey,
    is_loopback_host,
    is_loopback_url,
)
from .policies import BUILTIN_DEFAULTS, ProductPolicies

__all__ = [
    "BUILTIN_DEFAULTS",
    "ENV_VARS",
    "LIVE_CONFIRMATION_TEXT",
    "OFFICIAL_URLS",
    "PRODUCT_URL_KEYS",
    "URL_ENV_VARS",
    "Config",
    "ConfigError",
    "ConfigFileError",
    "ConfigIssue",
    "Credentials",
    "EmbeddedVenueSettings",
    "Endpoints",
    "ExecutionMode",
    "GateDecision",
    "GateSettings",
    "MutationGate",
    "ProductPolicies",
    "UrlKey",
    "VenueKind",
    "is_loopback_host",
    "is_loopback_url",
    "load_config",
]
