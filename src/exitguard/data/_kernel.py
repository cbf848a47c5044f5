"""The byte-level CSV scanner behind :mod:`exitguard.data.read` (numba, one pass, exact).

Why not ``numpy.loadtxt`` / ``float``: a published price such as ``0.1`` has no exact binary
float, and the loader promises integer units that equal the decimal text. The scanner reads each
decimal field as an integer *mantissa* of its significant digits plus the number of digits written
after the point (``"96000.10"`` → ``9600010``, 2); :func:`rescale` then brings a column to one
exponent with integer multiplications only. Values of more than 18 significant digits are refused
instead of overflowing ``int64``.

The scanner knows nothing about Binance: it is driven by one *kind* code per column. Errors are
returned as codes with the byte offset of the offending line and the column index, so that the
caller can build a message naming the file, the line and the column (and so that the compiled
function never has to format strings).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = [
    "ANY",
    "BOOL",
    "CHECK_BOOL",
    "CHECK_DEC",
    "CHECK_INT",
    "DEC",
    "ERR_BOOL",
    "ERR_DEC",
    "ERR_DIGITS",
    "ERR_INT",
    "ERR_NCOLS",
    "INT",
    "MAX_DIGITS",
    "OK",
    "POW10",
    "rescale",
    "scan",
]

# Column kinds. The stored kinds write one int64 per row into ``values[slot]``.
ANY = 0  # not checked, not stored (the klines "ignore" column)
INT = 1  # non-negative integer, stored
DEC = 2  # plain decimal, stored as mantissa (values) + digits after the point (fracs)
BOOL = 3  # true/false in any case, stored as 0/1
CHECK_INT = 4  # integer syntax only (ids we do not keep)
CHECK_DEC = 5  # decimal syntax only (volumes we do not keep; may exceed int64)
CHECK_BOOL = 6  # true/false syntax only

# Error codes returned by :func:`scan`.
OK = 0
ERR_NCOLS = 1
ERR_INT = 2
ERR_DEC = 3
ERR_BOOL = 4
ERR_DIGITS = 5

MAX_DIGITS = 18  # 10**18 - 1 < 2**63: an 18-digit mantissa always fits in int64
POW10 = np.array([10**i for i in range(19)], dtype=np.int64)

_COMMA = 44
_LF = 10
_CR = 13
_DOT = 46
_ZERO = 48
_NINE = 57
_SPACE = 32
_TAB = 9


@njit(cache=True, nogil=True)
def _field_end(buf: npt.NDArray[np.uint8], pos: int, n: int) -> int:
    while pos < n:
        c = buf[pos]
        # Explicit comparisons (not `in`): they compile to three plain branches.
        if c == _COMMA or c == _LF or c == _CR:  # noqa: SIM109
            return pos
        pos += 1
    return pos


@njit(cache=True, nogil=True)
def _match_bool(buf: npt.NDArray[np.uint8], start: int, end: int) -> int:
    """1 for true, 0 for false (ASCII case-insensitive), -1 otherwise."""
    length = end - start
    if length == 4:
        if (
            (buf[start] | 32) == 116  # t
            and (buf[start + 1] | 32) == 114  # r
            and (buf[start + 2] | 32) == 117  # u
            and (buf[start + 3] | 32) == 101  # e
        ):
            return 1
    elif length == 5 and (
        (buf[start] | 32) == 102  # f
        and (buf[start + 1] | 32) == 97  # a
        and (buf[start + 2] | 32) == 108  # l
        and (buf[start + 3] | 32) == 115  # s
        and (buf[start + 4] | 32) == 101  # e
    ):
        return 0
    return -1


@njit(cache=True, nogil=True)
def scan(
    buf: npt.NDArray[np.uint8],
    start: int,
    kinds: npt.NDArray[np.int8],
    slots: npt.NDArray[np.int64],
    values: npt.NDArray[np.int64],
    fracs: npt.NDArray[np.int8],
    row_offsets: npt.NDArray[np.int64],
) -> tuple[int, int, int, int]:
    """Scan CSV rows from ``buf[start:]`` into ``values`` / ``fracs`` (one row per column slot).

    ``kinds[c]`` is the kind of column ``c``; ``slots[c]`` its row in ``values`` for stored kinds.
    Blank lines (empty, or spaces/tabs only) are skipped; ``\\r\\n`` and a missing final newline
    are accepted. ``row_offsets[r]`` receives the byte offset where row ``r``'s line starts.

    Returns ``(rows, error, error_line_offset, error_column)``; ``error`` is ``OK`` or an
    ``ERR_*`` code, in which case the offset and column locate the first bad field.
    """
    n = buf.shape[0]
    ncols = kinds.shape[0]
    pos = start
    row = 0
    while pos < n:
        line_start = pos
        # Blank line? Look ahead over spaces/tabs only; a data line never starts with them.
        probe = pos
        while probe < n and (buf[probe] == _SPACE or buf[probe] == _TAB):
            probe += 1
        if probe >= n:
            break
        c0 = buf[probe]
        if c0 == _LF:
            pos = probe + 1
            continue
        if c0 == _CR and (probe + 1 >= n or buf[probe + 1] == _LF):
            pos = probe + 2
            continue
        col = 0
        while True:
            end = _field_end(buf, pos, n)
            kind = kinds[col]
            if kind == INT or kind == CHECK_INT:  # noqa: SIM109
                if end == pos:
                    return row, ERR_INT, line_start, col
                acc = 0
                sig = 0
                for i in range(pos, end):
                    d = buf[i]
                    if d < _ZERO or d > _NINE:
                        return row, ERR_INT, line_start, col
                    if kind == INT:
                        if sig > 0 or d != _ZERO:
                            sig += 1
                            if sig > MAX_DIGITS:
                                return row, ERR_DIGITS, line_start, col
                        acc = acc * 10 + (d - _ZERO)
                if kind == INT:
                    values[slots[col], row] = acc
            elif kind == DEC or kind == CHECK_DEC:  # noqa: SIM109
                acc = 0
                sig = 0
                digits = 0
                frac = 0
                seen_dot = False
                for i in range(pos, end):
                    d = buf[i]
                    if d == _DOT:
                        if seen_dot:
                            return row, ERR_DEC, line_start, col
                        seen_dot = True
                        continue
                    if d < _ZERO or d > _NINE:
                        return row, ERR_DEC, line_start, col
                    digits += 1
                    if seen_dot:
                        frac += 1
                    if kind == DEC:
                        if sig > 0 or d != _ZERO:
                            sig += 1
                            if sig > MAX_DIGITS:
                                return row, ERR_DIGITS, line_start, col
                        acc = acc * 10 + (d - _ZERO)
                if digits == 0:
                    return row, ERR_DEC, line_start, col
                if kind == DEC:
                    if frac > MAX_DIGITS:
                        return row, ERR_DIGITS, line_start, col
                    values[slots[col], row] = acc
                    fracs[slots[col], row] = frac
            elif kind == BOOL or kind == CHECK_BOOL:  # noqa: SIM109
                b = _match_bool(buf, pos, end)
                if b < 0:
                    return row, ERR_BOOL, line_start, col
                if kind == BOOL:
                    values[slots[col], row] = b
            pos = end
            if pos < n and buf[pos] == _COMMA:
                col += 1
                pos += 1
                if col >= ncols:
                    return row, ERR_NCOLS, line_start, col
                continue
            # End of line (or of the buffer): every column must have been seen.
            if col != ncols - 1:
                return row, ERR_NCOLS, line_start, col
            if pos < n and buf[pos] == _CR:
                if pos + 1 < n and buf[pos + 1] != _LF:
                    # A bare CR inside a line is not a line ending we accept.
                    return row, ERR_NCOLS, line_start, col
                pos += 1
            if pos < n and buf[pos] == _LF:
                pos += 1
            break
        row_offsets[row] = line_start
        row += 1
    return row, OK, 0, 0


def rescale(
    mantissa: npt.NDArray[np.int64], frac: npt.NDArray[np.int8], exp: int
) -> tuple[npt.NDArray[np.int64], int]:
    """Units of ``10**-exp`` for each ``mantissa * 10**-frac``; exact or refused.

    Returns ``(units, first_bad_row)``; ``first_bad_row`` is -1 when every value fits in int64
    at this exponent, otherwise the first row that would overflow (units are then unusable).
    """
    if mantissa.shape[0] == 0:
        return mantissa.copy(), -1
    shift = exp - frac.astype(np.int64)
    if int(shift.min()) < 0 or int(shift.max()) > MAX_DIGITS:
        bad = np.flatnonzero((shift < 0) | (shift > MAX_DIGITS))
        return mantissa.copy(), int(bad[0])
    if int(shift.max()) == 0:
        return mantissa.copy(), -1
    factor = POW10[shift]
    limit = np.iinfo(np.int64).max // factor
    over = mantissa > limit
    if over.any():
        return mantissa.copy(), int(np.flatnonzero(over)[0])
    return mantissa * factor, -1
