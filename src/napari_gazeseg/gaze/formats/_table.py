"""Fast, strict parsing of a delimited table of numbers (the body of a gaze file).

The fast path hands the whole text to a C parser: pandas' ``read_csv`` when
pandas is installed (napari depends on it), else :func:`numpy.loadtxt` (about
15 times slower; ``benchmarks/bench_formats.py`` compares them). Both round
correctly, and both are used strictly: no quoting, no comments, no NA words
other than empty fields and ``nan``, and the separator count is checked so that
no short line is padded. Anything the fast path does not accept is parsed again
line by line, which either gives the same numbers or names the first bad line
and field.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import numpy as np

from ._errors import format_error, quoted
from ._text import csv_rows

__all__ = ["FAST_ENGINE", "header_fields", "parse_fast", "parse_numeric_table", "read_csv_columns"]

#: The fast parser: ``"pandas"`` (used when importable) or ``"numpy"``.
FAST_ENGINE = "pandas"


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
    parsed = parse_fast(body, n_columns, separator, decimal)
    if parsed is not None:
        return parsed
    return _parse_slow(body, columns, path, first_line, separator, decimal)


def parse_fast(
    body: str, n_columns: int, separator: str = "\t", decimal: str = "."
) -> np.ndarray | None:
    """The ``(rows, n_columns)`` numbers of ``body`` by a C parser, or None where it balks.

    None means "parse it line by line": a blank line, a field count that differs,
    or text the strict C parser does not take as a number.
    """
    n_lines = body.count("\n")
    if body.startswith("\n") or "\n\n" in body:
        return None  # both parsers skip blank lines; the slow path names them
    if body.count(separator) != n_lines * (n_columns - 1):
        return None  # some line has too few fields (pandas would pad it with NaN)
    pandas = _pandas() if FAST_ENGINE == "pandas" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if pandas is not None:
                values = _read_with_pandas(pandas, body, separator, decimal)
            else:
                values = _read_with_numpy(body, separator, decimal)
        except ValueError:  # pandas' ParserError is a ValueError too
            return None
    if values is None or values.shape != (n_lines, n_columns):
        return None
    return values


def _pandas():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _read_with_pandas(pandas, body: str, separator: str, decimal: str) -> np.ndarray:
    options = {}
    if int(pandas.__version__.split(".")[0]) < 3:
        options["float_precision"] = "round_trip"  # exact; pandas 3 is exact by default
    frame = pandas.read_csv(
        io.BytesIO(body.encode("utf-8")),
        sep=separator,
        header=None,
        dtype=np.float64,
        engine="c",
        decimal=decimal,
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
        na_values=["", "nan", "NaN"],
        skip_blank_lines=False,
        low_memory=False,
        **options,
    )
    return frame.to_numpy(dtype=np.float64)


def _read_with_numpy(body: str, separator: str, decimal: str) -> np.ndarray | None:
    if decimal == ",":
        if "." in body:
            return None  # "1.5" is no number when the decimal mark is a comma
        body = body.replace(",", ".")
    for gap in (separator + separator, separator + "\n"):
        while gap in body:
            body = body.replace(gap, gap[0] + "nan" + gap[1])
    if body.startswith(separator):
        body = "nan" + body
    body = body.replace("\n" + separator, "\nnan" + separator)
    stream = io.TextIOWrapper(io.BytesIO(body.encode("utf-8")), encoding="utf-8")
    return np.loadtxt(stream, dtype=np.float64, delimiter=separator, comments=None, ndmin=2)


def _select_columns(
    body: str, n_fields: int, usecols, path, first_line: int, separator: str
) -> str:
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
        raise format_error(
            path, f"{quoted(field)} in column {column!r} is not a number", "fix or delete that line", line
        ) from None


def read_csv_columns(
    text: str,
    path: str | Path,
    numeric: dict[str, tuple[str, ...]],
    textual: dict[str, tuple[str, ...]] | None = None,
    missing: tuple[str, ...] = ("", "nan", "NaN", ".", "n/a", "NA"),
) -> tuple[list[str], dict[str, np.ndarray], dict[str, list[str]]]:
    """Columns of a quoted CSV (comma, or tab when the header holds tabs), picked by name.

    ``numeric`` and ``textual`` map a key to the header names (case-insensitive,
    the first present wins) it may have; a key whose names are all absent is left
    out of the result. Numeric fields in ``missing`` read as NaN; any other field
    that is not a number raises :class:`GazeFormatError` naming its line. Rows of
    another field count than the header raise too; a trailing empty field (a
    line ending in the separator, as Gazepoint writes) is allowed when the header
    has one too. Returns ``(header, numbers, texts)``.
    """
    textual = textual or {}
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter="\t" if "\t" in first else ",")
    try:
        header = [name.strip().strip('"') for name in next(reader)]
    except StopIteration:
        raise format_error(path, "the file is empty", "pass an export with its header line") from None
    upper = [name.upper() for name in header]

    def find(names):
        for name in names:
            if name.upper() in upper:
                return upper.index(name.upper())
        return None

    num_index = {k: i for k, names in numeric.items() if (i := find(names)) is not None}
    text_index = {k: i for k, names in textual.items() if (i := find(names)) is not None}
    numbers = {k: [] for k in num_index}
    texts = {k: [] for k in text_index}
    missing_set = set(missing)
    try:
        for line, fields in csv_rows(reader, len(header), path):
            for key, index in num_index.items():
                field = fields[index].strip()
                if field in missing_set:
                    numbers[key].append(np.nan)
                    continue
                try:
                    value = float(field)
                except ValueError:
                    value = None
                if value is None or np.isinf(value) or "_" in field:
                    problem = f"{quoted(field)} in column {header[index]!r} is not a number"
                    raise format_error(path, problem, "fix or delete that line", line)
                numbers[key].append(value)
            for key, index in text_index.items():
                texts[key].append(fields[index].strip())
    except csv.Error as err:
        raise format_error(path, f"the CSV is malformed ({err})", "fix that line", reader.line_num) from None
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in numbers.items()}
    return header, arrays, texts
