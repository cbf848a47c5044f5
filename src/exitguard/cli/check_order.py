"""``exitguard check-order``: check one order against exchangeInfo offline, as the venue would.

Reads the order (JSON object of wire parameters) from the argument, ``--file`` or stdin, and the
symbol rules from ``--exchange-info`` (default: the bundled fixture for the product), then hands
both to :func:`exitguard.domain.check_order` and prints the verdict.

Exit status: 0 valid, 1 invalid (unparseable order JSON included), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from exitguard.domain import (
    CheckResult,
    Dialect,
    ExchangeInfoError,
    ExchangeRules,
    MarketContext,
    OrderKind,
    PositionMode,
    Violation,
    check_order,
    format_decimal,
    get_dialect,
    parse_decimal,
    parse_exchange_info,
)
from exitguard.domain.dialect import DIALECTS

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["check_order_command"]

_EXIT_INVALID = 1
_STDIN = "-"


class _BadOrderJson(Exception):
    """The order text is not a JSON document we can hand to the domain."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.message)
        self.violation = violation


def _usage(option: str | list[str], message: str) -> NoReturn:
    hint = [option] if isinstance(option, str) else option
    raise typer.BadParameter(message, param_hint=hint)


# --- inputs -----------------------------------------------------------------------------------


def _read_order_text(order_json: str | None, file: str | None) -> str:
    """Exactly one source: the argument, ``--file PATH`` (``-`` is stdin), or piped stdin."""
    if order_json is not None and file is not None:
        _usage(["ORDER_JSON", "--file"], "give the order once: as ORDER_JSON or with --file")
    if order_json is not None:
        return order_json
    if file is None:
        if sys.stdin is None or sys.stdin.isatty():
            _usage(
                ["ORDER_JSON", "--file"],
                "no order given: pass ORDER_JSON, --file PATH, or pipe the JSON on stdin",
            )
        file = _STDIN
    if file == _STDIN:
        try:
            raw = typer.get_binary_stream("stdin").read()
        except OSError as exc:
            _usage("--file", f"stdin: cannot be read ({exc.strerror or exc})")
        where = "stdin"
    else:
        try:
            raw = Path(file).read_bytes()
        except OSError as exc:
            _usage("--file", f"{file}: cannot be read ({exc.strerror or exc})")
        where = file
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _usage("--file", f"{where}: not UTF-8 text (byte {exc.start})")


def _json_error(message: str) -> _BadOrderJson:
    return _BadOrderJson(Violation(-1102, None, "PARAMS.json", message))


def _refuse_constant(name: str) -> NoReturn:
    raise _json_error(f"Parameters must be JSON: {name} is not a JSON value.")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _BadOrderJson(
                Violation(
                    -1101,
                    key,
                    "PARAMS.duplicate",
                    f"Duplicate values for a parameter detected: {key!r} is sent more than once.",
                )
            )
        out[key] = value
    return out


def _parse_order(text: str) -> object:
    """The order as JSON values; numbers with a fraction become ``Decimal``, never ``float``."""
    if not text.strip():
        raise _json_error("Parameters must be a JSON object: the input is empty.")
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise _json_error(
            f"Parameters must be a JSON object: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert
        raise _json_error(f"Parameters must be a JSON object: {exc}.") from None


def _load_exchange(path: Path | None, kind: OrderKind) -> ExchangeRules:
    option = "--exchange-info"
    if path is None:
        name = f"{kind.product.value}.json"
        where = f"bundled {name}"
        raw = (files("exitguard") / "fixtures" / "exchange_info" / name).read_bytes()
    else:
        where = str(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            _usage(option, f"{where}: cannot be read ({exc.strerror or exc})")
    try:
        doc = json.loads(raw.decode("utf-8-sig"), parse_float=Decimal)
    except UnicodeDecodeError:
        _usage(option, f"{where}: not UTF-8 text")
    except json.JSONDecodeError as exc:
        _usage(option, f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    except (ValueError, RecursionError) as exc:
        _usage(option, f"{where}: not JSON ({exc})")
    try:
        rules = parse_exchange_info(doc)
    except ExchangeInfoError as exc:
        _usage(option, f"{where}: {exc}")
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        _usage(option, f"{where}: exchangeInfo is malformed ({type(exc).__name__}: {exc})")
    if rules.product is not kind.product:
        _usage(
            option,
            f"{where} is {rules.product.value} exchangeInfo; {kind.value} orders need "
            f"{kind.product.value} exchangeInfo",
        )
    return rules


def _price_flag(option: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    value = parse_decimal(text)
    if value is None or value <= 0:
        _usage(option, f"{text!r} is not a positive decimal price")
    return value


def _dialect(name: str) -> Dialect:
    try:
        return get_dialect(name)
    except ValueError:
        _usage("--dialect", f"{name!r} is not one of {', '.join(sorted(DIALECTS))}")


# --- outputs ----------------------------------------------------------------------------------


def _symbol_of(result: CheckResult, params: object) -> str | None:
    if result.request is not None:
        return str(result.request.symbol)
    if isinstance(params, dict) and isinstance(params.get("symbol"), str):
        return str(params["symbol"])
    return None


def _as_json(result: CheckResult, dialect: Dialect) -> str:
    doc = {
        "valid": result.ok,
        "product": result.kind.value,
        "dialect": dialect.name,
        "params": result.params,
        "adjustments": [
            {
                "field": a.field,
                "before": format_decimal(a.before),
                "after": format_decimal(a.after),
                "rounding": a.rounding.value,
            }
            for a in result.adjustments
        ],
        "violations": [v.as_dict() for v in result.violations],
    }
    return json.dumps(doc, indent=2)


def _render(console: Console, result: CheckResult, symbol: str | None) -> None:
    from rich.text import Text  # rich only for the table: ``--json`` does without it

    from exitguard.cli.tables import Col, Rows

    subject = f"{result.kind.value} order" + (f" for {symbol}" if symbol else "")
    if result.ok:
        console.print(Text.assemble(("VALID", "bold green"), f" {subject}"))
        table = Rows("", [Col("parameter"), Col("value", number=True)])
        for name, value in (result.params or {}).items():
            table.add(name, value)
        table.print(console)
    else:
        n = len(result.violations)
        console.print(
            Text.assemble(
                ("INVALID", "bold red"), f" {subject}: {n} violation{'s' if n != 1 else ''}"
            )
        )
        table = Rows("", [Col("code", number=True), Col("field"), Col("rule"), Col("message")])
        for v in result.violations:
            table.add(str(v.code), v.field if v.field is not None else "—", v.rule, v.message)
        table.print(console)
    if result.adjustments:
        console.print("Quantisation adjustments:")
        for a in result.adjustments:
            console.print(Text(f"  {a.describe()}"))


# --- command ----------------------------------------------------------------------------------


def check_order_command(
    order_json: Annotated[
        str | None,
        typer.Argument(
            metavar="ORDER_JSON",
            show_default=False,
            help="The order as a JSON object of wire parameters. Omit to use --file or stdin.",
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", metavar="PATH", help="Read the order JSON from PATH ('-' for stdin)."
        ),
    ] = None,
    exchange_info: Annotated[
        Path | None,
        typer.Option(
            "--exchange-info",
            metavar="PATH",
            help="exchangeInfo JSON to check against (default: the bundled one for the product).",
        ),
    ] = None,
    product: Annotated[
        OrderKind, typer.Option("--product", help="Endpoint the order is meant for.")
    ] = OrderKind.USDM_ALGO,
    dialect: Annotated[
        str,
        typer.Option(
            "--dialect", help=f"Venue dialect: {', '.join(sorted(DIALECTS))}.", show_default=True
        ),
    ] = "binance",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object and nothing else.")
    ] = False,
    no_quantize: Annotated[
        bool,
        typer.Option("--no-quantize", help="Check the prices and quantities exactly as given."),
    ] = False,
    last_price: Annotated[
        str | None,
        typer.Option("--last-price", metavar="DEC", help="Last trade price (contract price)."),
    ] = None,
    mark_price: Annotated[
        str | None, typer.Option("--mark-price", metavar="DEC", help="USD-M mark price.")
    ] = None,
    hedge: Annotated[
        bool, typer.Option("--hedge", help="The account is in hedge (dual-side) position mode.")
    ] = False,
    now_ms: Annotated[
        int | None,
        typer.Option("--now-ms", min=0, metavar="INT", help="Venue clock in ms (goodTillDate)."),
    ] = None,
) -> None:
    """Check one order offline: parse, quantise onto the symbol's grid, validate.

    Exit status: 0 valid, 1 invalid, 2 usage error.
    """
    venue = _dialect(dialect)
    ctx = MarketContext(
        last_price=_price_flag("--last-price", last_price),
        mark_price=_price_flag("--mark-price", mark_price),
        now_ms=now_ms,
        position_mode=PositionMode.HEDGE if hedge else PositionMode.ONE_WAY,
    )
    rules = _load_exchange(exchange_info, product)
    text = _read_order_text(order_json, file)

    params: object = None
    try:
        params = _parse_order(text)
    except _BadOrderJson as bad:
        result = CheckResult(product, None, None, [bad.violation])
    else:
        try:
            result = check_order(product, params, rules, ctx, venue, quantize=not no_quantize)
        except ValueError as exc:  # only for rules of the other product, ruled out above
            _usage("--exchange-info", str(exc))

    if as_json:
        typer.echo(_as_json(result, venue))
    else:
        from rich.console import Console

        _render(Console(highlight=False), result, _symbol_of(result, params))
    if exchange_info is None and not as_json and any(v.code == -1121 for v in result.violations):
        typer.echo(
            "hint: the bundled exchangeInfo holds a few symbols only; check against the "
            "venue's own with --exchange-info FILE (GET /fapi/v1/exchangeInfo or /api/v3/exchangeInfo)"
        )
    if not result.ok:
        raise typer.Exit(_EXIT_INVALID)
