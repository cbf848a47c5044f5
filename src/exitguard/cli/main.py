"""The ``exitguard`` Typer app: global options and the sub-command table, nothing else.

Commands load lazily: a command's module (and what it imports: the Binance SDKs, numba,
matplotlib, aiohttp) is imported only when that command runs or shows its own help, so
``exitguard --version`` and ``exitguard check-order`` start in a fraction of a second. The root
``--help`` lists the commands from the table below without importing any of them;
``tests/test_cli_startup.py`` checks the table's help texts against the commands' own. Every
command loaded here converts its option values without pydantic when they are plainly valid
(``cli/coercion.py``: Typer's own converter costs about 0.2 s of start time).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from exitguard import __version__
from exitguard.cli import coercion


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a sub-command lives: ``module:attribute`` (a function, or a Typer sub-app)."""

    module: str
    attribute: str
    help: str


COMMANDS: dict[str, LazyCommand] = {
    "demo": LazyCommand(
        "exitguard.cli.demo_cmd",
        "demo_command",
        "Protect a paper position end to end and watch the exits work (no network, no keys).",
    ),
    "run": LazyCommand(
        "exitguard.cli.run_cmd",
        "run_command",
        "Run the exit manager (default mode DRY_RUN_PRIVATE: nothing is ever sent).",
    ),
    "plan": LazyCommand(
        "exitguard.cli.run_cmd",
        "plan_command",
        "One planning pass: print the actions the manager would take; change nothing.",
    ),
    "status": LazyCommand(
        "exitguard.cli.status_cmd",
        "status_command",
        "Positions' protection, their exits, the scopes' states, from a copy of the store.",
    ),
    "check-order": LazyCommand(
        "exitguard.cli.check_order",
        "check_order_command",
        "Check one order offline: parse, quantise onto the symbol's grid, validate.",
    ),
    "backtest": LazyCommand(
        "exitguard.cli.backtest_cmd",
        "backtest_command",
        "Replay one exit policy event by event through the venue's trigger rules.",
    ),
    "sweep": LazyCommand(
        "exitguard.cli.backtest_cmd",
        "sweep_command",
        "Evaluate a grid of exit policies with the vectorised kernel (same rules as backtest).",
    ),
    "venue": LazyCommand(
        "exitguard.venue.cli",
        "app",
        "The Binance-compatible paper venue (USD-M and Spot) on loopback.",
    ),
    "config": LazyCommand(
        "exitguard.cli.config_cmd",
        "app",
        "The configuration: exitguard.toml plus environment variables.",
    ),
    "data": LazyCommand(
        "exitguard.cli.data_cmd",
        "app",
        "Binance public history (data.binance.vision): fetch, synthesise, inspect.",
    ),
}


# Typer 0.29 vendors click (``typer._click``): its Command and HelpFormatter are not public
# names (nor is its Context as the base class types it), so they are typed loosely here.
Command = Any


def load_command(name: str) -> Command:
    """The real click command behind ``name`` (imports its module)."""
    spec = COMMANDS[name]
    target: Any = getattr(importlib.import_module(spec.module), spec.attribute)
    if not isinstance(target, typer.Typer):
        single = typer.Typer(
            add_completion=False, pretty_exceptions_show_locals=False, rich_markup_mode=None
        )
        single.command(name)(target)
        target = single
    command = typer.main.get_command(target)
    command.name = name
    return coercion.install(command)


class LazyGroup(TyperGroup):
    """A Typer group whose commands are imported on first use (module docstring)."""

    _listing = False  # True while the root help is drawn: list from the table, import nothing

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        coercion.install(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        if self._listing:
            return TyperCommand(name=cmd_name, help=spec.help, short_help=spec.help)
        loaded = self.commands.get(cmd_name)
        if loaded is None:
            loaded = self.commands[cmd_name] = load_command(cmd_name)
        return loaded

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="exitguard",
    cls=LazyGroup,
    help="Keeps Binance Spot and USD-M positions protected by stop, take-profit, trailing and "
    "OCO exits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # Click's plain help (choices shown as <a|b>, no "<bool>" on flags) and plain one-line
    # usage errors ("Error: Invalid value for '--out': ...") instead of rich panels.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"exitguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """exitguard: protective exits for Binance Spot and USD-M positions."""


def main() -> None:
    """Console-script entry point (``exitguard``)."""
    app(prog_name="exitguard")
