"""``load_config``: ``exitguard.toml`` + environment → one validated :class:`Config`.

Precedence: the environment wins over the file for the mode and the URLs; credentials come only
from the environment (a credential-like key anywhere in the file is an error). Every problem is
collected and raised together in one :class:`ConfigError`; warnings (valid but probably not what
was meant) are kept on ``Config.warnings`` for ``exitguard config check`` and the startup log.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from exitguard.domain.enums import Product
from exitguard.logs import register_secret
from exitguard.planner.policy import ProtectionPolicy

from .api import ApiSettings, load_api
from .env import Credentials, EnvSettings, read_env
from .errors import ConfigError, ConfigFileError, ConfigIssue, IssueList
from .modes import (
    OFFICIAL_URLS,
    PRODUCT_URL_KEYS,
    URL_ENV_VARS,
    Endpoints,
    ExecutionMode,
    GateSettings,
    MutationGate,
    UrlKey,
    is_loopback_url,
)
from .policies import ProductPolicies, build_product_policies
from .schema import ManagerSection, UrlsSection, UsdmSection, VenueSection, validate_section

__all__ = ["Config", "EmbeddedVenueSettings", "VenueKind", "load_config"]

VenueKind = Literal["embedded", "external", "binance"]
_TOP_LEVEL = ("manager", "urls", "venue", "usdm", "policy", "api", "notifications")
# A key whose name contains one of these is a credential, wherever it is in the file.
_CREDENTIAL_WORDS = (
    "secret",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "password",
    "passphrase",
    "credential",
)
# Tables whose keys are symbols or assets (SECRETUSDT is a fine symbol name).
_DATA_KEYED = {
    ("venue", "start_prices"),
    ("venue", "balances"),
    ("policy", "usdm"),
    ("policy", "spot"),
}
_CREDENTIAL_RULE = (
    "credentials are read only from the environment (BINANCE_API_KEY with BINANCE_API_SECRET or "
    "BINANCE_PRIVATE_KEY_FILE), never from the config file; remove this key"
)


@dataclass(frozen=True, slots=True)
class EmbeddedVenueSettings:
    """``[venue]``: options of the embedded paper venue (host is always 127.0.0.1)."""

    seed: int = 0
    feed: Literal["synthetic", "none"] = "synthetic"
    port: int = 0
    balances: Mapping[str, Decimal] = field(
        default_factory=lambda: MappingProxyType({"USDT": Decimal(10_000)})
    )
    start_prices: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    dialect: str = "binance"  # the dialect the embedded venue speaks (domain/dialect.py)


@dataclass(frozen=True, slots=True)
class Config:
    """The validated configuration. Build it with :func:`load_config`."""

    mode: ExecutionMode
    mode_source: Literal["default", "file", "env"]
    account: str
    products: tuple[Product, ...]
    # None = every position of the product is managed; otherwise only these symbols.
    symbols: Mapping[Product, tuple[str, ...] | None]
    state_db: Path
    notional_cap: Decimal | None  # per request, in the symbol's quote currency
    venue: VenueKind
    endpoints: Endpoints  # empty for the embedded venue (its URLs are known once it listens)
    embedded_venue: EmbeddedVenueSettings
    credentials: Credentials | None
    live_confirmed: bool
    policies: Mapping[Product, ProductPolicies]
    source: Path | None = None
    warnings: tuple[ConfigIssue, ...] = ()
    spot_stream_auth: Literal["auto", "signature", "logon"] = "auto"
    # [usdm] transport: place/cancel USD-M exits over REST or the WebSocket API.
    usdm_transport: Literal["rest", "ws_api"] = "rest"
    # The dialect the manager's local checks validate against (its venue's rules).
    dialect: str = "binance"
    api: ApiSettings = field(default_factory=ApiSettings)
    # [notifications] (exitguard.config.notifications); None when the section is absent.
    notifications: Any = None

    def private_state_problem(self) -> ConfigIssue | None:
        """Reading an account anywhere but the embedded paper venue needs credentials."""
        if self.venue == "embedded" or self.credentials is not None:
            return None
        return ConfigIssue(
            "env.BINANCE_API_KEY",
            f"required: the venue is {self.venue}, and reading its account needs BINANCE_API_KEY "
            "with BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_FILE in the environment",
        )

    def run_problems(self) -> tuple[ConfigIssue, ...]:
        """What ``exitguard run`` needs and lacks: the account's credentials, and in a mode that
        sends (DEMO/TESTNET/LIVE) whatever would make the gate refuse every order, which would
        leave positions unprotected while the manager looked alive."""
        problems = [p] if (p := self.private_state_problem()) is not None else []
        if self.mode.sends_to_binance:
            gate = self.mutation_gate().preflight()
            if not gate.allowed and p is None:  # no credentials: said once, above
                problems.append(
                    ConfigIssue("manager.mode", f"nothing would be sent: {gate.reason}")
                )
        return tuple(problems)

    def manages(self, product: Product, symbol: str) -> bool:
        """True when positions in ``symbol`` of ``product`` are this manager's to protect."""
        if product not in self.products:
            return False
        listed = self.symbols.get(product)
        return listed is None or symbol in listed

    def policy_for(self, product: Product, symbol: str) -> ProtectionPolicy:
        """The effective policy: the symbol's section over the product default, field by field.

        Raises ``LookupError`` for a product that is not enabled or a symbol not in
        ``manager.symbols`` (see :meth:`manages`).
        """
        if product not in self.products:
            raise LookupError(f"product {product.value} is not enabled in manager.products")
        if not self.manages(product, symbol):
            raise LookupError(f"{symbol!r} is not in manager.symbols.{product.value}")
        return self.policies[product].for_symbol(symbol)

    def mutation_gate(self) -> MutationGate:
        """The gate every mutating request must pass (see :class:`MutationGate`)."""
        return MutationGate(
            GateSettings(
                mode=self.mode,
                mode_from_env=self.mode_source == "env",
                credentials_present=self.credentials is not None,
                live_confirmed=self.live_confirmed,
                notional_cap=self.notional_cap,
                endpoints=self.endpoints,
                products=frozenset(self.products),
                symbols={
                    p: (frozenset(s) if s is not None else None) for p, s in self.symbols.items()
                },
            )
        )


def default_state_db() -> Path:
    """The state file when no config file names one: ``exitguard.db`` in the user data
    directory (``$XDG_DATA_HOME/exitguard`` on Linux), created on first use."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("exitguard", appauthor=False)) / "exitguard.db"


def _read_toml(path: Path) -> dict[str, Any]:
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(where, "no such file") from None
    except OSError as exc:
        raise ConfigFileError(where, f"cannot read: {exc.strerror or type(exc).__name__}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(where, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.11) puts "(at line L, column C)" in the message; it never quotes the file.
        found = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        raise ConfigFileError(where, f"invalid TOML: {exc}", line, column) from None


def _strip_credentials(
    node: dict[str, Any], path: tuple[str, ...], issues: IssueList
) -> dict[str, Any]:
    """A copy of ``node`` without credential-like keys, each reported (value never echoed)."""
    clean: dict[str, Any] = {}
    for key, value in node.items():
        norm = key.lower().replace("-", "_")
        if path not in _DATA_KEYED and any(word in norm for word in _CREDENTIAL_WORDS):
            issues.add(".".join((*path, key)), _CREDENTIAL_RULE)
            if isinstance(value, str):
                register_secret(value)  # it is in a file already; keep it out of the logs too
            continue
        if isinstance(value, dict):
            value = _strip_credentials(value, (*path, key), issues)
        clean[key] = value
    return clean


def _pick_mode(
    env_mode: ExecutionMode | None, manager: ManagerSection | None
) -> tuple[ExecutionMode, Literal["default", "file", "env"]]:
    if env_mode is not None:
        return env_mode, "env"
    if manager is not None and manager.mode is not None:
        return manager.mode, "file"
    return ExecutionMode.DRY_RUN_PRIVATE, "default"


def _resolve_venue(
    mode: ExecutionMode,
    venue: VenueKind | None,
    file_urls: Mapping[UrlKey, str],
    env_urls: Mapping[UrlKey, str],
    products: tuple[Product, ...],
    issues: IssueList,
    warnings: IssueList,
    *,
    usdm_ws_api: bool = False,
) -> tuple[VenueKind, Endpoints]:
    """Which venue, and its URLs: the official table, then ``[urls]``, then the environment.
    ``usdm_ws_api``: USD-M exits go over the WebSocket API, which needs its URL too."""
    source = {k: f"urls.{k.value}" for k in file_urls} | {
        k: f"env.{URL_ENV_VARS[k]}" for k in env_urls
    }
    overrides = {**file_urls, **env_urls}
    wanted = [k for p in products for k in PRODUCT_URL_KEYS[p]]
    ws_api_key = UrlKey.USDM_WS_API
    if mode.sends_to_binance:
        if venue in ("embedded", "external"):
            issues.add(
                "manager.venue",
                f"mode {mode.value} sends to Binance: leave venue unset or 'binance' and override "
                f"URLs in [urls] or EXITGUARD_*_URL, got {venue!r}",
            )
        kind: VenueKind = "binance"
        official = OFFICIAL_URLS[mode]
    elif venue == "binance":
        if mode is ExecutionMode.PAPER:
            issues.add(
                "manager.venue",
                "PAPER sends only to a loopback paper venue; 'binance' is not one "
                "(use DRY_RUN_PRIVATE to read Binance without sending)",
            )
        kind, official = "binance", OFFICIAL_URLS[ExecutionMode.LIVE]
    else:
        official = {}
        kind = venue or ("external" if overrides else "embedded")
        if kind == "embedded" and overrides:
            if file_urls:
                issues.add(
                    "urls",
                    "manager.venue is 'embedded' but [urls] sets "
                    f"{', '.join(k.value for k in file_urls)}; remove one of them",
                )
            else:
                kind = "external"
                warnings.add(
                    "manager.venue",
                    "'embedded' replaced by the URLs from the environment (the environment wins)",
                )
    if kind == "embedded":
        return kind, Endpoints()
    # The WebSocket API's URL: required by the ws_api transport, known anyway on Binance.
    if Product.USDM in products and (usdm_ws_api or ws_api_key in official):
        wanted.insert(wanted.index(UrlKey.USDM_WS) + 1, ws_api_key)
    resolved: dict[UrlKey, str] = {}
    for key in wanted:
        url = overrides.get(key, official.get(key))
        if url is None:
            env_name = URL_ENV_VARS[key]
            product = next((p for p in products if key in PRODUCT_URL_KEYS[p]), None)
            why = (
                f"product {product.value} is enabled"
                if product is not None
                else "usdm.transport is 'ws_api'"
            )
            issues.add(
                f"urls.{key.value}",
                f"required: the venue is external and {why} (or set {env_name})",
            )
            continue
        resolved[key] = url
        path = source.get(key)
        if path is None:
            continue  # an official URL
        loopback = is_loopback_url(url)
        if mode is ExecutionMode.PAPER and not loopback:
            issues.add(
                path,
                "PAPER sends only to a loopback paper venue (127.0.0.0/8, ::1, localhost), "
                f"got {url!r}",
            )
        if kind == "binance" and not loopback and url.split(":", 1)[0].lower() in ("http", "ws"):
            issues.add(
                path,
                "must use https/wss outside loopback: the API key and signatures would travel "
                f"in clear text, got {url!r}",
            )
        if key in official and url != official[key]:
            warnings.add(path, f"overrides the official URL {official[key]}")
    return kind, Endpoints.from_mapping(resolved)


def load_config(path: Path | None, env: Mapping[str, str]) -> Config:
    """Load and validate ``path`` (``None``: no file, defaults only) with ``env``.

    Raises :class:`ConfigFileError` when the file is missing or not TOML, and
    :class:`ConfigError` listing every problem otherwise.
    """
    raw = _read_toml(path) if path is not None else {}
    issues, warnings = IssueList(), IssueList()
    raw = _strip_credentials(raw, (), issues)
    for key in raw:
        if key not in _TOP_LEVEL:
            issues.add(key, f"unknown section; allowed: {', '.join(_TOP_LEVEL)}")
    manager = validate_section(ManagerSection, raw.get("manager", {}), ("manager",), issues)
    urls = validate_section(UrlsSection, raw.get("urls", {}), ("urls",), issues)
    venue_section = validate_section(VenueSection, raw.get("venue", {}), ("venue",), issues)
    usdm = validate_section(UsdmSection, raw.get("usdm", {}), ("usdm",), issues)
    ws_api = usdm is not None and usdm.transport == "ws_api"
    api = load_api(raw.get("api"), issues)
    notifications = _load_notifications(raw.get("notifications"), issues)
    env_settings = read_env(env, issues, warnings)
    mode, mode_source = _pick_mode(env_settings.mode, manager)
    mgr = manager if manager is not None else ManagerSection()
    products = tuple(mgr.products)

    policy_raw = raw.get("policy", {})
    if not isinstance(policy_raw, dict):
        issues.add("policy", "must be a table ([policy.usdm.default], [policy.spot.BTCUSDT], ...)")
        policy_raw = {}
    for key in policy_raw:
        if key not in ("usdm", "spot"):
            issues.add(f"policy.{key}", "unknown product; allowed: usdm, spot")
    policies: dict[Product, ProductPolicies] = {}
    for product in (Product.USDM, Product.SPOT):
        listed = getattr(mgr.symbols, product.value)
        built = build_product_policies(
            product,
            policy_raw.get(product.value),
            managed=listed if manager is not None else None,
            enabled=product in products,
            issues=issues,
            warnings=warnings,
        )
        if built is not None and product in products:
            policies[product] = built

    file_urls = {k: v for k in UrlKey if urls is not None and (v := getattr(urls, k.value))}
    kind, endpoints = _resolve_venue(
        mode,
        mgr.venue,
        file_urls,
        env_settings.urls,
        products,
        issues,
        warnings,
        usdm_ws_api=ws_api,
    )
    if kind != "embedded" and "venue" in raw:
        warnings.add("venue", f"ignored: the venue is {kind}, not the embedded paper venue")
    _readiness_warnings(mode, mode_source, env_settings.credentials, mgr, env_settings, warnings)
    if kind == "embedded" and venue_section is not None and mgr.dialect != venue_section.dialect:
        warnings.add(
            "manager.dialect",
            f"is {mgr.dialect!r} but the embedded venue speaks {venue_section.dialect!r} "
            "(venue.dialect): the local checks will not match the venue's",
        )
    creds = env_settings.credentials
    if mgr.spot_stream_auth == "logon" and creds is not None and creds.kind != "ed25519":
        issues.add(
            "manager.spot_stream_auth",
            f"'logon' needs an Ed25519 key (Binance's session.logon accepts Ed25519 only), the "
            f"credentials are {creds.kind}; use 'signature' or 'auto'",
        )
    if issues:
        raise ConfigError(issues)

    assert manager is not None and venue_section is not None  # no issues → both validated
    state_db = Path(manager.state_db).expanduser()
    if path is not None and not state_db.is_absolute() and manager.state_db != ":memory:":
        state_db = path.parent / state_db  # relative to the file, not to wherever we run from
    elif path is None and "state_db" not in (raw.get("manager") or {}):
        state_db = default_state_db()  # no file: never litter whatever directory we run in
    return Config(
        mode=mode,
        mode_source=mode_source,
        account=manager.account,
        products=products,
        symbols=MappingProxyType(
            {
                p: (tuple(s) if (s := getattr(manager.symbols, p.value)) is not None else None)
                for p in products
            }
        ),
        state_db=state_db,
        notional_cap=manager.notional_cap,
        spot_stream_auth=manager.spot_stream_auth,
        usdm_transport=usdm.transport if usdm is not None else "rest",
        dialect=manager.dialect,
        venue=kind,
        endpoints=endpoints,
        embedded_venue=EmbeddedVenueSettings(
            seed=venue_section.seed,
            feed=venue_section.feed,
            port=venue_section.port,
            balances=MappingProxyType(dict(venue_section.balances)),
            start_prices=MappingProxyType(dict(venue_section.start_prices)),
            dialect=venue_section.dialect,
        ),
        credentials=env_settings.credentials,
        live_confirmed=env_settings.live_confirmed,
        policies=MappingProxyType(policies),
        source=path,
        warnings=tuple(warnings),
        api=api,
        notifications=notifications,
    )


def _load_notifications(raw: object, issues: IssueList) -> Any:
    if raw is None:
        return None
    try:
        from .notifications import load_notifications
    except ImportError:  # pragma: no cover - the module ships with the package
        issues.add("notifications", "not supported by this build")
        return None
    return load_notifications(raw, issues)


def _readiness_warnings(
    mode: ExecutionMode,
    mode_source: str,
    credentials: Credentials | None,
    manager: ManagerSection,
    env_settings: EnvSettings,
    warnings: IssueList,
) -> None:
    """Valid, but the gate will refuse to send: say so at load time, not at the first order."""
    if not mode.sends_to_binance:
        return
    if mode_source != "env":
        warnings.add(
            "manager.mode",
            f"{mode.value} is set only in the file; nothing is sent until EXECUTION_MODE="
            f"{mode.value} is set in the environment",
        )
    if credentials is None:
        warnings.add(
            "env.BINANCE_API_KEY",
            f"{mode.value} needs BINANCE_API_KEY with BINANCE_API_SECRET or "
            "BINANCE_PRIVATE_KEY_FILE; nothing is sent without them",
        )
    if mode is ExecutionMode.LIVE and not env_settings.live_confirmed:
        warnings.add(
            "env.EXITGUARD_LIVE_CONFIRM",
            "LIVE sends nothing until EXITGUARD_LIVE_CONFIRM holds the confirmation text",
        )
    if manager.notional_cap is None:
        warnings.add(
            "manager.notional_cap",
            f"{mode.value} sends nothing until a per-request notional cap is set",
        )
