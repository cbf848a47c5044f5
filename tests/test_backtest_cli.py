"""``exitguard backtest`` / ``exitguard sweep`` end to end on synthesised data.binance.vision
archives (:func:`exitguard.data.synth.synth_pair`): the report files and their contents, the
agreement of both commands on one policy, and bad input (exit 2, naming the option and rule)."""

from __future__ import annotations

import csv
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from exitguard.backtest.entries import parse_duration_ms, read_entries_csv
from exitguard.backtest.model import BacktestInputError
from exitguard.cli.backtest_cmd import backtest_command, sweep_command

# The two commands on their own app, so these tests do not depend on every other sub-command
# importing; test_main_registers_the_commands checks the real registration.
app = typer.Typer()
app.command("backtest")(backtest_command)
app.command("sweep")(sweep_command)
runner = CliRunner(env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    from exitguard.data.synth import synth_pair

    out = tmp_path_factory.mktemp("synth")
    return synth_pair("BTCUSDT", date(2024, 3, 1), 1, seed=5, out_dir=out, trades_per_minute=20)


def data_args(archives: tuple[list[Path], list[Path]]) -> list[str]:
    trades, marks = archives
    args: list[str] = []
    for path in trades:
        args += ["--trades", str(path)]
    for path in marks:
        args += ["--mark", str(path)]
    return args


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def usage_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def check_pngs(folder: Path, names: list[str]) -> None:
    for name in names:
        data = (folder / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, name


def test_backtest_writes_the_report(
    archives: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    report = tmp_path / "bt"
    result = invoke(
        "backtest", *data_args(archives), "--source", "mark",
        "--stop-bps", "40", "--tp-bps", "60", "--trail-bps", "30", "--activation-bps", "10",
        "--every", "1h", "--side", "both", "--size", "0.5",
        "--taker-fee-bps", "5", "--slippage-bps", "1", "--report", str(report),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "ranked PnL" in result.stdout and "report:" in result.stdout
    doc = json.loads((report / "results.json").read_text())
    assert doc["command"] == "backtest" and doc["symbol"] == "BTCUSDT"
    assert doc["entries"] == 24 and len(doc["trades"]) == 24
    (policy,) = doc["policies"]
    assert policy["source"] == "MARK_PRICE" and policy["stop_bps"] == 40
    assert policy["trades"] == 24
    trades = doc["trades"]
    assert {t["reason"] for t in trades} <= {"SL", "TP", "TRAIL", "END"}
    assert [t["side"] for t in trades[:2]] == ["LONG", "SHORT"]
    assert all(Decimal(t["size"]) == Decimal("0.5") for t in trades)
    net = sum(Decimal(t["pnl"]) for t in trades)
    assert float(net) == pytest.approx(policy["net_pnl"], rel=1e-9, abs=1e-9)
    hits = sum(t["reason"] == "SL" for t in trades) / 24
    assert policy["hit_sl"] == pytest.approx(hits)
    for t in trades:
        fee = (Decimal(t["entry_price"]) + Decimal(t["exit_price"])) * Decimal("0.5") * 5 / 10_000
        assert Decimal(t["fees"]) == fee  # taker on both legs, exact
        if t["reason"] != "END":
            assert t["trigger_price"] is not None and t["exit_time_ms"] > t["entry_time_ms"]
    rows = read_csv(report / "trades.csv")
    assert len(rows) == 24 and rows[0]["pnl"] == trades[0]["pnl"]
    (summary,) = read_csv(report / "results.csv")
    assert float(summary["net_pnl"]) == pytest.approx(policy["net_pnl"])
    check_pngs(report, ["price.png", "equity.png"])


def test_sweep_writes_the_report_with_a_heatmap(
    archives: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    report = tmp_path / "sw"
    result = invoke(
        "sweep", *data_args(archives), "--source", "contract,mark",
        "--stop-bps", "0,20:60:20", "--tp-bps", "30,90", "--trail-bps", "0,25",
        "--random", "30", "--seed", "4", "--executor", "local", "--chunk-size", "5",
        "--report", str(report), "--top", "5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((report / "results.json").read_text())
    policies = doc["policies"]
    assert len(policies) == 2 * 4 * 2 * 2 and doc["entries"] == 30
    # "best" is the first ranked: by net P&L with open-at-the-end losses counted, gains not.
    best = max(policies, key=lambda p: (p["ranked_pnl"], p["net_pnl"], -p["index"]))
    assert best["rank"] == 1 and doc["ranking"]["objective"] == "net"
    assert doc["chosen_policy"]["index"] == best["index"]
    assert len(doc["trades"]) == 30
    assert float(sum(Decimal(t["pnl"]) for t in doc["trades"])) == pytest.approx(best["net_pnl"])
    heat = doc["heatmap"]
    assert (heat["x"], heat["y"]) == ("stop_bps", "take_profit_bps")
    assert heat["x_values"] == [0, 20, 40, 60] and heat["y_values"] == [30, 90]
    cell = [p for p in policies if p["stop_bps"] == 20 and p["take_profit_bps"] == 90]
    assert heat["value"] == "ranked_pnl"
    assert heat["grid"][1][1] == pytest.approx(max(p["ranked_pnl"] for p in cell))
    assert {p["source"] for p in policies} == {"CONTRACT_PRICE", "MARK_PRICE"}
    for p in policies:
        total = p["hit_sl"] + p["hit_tp"] + p["hit_trail"] + p["hit_end"]
        assert total == pytest.approx(1.0)
        if p["trail_bps"] == 0:
            assert p["hit_trail"] == 0.0
    assert len(read_csv(report / "results.csv")) == len(policies)
    check_pngs(report, ["price.png", "equity.png", "heatmap.png"])


def test_backtest_and_sweep_agree_on_one_policy(
    archives: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    entries = tmp_path / "entries.csv"
    entries.write_text(
        "time,side,size\n2024-03-01T01:00:00Z,BUY,1\n1709262000000,sell,2\n"
        "2024-03-01T05:30:00,LONG,0.1\n"
    )
    common = [
        *data_args(archives), "--source", "contract", "--stop-bps", "30", "--tp-bps", "50",
        "--trail-bps", "20", "--entries", str(entries), "--fill", "touch",
        "--taker-fee-bps", "4", "--slippage-bps", "2",
    ]  # fmt: skip
    a = invoke("backtest", *common, "--report", str(tmp_path / "a"))
    b = invoke("sweep", *common, "--report", str(tmp_path / "b"))
    assert a.exit_code == 0, a.output
    assert b.exit_code == 0, b.output
    doc_a = json.loads((tmp_path / "a" / "results.json").read_text())
    doc_b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert doc_a["trades"] == doc_b["trades"] and len(doc_a["trades"]) == 3
    assert doc_a["trades"][1]["side"] == "SHORT" and doc_a["trades"][1]["size"] == "2"


@pytest.mark.parametrize(
    ("args", "option", "rule"),
    [
        (["--stop-bps", "10000"], "--stop-bps", "between 0 and 9999"),
        (["--source", "index"], "--source", "must be contract or mark"),
        (["--fill", "close"], "--fill", "must be next or touch"),
        (["--taker-fee-bps", "abc"], "--taker-fee-bps", "must be a decimal number"),
        (["--stop-limit-bps", "5"], "--stop-limit-bps", "needs stop_bps > 0"),
        (["--every", "5x"], "--every", "positive duration"),
        (["--every", "1h", "--random", "3"], "--every/--random", "give one source of entries"),
        (["--tick", "0.003"], "--tick", "is not a multiple of the tick 0.003"),
        (["--tick", "1e-9"], "--tick", "not a multiple of the data's price resolution"),
    ],
)
def test_backtest_bad_input_exits_2_naming_option_and_rule(
    archives: tuple[list[Path], list[Path]], tmp_path: Path, args: list[str], option: str, rule: str
) -> None:
    # Some exit, so each case meets the rule it tests (a stop-limit needs no stop beside a TP).
    exit_args = ["--tp-bps", "100"] if "--stop-limit-bps" in args else ["--stop-bps", "100"]
    exit_args = [] if "--stop-bps" in args else exit_args
    result = invoke(
        "backtest", *data_args(archives), *exit_args, *args, "--report", str(tmp_path / "r")
    )
    message = usage_error(result)
    assert option in message and rule in message, message
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "option", "rule"),
    [
        ([], "--stop-bps", "no exit to test"),
        (["--stop-bps", "100", "--size", "0"], "--size", "must be a positive quantity"),
    ],
)
def test_backtest_without_an_exit_or_a_size_says_so(
    archives: tuple[list[Path], list[Path]], tmp_path: Path, args: list[str], option: str, rule: str
) -> None:
    result = invoke("backtest", *data_args(archives), *args, "--report", str(tmp_path / "r"))
    message = usage_error(result)
    assert option in message and rule in message, message


def test_sweep_bad_input_exits_2(archives: tuple[list[Path], list[Path]], tmp_path: Path) -> None:
    data = data_args(archives)
    cases = [
        (["--executor", "cluster"], "--executor"),
        (["--tp-bps", "10:5:1"], "--tp-bps"),
        (["--heatmap", "stop_bps"], "--heatmap"),
        (["--chart-policy", "999", "--stop-bps", "10"], "--chart-policy"),
    ]
    for args, option in cases:
        message = usage_error(invoke("sweep", *data, *args, "--report", str(tmp_path / "r")))
        assert option in message, message


def test_missing_files_and_bad_entries_csv(
    archives: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    trades, _ = archives
    message = usage_error(invoke("backtest", "--stop-bps", "10"))
    assert "--trades" in message and "at least one" in message
    message = usage_error(
        invoke("backtest", "--stop-bps", "10", "--trades", str(trades[0]), "--source", "mark")
    )
    assert "--mark" in message and "markPriceKlines" in message
    message = usage_error(
        invoke("backtest", "--stop-bps", "10", "--trades", str(tmp_path / "none.zip"))
    )
    assert "no such file" in message
    bad = tmp_path / "bad.csv"
    bad.write_text("time,side,size\n1709251200000,HOLD,1\n")
    message = usage_error(
        invoke("backtest", "--stop-bps", "10", "--trades", str(trades[0]), "--entries", str(bad))
    )
    assert "bad.csv line 2 field side" in message and "BUY/LONG or SELL/SHORT" in message
    late = tmp_path / "late.csv"
    late.write_text("2030-01-01T00:00:00Z,BUY,1\n")
    message = usage_error(
        invoke("backtest", "--stop-bps", "10", "--trades", str(trades[0]), "--entries", str(late))
    )
    assert "outside the data's time range" in message


def test_entry_parsing_rules(tmp_path: Path) -> None:
    assert parse_duration_ms("15m") == 900_000 and parse_duration_ms("2d") == 172_800_000
    path = tmp_path / "e.csv"
    path.write_text("1709251200000123,short,1.5\n1709251200000,buy,2\n")  # µs detected
    entries = read_entries_csv(path)
    assert entries.time_ms.tolist() == [1709251200000, 1709251200000]
    assert entries.side.tolist() == [-1, 1] and entries.size == (Decimal("1.5"), Decimal(2))
    path.write_text("1709251200000,BUY,0\n")
    with pytest.raises(BacktestInputError, match="size must be a positive number"):
        read_entries_csv(path)
    path.write_text("1709251200000,BUY\n")
    with pytest.raises(BacktestInputError, match="expected 3 fields"):
        read_entries_csv(path)


def test_main_registers_the_commands() -> None:
    from exitguard.cli.main import COMMANDS, load_command

    assert {"backtest", "sweep"} <= set(COMMANDS)
    assert load_command("sweep").name == "sweep"
