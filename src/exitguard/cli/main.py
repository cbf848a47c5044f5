"""The ``exitguard`` Typer app: global options and sub-command registration, nothing else."""

from __future__ import annotations

from typing import Annotated

import typer

from exitguard import __version__
from exitguard.cli.check_order import check_order_command
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


app.command("check-order")(check_order_command)
app.add_typer(venue_app, name="venue")


def main() -> None:
    """Console-script entry point (``exitguard``)."""
    app(prog_name="exitguard")
