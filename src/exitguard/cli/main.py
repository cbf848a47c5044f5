"""The ``exitguard`` Typer app: global options and sub-command registration, nothing else."""

from __future__ import annotations

from typing import Annotated

import typer

from exitguard import __version__
from exitguard.cli.backtest_cmd import backtest_command, sweep_command
from exitguard.cli.check_order import check_order_command
from exitguard.cli.config_cmd import app as config_app
from exitguard.cli.data_cmd import app as data_app
from exitguard.cli.demo_cmd import demo_command
from exitguard.cli.run_cmd import plan_command, run_command
from exitguard.cli.status_cmd import status_command
from exitguard.venue.cli import app as venue_app

app = typer.Typer(
    name="exitguard",
    help="Keeps Binance Spot and USD-M positions protected by stop, take-profit, trailing and "
    "OCO exits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
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


app.command("demo")(demo_command)
app.command("run")(run_command)
app.command("plan")(plan_command)
app.command("status")(status_command)
app.command("check-order")(check_order_command)
app.command("backtest")(backtest_command)
app.command("sweep")(sweep_command)
app.add_typer(venue_app, name="venue")
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")


def main() -> None:
    """Console-script entry point (``exitguard``)."""
    app(prog_name="exitguard")
