"""Tables that never hide a number: the CLI's one way to print rows.

Rich shortens a cell that does not fit with "…", which turns ``3090.00000000`` into
``3090.000000…`` and a P&L of ``1,234.56`` into ``1,…``. Here numeric columns never wrap and are
as wide as their widest cell; text columns fold onto more lines instead of being cut. When even
that cannot fit the terminal (many numeric columns at 80 columns), the rows print vertically, one
``column: value`` line each, so every number still appears whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Col", "Rows", "at_step", "bundled_steps", "stdout_console"]

_WORD_MAX = 20  # a text column keeps its longest word whole up to this length, then folds it
_CELL_PAD = 3  # padding and the rule between two columns of a SIMPLE_HEAD table
_EDGES = 0  # show_edge=False: no edge characters


@dataclass(frozen=True, slots=True)
class Col:
    """One column: ``number=True`` for anything numeric (prices, quantities, P&L, times)."""

    name: str
    number: bool = False
    min_width: int = 0  # a text column narrower than this would fold too often to read


@dataclass(slots=True)
class Rows:
    """A titled table whose numbers are never cut (module docstring)."""

    title: str
    columns: Sequence[Col]
    rows: list[list[str]] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)

    def add(self, *cells: Any, style: str = "") -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(["" if c is None else str(c) for c in cells])
        self.styles.append(style)

    def _widths(self) -> list[int]:
        """Each column's narrowest width: a number's full length; a text's longest word."""
        return [
            max(
                [len(c.name) if c.number else max(_longest_word(c.name), c.min_width)]
                + [_longest_line(r[i]) if c.number else _longest_word(r[i]) for r in self.rows]
            )
            for i, c in enumerate(self.columns)
        ]

    def fits(self, width: int) -> bool:
        """True when every number stands whole and no word breaks, in one row per record."""
        return self._need(range(len(self.columns))) <= width

    def _need(self, columns: Sequence[int]) -> int:
        floor = self._widths()
        return sum(floor[i] for i in columns) + _CELL_PAD * (len(columns) - 1) + _EDGES

    def _groups(self, width: int) -> list[list[int]] | None:
        """Columns in groups that each fit ``width``, every group led by the first (key)
        column; None when even the key and one more column do not fit."""
        groups: list[list[int]] = []
        current = [0]
        for i in range(1, len(self.columns)):
            if self._need([*current, i]) <= width:
                current.append(i)
            elif len(current) > 1 and self._need([0, i]) <= width:
                groups.append(current)
                current = [0, i]
            else:
                return None
        groups.append(current)
        return groups

    def print(self, console: Console) -> None:
        """A table; too wide, the columns continue in further tables (each led by the first
        column); narrower still, one ``column: value`` block per row."""
        if not self.rows:
            return
        groups = self._groups(console.width)
        if groups is None:
            self._print_vertical(console)
            return
        for n, group in enumerate(groups):
            part = Rows(
                self.title if n == 0 else f"{self.title} (continued)",
                [self.columns[i] for i in group],
                [[row[i] for i in group] for row in self.rows],
                self.styles,
            )
            # The title on a line of its own: inside a narrow group's table it would wrap
            # to the table's width, a word a line.
            console.print(Text(part.title, style="table.title"), overflow="fold")
            console.print(part._table(console.width, titled=False))

    def _fitted(self, width: int) -> list[int]:
        """Column widths within ``width``: numbers at full length; the text columns narrowed,
        widest first, down to their longest word (``fits`` said that is enough)."""
        floor = self._widths()
        widths = [
            max([len(c.name), *(_longest_line(r[i]) for r in self.rows)])
            for i, c in enumerate(self.columns)
        ]
        room = width - _CELL_PAD * (len(self.columns) - 1) - _EDGES
        while sum(widths) > room:
            # The widest text column that can still give a character gives it: long columns
            # fold before short ones do.
            shrinkable = [
                (w, i) for i, (w, f) in enumerate(zip(widths, floor, strict=True)) if w > f
            ]
            if not shrinkable:
                break
            widths[max(shrinkable)[1]] -= 1
        return widths

    def _table(self, width: int, titled: bool = True) -> Table:
        table = Table(
            title=self.title if titled else None,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
        )
        for col, w in zip(self.columns, self._fitted(width), strict=True):
            if col.number:
                table.add_column(col.name, justify="right", no_wrap=True, width=w)
            else:
                table.add_column(col.name, overflow="fold", width=w)
        for row, style in zip(self.rows, self.styles, strict=True):
            table.add_row(*(Text(cell) for cell in row), style=style or None)
        return table

    def _print_vertical(self, console: Console) -> None:
        """One block per row: too many numbers for one line at this width."""
        console.print(Text(self.title, style="italic"))
        label = max(len(c.name) for c in self.columns)
        for row, style in zip(self.rows, self.styles, strict=True):
            for col, cell in zip(self.columns, row, strict=True):
                line = Text(f"  {col.name:<{label}}  ")
                line.append(cell, style=style or None)
                console.print(line, overflow="fold")
            console.print()


def _longest_line(cell: str) -> int:
    return max((len(line) for line in cell.splitlines()), default=0)


def _longest_word(cell: str) -> int:
    """The narrowest a text column may be: its longest word, capped at ``_WORD_MAX`` unless the
    word holds a digit (``quantity=1000000000.00000000`` is a number: it never splits)."""
    return max(
        (len(w) if any(c.isdigit() for c in w) else min(_WORD_MAX, len(w)) for w in cell.split()),
        default=0,
    )


def at_step(value: Any, step: Any = None) -> str:
    """A price or quantity as the venue shows it: at the symbol's tick or step when known
    (``3090.00000000`` at tick 0.01 → ``3090.00``), else without trailing zeros; never an
    exponent. Text that is not a number comes back unchanged."""
    from decimal import Decimal, InvalidOperation

    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    if step is not None and Decimal(str(step)) > 0:
        return f"{number.quantize(Decimal(str(step)).normalize()):f}"
    text = f"{number.normalize():f}"
    return text


def bundled_steps(product: str, symbol: str) -> tuple[Any, Any]:
    """(tick size, step size) of ``symbol`` in the bundled exchangeInfo, (None, None) if absent."""
    from exitguard.domain.bundled import bundled_symbol
    from exitguard.domain.enums import Product

    rules = bundled_symbol(symbol, Product(product))
    if rules is None:
        return None, None
    tick = rules.price_filter.tick_size if rules.price_filter is not None else None
    step = rules.lot_size.step_size if rules.lot_size is not None else None
    return tick, step


def stdout_console() -> Console:
    """Standard output: the terminal's width; piped, ``$COLUMNS`` or else 200 columns (one row
    per line for grep and less, rather than rich's 80-column default)."""
    import os
    import sys

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=200)
