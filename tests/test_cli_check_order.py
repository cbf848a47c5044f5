"""``exitguard check-order``: order sources, exchangeInfo, market context, output and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import exitguard
from exitguard.cli.main import app

EXAMPLES = Path(exitguard.__file__).parent / "examples"
FIXTURES = Path(exitguard.__file__).parent / "fixtures" / "exchange_info"

runner = CliRunner(env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})

TAKE_PROFIT_PARAMS = {
    "algoType": "CONDITIONAL",
    "symbol": "BTCUSDT",
    "side": "SELL",
    "positionSide": "BOTH",
    "type": "TAKE_PROFIT",
    "timeInForce": "GTC",
    "quantity": "0.010",
    "price": "105000.00",
    "triggerPrice": "104900.00",
    "workingType": "MARK_PRICE",
    "priceProtect": "true",
    "clientAlgoId": "exg-8qlFURem51pQl0RiEwt11X",
}
CLOSE_POSITION_STOP_PARAMS = {
    "algoType": "CONDITIONAL",
    "symbol": "BTCUSDT",
    "side": "SELL",
    "positionSide": "BOTH",
    "type": "STOP_MARKET",
    "triggerPrice": "88000.00",
    "workingType": "MARK_PRICE",
    "closePosition": "true",
    "priceProtect": "true",
    "clientAlgoId": "exg-wNDQ1DRUEEDSH1pYdBzr7K",
}
SPOT_OCO_PARAMS = {
    "symbol": "BTCUSDT",
    "listClientOrderId": "exg-GXx0mosjoWYQ3rZCVUMLXc",
    "side": "SELL",
    "quantity": "0.00100",
    "aboveType": "LIMIT_MAKER",
    "abovePrice": "105000.00",
    "belowType": "STOP_LOSS_LIMIT",
    "belowPrice": "87900.00",
    "belowStopPrice": "88000.00",
    "belowTimeInForce": "GTC",
}
SPOT_STOP_LOSS_LIMIT_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "STOP_LOSS_LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.00100",
    "price": "87900.00",
    "newClientOrderId": "exg-Lr4vT9yBq2WzK7nXc1HdPa",
    "stopPrice": "88000.00",
}

# A plain (contract-price) SELL stop: the trigger is compared with --last-price.
CONTRACT_STOP = {
    "algoType": "CONDITIONAL",
    "symbol": "BTCUSDT",
    "side": "SELL",
    "positionSide": "BOTH",
    "type": "STOP_MARKET",
    "quantity": "0.010",
    "triggerPrice": "88000.00",
    "workingType": "CONTRACT_PRICE",
}


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, ["check-order", *args], input=input)


def run_json(*args: str, code: int, input: str | None = None) -> dict[str, Any]:
    result = invoke("--json", *args, input=input)
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(doc, dict)
    return doc


def codes(doc: dict[str, Any]) -> list[int]:
    return [v["code"] for v in doc["violations"]]


def usage_error(result: Result) -> str:
    """The usage-error text on stderr with the rich box and line wrapping taken out."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())


def order(params: dict[str, Any]) -> str:
    return json.dumps(params)


# --- the bundled examples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "product", "exit_code", "violation_codes", "params"),
    [
        ("algo_take_profit", "usdm-algo", 0, [], TAKE_PROFIT_PARAMS),
        ("algo_stop_close_position", "usdm-algo", 0, [], CLOSE_POSITION_STOP_PARAMS),
        ("algo_invalid_take_profit_limit", "usdm-algo", 1, [-1116], None),
        ("algo_invalid_close_position_mix", "usdm-algo", 1, [-4137, -1106], "any"),
        ("spot_oco_exit", "spot-oco", 0, [], SPOT_OCO_PARAMS),
        ("spot_stop_loss_limit", "spot", 0, [], SPOT_STOP_LOSS_LIMIT_PARAMS),
    ],
)
def test_bundled_examples(
    example: str, product: str, exit_code: int, violation_codes: list[int], params: object
) -> None:
    path = EXAMPLES / f"{example}.json"
    doc = run_json("--file", str(path), "--product", product, code=exit_code)
    assert doc["valid"] is (exit_code == 0)
    assert doc["product"] == product
    assert doc["dialect"] == "binance"
    assert codes(doc) == violation_codes
    assert doc["adjustments"] == []
    if params != "any":
        assert doc["params"] == params


def test_close_position_stop_omits_quantity_and_reduce_only() -> None:
    doc = run_json("--file", str(EXAMPLES / "algo_stop_close_position.json"), code=0)
    assert doc["params"]["closePosition"] == "true"
    assert "quantity" not in doc["params"]
    assert "reduceOnly" not in doc["params"]


def test_close_position_mix_names_each_field() -> None:
    doc = run_json("--file", str(EXAMPLES / "algo_invalid_close_position_mix.json"), code=1)
    fields = {v["code"]: v["field"] for v in doc["violations"]}
    assert fields == {-4137: "quantity", -1106: "reduceOnly"}
    assert all(set(v) == {"code", "field", "rule", "msg"} for v in doc["violations"])


def test_take_profit_client_algo_id_is_an_opaque_app_id() -> None:
    params = json.loads((EXAMPLES / "algo_take_profit.json").read_text())
    client_id = params["clientAlgoId"]
    assert len(client_id) == 26
    assert client_id.startswith("exg-")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", client_id)


# --- human output ------------------------------------------------------------------------------


def test_human_output_valid_lists_wire_parameters_in_order() -> None:
    result = invoke("--file", str(EXAMPLES / "algo_take_profit.json"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "VALID usdm-algo order for BTCUSDT"
    shown = [name for name in TAKE_PROFIT_PARAMS if any(name in line for line in lines)]
    assert shown == list(TAKE_PROFIT_PARAMS)
    positions = [result.stdout.index(f"\n{name} ") for name in TAKE_PROFIT_PARAMS]
    assert positions == sorted(positions)
    assert "exg-8qlFURem51pQl0RiEwt11X" in result.stdout
    assert result.stderr == ""


def test_human_output_invalid_lists_every_violation() -> None:
    result = invoke("--file", str(EXAMPLES / "algo_invalid_close_position_mix.json"))
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert out.startswith("INVALID usdm-algo order for BTCUSDT: 2 violations")
    for text in ("-4137", "closePosition.quantity", "-1106", "reduceOnly.not_required"):
        assert text in out


def test_human_output_does_not_interpret_markup_in_the_order() -> None:
    params = {**TAKE_PROFIT_PARAMS, "symbol": "[red]X[/red]"}
    result = invoke(order(params))
    assert result.exit_code == 1, result.output
    assert "INVALID usdm-algo order for [red]X[/red]" in result.stdout
    assert "-1121" in result.stdout


# --- order sources -----------------------------------------------------------------------------


def test_order_from_stdin() -> None:
    text = (EXAMPLES / "algo_take_profit.json").read_text()
    doc = run_json(input=text, code=0)
    assert doc["params"] == TAKE_PROFIT_PARAMS


def test_order_from_file_dash_is_stdin() -> None:
    text = (EXAMPLES / "algo_invalid_take_profit_limit.json").read_text()
    doc = run_json("--file", "-", input=text, code=1)
    assert codes(doc) == [-1116]


def test_order_from_argument_and_short_file_option(tmp_path: Path) -> None:
    assert run_json(order(TAKE_PROFIT_PARAMS), code=0)["params"] == TAKE_PROFIT_PARAMS
    path = tmp_path / "order.json"
    path.write_text(order(TAKE_PROFIT_PARAMS))
    assert run_json("-f", str(path), code=0)["params"] == TAKE_PROFIT_PARAMS


def test_two_sources_is_a_usage_error() -> None:
    result = invoke(order(TAKE_PROFIT_PARAMS), "--file", str(EXAMPLES / "algo_take_profit.json"))
    text = usage_error(result)
    assert "'ORDER_JSON' / '--file'" in text
    assert "give the order once" in text
    assert result.stdout == ""


def test_unreadable_order_file_is_a_usage_error(tmp_path: Path) -> None:
    text = usage_error(invoke("--file", str(tmp_path / "missing.json")))
    assert "'--file'" in text
    assert "cannot be read" in text


# --- quantisation --------------------------------------------------------------------------------


def test_quantity_is_floored_onto_the_step_and_reported() -> None:
    params = {**TAKE_PROFIT_PARAMS, "quantity": "0.0105"}
    doc = run_json(order(params), code=0)
    assert doc["params"]["quantity"] == "0.010"
    assert doc["adjustments"] == [
        {"field": "quantity", "before": "0.0105", "after": "0.010", "rounding": "down"}
    ]
    human = invoke(order(params))
    assert human.exit_code == 0
    assert "quantity: 0.0105 → 0.010 (rounded down)" in human.stdout


def test_json_numbers_are_read_as_decimals() -> None:
    text = order(TAKE_PROFIT_PARAMS).replace('"0.010"', "0.0105").replace('"105000.00"', "105000.0")
    doc = run_json(text, code=0)
    assert doc["params"]["quantity"] == "0.010"
    assert doc["params"]["price"] == "105000.0"
    assert doc["adjustments"][0]["before"] == "0.0105"


def test_no_quantize_checks_values_as_given() -> None:
    params = {**TAKE_PROFIT_PARAMS, "quantity": "0.0105"}
    doc = run_json("--no-quantize", order(params), code=1)
    assert [(v["code"], v["field"]) for v in doc["violations"]] == [(-4023, "quantity")]
    assert doc["params"]["quantity"] == "0.0105"
    assert doc["adjustments"] == []


# --- dialects and market context -----------------------------------------------------------------


def test_primit_accepts_stop_price_alias() -> None:
    params = dict(TAKE_PROFIT_PARAMS)
    params["stopPrice"] = params.pop("triggerPrice")
    doc = run_json("--dialect", "primit", order(params), code=0)
    assert doc["dialect"] == "primit"
    assert doc["params"]["triggerPrice"] == "104900.00"
    assert "stopPrice" not in doc["params"]
    # Binance itself does not read stopPrice on the algo endpoint.
    assert -1104 in codes(run_json(order(params), code=1))


def test_primit_refuses_hedge_position_side() -> None:
    params = {**TAKE_PROFIT_PARAMS, "positionSide": "LONG"}
    doc = run_json("--dialect", "primit", order(params), code=1)
    assert [(v["code"], v["field"]) for v in doc["violations"]] == [(-1130, "positionSide")]


def test_hedge_mode_refuses_both_position_side() -> None:
    doc = run_json("--hedge", "--file", str(EXAMPLES / "algo_take_profit.json"), code=1)
    assert [(v["code"], v["field"]) for v in doc["violations"]] == [(-4061, "positionSide")]
    long_side = {**TAKE_PROFIT_PARAMS, "positionSide": "LONG"}
    assert run_json("--hedge", order(long_side), code=0)["valid"] is True


@pytest.mark.parametrize(("last", "exit_code"), [("88000", 1), ("87000", 1), ("90000", 0)])
def test_last_price_immediate_trigger(last: str, exit_code: int) -> None:
    doc = run_json("--last-price", last, order(CONTRACT_STOP), code=exit_code)
    expected = [(-2021, "triggerPrice")] if exit_code else []
    assert [(v["code"], v["field"]) for v in doc["violations"]] == expected


def test_mark_price_drives_mark_price_triggers() -> None:
    path = str(EXAMPLES / "algo_stop_close_position.json")
    assert codes(run_json("--mark-price", "87000", "--file", path, code=1)) == [-2021]
    # The last price is not what a MARK_PRICE trigger watches.
    assert run_json("--last-price", "87000", "--file", path, code=0)["valid"] is True


def test_now_ms_drives_good_till_date() -> None:
    now = 1_700_000_000_000
    params = {
        **TAKE_PROFIT_PARAMS,
        "timeInForce": "GTD",
        "goodTillDate": str(now + 600_000),
    }
    assert run_json(order(params), code=0)["valid"] is True  # no clock: rule skipped
    assert codes(run_json("--now-ms", str(now), order(params), code=1)) == [-5040]
    # primit accepts exactly now + 600 s.
    assert run_json("--dialect", "primit", "--now-ms", str(now), order(params), code=0)["valid"]


def test_conditional_type_on_the_order_endpoint() -> None:
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "stopPrice": "88000.00",
        "closePosition": "true",
        "workingType": "MARK_PRICE",
    }
    doc = run_json("--product", "usdm", order(params), code=1)
    assert [(v["code"], v["field"]) for v in doc["violations"]] == [(-4120, "type")]
    assert run_json("--product", "usdm", "--dialect", "primit", order(params), code=0)["valid"]


# --- bad order input: exit 1, reported like a violation -----------------------------------------


@pytest.mark.parametrize(
    "text",
    ['{"symbol": "BTCUSDT",', "", "   \n", "not json", '{"price": NaN}', '{"q": Infinity}'],
)
def test_unparseable_order_is_invalid_not_a_crash(text: str) -> None:
    doc = run_json(text, code=1) if text else run_json(input=text, code=1)
    assert doc["valid"] is False
    assert doc["params"] is None
    assert [(v["code"], v["field"], v["rule"]) for v in doc["violations"]] == [
        (-1102, None, "PARAMS.json")
    ]
    human = invoke("{") if text else invoke(input=text)
    assert human.exit_code == 1
    assert "PARAMS.json" in human.stdout
    assert "Traceback" not in human.output


def test_duplicate_parameter_is_refused() -> None:
    text = '{"symbol": "BTCUSDT", "quantity": "0.010", "quantity": "1"}'
    doc = run_json(text, code=1)
    assert [(v["code"], v["field"], v["rule"]) for v in doc["violations"]] == [
        (-1101, "quantity", "PARAMS.duplicate")
    ]


def test_order_that_is_not_an_object() -> None:
    doc = run_json("[1, 2]", code=1)
    assert [(v["code"], v["rule"]) for v in doc["violations"]] == [(-1102, "PARAMS.object")]


# --- usage errors: exit 2, message on stderr naming the option -----------------------------------


def test_missing_exchange_info_file(tmp_path: Path) -> None:
    result = invoke("--exchange-info", str(tmp_path / "nope.json"), order(TAKE_PROFIT_PARAMS))
    text = usage_error(result)
    assert "'--exchange-info'" in text
    assert "cannot be read" in text
    assert result.stdout == ""


def test_exchange_info_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "info.json"
    path.write_text("<html>rate limited</html>")
    text = usage_error(invoke("--exchange-info", str(path), order(TAKE_PROFIT_PARAMS)))
    assert "'--exchange-info'" in text
    assert "not JSON" in text


def test_exchange_info_rejected_by_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "info.json"
    path.write_text('{"futuresType": "U_MARGINED", "symbols": {}}')
    text = usage_error(invoke("--exchange-info", str(path), order(TAKE_PROFIT_PARAMS)))
    assert "'--exchange-info'" in text
    assert "$.symbols: must be a list" in text


def test_exchange_info_of_the_other_product() -> None:
    result = invoke(
        "--exchange-info",
        str(FIXTURES / "spot.json"),
        "--file",
        str(EXAMPLES / "algo_take_profit.json"),
    )
    text = usage_error(result)
    assert "'--exchange-info'" in text
    assert "usdm-algo orders need usdm exchangeInfo" in text


def test_explicit_exchange_info_file(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "usdm.json").read_text())
    doc["symbols"] = [s for s in doc["symbols"] if s["symbol"] != "BTCUSDT"]
    path = tmp_path / "usdm.json"
    path.write_text(json.dumps(doc))
    args = ("--exchange-info", str(path), order(TAKE_PROFIT_PARAMS))
    assert codes(run_json(*args, code=1)) == [-1121]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--product", "coin-m"], "'--product'"),
        (["--dialect", "okx"], "'--dialect'"),
        (["--last-price", "abc"], "'--last-price'"),
        (["--mark-price", "-1"], "'--mark-price'"),
        (["--now-ms", "soon"], "'--now-ms'"),
        (["--now-ms", "-5"], "'--now-ms'"),
    ],
)
def test_bad_options(args: list[str], option: str) -> None:
    result = invoke(*args, "--json", order(TAKE_PROFIT_PARAMS))
    assert option in usage_error(result)
    assert result.stdout == ""


# --- the JSON output and the program itself ------------------------------------------------------


def test_json_output_is_only_json() -> None:
    result = invoke("--json", "--file", str(EXAMPLES / "algo_invalid_close_position_mix.json"))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert set(doc) == {"valid", "product", "dialect", "params", "adjustments", "violations"}
    assert result.stderr == ""
    assert json.loads(result.output) == doc


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"exitguard {exitguard.__version__}\n"


def test_real_program_reads_stdin_and_sets_exit_status() -> None:
    text = (EXAMPLES / "algo_invalid_close_position_mix.json").read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "exitguard", "check-order", "--json"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert codes(doc) == [-4137, -1106]
