"""The CLI starts without the heavy libraries, and its lazy command table tells the truth.

Start time is guarded by what a fresh interpreter has imported after a command, never by a clock:
no Binance SDK, numba, matplotlib, ray or vectorbt anywhere at start; no pydantic (Typer's value
converters) on ``--version``, the root help or ``check-order``; no Spot order models for a USD-M
order; ``exitguard.domain``'s names load on first use.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from typer import _click as typer_click
from typer._coercion import build_runtime_param

from exitguard.cli import coercion
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


# Typer's pydantic-backed converters: cli/coercion.py keeps the start path free of them.
PYDANTIC = ("pydantic", "pydantic_core", "typer._adapters")


def _modules_after(code: str) -> set[str]:
    """Every module a fresh interpreter holds after ``code`` (no other test's imports)."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def _loaded_after(code: str) -> list[str]:
    """Top-level packages a fresh interpreter holds after ``code``."""
    return sorted({m.split(".")[0] for m in _modules_after(code)})


def _modules_after_cli(*argv: str) -> set[str]:
    """Every module loaded by ``exitguard *argv`` (run in-process in a fresh interpreter)."""
    return _modules_after(
        "import sys\nfrom exitguard.cli.main import main\n"
        f"sys.argv = ['exitguard', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )


def test_importing_the_cli_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import exitguard.cli.main")
    assert [m for m in HEAVY if m in loaded] == []


def test_version_and_root_help_load_no_command_module_nor_pydantic() -> None:
    commands = {spec.module for spec in COMMANDS.values()}
    for argv in (["--version"], ["--help"]):
        loaded = _modules_after_cli(*argv)
        tops = {m.split(".")[0] for m in loaded}
        assert [m for m in HEAVY if m in tops] == [], argv
        assert sorted(commands & loaded) == [], argv
        assert [m for m in PYDANTIC if m in loaded] == [], argv


def test_check_order_loads_no_heavy_library_pydantic_or_spot_models() -> None:
    example = Path(__file__).parents[1] / "src/exitguard/examples/algo_take_profit.json"
    assert example.is_file()
    loaded = _modules_after_cli("check-order", "--product", "usdm-algo", "--file", str(example))
    assert "exitguard.domain.check" in loaded  # it did check the order
    tops = {m.split(".")[0] for m in loaded}
    assert [m for m in HEAVY if m in tops] == []
    assert [m for m in PYDANTIC if m in loaded] == []
    spot = ("requests.spot", "requests.spot_lists", "validation.spot", "validation.spot_lists")
    assert [m for m in spot if f"exitguard.domain.{m}" in loaded] == []


def test_a_domain_module_alone_loads_no_other_domain_module() -> None:
    """``exitguard.domain`` re-exports lazily: importing its enums builds no dataclass module."""
    loaded = _modules_after("import exitguard.domain.enums")
    assert sorted(m for m in loaded if m.startswith("exitguard.domain")) == [
        "exitguard.domain",
        "exitguard.domain.enums",
    ]


@pytest.mark.parametrize(
    "package", ["exitguard.domain", "exitguard.domain.requests", "exitguard.domain.validation"]
)
def test_every_public_name_of_a_lazy_package_is_its_home_modules_own(package: str) -> None:
    module = importlib.import_module(package)
    homes: dict[str, tuple[str, ...]] = module._HOMES
    assert sorted(n for names in homes.values() for n in names) == sorted(module.__all__)
    for home, names in homes.items():
        real = importlib.import_module(f"{package}.{home}")
        for name in names:
            assert getattr(module, name) is getattr(real, name), (package, name)
            namespace: dict[str, Any] = {}
            exec(f"from {package} import {name}", namespace)
            assert namespace[name] is getattr(real, name)
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


# Raw values as the command line (or a default) hands them over, valid and not.
SAMPLES: dict[Any, list[Any]] = {
    str: ["BTCUSDT", "", " x "],
    int: ["0", "7", "-1", "65535", "65536", "007", "1_000", " 7", "+7", "7.0", "x", "", 10],
    float: ["0.5", "3", "0", "-0.5", "1e3", "inf", "nan", ".5", "x", 0.001, 2],
    bool: [True, False],
    Path: ["a/b.json", ".", "", "-"],
}


def _outcome(converter: Any, raw: Any, param: Any, ctx: Any) -> tuple[Any, ...]:
    try:
        out = converter.coerce(raw, param=param, ctx=ctx)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    # NaN is a value both converters give ("nan" is a float); compared by its text, since
    # NaN != NaN (the commands themselves refuse it where a range applies).
    if isinstance(out, float) and out != out:
        return ("value", float, "nan")
    return ("value", type(out), out)


def _typer_params() -> list[tuple[str, Any, Any]]:
    found = []

    def walk(command: Any, path: str) -> None:
        for param in command.params:
            if isinstance(param._runtime_param, coercion._FastRuntimeParam):
                found.append((f"{path} {param.name}", command, param))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    for name in COMMANDS:
        walk(load_command(name), name)
    return found


def test_fast_converters_agree_with_typers_own_on_every_option() -> None:
    """Same value or same error (type and words) as Typer's pydantic converter, option by option."""
    params = _typer_params()
    assert len(params) > 50  # every command's options, not a few
    compared = 0
    for where, command, param in params:
        descriptor = param.type_descriptor
        annotation = descriptor.annotation
        listed = getattr(annotation, "__origin__", None) is list
        item = annotation.__args__[0] if listed else annotation
        if isinstance(item, type) and issubclass(item, Enum):
            samples: list[Any] = [*(m.value for m in item), next(iter(item)), "nope", ""]
            samples += [v.upper() for v in samples if isinstance(v, str)]
        else:
            samples = SAMPLES[item]
        if listed:
            samples = [tuple(samples[:2]), (), tuple(samples)]
        ctx = typer_click.Context(command)
        typers = build_runtime_param(descriptor)
        for raw in samples:
            ours = _outcome(param._runtime_param, raw, param, ctx)
            theirs = _outcome(typers, raw, param, ctx)
            assert ours == theirs, (where, raw)
            compared += 1
    assert compared > 300


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
