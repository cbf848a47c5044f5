"""The CLI starts without the heavy libraries, and its lazy command table tells the truth."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import typer

from exitguard.cli.main import COMMANDS, app, load_command

HEAVY = (
    "binance_sdk_derivatives_trading_usds_futures",
    "binance_sdk_spot",
    "binance_common",
    "numba",
    "numpy",
    "matplotlib",
    "ray",
    "vectorbt",
    "aiohttp",
    "fastapi",
)


def _loaded_after(code: str) -> list[str]:
    """Top-level packages a fresh interpreter holds after ``code`` (no other test's imports)."""
    probe = (
        code
        + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return list(json.loads(out.splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import exitguard.cli.main")
    assert [m for m in HEAVY if m in loaded] == []


def test_version_and_root_help_load_no_command_module() -> None:
    for argv in (["--version"], ["--help"]):
        code = (
            "import sys\nfrom exitguard.cli.main import app\n"
            f"sys.argv = ['exitguard', *{argv!r}]\n"
            "try:\n    app(prog_name='exitguard')\nexcept SystemExit:\n    pass\n"
        )
        loaded = _loaded_after(code)
        assert [m for m in HEAVY if m in loaded] == [], argv


def test_check_order_loads_no_sdk_numba_or_matplotlib() -> None:
    code = (
        "import sys\nfrom importlib.resources import files\nfrom exitguard.cli.main import app\n"
        "example = str(files('exitguard.examples') / 'algo_take_profit.json')\n"
        "sys.argv = ['exitguard', 'check-order', '--product', 'usdm-algo', '--file', example]\n"
        "try:\n    app(prog_name='exitguard')\nexcept SystemExit:\n    pass\n"
    )
    loaded = _loaded_after(code)
    assert [m for m in HEAVY if m in loaded] == []


def test_the_table_help_is_each_commands_own() -> None:
    """The root help lists the table's text; it must be what the command itself says."""
    for name, spec in COMMANDS.items():
        command = load_command(name)
        assert command.get_short_help_str(500) == spec.help, name


def test_every_command_resolves_and_unknown_ones_do_not() -> None:
    group = typer.main.get_command(app)
    ctx = click.Context(group)
    assert group.list_commands(ctx) == list(COMMANDS)
    for name in COMMANDS:
        assert group.get_command(ctx, name) is not None
    assert group.get_command(ctx, "nope") is None
