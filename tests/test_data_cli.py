"""``exitguard data synth`` / ``info`` and the usage errors of the data commands (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from exitguard.cli.data_cmd import app

runner = CliRunner()


def test_synth_then_info(tmp_path: Path) -> None:
    args = ["synth", "BTCUSDT", "--market", "spot", "--type", "aggTrades"]
    args += ["--from", "2024-12-31", "--days", "2", "--seed", "3", "--out", str(tmp_path)]
    args += ["--trades-per-minute", "5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    paths = result.stdout.split()
    assert [Path(p).name for p in paths] == [
        "BTCUSDT-aggTrades-2024-12-31.zip",
        "BTCUSDT-aggTrades-2025-01-01.zip",
    ]
    info = runner.invoke(app, ["info", *paths])
    assert info.exit_code == 0, info.output
    rows = [line for line in info.stdout.splitlines() if "BTCUSDT-aggTrades" in line]
    assert len(rows) == 2
    assert " ms " in rows[0] and " us " in rows[1]  # spot switched to µs on 2025-01-01
    assert "spot" in rows[0] and "2024-12-31 00:00" in rows[0] and " ok " in rows[0]


def test_synth_mark_klines_and_info(tmp_path: Path) -> None:
    args = ["synth", "ETHUSDT", "--market", "um", "--type", "markPriceKlines"]
    args += ["--from", "2024-01-01", "--interval", "5m", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (path,) = result.stdout.split()
    assert "/markPriceKlines/ETHUSDT/5m/ETHUSDT-5m-2024-01-01.zip" in path
    info = runner.invoke(app, ["info", path])
    assert "markPriceKlines" in info.stdout and "288" in info.stdout


def test_info_reports_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "BTCUSDT-aggTrades-2024-01-01.csv"
    bad.write_text("1,42283.58,0.005,10,12,1704067200123,False,True\n2,oops,1,1,1,1,True,True\n")
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 1
    assert "line 2, column '2:price': must be a decimal number" in result.stderr


@pytest.mark.parametrize(
    ("args", "option", "rule"),
    [
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "coinm",
                "--type",
                "aggTrades",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
            ],
            "--market",
            "must be spot or um",
        ),
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "depth",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
            ],
            "--type",
            "must be one of",
        ),
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "spot",
                "--type",
                "bookTicker",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
            ],
            "--type",
            "spot publishes no bookTicker",
        ),
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "2024-13-01",
                "--to",
                "2024-01-02",
            ],
            "--from",
            "must be a date YYYY-MM-DD",
        ),
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "2024-01-03",
                "--to",
                "2024-01-02",
            ],
            "--to",
            "must not be before --from",
        ),
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
                "--interval",
                "1m",
            ],
            "--interval",
            "kline types only",
        ),
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "klines",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
                "--interval",
                "2m",
            ],
            "--interval",
            "must be one of",
        ),
        (
            [
                "fetch",
                "btcusdt",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
            ],
            "SYMBOL",
            "upper-case",
        ),
        (
            [
                "fetch",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-02",
                "--base-url",
                "ftp://x",
            ],
            "--base-url",
            "http",
        ),
        (
            [
                "synth",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "2024-01-01",
                "--days",
                "0",
                "--out",
                "x",
            ],
            "--days",
            "must be >= 1",
        ),
        (
            [
                "synth",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "klines",
                "--from",
                "2024-01-01",
                "--interval",
                "1w",
                "--out",
                "x",
            ],
            "--interval",
            "at most 1d",
        ),
        (
            [
                "synth",
                "BTCUSDT",
                "--market",
                "spot",
                "--type",
                "markPriceKlines",
                "--from",
                "2024-01-01",
                "--out",
                "x",
            ],
            "--type",
            "spot publishes no markPriceKlines",
        ),
        (
            [
                "synth",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "2024-01-01",
                "--start-price",
                "-1",
                "--out",
                "x",
            ],
            "--start-price",
            "positive decimal",
        ),
        (
            [
                "synth",
                "BTCUSDT",
                "--market",
                "um",
                "--type",
                "aggTrades",
                "--from",
                "yesterday",
                "--out",
                "x",
            ],
            "--from",
            "must be a date",
        ),
        (["info", "x.zip", "--market", "eu"], "--market", "must be spot or um"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    tmp_path: Path, args: list[str], option: str, rule: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())  # rich boxes wrap long lines
    text = text.replace("│", "").replace("  ", " ")
    assert option in text and rule in " ".join(text.split())


def test_registered_under_exitguard_data() -> None:
    from exitguard.cli.main import app as main_app

    result = runner.invoke(main_app, ["data", "--help"])
    assert result.exit_code == 0
    assert "fetch" in result.output and "synth" in result.output and "info" in result.output
