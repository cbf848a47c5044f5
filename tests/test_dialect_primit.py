"""Seed 003's Primit dialect where it differs from Binance: each deviation on the venue and in
``exitguard check-order --dialect``.

Seed 003 (New Algo Order page of Primit): -1130 for an unsupported type / side / positionSide;
clientAlgoId ``[A-Za-z0-9_.-]`` (<= 36); -2010 for the trigger-order limit and for a reference
price that is unavailable; newOrderRespType ACK or RESULT; ``"activatePrice": null`` and
``"callbackRate": null`` on a STOP_MARKET row.
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.resources import files
from typing import Any

import pytest
from typer.testing import CliRunner

from exitguard.cli.main import app
from exitguard.domain import BINANCE, PRIMIT, Dialect, Side
from exitguard.domain.filters import FUTURES_ACCOUNT_ALGO_ORDER_LIMIT
from exitguard.venue.errors import VenueError
from exitguard.venue.usdm import UsdmExchange

D = Decimal
T0 = 1_800_000_000_000
runner = CliRunner(env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})


def exchange(dialect: Dialect) -> tuple[UsdmExchange, Any]:
    doc = json.loads(files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text())
    x = UsdmExchange(doc, lambda: T0, dialect=dialect)
    return x, x.create_account(D(100_000))


def stop(**over: str | None) -> dict[str, str]:
    p: dict[str, str | None] = {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "triggerPrice": "64000.0",
        "quantity": "0.010",
        "reduceOnly": "true",
        "clientAlgoId": "exg-stop-1",
    }
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def venue_code(dialect: Dialect, params: dict[str, str]) -> int | None:
    x, acct = exchange(dialect)
    try:
        x.new_algo_order(acct, params)
    except VenueError as err:
        return err.code
    return None


def cli_codes(dialect: str, params: dict[str, str]) -> list[int]:
    result = runner.invoke(app, ["check-order", "--json", "--dialect", dialect, json.dumps(params)])
    assert result.exit_code in (0, 1), result.output
    return [v["code"] for v in json.loads(result.stdout)["violations"]]


# Each row: the order, Binance's first code, primit's first code (None: accepted).
DEVIATIONS = [
    pytest.param(stop(type="LIMIT"), -1116, -1130, id="unsupported-type"),
    pytest.param(stop(type="FOO"), -1116, -1130, id="unknown-type"),
    pytest.param(stop(side="HOLD"), -1117, -1130, id="unknown-side"),
    pytest.param(stop(positionSide="MIDDLE"), -4060, -1130, id="unknown-positionSide"),
    pytest.param(stop(clientAlgoId="a:b/c"), None, -4015, id="clientAlgoId-colon-slash"),
    pytest.param(stop(clientAlgoId="x" * 37), -4015, -4015, id="clientAlgoId-too-long"),
    pytest.param(stop(clientAlgoId="ok_id-1.2"), None, None, id="clientAlgoId-ok"),
    pytest.param(stop(newOrderRespType="FULL"), None, -1130, id="respType-FULL"),
    pytest.param(stop(newOrderRespType="RESULT"), None, None, id="respType-RESULT"),
]


@pytest.mark.parametrize(("params", "binance", "primit"), DEVIATIONS)
def test_venue_answers_the_dialects_code(
    params: dict[str, str], binance: int | None, primit: int | None
) -> None:
    assert venue_code(BINANCE, params) == binance
    assert venue_code(PRIMIT, {k: v for k, v in params.items() if k != "algoType"}) == primit


@pytest.mark.parametrize(("params", "binance", "primit"), DEVIATIONS)
def test_check_order_answers_the_dialects_code(
    params: dict[str, str], binance: int | None, primit: int | None
) -> None:
    assert cli_codes("binance", params)[:1] == ([binance] if binance else [])
    assert cli_codes("primit", params)[:1] == ([primit] if primit else [])


def test_trigger_order_limit_is_2010_on_primit() -> None:
    for dialect, code in ((BINANCE, -4045), (PRIMIT, -2010)):
        x, acct = exchange(dialect)
        x.open_position(acct, "BTCUSDT", Side.BUY, D("5.000"))
        for i in range(FUTURES_ACCOUNT_ALGO_ORDER_LIMIT):
            x.new_algo_order(acct, stop(clientAlgoId=f"s{i}"))
        with pytest.raises(VenueError) as err:
            x.new_algo_order(acct, stop(clientAlgoId="one-too-many"))
        assert err.value.code == code, dialect.name


def test_trigger_order_limit_in_local_check() -> None:
    from exitguard.domain.check import OrderKind, check_order
    from exitguard.domain.validation.context import MarketContext

    x, _ = exchange(PRIMIT)
    full = MarketContext(open_algo_orders=FUTURES_ACCOUNT_ALGO_ORDER_LIMIT)
    for dialect, code in ((BINANCE, -4045), (PRIMIT, -2010)):
        result = check_order(OrderKind.USDM_ALGO, stop(), x.rules, full, dialect, quantize=False)
        assert [v.code for v in result.violations] == [code]


def test_missing_reference_price_is_2010_not_an_assertion() -> None:
    x, acct = exchange(PRIMIT)
    x.markets["BTCUSDT"].mark = D(0)  # no mark price yet: a trailing stop has no reference
    with pytest.raises(VenueError) as err:
        x.new_algo_order(
            acct,
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "TRAILING_STOP_MARKET",
                "quoteOrderQty": "1000",
                "callbackRate": "1",
            },
        )
    assert err.value.code == -2010
    assert x.algo.orders == {}


def test_absent_trigger_fields_are_null_on_primit() -> None:
    x, acct = exchange(PRIMIT)
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    placed = x.new_algo_order(acct, stop())
    assert placed["activatePrice"] is None and placed["callbackRate"] is None
    assert placed["triggerPrice"] == "64000.0"
    trail = x.new_algo_order(
        acct,
        stop(type="TRAILING_STOP_MARKET", triggerPrice=None, callbackRate="1", clientAlgoId="t"),
    )
    assert trail["triggerPrice"] is None and trail["callbackRate"] == "1"
    q = {"algoId": str(placed["algoId"])}
    rows = [
        x.query_algo_order(acct, q),
        *x.open_algo_orders(acct, {}),
        *x.all_algo_orders(acct, {"symbol": "BTCUSDT"}),
    ]
    for row in rows:
        fields = (
            ("triggerPrice",)
            if row["orderType"] == "TRAILING_STOP_MARKET"
            else (
                "activatePrice",
                "callbackRate",
            )
        )
        assert all(row[f] is None for f in fields), row
    # Binance's rows never carry null here: a field the order type does not use is absent.
    xb, ab = exchange(BINANCE)
    xb.open_position(ab, "BTCUSDT", Side.BUY, D("0.100"))
    placed_b = xb.new_algo_order(ab, stop())
    assert "activatePrice" not in placed_b and "callbackRate" not in placed_b


# --- the manager's local check follows manager.dialect ----------------------------------------


def _local_problems(dialect: Dialect, params: dict[str, str], hedge: bool) -> list[str]:
    """What the manager's pre-send check (Submitter._validate) says about ``params``."""
    from types import SimpleNamespace

    from exitguard.domain.enums import PositionMode
    from exitguard.domain.ids import ClientIdGenerator
    from exitguard.domain.requests import AlgoOrderRequest
    from exitguard.manager.context import ScopeConfig
    from exitguard.manager.submit import Submitter
    from exitguard.planner.model import ExitKind

    x, _ = exchange(dialect)
    scope = SimpleNamespace(
        rules=x.rules,
        position_mode=PositionMode.HEDGE if hedge else PositionMode.ONE_WAY,
        config=ScopeConfig(account="a", policy_for=lambda *_: None, dialect=dialect),
    )

    async def on_rejected(*_: object) -> None:
        return None

    submitter = Submitter(scope, ClientIdGenerator(), on_rejected)  # type: ignore[arg-type]
    request = AlgoOrderRequest.from_params(params, dialect).request
    assert request is not None
    return submitter._validate(ExitKind.ALGO, request)


MANAGER_CASES = [
    pytest.param(stop(positionSide="LONG", reduceOnly=None), True, id="hedge-LONG"),
    pytest.param(stop(clientAlgoId="exg:a/b"), False, id="clientAlgoId-colon"),
    pytest.param(stop(newOrderRespType="FULL"), False, id="respType-FULL"),
    pytest.param(stop(), False, id="plain-stop"),
]


@pytest.mark.parametrize(("params", "hedge"), MANAGER_CASES)
@pytest.mark.parametrize("dialect", [BINANCE, PRIMIT], ids=lambda d: d.name)
def test_manager_refuses_locally_what_its_venue_refuses(
    dialect: Dialect, params: dict[str, str], hedge: bool
) -> None:
    x, acct = exchange(dialect)
    if hedge:
        x.set_position_mode(acct, {"dualSidePosition": "true"})
    try:
        x.new_algo_order(acct, params)
        venue_refuses = False
    except VenueError:
        venue_refuses = True
    assert bool(_local_problems(dialect, params, hedge)) == venue_refuses
    if dialect is PRIMIT and params is not MANAGER_CASES[-1].values[0]:
        assert venue_refuses  # each case is one primit refuses


def test_config_dialect_settings(tmp_path: Any) -> None:
    from exitguard.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[manager]\ndialect = "primit"\n[venue]\ndialect = "primit"\n')
    config = load_config(path, {})
    assert config.dialect == "primit" and config.embedded_venue.dialect == "primit"
    assert not [w for w in config.warnings if w[0] == "manager.dialect"]
    default = load_config(None, {})
    assert default.dialect == "binance" and default.embedded_venue.dialect == "binance"
    # A manager checking Binance's rules against an embedded primit venue is told so.
    path.write_text('[venue]\ndialect = "primit"\n')
    mismatch = load_config(path, {})
    assert [w[0] for w in mismatch.warnings if "venue.dialect" in w[1]] == ["manager.dialect"]


def test_venue_cli_names_an_unknown_dialect_in_one_line() -> None:
    result = runner.invoke(app, ["venue", "serve", "--dialect", "okx", "--feed", "none"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["exitguard venue serve: dialect 'okx': must be one of binance, primit"]
