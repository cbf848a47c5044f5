"""Every command as a newcomer meets it: bad input is one clear line and the right exit code
(2 usage or config, 1 checked and invalid), never a traceback; every table at 80 columns shows
every number whole."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from typer.testing import CliRunner, Result

from exitguard.cli.main import COMMANDS, app
from exitguard.cli.tables import Col, Rows

runner = CliRunner(env={"COLUMNS": "80"})


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from exitguard.data.synth import synth_pair

    out = tmp_path_factory.mktemp("synth")
    trades, _marks = synth_pair("BTCUSDT", date(2024, 3, 1), 1, seed=5, out_dir=out)
    return trades


def _run(cwd: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.chdir(cwd)
    for name in ("EXECUTION_MODE", "BINANCE_API_KEY", "BINANCE_API_SECRET", "EXITGUARD_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return runner.invoke(app, list(args))


def _one_line_error(result: Result, code: int) -> str:
    """The command failed with ``code``, with no traceback and a message that names the rule."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    # A usage error says why on stderr; a "checked and invalid" verdict is the output itself.
    message = (result.stderr if code == 2 else result.stderr + result.stdout).strip()
    assert message, "a failure must say why"
    return message


def _write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text)
    return str(folder / name)


def _bad_inputs(tmp: Path, trades: list[Path]) -> list[tuple[list[str], int, str]]:
    bad_toml = _write(tmp, "bad.toml", "[manager\n")
    bad_value = _write(tmp, "value.toml", '[manager]\nproducts = ["x"]\n')
    binance = _write(tmp, "binance.toml", '[manager]\nvenue = "binance"\n')
    not_json = _write(tmp, "order.txt", "not json")
    first = str(trades[0])
    return [
        # Options a command does not have, for every command.
        *(([*name.split(), "--no-such-option"], 2, "No such option") for name in COMMANDS),
        # Config files: missing, not TOML, invalid value, a venue that needs credentials.
        (["run", "-c", str(tmp / "missing.toml")], 2, "no such file"),
        (["plan", "-c", bad_toml], 2, "invalid TOML"),
        (["status", "-c", bad_value], 2, "manager.products[0]"),
        (["config", "check", "-c", bad_value], 1, "manager.products[0]"),
        (["config", "check", "-c", str(tmp)], 2, "cannot read"),
        (["run", "-c", binance], 2, "BINANCE_API_KEY"),
        (["plan", "-c", binance], 2, "BINANCE_API_KEY"),
        (["config", "check", "-c", binance], 1, "run would refuse"),
        # Output folders and input files.
        (["demo", "--out", not_json], 2, "not a folder"),
        (["check-order", "--product", "usdm", "--file", str(tmp / "none.json")], 2, "none.json"),
        (["check-order", "--product", "usdm", "--file", not_json], 1, "-1102"),
        (["check-order", "--product", "nope", "{}"], 2, "--product"),
        (["backtest", "--stop-bps", "50", "--trades", str(tmp)], 2, "is a folder"),
        (["backtest", "--stop-bps", "50", "--trades", str(tmp / "no.zip")], 2, "no such file"),
        (["backtest", "--trades", first], 2, "no exit to test"),
        (["backtest", "--stop-bps", "50", "--trades", first, "--size", "0"], 2, "--size"),
        (["sweep", "--trades", first, "--stop-bps", "1:x"], 2, "--stop-bps"),
        (["data", "info", str(tmp / "none.zip")], 2, "no such file"),
        (["data", "info", str(tmp)], 2, "is a folder"),
        (["data", "synth", "BTCUSDT", "--market", "xx", "--type", "aggTrades",
          "--from", "2024-01-01", "--out", str(tmp)], 2, "--market"),
        (["venue", "serve", "--port", "99999"], 2, "--port"),
        (["run", "--mode", "bogus"], 2, "--mode: must be one of"),
        (["config", "init", binance], 2, "exists; --force replaces it"),
    ]  # fmt: skip


def test_bad_input_is_one_clear_line_never_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archives: list[Path]
) -> None:
    for args, code, words in _bad_inputs(tmp_path, archives):
        result = _run(tmp_path, monkeypatch, *args)
        message = _one_line_error(result, code)
        flat = " ".join(message.split())
        assert words in flat, (args, flat)


# --- tables -----------------------------------------------------------------------------------

_NUMBER = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=8, allow_nan=False
).map(lambda d: f"{d:f}")
_TEXT = st.text(alphabet="abcdefghij _/", min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(min_value=30, max_value=160),
    kinds=st.lists(st.booleans(), min_size=2, max_size=12),
    data=st.data(),
)
def test_every_number_appears_whole_at_any_width(width: int, kinds: list[bool], data) -> None:  # type: ignore[no-untyped-def]
    columns = [Col(f"c{i}", number=k) for i, k in enumerate(kinds)]
    title = "backtest: 1 policy x 24 entries"
    rows = Rows(title, columns)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        rows.add(*(data.draw(_NUMBER if c.number else _TEXT) for c in columns))
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    rows.print(console)
    lines = console.export_text().splitlines()
    for row in rows.rows:
        for col, cell in zip(columns, row, strict=True):
            if col.number:
                assert any(cell in line for line in lines), (cell, width)
    assert "…" not in console.export_text()
    # Each part of a table split into column groups carries the whole title on one line
    # (inside a narrow group's table it used to wrap a word a line).
    if width >= len(title) + len(" (continued)") and any(" (continued)" in ln for ln in lines):
        assert any(ln.strip() == f"{title} (continued)" for ln in lines), lines


def _assert_whole(output: str, numbers: list[str]) -> None:
    lines = output.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    assert re.sub(r"exg-\w{6}…", "", output).count("…") == 0
    for number in numbers:
        assert any(number in line for line in lines), number


def test_sweep_and_backtest_tables_at_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, archives: list[Path]
) -> None:
    trades = ["--trades", str(archives[0])]
    sweep = _run(
        tmp_path, monkeypatch, "sweep", *trades, "--stop-bps", "50,150", "--tp-bps", "0,400",
        "--every", "2h", "--report", str(tmp_path / "s"),
    )  # fmt: skip
    assert sweep.exit_code == 0, sweep.output
    doc = json.loads((tmp_path / "s" / "results.json").read_text())
    net = [f"{float(p['ranked_pnl']):,.2f}" for p in doc["policies"]]  # the ranked column
    _assert_whole(sweep.stdout, net)
    backtest = _run(
        tmp_path, monkeypatch, "backtest", *trades, "--stop-bps", "50", "--every", "2h",
        "--report", str(tmp_path / "b"),
    )  # fmt: skip
    assert backtest.exit_code == 0, backtest.output
    _assert_whole(backtest.stdout, [])


def test_demo_summary_at_80_columns() -> None:
    from exitguard.cli.demo_cmd import DemoResult, print_summary

    result = DemoResult(
        exits=[
            {"product": "usdm", "role": "trailing", "type": "TRAILING_STOP_MARKET",
             "client_id": "exg-x", "trigger": "60600.00000000", "status": "FINISHED"},
            {"product": "spot", "role": "oco", "type": "", "client_id": "exg-y",
             "trigger": "3090.00000000/2940.00000000", "status": "FILLED"},
        ],
        fills=[(1.0, Decimal("60849.90"), "demo/usdm/BTCUSDT/BOTH/trailing")],
        position_closed=True,
        chart=Path("exitguard-demo/exitguard-demo.png"),
    )  # fmt: skip
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    print_summary(result, console)
    out = console.export_text()
    _assert_whole(out, ["60600.0", "3090.00 / 2940.00", "60849.9"])
    assert "True" not in out and "demo/usdm" not in out  # words, not a bool or a slot id


def test_config_check_and_check_order_at_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.resources import files

    example = str(files("exitguard.examples") / "exitguard.toml")
    result = _run(tmp_path, monkeypatch, "config", "check", "-c", example)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "…" not in result.stdout
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    order = str(files("exitguard.examples") / "algo_take_profit.json")
    checked = _run(tmp_path, monkeypatch, "check-order", "--product", "usdm-algo", "--file", order)
    assert checked.exit_code == 0, checked.output
    _assert_whole(checked.stdout, ["exg-8qlFURem51pQl0RiEwt11X"])


def test_config_init_writes_a_starter_that_checks_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(tmp_path, monkeypatch, "config", "init")
    assert result.exit_code == 0 and "wrote exitguard.toml" in result.stdout
    checked = _run(tmp_path, monkeypatch, "config", "check", "--json")
    doc = json.loads(checked.stdout)
    assert checked.exit_code == 0 and doc["ready"] is True and doc["problems"] == []
    assert doc["config"] == "exitguard.toml" and doc["mode"] == "DRY_RUN_PRIVATE"
    assert {p["symbol"] for p in doc["policies"]} >= {"default", "BTCUSDT", "ETHUSDT"}
