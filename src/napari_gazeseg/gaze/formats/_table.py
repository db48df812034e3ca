"""Fast, strict parsing of a delimited table of numbers (the body of a gaze file).

The fast path hands the whole text to :func:`numpy.fromstring`, after checks that
make its result trustworthy: every line has the same number of fields, and no
field can be mis-read (numpy reads a blank field as ``-1`` and splits on spaces,
so text holding spaces takes the slow path). Anything the fast path does not
accept is parsed again line by line, which either gives the same numbers or
names the first bad line and field.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ._errors import format_error

__all__ = ["header_fields", "parse_numeric_table"]

_NUMPY_WHITESPACE = (" ", "\v", "\f")


def header_fields(line: str) -> tuple[list[str], str]:
    """The fields of a header line (quotes and spaces stripped) and its separator.

    The separator is the first of tab, semicolon and comma found in the line.
    """
    for separator in ("\t", ";", ","):
        if separator in line:
            return [field.strip().strip('"') for field in line.split(separator)], separator
    return [line.strip().strip('"')], ","


def parse_numeric_table(
    body: str,
    columns: list[str],
    path: str | Path,
    first_line: int,
    separator: str = "\t",
    decimal: str = ".",
    usecols: list[int] | None = None,
) -> np.ndarray:
    """Parse ``body`` into a float64 array of shape ``(rows, len(columns))``.

    ``body`` holds whole lines, each ending in ``\\n``, each with one field per
    name in ``columns``; ``first_line`` is the file line number (1-based) of its
    first line, for error messages. Empty fields read as NaN; ``nan``, ``inf``
    and exponents are accepted as Python's ``float`` reads them. With
    ``decimal=","`` a comma is the decimal mark (then ``separator`` must not be a
    comma). ``usecols`` picks the columns to parse (the others may hold text);
    the result then has ``len(usecols)`` columns. Raises :class:`GazeFormatError`
    naming the first line whose field count differs or whose field is not a number.
    """
    if usecols is not None and list(usecols) != list(range(len(columns))):
        body = _select_columns(body, len(columns), usecols, path, first_line, separator)
        columns = [columns[index] for index in usecols]
    n_columns = len(columns)
    if not body:
        return np.empty((0, n_columns), dtype=np.float64)
    parsed = _parse_fast(body, n_columns, separator, decimal)
    if parsed is not None:
        return parsed
    return _parse_slow(body, columns, path, first_line, separator, decimal)


def _parse_fast(body: str, n_columns: int, separator: str, decimal: str) -> np.ndarray | None:
    if any(char in body for char in _NUMPY_WHITESPACE):
        return None
    if decimal == "," and "." in body:
        return None  # "1.5" is not a number when the decimal mark is a comma
    raw = np.frombuffer(body.encode("utf-8"), dtype=np.uint8)
    line_ends = np.flatnonzero(raw == ord("\n"))
    separators = np.flatnonzero(raw == ord(separator))
    per_line = np.diff(np.searchsorted(separators, line_ends), prepend=0)
    if per_line.size == 0 or (per_line != n_columns - 1).any():
        return None
    sep = separator
    for gap in (sep + sep, sep + "\n", "\n" + sep, "\n\n"):
        while gap in body:
            body = body.replace(gap, gap[0] + "nan" + gap[1])
    if body.startswith((sep, "\n")):
        body = "nan" + body
    if decimal == ",":
        body = body.replace(",", ".")
    flat_text = body.replace(sep, ";").replace("\n", ";")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(flat_text, sep=";")
        except (ValueError, DeprecationWarning):
            return None
    if values.size != line_ends.size * n_columns:
        return None
    return values.reshape(line_ends.size, n_columns)


def _select_columns(body: str, n_fields: int, usecols, path, first_line: int, separator: str) -> str:
    picked = []
    for row, line in enumerate(body.split("\n")[:-1]):
        fields = line.split(separator)
        if len(fields) != n_fields:
            raise _field_count_error(len(fields), n_fields, path, first_line + row)
        picked.append(separator.join(fields[index] for index in usecols))
    return "".join(line + "\n" for line in picked)


def _field_count_error(found: int, expected: int, path, line: int):
    return format_error(
        path, f"{found} fields where the header names {expected}", "fix or delete that line", line
    )


def _parse_slow(
    body: str, columns: list[str], path, first_line: int, separator: str, decimal: str
) -> np.ndarray:
    lines = body.split("\n")[:-1]
    values = np.empty((len(lines), len(columns)), dtype=np.float64)
    for row, line in enumerate(lines):
        fields = line.split(separator)
        if len(fields) != len(columns):
            raise _field_count_error(len(fields), len(columns), path, first_line + row)
        for column, field in enumerate(fields):
            values[row, column] = _number(field, columns[column], path, first_line + row, decimal)
    return values


def _number(field: str, column: str, path, line: int, decimal: str) -> float:
    text = field.strip()
    if not text:
        return np.nan
    if decimal == ",":
        if "." in text:
            text = "x"  # rejected below: a dot is no decimal mark here
        text = text.replace(",", ".")
    try:
        if "_" in text:
            raise ValueError(text)
        return float(text)
    except ValueError:
        shown = field if len(field) <= 30 else field[:27] + "..."
        raise format_error(
            path, f"{shown!r} in column {column!r} is not a number", "fix or delete that line", line
        ) from None
