"""exitguard.config: the TOML schema, inheritance, environment precedence, every error path and
message, credentials refused in the file, and ``exitguard config check``."""

from __future__ import annotations

import base64
import os
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exitguard.cli.config_cmd import app
from exitguard.config import (
    Config,
    ConfigError,
    ConfigFileError,
    Endpoints,
    ExecutionMode,
    load_config,
)
from exitguard.domain.enums import Product, WorkingType
from exitguard.planner.policy import (
    Distance,
    ImmediateTriggerAction,
    ProtectionPolicy,
    StopLossPolicy,
)

KEY = "k" * 20 + "A1" * 22  # 64 characters, like a Binance API key
SECRET = "s" * 20 + "B2" * 22
CREDS = {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
# A PKCS#8 Ed25519 private key (random scalar): what `openssl genpkey -algorithm ed25519` writes.
ED25519_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIOJLtD7cLzPEdrdv1iVKEyVyHLEoHio69l0qWHJyYHqe\n"
    "-----END PRIVATE KEY-----\n"
)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI reads os.environ: a developer's real variables must not leak into these tests.
    for name in list(os.environ):
        if name.startswith(("BINANCE_", "EXITGUARD_")) or name == "EXECUTION_MODE":
            monkeypatch.delenv(name)


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    path = tmp_path / "exitguard.toml"
    path.write_text(text)
    return load_config(path, env or {})


def errors(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    found: dict[str, str] = {}
    for path, message in info.value.issues:
        found.setdefault(path, message)
    return found


# --- defaults, the example file, inheritance ------------------------------------------------


def test_no_file_gives_safe_defaults() -> None:
    config = load_config(None, {})
    assert config.mode is ExecutionMode.DRY_RUN_PRIVATE
    assert config.mode_source == "default"
    assert config.products == (Product.USDM, Product.SPOT)
    assert config.venue == "embedded" and config.endpoints == Endpoints()
    assert config.credentials is None and config.notional_cap is None
    assert config.state_db.name == "exitguard.db" and config.state_db.parent.name == "exitguard"
    builtin = ProtectionPolicy(stop_loss=StopLossPolicy(Distance(percent=Decimal(2))))
    assert config.policy_for(Product.USDM, "BTCUSDT") == builtin
    assert config.policies[Product.USDM].default_is_builtin
    assert config.manages(Product.SPOT, "ANYUSDT")
    assert not config.mutation_gate().preflight().allowed


def test_bundled_example_is_valid_and_inherits_field_by_field() -> None:
    path = Path(str(files("exitguard").joinpath("examples/exitguard.toml")))
    config = load_config(path, {})
    assert config.account == "main"
    assert config.notional_cap == Decimal(5000)
    assert config.symbols[Product.USDM] == ("BTCUSDT", "ETHUSDT")
    assert config.embedded_venue.start_prices["BTCUSDT"] == Decimal(60000)
    assert config.state_db == path.parent / "exitguard.db"
    btc = config.policy_for(Product.USDM, "BTCUSDT")
    assert btc.stop_loss is not None and btc.take_profit is not None and btc.trailing is not None
    assert btc.stop_loss.distance == Distance(price=Decimal(1200))  # replaced whole
    assert btc.stop_loss.working_type is WorkingType.MARK_PRICE  # inherited
    assert btc.stop_loss.price_protect is True  # inherited
    assert btc.take_profit.conditional and btc.take_profit.distance == Distance(percent=Decimal(5))
    assert btc.trailing.callback_rate == Decimal("1.5")
    assert btc.trailing.activation == Distance(percent=Decimal(2))
    assert btc.on_immediate_trigger is ImmediateTriggerAction.CLOSE_NOW
    eth = config.policy_for(Product.USDM, "ETHUSDT")
    assert eth == config.policies[Product.USDM].default
    assert eth.take_profit is not None and not eth.take_profit.conditional
    spot = config.policy_for(Product.SPOT, "ETHUSDT")
    # ETHUSDT trails instead: a Spot balance backs one exit, so the stop and TP are off.
    assert spot.take_profit is None and spot.stop_loss is None  # enabled = false
    assert spot.trailing is not None and spot.trailing.trailing_delta_bips == 150
    assert spot.on_immediate_trigger is ImmediateTriggerAction.WIDEN
    assert config.warnings == ()


def test_symbol_section_overrides_only_what_it_sets(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [policy.usdm.default]
        stop_loss = { distance = { percent = 2 }, working_type = "CONTRACT_PRICE", price_protect = false }
        trailing = { callback_rate = 1, enabled = false }
        [policy.usdm.SOLUSDT]
        stop_loss = { distance = { percent = 1 } }
        trailing = { activation = { price = 5 } }
        on_immediate_trigger = "widen"
        """,
    )
    sol = config.policy_for(Product.USDM, "SOLUSDT")
    assert sol.stop_loss == StopLossPolicy(
        Distance(percent=Decimal(1)), WorkingType.CONTRACT_PRICE, price_protect=False
    )
    # Mentioning a role turns it on; its other keys still come from the default.
    assert sol.trailing is not None and sol.trailing.callback_rate == Decimal(1)
    assert sol.trailing.activation == Distance(price=Decimal(5))
    assert sol.on_immediate_trigger is ImmediateTriggerAction.WIDEN
    default = config.policy_for(Product.USDM, "XRPUSDT")
    assert default.trailing is None and default.on_immediate_trigger is ImmediateTriggerAction.ALERT


def test_symbol_section_without_file_default_inherits_the_builtin(tmp_path: Path) -> None:
    config = load(tmp_path, "[policy.spot.BTCUSDT]\ntake_profit = { distance = { percent = 3 } }\n")
    btc = config.policy_for(Product.SPOT, "BTCUSDT")
    assert btc.stop_loss is not None and btc.stop_loss.distance == Distance(percent=Decimal(2))
    assert btc.stop_loss.working_type is WorkingType.CONTRACT_PRICE  # Spot: last trade price
    assert btc.take_profit is not None and btc.take_profit.price_protect is False


def test_numbers_keep_their_text(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[policy.usdm.default]\nstop_loss = { distance = { percent = 0.1 } }\n"
        'trailing = { callback_rate = "0.3" }\n',
    )
    policy = config.policy_for(Product.USDM, "BTCUSDT")
    assert policy.stop_loss is not None and policy.stop_loss.distance.percent == Decimal("0.1")
    assert policy.trailing is not None and policy.trailing.callback_rate == Decimal("0.3")


def test_policy_for_refuses_disabled_products_and_unlisted_symbols(tmp_path: Path) -> None:
    config = load(tmp_path, '[manager]\nproducts = ["usdm"]\nsymbols = { usdm = ["BTCUSDT"] }\n')
    assert config.manages(Product.USDM, "BTCUSDT")
    assert not config.manages(Product.USDM, "ETHUSDT")
    assert not config.manages(Product.SPOT, "BTCUSDT")
    with pytest.raises(LookupError, match="product spot is not enabled"):
        config.policy_for(Product.SPOT, "BTCUSDT")
    with pytest.raises(LookupError, match=r"'ETHUSDT' is not in manager.symbols.usdm"):
        config.policy_for(Product.USDM, "ETHUSDT")


# --- every error path and message -----------------------------------------------------------

# One case per two lines: the TOML (" | " separates its lines), then "=> path: message".
ERROR_TABLE = r"""
[policy.usdm.BTCUSDT.trailing] | callback_rate = 25
    => policy.usdm.BTCUSDT.trailing.callback_rate: must be between 0.1 and 20 (Binance callbackRate range), got 25
[policy.usdm.default.trailing] | callback_rate = 0.05
    => policy.usdm.default.trailing.callback_rate: must be between 0.1 and 20 (Binance callbackRate range), got 0.05
[policy.usdm.default.stop_loss] | distance = { percent = 100 }
    => policy.usdm.default.stop_loss.distance.percent: must be greater than 0 and less than 100 (percent), got 100
[policy.usdm.default.stop_loss] | distance = { price = 0 }
    => policy.usdm.default.stop_loss.distance.price: must be greater than 0, got 0
[policy.usdm.default.stop_loss] | distance = { percent = 1, price = 5 }
    => policy.usdm.default.stop_loss.distance: set exactly one of percent or price, e.g. { percent = 1.5 } or { price = 250 }
[policy.usdm.default.stop_loss] | distance = {}
    => policy.usdm.default.stop_loss.distance: set exactly one of percent or price, e.g. { percent = 1.5 } or { price = 250 }
[policy.usdm.default.stop_loss] | distance = 2
    => policy.usdm.default.stop_loss.distance: must be a table, got 2
[policy.usdm.default.stop_loss] | distance = { percent = "two" }
    => policy.usdm.default.stop_loss.distance.percent: must be a number (or a numeric string), got 'two'
[policy.usdm.default.stop_loss] | distance = { percent = true }
    => policy.usdm.default.stop_loss.distance.percent: must be a number, got True
[policy.usdm.default.stop_loss] | distance = { percent = "nan" }
    => policy.usdm.default.stop_loss.distance.percent: must be a finite number, got 'nan'
[policy.usdm.default.stop_loss] | distance = { percent = 1 } | working_type = "LAST"
    => policy.usdm.default.stop_loss.working_type: must be 'MARK_PRICE' or 'CONTRACT_PRICE', got 'LAST'
[policy.usdm.default.stop_loss] | distance = { percent = 1 } | price_protect = "yes"
    => policy.usdm.default.stop_loss.price_protect: must be true or false, got 'yes'
[policy.usdm.default] | on_immediate_trigger = "panic"
    => policy.usdm.default.on_immediate_trigger: must be 'close_now', 'widen' or 'alert', got 'panic'
[policy.spot.default.trailing] | trailing_delta_bips = 20000
    => policy.spot.default.trailing.trailing_delta_bips: must be between 1 and 10000 BIPS (1 BIP = 0.01 %; the symbol's TRAILING_DELTA filter narrows it further), got 20000
[policy.spot.default.trailing] | trailing_delta_bips = 1.5
    => policy.spot.default.trailing.trailing_delta_bips: must be an integer number of BIPS (1 BIP = 0.01 %), got 1.5
[policy.spot.default.stop_loss] | distance = { percent = 1 } | limit_offset_percent = 0
    => policy.spot.default.stop_loss.limit_offset_percent: must be greater than 0 and less than 100 (percent), got 0
[policy.usdm.default.stop_loss] | distance = { percent = 1 } | ditsance = 2
    => policy.usdm.default.stop_loss.ditsance: unknown key; allowed keys: enabled, distance, working_type, price_protect, quantity_based
[policy.spot.default.stop_loss] | distance = { percent = 1 } | price_protect = true
    => policy.spot.default.stop_loss.price_protect: unknown key; allowed keys: enabled, distance, limit_offset_percent (price_protect is a USD-M setting, not used on Spot)
[policy.spot.default.stop_loss] | distance = { percent = 1 } | working_type = "MARK_PRICE"
    => policy.spot.default.stop_loss.working_type: unknown key; allowed keys: enabled, distance, limit_offset_percent (working_type is a USD-M setting, not used on Spot; Spot stops trigger on the last trade price)
[policy.usdm.default.trailing] | trailing_delta_bips = 100
    => policy.usdm.default.trailing.trailing_delta_bips: unknown key; allowed keys: enabled, callback_rate, activation, working_type, after_level (trailing_delta_bips is a Spot setting, not used on USD-M)
[policy.usdm.default] | stop_los = { distance = { percent = 1 } }
    => policy.usdm.default.stop_los: unknown key; allowed keys: stop_loss, take_profit, trailing, on_immediate_trigger, ladder, stop_moves, roi, time_stop, liquidation_guard
[policy.usdm.default.stop_loss] | distance = { percent = 1, pct = 2 }
    => policy.usdm.default.stop_loss.distance.pct: unknown key; allowed keys: percent, price
[policy.usdm.btcusdt]
    => policy.usdm.btcusdt: section name must be 'default' or an upper-case symbol such as BTCUSDT
[policy.coinm.default]
    => policy.coinm: unknown product; allowed: usdm, spot
policy = 3
    => policy: must be a table ([policy.usdm.default], [policy.spot.BTCUSDT], ...)
[policy] | usdm = 3
    => policy.usdm: must be a table of sections ([policy.usdm.default], ...)
[policy.usdm] | default = 3
    => policy.usdm.default: must be a table, got 3
[managr]
    => managr: unknown section; allowed: manager, urls, venue, usdm, policy, api, notifications
manager = 1
    => manager: must be a table, got 1
[manager] | acount = 'x'
    => manager.acount: unknown key; allowed keys: account, mode, products, symbols, state_db, notional_cap, venue, spot_stream_auth, dialect
[manager] | dialect = 'okx'
    => manager.dialect: must be one of binance, primit, got 'okx'
[venue] | dialect = 'PRIMIT'
    => venue.dialect: must be one of binance, primit, got 'PRIMIT'
[venue] | dialect = 3
    => venue.dialect: must be one of binance, primit, got 3
[manager] | account = 'my account'
    => manager.account: must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-', got 'my account'
[manager] | mode = 'SHADOW'
    => manager.mode: must be one of DRY_RUN_PRIVATE, PAPER, DEMO, TESTNET, LIVE, got 'SHADOW'
[manager] | products = []
    => manager.products: must name at least one product (usdm, spot)
[manager] | products = ['usdm', 'usdm']
    => manager.products: lists usdm twice; each product at most once
[manager] | products = ['coinm']
    => manager.products[0]: must be 'spot' or 'usdm', got 'coinm'
[manager] | products = 'usdm'
    => manager.products: must be a list, got 'usdm'
[manager.symbols] | usdm = ['BTCUSDT', 'BTCUSDT']
    => manager.symbols.usdm: lists BTCUSDT twice; each symbol at most once
[manager.symbols] | usdm = ['btc-usdt']
    => manager.symbols.usdm[0]: must be an upper-case symbol such as BTCUSDT, got 'btc-usdt'
[manager] | notional_cap = 0
    => manager.notional_cap: must be greater than 0, got 0
[manager] | state_db = ' '
    => manager.state_db: must be a non-empty string, got ' '
[manager] | venue = 'remote'
    => manager.venue: must be 'embedded', 'external' or 'binance', got 'remote'
[venue] | port = 70000
    => venue.port: must be between 0 and 65535 (0 = any free port), got 70000
[venue] | seed = -1
    => venue.seed: must be 0 or more, got -1
[venue] | seed = true
    => venue.seed: must be an integer, got True
[venue] | feed = 'replay'
    => venue.feed: must be 'synthetic' or 'none', got 'replay'
[venue] | balances = { USDT = -1 }
    => venue.balances.USDT: must be 0 or more, got -1
[venue] | balances = { usdt = 1 }
    => venue.balances.usdt: must be an upper-case asset such as USDT, got 'usdt'
[venue] | start_prices = { BTCUSDT = 0 }
    => venue.start_prices.BTCUSDT: must be greater than 0, got 0
[urls] | usdm_rest = 'ftp://example.com'
    => urls.usdm_rest: must be an absolute http or https URL with a host, got 'ftp://example.com'
[urls] | usdm_ws = 'https://example.com'
    => urls.usdm_ws: must be an absolute ws or wss URL with a host, got 'https://example.com'
[urls] | usdm_rest = 'http://127.0.0.1:1/x?y=1'
    => urls.usdm_rest: must be a base URL without query or fragment, got 'http://127.0.0.1:1/x?y=1'
[urls] | usdm_rest = 5
    => urls.usdm_rest: must be a https:// URL string, got 5
[urls] | usdm_rest = 'http://127.0.0.1:99999'
    => urls.usdm_rest: is not a valid URL, got 'http://127.0.0.1:99999'
[urls] | usdm_grpc = 'http://x'
    => urls.usdm_grpc: unknown key; allowed keys: usdm_rest, usdm_ws, spot_rest, spot_ws_api, spot_ws_streams, usdm_ws_api
"""


def _cases(table: str) -> list[tuple[str, str, str]]:
    lines = table.strip().splitlines()
    cases = []
    for toml_line, expect in zip(lines[::2], lines[1::2], strict=True):
        path, message = expect.strip().removeprefix("=> ").split(": ", 1)
        cases.append((toml_line.replace(" | ", "\n") + "\n", path, message))
    return cases


ERROR_CASES = _cases(ERROR_TABLE)


@pytest.mark.parametrize(("text", "path", "message"), ERROR_CASES)
def test_error_path_and_message(tmp_path: Path, text: str, path: str, message: str) -> None:
    found = errors(tmp_path, text)
    assert found.get(path) == message, found


def test_url_with_userinfo_never_echoes_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[urls]\nusdm_rest = 'https://me:hunter2pass@example.com'\n")
    assert info.value.issues[0] == (
        "urls.usdm_rest",
        "must not carry user:password (credentials come from the environment)",
    )
    assert "hunter2pass" not in str(info.value)


def test_merge_level_errors_name_the_symbol_section(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        """
        [policy.usdm.default]
        stop_loss = { distance = { percent = 2 } }
        [policy.usdm.BTCUSDT]
        trailing = { activation = { percent = 1 } }
        take_profit = { distance = { percent = 3 }, working_type = "MARK_PRICE" }
        [policy.spot.ETHUSDT]
        trailing = { activation = { percent = 1 } }
        [policy.spot.BTCUSDT.take_profit]
        enabled = true
        """,
    )
    assert found == {
        "policy.usdm.BTCUSDT.trailing.callback_rate": (
            "required (not set here nor in policy.usdm.default): percent, 0.1 to 20"
        ),
        "policy.usdm.BTCUSDT.take_profit.working_type": (
            "applies only to a conditional take-profit (conditional = true); a fixed take-profit "
            "is a regular reduce-only LIMIT order (seed 001)"
        ),
        "policy.spot.ETHUSDT.trailing.trailing_delta_bips": (
            "required (not set here nor in the built-in default): 1 BIP = 0.01 %"
        ),
        "policy.spot.BTCUSDT.take_profit.distance": (
            "required (not set here nor in the built-in default): the target's distance"
        ),
    }


def test_default_section_missing_distance(tmp_path: Path) -> None:
    found = errors(tmp_path, "[policy.usdm.default.stop_loss]\nworking_type = 'MARK_PRICE'\n")
    assert found == {
        "policy.usdm.default.stop_loss.distance": "required: the stop's distance from entry"
    }


def test_symbol_section_must_be_managed(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        "[manager.symbols]\nusdm = ['BTCUSDT']\n[policy.usdm.ETHUSDT]\non_immediate_trigger = 'alert'\n",
    )
    assert found == {
        "policy.usdm.ETHUSDT": (
            "ETHUSDT is not in manager.symbols.usdm (add it there or remove this section)"
        )
    }


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(
            tmp_path,
            """
            [manager]
            notional_cap = -1
            products = []
            [venue]
            port = -1
            [policy.usdm.BTCUSDT.trailing]
            callback_rate = 25
            [policy.spot.default.stop_loss]
            distance = { percent = 0 }
            """,
            {"EXECUTION_MODE": "LIVEE", "BINANCE_API_KEY": KEY},
        )
    paths = [path for path, _ in info.value.issues]
    assert paths == [
        "manager.products",
        "manager.notional_cap",
        "venue.port",
        "env.EXECUTION_MODE",
        "env.BINANCE_API_KEY",
        "policy.usdm.BTCUSDT.trailing.callback_rate",
        "policy.spot.default.stop_loss.distance.percent",
    ]
    text = str(info.value)
    assert text.startswith("7 configuration errors\n")
    assert "  policy.usdm.BTCUSDT.trailing.callback_rate: must be between 0.1 and 20" in text


def test_warnings_for_valid_but_useless_settings(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [manager]
        products = ["usdm"]
        [policy.usdm.default]
        stop_loss = { enabled = false }
        [policy.spot.default]
        stop_loss = { distance = { percent = 1 } }
        """,
        {"EXITGUARD_USDM_RST_URL": "http://127.0.0.1:1"},
    )
    warnings = dict(config.warnings)
    assert warnings["policy.usdm.default"] == "no exit is enabled: these positions stay unprotected"
    assert warnings["policy.spot"] == "product spot is not in manager.products; ignored"
    assert warnings["env.EXITGUARD_USDM_RST_URL"].startswith("not an exitguard variable (typo?)")
    assert Product.SPOT not in config.policies


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("[manager]\napi_key = 'VALUE-abcdefgh'\n", "manager.api_key"),
        ("api_secret = 'VALUE-abcdefgh'\n", "api_secret"),
        ("[credentials]\nkey = 'VALUE-abcdefgh'\n", "credentials"),
        ("[manager]\nprivate_key_file = '/k.pem'\n", "manager.private_key_file"),
        (
            "[policy.usdm.default]\nBINANCE-API-SECRET = 'VALUE-abcdefgh'\n",
            "policy.usdm.default.BINANCE-API-SECRET",
        ),
        ("[urls]\npassword = 'VALUE-abcdefgh'\n", "urls.password"),
    ],
)
def test_credentials_in_the_file_are_refused(tmp_path: Path, text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.issues == [
        (
            path,
            "credentials are read only from the environment (BINANCE_API_KEY with "
            "BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_FILE), never from the config file; "
            "remove this key",
        )
    ]
    assert "VALUE-abcdefgh" not in str(info.value)


def test_symbol_names_are_not_credentials(tmp_path: Path) -> None:
    config = load(tmp_path, "[venue]\nstart_prices = { SECRETUSDT = 1 }\n")
    assert config.embedded_venue.start_prices == {"SECRETUSDT": Decimal(1)}


def test_hmac_credentials_from_env(tmp_path: Path) -> None:
    config = load(tmp_path, "", CREDS)
    assert config.credentials is not None
    assert config.credentials.kind == "hmac"
    assert config.credentials.api_key == KEY and config.credentials.api_secret == SECRET
    assert KEY not in repr(config.credentials) and SECRET not in repr(config)


def test_ed25519_key_file(tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text(ED25519_PEM)
    config = load(tmp_path, "", {"BINANCE_API_KEY": KEY, "BINANCE_PRIVATE_KEY_FILE": str(pem)})
    assert config.credentials is not None and config.credentials.kind == "ed25519"
    assert config.credentials.private_key_file == pem


@pytest.mark.parametrize(
    ("env", "path", "message"),
    [
        (
            {"BINANCE_API_KEY": KEY},
            "env.BINANCE_API_KEY",
            "needs BINANCE_API_SECRET (HMAC) or BINANCE_PRIVATE_KEY_FILE (Ed25519 PEM path) beside it",
        ),
        (
            {"BINANCE_API_SECRET": SECRET},
            "env.BINANCE_API_SECRET",
            "is set but BINANCE_API_KEY is not; set both",
        ),
        (
            {**CREDS, "BINANCE_PRIVATE_KEY_FILE": "/x.pem"},
            "env.BINANCE_PRIVATE_KEY_FILE",
            "set either BINANCE_API_SECRET (HMAC) or BINANCE_PRIVATE_KEY_FILE (Ed25519), not both",
        ),
        (
            {"BINANCE_API_KEY": KEY + "\n", "BINANCE_API_SECRET": SECRET},
            "env.BINANCE_API_KEY",
            "must not contain whitespace (a trailing newline from a file is the usual cause); the value is not shown",
        ),
        (
            {**CREDS, "BINANCE_PRIVATE_KEY_PASSPHRASE": "pass-phrase-1"},
            "env.BINANCE_PRIVATE_KEY_PASSPHRASE",
            "is set but BINANCE_PRIVATE_KEY_FILE is not",
        ),
        (
            {"BINANCE_API_KEY": KEY, "BINANCE_PRIVATE_KEY_FILE": "/nonexistent/key.pem"},
            "env.BINANCE_PRIVATE_KEY_FILE",
            "no such file: '/nonexistent/key.pem' (an Ed25519 private key in PEM format)",
        ),
        (
            {"EXECUTION_MODE": "live!"},
            "env.EXECUTION_MODE",
            "must be one of DRY_RUN_PRIVATE, PAPER, DEMO, TESTNET, LIVE, got 'live!'",
        ),
        (
            {"EXITGUARD_LIVE_CONFIRM": "yes"},
            "env.EXITGUARD_LIVE_CONFIRM",
            "must be exactly 'I understand this sends real orders' to confirm LIVE, got 'yes'",
        ),
        (
            {"EXITGUARD_USDM_REST_URL": "fapi.binance.com"},
            "env.EXITGUARD_USDM_REST_URL",
            "must be an absolute http or https URL with a host, got 'fapi.binance.com'",
        ),
    ],
)
def test_env_errors(tmp_path: Path, env: dict[str, str], path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "", env)
    assert (path, message) in info.value.issues
    assert KEY not in str(info.value) and SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not a key\n", "holds no '-----BEGIN PRIVATE KEY-----' block (PKCS#8 PEM, Ed25519)"),
        (
            "-----BEGIN PRIVATE KEY-----\n"
            + base64.b64encode(bytes.fromhex("30820122") + bytes(40)).decode()
            + "\n-----END PRIVATE KEY-----\n",
            "is not an Ed25519 private key",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n",
            ": the PEM body is not valid base64",
        ),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "is encrypted; set BINANCE_PRIVATE_KEY_PASSPHRASE",
        ),
    ],
)
def test_key_file_checks(tmp_path: Path, content: str, message: str) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text(content)
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "", {"BINANCE_API_KEY": KEY, "BINANCE_PRIVATE_KEY_FILE": str(pem)})
    assert info.value.issues == [
        ("env.BINANCE_PRIVATE_KEY_FILE", f"{str(pem)!r} {message}".replace("' :", "':"))
    ]


def test_encrypted_key_file_with_passphrase(tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    config = load(
        tmp_path,
        "",
        {
            "BINANCE_API_KEY": KEY,
            "BINANCE_PRIVATE_KEY_FILE": str(pem),
            "BINANCE_PRIVATE_KEY_PASSPHRASE": "a passphrase",
        },
    )
    assert (
        config.credentials is not None
        and config.credentials.private_key_passphrase == "a passphrase"
    )


# --- the file itself -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(tmp_path / "nope.toml", {})
    assert info.value.issues == [(str(tmp_path / "nope.toml"), "no such file")]


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[manager]\naccount = \n")
    with pytest.raises(ConfigFileError) as info:
        load_config(path, {})
    assert (info.value.line, info.value.column) == (2, 11)
    assert info.value.issues[0].message == "invalid TOML: Invalid value (at line 2, column 11)"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"a = '\xff'\n")
    with pytest.raises(ConfigFileError, match=r"not UTF-8 text \(bad byte at offset 5\)"):
        load_config(path, {})


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_config(tmp_path, {})


# --- exitguard config check ------------------------------------------------------------------

runner = CliRunner()


def test_cli_ok_prints_summary_and_policy_table(tmp_path: Path) -> None:
    path = Path(str(files("exitguard").joinpath("examples/exitguard.toml")))
    result = runner.invoke(
        app, ["check", "--config", str(path)], env={**CREDS, "EXECUTION_MODE": "PAPER"}
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"OK: {path}\n")
    for expected in (
        "PAPER (from EXECUTION_MODE)",
        "usdm, spot",
        "usdm: BTCUSDT, ETHUSDT; spot: ETHUSDT",
        "embedded paper venue (seed 7, feed synthetic)",
        "present (hmac, from the environment)",
        "allowed: PAPER: requests go to a loopback paper venue only",
        "Effective policy per symbol",
        "TRAILING_STOP_MARKET 1.5%",
        "ETHUSDT (default)",
        "trailingDelta 150 BIPS",
        "close_now",
    ):
        assert expected in out, expected
    assert KEY not in out and SECRET not in out


def test_cli_invalid_config_exit_1_lists_every_error(tmp_path: Path) -> None:
    path = tmp_path / "exitguard.toml"
    path.write_text(
        "[manager]\nnotional_cap = 0\n[policy.usdm.BTCUSDT.trailing]\ncallback_rate = 25\n"
    )
    result = runner.invoke(app, ["check", "-c", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"exitguard config check: 2 errors in {path}",
        "  manager.notional_cap: must be greater than 0, got 0",
        "  policy.usdm.BTCUSDT.trailing.callback_rate: must be between 0.1 and 20 (Binance "
        "callbackRate range), got 25",
    ]


def test_cli_missing_file_and_bad_toml_exit_2(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["check", "--config", str(tmp_path / "x.toml")])
    assert missing.exit_code == 2
    assert "x.toml: no such file" in missing.output
    bad = tmp_path / "bad.toml"
    bad.write_text("a = 1\n[x\n")
    result = runner.invoke(app, ["check", "--config", str(bad)])
    assert result.exit_code == 2
    assert (
        "invalid TOML: Expected ']' at the end of a table declaration (at line 2, column 3)"
        in result.output
    )


def test_cli_default_path_and_envvar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # No ./exitguard.toml: the built-in defaults are checked, as `run` would use them.
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 0 and "OK: built-in defaults" in result.output
    assert runner.invoke(app, ["check", "-c", "missing.toml"]).exit_code == 2
    (tmp_path / "exitguard.toml").write_text("")
    assert runner.invoke(app, ["check"]).exit_code == 0
    other = tmp_path / "other.toml"
    other.write_text("[manager]\naccount = 'viaenv'\n")
    result = runner.invoke(app, ["check"], env={"EXITGUARD_CONFIG": str(other)})
    assert result.exit_code == 0 and "viaenv" in result.output


def test_registered_on_the_main_app() -> None:
    from exitguard.cli.main import app as main_app

    result = runner.invoke(main_app, ["config", "check", "--help"])
    assert result.exit_code == 0 and "--config" in result.output


def test_spot_stream_auth_defaults_to_auto_and_logon_needs_ed25519(tmp_path: Path) -> None:
    assert load(tmp_path, "").spot_stream_auth == "auto"
    pem = tmp_path / "key.pem"
    pem.write_text(ED25519_PEM)
    ed_env = {"BINANCE_API_KEY": KEY, "BINANCE_PRIVATE_KEY_FILE": str(pem)}
    config = load(tmp_path, "[manager]\nspot_stream_auth = 'logon'\n", ed_env)
    assert config.spot_stream_auth == "logon"
    found = errors(tmp_path, "[manager]\nspot_stream_auth = 'logon'\n", CREDS)
    assert found["manager.spot_stream_auth"].startswith("'logon' needs an Ed25519 key")
    assert "hmac" in found["manager.spot_stream_auth"]
    found = errors(tmp_path, "[manager]\nspot_stream_auth = 'password'\n")
    assert "manager.spot_stream_auth" in found


def test_spot_trailing_beside_a_stop_is_a_warning_naming_what_is_placed(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[manager]\nproducts = ["spot"]\n[policy.spot.default]\n'
        "stop_loss = { distance = { percent = 3 } }\n"
        "trailing = { trailing_delta_bips = 150 }\n",
    )
    text = [str(w) for w in config.warnings]
    assert any(
        w.startswith("policy.spot.default.trailing: not placed") and "the stop-loss takes it" in w
        for w in text
    ), text
    alone = load(
        tmp_path,
        '[manager]\nproducts = ["spot"]\n[policy.spot.default]\n'
        "stop_loss = { enabled = false }\ntrailing = { trailing_delta_bips = 150 }\n",
    )
    assert not any("trailing" in str(w) for w in alone.warnings)


def test_without_a_file_the_state_lives_in_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {})
    assert config.state_db == tmp_path / "data" / "exitguard" / "exitguard.db"
    # A file that does not name one keeps it beside the file, as before.
    (tmp_path / "exitguard.toml").write_text("")
    assert load_config(tmp_path / "exitguard.toml", {}).state_db == tmp_path / "exitguard.db"
