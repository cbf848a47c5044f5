"""exitguard.config.modes: execution modes, the official URL table, the loopback rule and the
mutation gate matrix (every mode x loopback / official / foreign URL x credentials x cap)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.config import (
    LIVE_CONFIRMATION_TEXT,
    OFFICIAL_URLS,
    Config,
    ConfigError,
    Endpoints,
    ExecutionMode,
    GateDecision,
    GateSettings,
    MutationGate,
    UrlKey,
    is_loopback_url,
    load_config,
)
from exitguard.config.modes import url_origin
from exitguard.domain.enums import Product

CAP = Decimal(1000)
KEY = "k" * 20 + "A1" * 22
SECRET = "s" * 20 + "B2" * 22


def test_mode_parse_and_properties() -> None:
    assert ExecutionMode.parse(" live ") is ExecutionMode.LIVE
    with pytest.raises(
        ValueError, match=r"must be one of DRY_RUN_PRIVATE, PAPER, DEMO, TESTNET, LIVE, got 'X'"
    ):
        ExecutionMode.parse("X")
    assert [m.constructs_trader for m in ExecutionMode] == [False, True, True, True, True]
    assert [m.sends_to_binance for m in ExecutionMode] == [False, False, True, True, True]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.8.9.10", True),
        ("ws://[::1]:9000/ws", True),
        ("http://localhost:1", True),
        ("http://LOCALHOST.:1", True),
        ("http://localhost.example.com", False),
        ("http://128.0.0.1", False),
        ("https://fapi.binance.com", False),
        ("http://0.0.0.0:80", False),
        ("http://[::2]:80", False),
        ("not a url", False),
        ("http://[::1", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_url_origin_fills_default_ports() -> None:
    assert url_origin("wss://ws-api.binance.com/ws-api/v3") == ("wss", "ws-api.binance.com", 443)
    assert url_origin("WSS://WS-API.binance.com:443") == ("wss", "ws-api.binance.com", 443)
    assert url_origin("http://127.0.0.1") == ("http", "127.0.0.1", 80)
    assert url_origin("ftp://x") is None and url_origin("/fapi/v1/order") is None


def test_official_url_table_matches_the_sdk_constants() -> None:
    # reference/binance-api.md §5.1 (binance_common/constants.py) and §6.
    live = OFFICIAL_URLS[ExecutionMode.LIVE]
    assert live[UrlKey.USDM_REST] == "https://fapi.binance.com"
    assert live[UrlKey.USDM_WS] == "wss://fstream.binance.com"
    assert live[UrlKey.SPOT_REST] == "https://api.binance.com"
    assert live[UrlKey.SPOT_WS_API] == "wss://ws-api.binance.com:443/ws-api/v3"
    assert live[UrlKey.SPOT_WS_STREAMS] == "wss://stream.binance.com:9443"
    assert (
        OFFICIAL_URLS[ExecutionMode.TESTNET][UrlKey.USDM_REST]
        == "https://testnet.binancefuture.com"
    )
    assert (
        OFFICIAL_URLS[ExecutionMode.TESTNET][UrlKey.SPOT_REST] == "https://testnet.binance.vision"
    )
    assert OFFICIAL_URLS[ExecutionMode.DEMO][UrlKey.USDM_REST] == "https://demo-fapi.binance.com"
    assert (
        OFFICIAL_URLS[ExecutionMode.DEMO][UrlKey.SPOT_WS_API]
        == "wss://demo-ws-api.binance.com/ws-api/v3"
    )
    assert set(OFFICIAL_URLS) == {ExecutionMode.DEMO, ExecutionMode.TESTNET, ExecutionMode.LIVE}
    for urls in OFFICIAL_URLS.values():
        assert set(urls) == set(UrlKey)
        for key, url in urls.items():
            assert url.startswith("wss://" if key.is_websocket else "https://")


# --- the gate matrix -------------------------------------------------------------------------


def gate(
    mode: ExecutionMode,
    *,
    creds: bool = True,
    from_env: bool = True,
    confirmed: bool = True,
    cap: Decimal | None = CAP,
    endpoints: Endpoints | None = None,
    products: frozenset[Product] = frozenset(Product),
    symbols: dict[Product, frozenset[str] | None] | None = None,
) -> MutationGate:
    if endpoints is None:
        official = OFFICIAL_URLS.get(mode, {})
        endpoints = Endpoints.from_mapping(official)
    return MutationGate(
        GateSettings(
            mode=mode,
            mode_from_env=from_env,
            credentials_present=creds,
            live_confirmed=confirmed,
            notional_cap=cap,
            endpoints=endpoints,
            products=products,
            symbols=symbols or {},
        )
    )


TARGETS = {
    "loopback": "http://127.0.0.1:8080",
    "official": None,  # the mode's official USD-M REST URL
    "foreign": "https://fapi.example.com",
}


def expected(
    mode: ExecutionMode, target: str, creds: bool, from_env: bool, notional: Decimal
) -> bool:
    """The rule, written independently of the implementation."""
    if mode is ExecutionMode.DRY_RUN_PRIVATE:
        return False
    if mode is ExecutionMode.PAPER:
        return target == "loopback"
    return from_env and creds and target == "official" and notional <= CAP


@pytest.mark.parametrize(
    ("mode", "target", "creds", "from_env", "notional"),
    list(
        itertools.product(
            list(ExecutionMode),
            list(TARGETS),
            [True, False],
            [True, False],
            [Decimal(999), CAP, Decimal(1001)],
        )
    ),
)
def test_gate_matrix(
    mode: ExecutionMode, target: str, creds: bool, from_env: bool, notional: Decimal
) -> None:
    url = TARGETS[target] or OFFICIAL_URLS.get(mode, {}).get(
        UrlKey.USDM_REST, "https://fapi.binance.com"
    )
    g = gate(mode, creds=creds, from_env=from_env)
    decision = g.check(product=Product.USDM, symbol="BTCUSDT", notional=notional, target_url=url)
    assert decision.allowed is expected(mode, target, creds, from_env, notional), decision.reason
    assert bool(decision) is decision.allowed and decision.reason
    # Refusals name their rule, checked in a fixed order (mode, env, credentials, URL, cap).
    if mode is ExecutionMode.DRY_RUN_PRIVATE:
        assert decision.reason.startswith("DRY_RUN_PRIVATE never sends mutating requests")
    elif mode is ExecutionMode.PAPER and target != "loopback":
        assert "PAPER sends only to a loopback paper venue" in decision.reason
    elif mode.sends_to_binance and not from_env:
        assert (
            f"must be set explicitly in the environment (EXECUTION_MODE={mode.value})"
            in decision.reason
        )
    elif mode.sends_to_binance and not creds:
        assert "needs credentials from the environment" in decision.reason
    elif mode.sends_to_binance and target != "official":
        assert f"is not a {mode.value} usdm endpoint" in decision.reason
    elif mode.sends_to_binance and notional > CAP:
        assert (
            decision.reason
            == f"notional {notional} exceeds the per-request cap {CAP} (manager.notional_cap)"
        )


def test_dry_run_preflight_never_constructs_a_trader() -> None:
    decision = gate(ExecutionMode.DRY_RUN_PRIVATE).preflight()
    assert not decision.allowed
    assert "the mutating client is not constructed" in decision.reason
    assert not ExecutionMode.DRY_RUN_PRIVATE.constructs_trader


def test_live_needs_the_confirmation() -> None:
    url = OFFICIAL_URLS[ExecutionMode.LIVE][UrlKey.USDM_REST]
    refused = gate(ExecutionMode.LIVE, confirmed=False).check(
        product=Product.USDM, symbol="BTCUSDT", notional=Decimal(1), target_url=url
    )
    assert not refused.allowed
    assert refused.reason == (
        f"LIVE needs the explicit confirmation EXITGUARD_LIVE_CONFIRM={LIVE_CONFIRMATION_TEXT!r}"
    )
    # DEMO and TESTNET do not need it.
    for mode in (ExecutionMode.DEMO, ExecutionMode.TESTNET):
        assert gate(mode, confirmed=False).preflight().allowed
    assert (
        gate(ExecutionMode.LIVE)
        .check(
            product=Product.USDM,
            symbol="BTCUSDT",
            notional=Decimal(1),
            target_url=url + "/fapi/v1/algoOrder",
        )
        .allowed
    )


@pytest.mark.parametrize("mode", [ExecutionMode.DEMO, ExecutionMode.TESTNET, ExecutionMode.LIVE])
def test_no_cap_configured_refuses(mode: ExecutionMode) -> None:
    decision = gate(mode, cap=None).preflight()
    assert not decision.allowed
    assert "set manager.notional_cap" in decision.reason


def test_paper_ignores_credentials_and_cap() -> None:
    g = gate(ExecutionMode.PAPER, creds=False, from_env=False, cap=None)
    for host in ("http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3"):
        assert g.check(
            product=Product.SPOT, symbol="ETHUSDT", notional=Decimal(10**9), target_url=host
        )


def test_notional_must_be_a_finite_non_negative_decimal() -> None:
    g = gate(ExecutionMode.DEMO)
    url = OFFICIAL_URLS[ExecutionMode.DEMO][UrlKey.USDM_REST]

    def check(notional: object) -> GateDecision:
        return g.check(product=Product.USDM, symbol="BTCUSDT", notional=notional, target_url=url)  # type: ignore[arg-type]

    assert check(Decimal(0)).allowed  # a cancel
    assert check(Decimal(-1)).reason == "notional must be >= 0, got -1"
    assert check(Decimal("NaN")).reason == "notional must be a finite Decimal, got Decimal('NaN')"
    assert not check(1.0).allowed  # a float is not an exact amount


def test_targets_are_checked_per_product_and_never_streams() -> None:
    g = gate(ExecutionMode.LIVE)
    live = OFFICIAL_URLS[ExecutionMode.LIVE]

    def check(product: Product, url: str) -> GateDecision:
        return g.check(product=product, symbol="BTCUSDT", notional=Decimal(1), target_url=url)

    assert check(Product.SPOT, live[UrlKey.SPOT_REST]).allowed
    assert check(Product.SPOT, "wss://ws-api.binance.com/ws-api/v3").allowed  # :443 implied
    assert not check(Product.SPOT, live[UrlKey.USDM_REST]).allowed  # the other product's host
    assert not check(Product.USDM, live[UrlKey.USDM_WS]).allowed  # streams carry no mutation
    assert not check(Product.SPOT, live[UrlKey.SPOT_WS_STREAMS]).allowed
    assert not check(Product.USDM, "http://fapi.binance.com").allowed  # scheme differs
    refused = check(Product.USDM, OFFICIAL_URLS[ExecutionMode.TESTNET][UrlKey.USDM_REST])
    assert refused.reason.startswith(
        "target https://testnet.binancefuture.com:443 is not a LIVE usdm endpoint "
        "(allowed: https://fapi.binance.com:443, wss://ws-fapi.binance.com:443); override it "
        "with EXITGUARD_USDM_REST_URL or EXITGUARD_USDM_WS_API_URL"
    )
    assert check(Product.USDM, live[UrlKey.USDM_WS_API]).allowed  # the WebSocket API trades
    assert (
        check(Product.USDM, "garbage").reason
        == "target URL 'garbage' is not an absolute http(s)/ws(s) URL"
    )


def test_overridden_endpoint_is_allowed_and_the_official_one_no_longer() -> None:
    endpoints = Endpoints(usdm_rest="https://proxy.example.com:8443")
    g = gate(ExecutionMode.DEMO, endpoints=endpoints)
    ok = g.check(
        product=Product.USDM,
        symbol="BTCUSDT",
        notional=Decimal(1),
        target_url="https://proxy.example.com:8443",
    )
    assert ok.allowed
    official = OFFICIAL_URLS[ExecutionMode.DEMO][UrlKey.USDM_REST]
    assert not g.check(
        product=Product.USDM, symbol="BTCUSDT", notional=Decimal(1), target_url=official
    )


def test_product_and_symbol_scope() -> None:
    g = gate(
        ExecutionMode.PAPER,
        products=frozenset({Product.USDM}),
        symbols={Product.USDM: frozenset({"BTCUSDT"})},
    )
    url = "http://127.0.0.1:1"
    assert g.check(product=Product.USDM, symbol="BTCUSDT", notional=Decimal(1), target_url=url)
    assert g.check(
        product=Product.SPOT, symbol="BTCUSDT", notional=Decimal(1), target_url=url
    ).reason == ("product spot is not enabled in manager.products")
    assert g.check(
        product=Product.USDM, symbol="ETHUSDT", notional=Decimal(1), target_url=url
    ).reason == ("symbol 'ETHUSDT' is not managed (manager.symbols.usdm lists BTCUSDT)")


# --- the gate as built from a loaded config --------------------------------------------------


def _config(tmp_path: Path, text: str, env: dict[str, str]) -> MutationGate:
    path = tmp_path / "exitguard.toml"
    path.write_text(text)
    return load_config(path, env).mutation_gate()


def test_gate_from_config_live(tmp_path: Path) -> None:
    env = {
        "EXECUTION_MODE": "LIVE",
        "BINANCE_API_KEY": KEY,
        "BINANCE_API_SECRET": SECRET,
        "EXITGUARD_LIVE_CONFIRM": LIVE_CONFIRMATION_TEXT,
    }
    text = "[manager]\nnotional_cap = 250\nsymbols = { usdm = ['BTCUSDT'] }\n"
    g = _config(tmp_path, text, env)
    url = "https://fapi.binance.com"
    assert g.mode is ExecutionMode.LIVE
    assert g.check(product=Product.USDM, symbol="BTCUSDT", notional=Decimal(250), target_url=url)
    assert not g.check(
        product=Product.USDM, symbol="BTCUSDT", notional=Decimal("250.01"), target_url=url
    )
    assert not g.check(product=Product.USDM, symbol="ETHUSDT", notional=Decimal(1), target_url=url)
    assert g.check(
        product=Product.SPOT,
        symbol="ETHUSDT",
        notional=Decimal(1),
        target_url="https://api.binance.com",
    )
    # The same file without the confirmation, or with the mode only in the file, refuses.
    no_confirm = {k: v for k, v in env.items() if k != "EXITGUARD_LIVE_CONFIRM"}
    assert not _config(tmp_path, text, no_confirm).preflight()
    file_only = {k: v for k, v in env.items() if k != "EXECUTION_MODE"}
    refused = _config(tmp_path, text + "mode = 'LIVE'\n", file_only).preflight()
    assert "comes only from the config file" in refused.reason


def test_gate_from_config_paper_embedded(tmp_path: Path) -> None:
    g = _config(tmp_path, "", {"EXECUTION_MODE": "PAPER"})
    assert g.preflight().allowed
    assert g.check(
        product=Product.USDM, symbol="X1", notional=Decimal(5), target_url="http://127.0.0.1:4321"
    )
    assert not g.check(
        product=Product.USDM,
        symbol="X1",
        notional=Decimal(5),
        target_url="https://fapi.binance.com",
    )


# --- environment precedence and URL resolution (load_config) ---------------------------------

CREDS = {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    path = tmp_path / "exitguard.toml"
    path.write_text(text)
    return load_config(path, env or {})


def errors(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    return {path: message for path, message in reversed(info.value.issues)}


def test_env_mode_wins_over_the_file(tmp_path: Path) -> None:
    text = "[manager]\nmode = 'PAPER'\n"
    assert load(tmp_path, text).mode is ExecutionMode.PAPER
    assert load(tmp_path, text).mode_source == "file"
    config = load(tmp_path, text, {"EXECUTION_MODE": "dry_run_private"})
    assert (config.mode, config.mode_source) == (ExecutionMode.DRY_RUN_PRIVATE, "env")
    # An empty variable (VAR= in a .env file) counts as unset.
    assert load(tmp_path, text, {"EXECUTION_MODE": ""}).mode_source == "file"


def test_env_urls_win_over_the_file(tmp_path: Path) -> None:
    text = "[manager]\nproducts = ['usdm']\n[urls]\nusdm_rest = 'http://127.0.0.1:1/'\nusdm_ws = 'ws://127.0.0.1:2'\n"
    config = load(tmp_path, text, {"EXITGUARD_USDM_REST_URL": "http://localhost:3"})
    assert config.venue == "external"
    assert config.endpoints == Endpoints(usdm_rest="http://localhost:3", usdm_ws="ws://127.0.0.1:2")


@pytest.mark.parametrize("mode", ["DEMO", "TESTNET", "LIVE"])
def test_sending_modes_use_the_official_urls(tmp_path: Path, mode: str) -> None:
    config = load(tmp_path, "[manager]\nproducts = ['usdm']\n", {"EXECUTION_MODE": mode})
    official = OFFICIAL_URLS[ExecutionMode(mode)]
    assert config.venue == "binance"
    assert config.endpoints.items() == [
        (k, official[k]) for k in official if k.value.startswith("usdm")
    ]
    assert config.endpoints.spot_rest is None  # spot is not enabled


def test_override_in_live_warns_and_plain_http_is_refused(tmp_path: Path) -> None:
    env = {"EXECUTION_MODE": "LIVE", "EXITGUARD_USDM_REST_URL": "https://proxy.example.com"}
    config = load(tmp_path, "[manager]\nproducts = ['usdm']\n", env)
    assert config.endpoints.usdm_rest == "https://proxy.example.com"
    assert dict(config.warnings)["env.EXITGUARD_USDM_REST_URL"] == (
        "overrides the official URL https://fapi.binance.com"
    )
    found = errors(
        tmp_path, "[urls]\nusdm_rest = 'http://proxy.example.com'\n", {"EXECUTION_MODE": "DEMO"}
    )
    assert found == {
        "urls.usdm_rest": "must use https/wss outside loopback: the API key and signatures would "
        "travel in clear text, got 'http://proxy.example.com'"
    }


def test_paper_refuses_non_loopback_urls(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        "[manager]\nproducts = ['usdm']\n[urls]\nusdm_rest = 'http://10.0.0.5:8080'\nusdm_ws = 'ws://localhost:8080'\n",
        {"EXECUTION_MODE": "PAPER"},
    )
    assert found == {
        "urls.usdm_rest": "PAPER sends only to a loopback paper venue (127.0.0.0/8, ::1, "
        "localhost), got 'http://10.0.0.5:8080'"
    }


@pytest.mark.parametrize(
    ("text", "env", "path", "message"),
    [
        (
            "[manager]\nvenue = 'binance'\n",
            {"EXECUTION_MODE": "PAPER"},
            "manager.venue",
            "PAPER sends only to a loopback paper venue; 'binance' is not one (use DRY_RUN_PRIVATE "
            "to read Binance without sending)",
        ),
        (
            "[manager]\nvenue = 'embedded'\n",
            {"EXECUTION_MODE": "LIVE"},
            "manager.venue",
            "mode LIVE sends to Binance: leave venue unset or 'binance' and override URLs in [urls] "
            "or EXITGUARD_*_URL, got 'embedded'",
        ),
        (
            "[manager]\nvenue = 'embedded'\n[urls]\nusdm_rest = 'http://127.0.0.1:1'\n",
            {},
            "urls",
            "manager.venue is 'embedded' but [urls] sets usdm_rest; remove one of them",
        ),
        (
            "[manager]\nvenue = 'external'\nproducts = ['spot']\n[urls]\nspot_rest = 'http://127.0.0.1:1'\n",
            {},
            "urls.spot_ws_api",
            "required: the venue is external and product spot is enabled (or set "
            "EXITGUARD_SPOT_WS_API_URL)",
        ),
    ],
)
def test_venue_choice_errors(
    tmp_path: Path, text: str, env: dict[str, str], path: str, message: str
) -> None:
    assert errors(tmp_path, text, env).get(path) == message


def test_embedded_venue_replaced_by_env_urls(tmp_path: Path) -> None:
    env = {
        "EXITGUARD_USDM_REST_URL": "http://127.0.0.1:5",
        "EXITGUARD_USDM_WS_URL": "ws://127.0.0.1:5",
    }
    config = load(tmp_path, "[manager]\nvenue = 'embedded'\nproducts = ['usdm']\n", env)
    assert config.venue == "external"
    assert "the environment wins" in dict(config.warnings)["manager.venue"]


def test_dry_run_can_read_binance_production(tmp_path: Path) -> None:
    config = load(tmp_path, "[manager]\nvenue = 'binance'\n[venue]\nseed = 1\n", CREDS)
    assert config.venue == "binance" and config.endpoints.usdm_rest == "https://fapi.binance.com"
    assert (
        dict(config.warnings)["venue"]
        == "ignored: the venue is binance, not the embedded paper venue"
    )
    assert not config.mutation_gate().preflight().allowed


def test_live_readiness_warnings(tmp_path: Path) -> None:
    config = load(tmp_path, "[manager]\nmode = 'LIVE'\n")
    assert [path for path, _ in config.warnings] == [
        "manager.mode",
        "env.BINANCE_API_KEY",
        "env.EXITGUARD_LIVE_CONFIRM",
        "manager.notional_cap",
    ]
    assert "EXECUTION_MODE=LIVE" in dict(config.warnings)["manager.mode"]
