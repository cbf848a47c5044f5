"""Option values converted without pydantic when they are plainly valid (CLI start time).

Typer 0.2x converts every parameter value of the command that runs through a pydantic
``TypeAdapter`` built on first use; importing pydantic and building those adapters costs about
0.2 s of a command's start, more than everything ``exitguard check-order`` does itself. The
values our commands take are simple (``str``, ``int``/``float`` with bounds, ``bool``, ``Path``,
an ``Enum`` of choices, lists of those), so :func:`install` gives each such parameter a converter
that handles the plainly valid value directly and hands anything else (an error, an unusual
spelling) to Typer's own converter, which then builds its adapter: the error lines stay Typer's,
word for word.

This reaches into Typer internals (``typer.core._TyperParameter``, ``typer._coercion``,
``typer._param_types``). When they are missing (another Typer version) :func:`install` does
nothing and Typer converts as before, only slower; ``tests/test_cli_startup.py`` then fails on
pydantic being loaded by ``check-order``, which is how that would be noticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

__all__ = ["install"]

try:  # Typer internals; see the module docstring for what happens without them
    from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path
    from typer.core import _TyperParameter

    _TYPER_INTERNALS = True
except ImportError:  # pragma: no cover - another Typer: convert with Typer's own adapters
    _TYPER_INTERNALS = False

# Plain decimal spellings only: pydantic's lax int/float parsing accepts more (" 1", "1_0",
# "1e3", "inf"); those go to Typer's converter and get its answer, whatever it is.
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,18})?")

Convert = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> value; raises when unsure


class _Unsure(Exception):
    """The fast converter does not decide this value; Typer's own converter will."""


def _str(value: Any, param: Any, ctx: Any) -> Any:
    if isinstance(value, str):
        return value
    raise _Unsure


def _bool(value: Any, param: Any, ctx: Any) -> Any:
    if isinstance(value, bool):
        return value
    raise _Unsure


def _bounded(number: type, pattern: re.Pattern[str], lo: Any, hi: Any) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        plain = isinstance(value, str) and pattern.fullmatch(value) is not None
        if not (plain or type(value) is number or (number is float and type(value) is int)):
            raise _Unsure
        out = number(value)
        if (lo is not None and out < lo) or (hi is not None and out > hi):
            raise _Unsure  # Typer words the range error
        return out

    return convert


def _choice(choices: list[Any], case_sensitive: bool) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        return coerce_cli_choice(value, choices=choices, case_sensitive=case_sensitive, ctx=ctx)

    return convert


def _path(info: Any, path_type: type[Path]) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and value and "\0" not in value:
            value = path_type(value)  # what pydantic makes of it; Typer then checks the path
        elif not isinstance(value, path_type):
            raise _Unsure
        return coerce_cli_path(value, info, path_type=path_type, param=param, ctx=ctx)

    return convert


def _listed(each: Convert) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Unsure
        return [each(item, param, ctx) for item in value]

    return convert


def _leaf(annotation: Any, info: Any) -> Convert | None:
    """A converter for one plain annotation, or None: Typer converts it."""
    if info.parser is not None or getattr(info, "clamp", False):
        return None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(list(annotation), bool(info.case_sensitive))
    if annotation is bool:
        return _bool
    if annotation is int:
        return _bounded(int, _INT, info.min, info.max)
    if annotation is float:
        return _bounded(float, _FLOAT, info.min, info.max)
    if annotation is str:
        return _str
    if annotation is Path and getattr(info, "path_type", None) in (None, Path):
        return _path(info, Path)
    return None


def _converter(descriptor: Any) -> Convert | None:
    if descriptor.file_annotation is not None:
        return None  # Typer opens files itself, without pydantic
    annotation = descriptor.annotation
    info = descriptor.parameter_info
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        each = _leaf(item, info)
        return None if each is None else _listed(each)
    return _leaf(annotation, info)


if _TYPER_INTERNALS:

    @dataclass(frozen=True)
    class _FastRuntimeParam(RuntimeParam):
        """Converts plainly valid values itself; anything else the way Typer does."""

        descriptor: TypeDescriptor
        convert: Convert

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.convert(value, param, ctx)
            except Exception:  # Typer's converter decides, and words any error its own way
                slow = build_runtime_param(self.descriptor)
                return slow._coerce_value(value, param=param, ctx=ctx)


def _install_on(param: Any) -> None:
    if not isinstance(param, _TyperParameter) or param._runtime_param is not None:
        return
    descriptor = param.type_descriptor
    convert = _converter(descriptor)
    if convert is not None:
        param._runtime_param = _FastRuntimeParam(
            descriptor.parameter_info, descriptor.annotation, descriptor, convert
        )


def install(command: Any) -> Any:
    """Give ``command``'s parameters (and its sub-commands', recursively) the fast converters."""
    if not _TYPER_INTERNALS:  # pragma: no cover - another Typer version
        return command
    for param in command.params:
        _install_on(param)
    # ``--help`` is made on first use (click's get_help_option) and converted like the others
    made_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = made_help(ctx)
        if option is not None:
            _install_on(option)
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        install(sub)
    return command
