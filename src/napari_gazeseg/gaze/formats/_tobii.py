"""What the Tobii readers share: the export table, header units, fixation runs, screen geometry.

* :class:`TobiiTable` reads a Tobii text export (Pro Lab, Studio, raw SDK
  samples): tab-separated, or comma / semicolon re-saved by a spreadsheet (read
  with :mod:`csv`), keeping only the columns a reader uses, by base name and unit
  (``Gaze point X [DACS px]``, ``GazePointX (ADCSpx)``); a reader's ``select``
  drops the columns a particular read does not need before parsing. The file is
  decoded in blocks and parsed a chunk of rows at a time into compact columns
  (category codes for few distinct texts, int16 / int32 offsets for whole
  numbers, float64 otherwise), so memory follows the columns, not the text;
  numbers are parsed by the C fast path of :mod:`._table` with comma or dot
  decimals, a bad field named by its line. :meth:`TobiiTable.gather` (and
  :class:`RowsOf`) builds float64 numbers for some rows only, so readers map a
  recording a block of rows at a time rather than holding whole-file columns.
* :func:`keyed_rows` groups sample rows by (recording, stimulus) a block at a time.
* :func:`release_free_memory` gives the parse's freed heap back to the system (glibc).
* :func:`split_header` splits ``Name [unit]`` / ``Name (unit)`` in linear time.
* :func:`fixation_runs` turns per-sample event labels (``Fixation`` runs of one
  index) into :class:`Fixations`, durations clipped at stimulus and export
  boundaries and at the next fixation.
* :func:`screen_geometry` fits ``meta["screen"]`` from paired px / mm positions.
"""

from __future__ import annotations

import codecs
import csv
import ctypes
import gzip
import itertools
import operator
import warnings
import zlib

import numpy as np

from ..geometry import ScreenGeometry
from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._table import parse_fast
from ._text import is_gzip, read_bytes, text_encoding

__all__ = [
    "LinesOf",
    "RowsOf",
    "TobiiTable",
    "all_present",
    "check_time",
    "first_label",
    "first_value",
    "fixation_runs",
    "keyed_rows",
    "label_at",
    "label_mask",
    "make_recording",
    "needs_movement",
    "release_free_memory",
    "row_dtype",
    "sampling_rate",
    "screen_geometry",
    "sniff_separator",
    "split_header",
]


def split_header(field: str) -> tuple[str, str | None]:
    """``(name, unit text)`` of a header field ``Name [unit]`` or ``Name (unit)``.

    The unit is the text inside the last bracket pair when the field ends in one
    (the opening bracket after any earlier closing one); None without. Linear in
    the field's length, so a hostile 200 KB header field costs no more than reading it.
    """
    text = field.rstrip()
    for opening, closing in (("[", "]"), ("(", ")")):
        if text.endswith(closing):
            end = len(text) - 1
            start = text.find(opening, text.rfind(closing, 0, end) + 1, end)
            if start >= 0:
                return text[:start].rstrip(), text[start + 1 : end]
    return text, None


def _unit(text: str | None) -> str | None:
    if text is None:
        return None
    unit = text.lower().replace(" ", "").replace("μ", "u").replace("µ", "u")
    return unit or None


def sniff_separator(header: str) -> str:
    """The field separator of a table whose header line is ``header``.

    A tab wherever there is one (Pro Lab and Tobii Studio write tabs); otherwise
    the more frequent of semicolon and comma (a spreadsheet's re-saved CSV).
    """
    if "\t" in header:
        return "\t"
    if header.count(";") > header.count(","):
        return ";"
    return "," if "," in header else "\t"


class TobiiTable:
    """The export's used columns by name and unit, parsed in chunks into compact arrays.

    ``used`` holds the base names (lower case, unit removed) of the columns to
    keep; the others are dropped as each line is split. ``source`` is the whole
    text, or (from :meth:`read`) the file's text in blocks, so a long export is
    never held as one string nor as a Python string per field: every
    :data:`CHUNK_ROWS` rows, each used column becomes either compact category
    codes with its few distinct (stripped) texts, or, when its values are mostly
    distinct, numbers: whole numbers as int16 / int32 offsets from the chunk's
    smallest (exact: below 2**53, no negative zero), others float64 (or, failing
    that, its raw texts, which are reported as not numbers when asked for as
    such). A column holding one value in every row is given as a read-only
    broadcast of that value. ``select(table, kept)``, when given, returns the
    subset of the ``used`` column indices to parse (the header is known then);
    the others count as missing for :meth:`find`.
    Tab-separated text is split on tabs; a comma or semicolon table (an export
    re-saved by a spreadsheet) is read with :mod:`csv`, so quoted fields work.
    Each row's line in the file (for errors) is kept as runs of consecutive
    lines: :meth:`line_of`, :meth:`lines_of`, ``line_numbers`` (built on access).
    """

    #: Rows parsed at a time (bounds the Python strings alive at once).
    CHUNK_ROWS = 4096
    #: Tables of at least this many rows give the parse's freed memory back (see
    #: :func:`release_free_memory`).
    TRIM_ROWS = 1 << 16

    @classmethod
    def read(cls, path, used: set[str], empty_advice: str, select=None) -> TobiiTable:
        """The table of the file at ``path`` read in blocks; an empty file is refused."""
        table = cls(_text_blocks(path), path, used, select)
        if not table.has_text:
            raise format_error(path, "the file is empty", empty_advice)
        return table

    def __init__(self, source, path, used: set[str], select=None):
        self.path = path
        blocks = [source] if isinstance(source, str) else source
        self.has_text = False
        lines = self._lines(blocks)
        first = next(lines, "")
        self.separator = sniff_separator(first)
        if self.separator == "\t":
            header = first.split("\t")
        else:
            header = next(iter(self._split(iter([first]), first=1)))[1]
        self.header = [field.strip().strip('"') for field in header]
        self.keys = {}
        self.raw_units: dict[int, str | None] = {}
        for index, field in enumerate(self.header):
            name, raw_unit = split_header(field)
            key = (name.strip().lower(), _unit(raw_unit))
            if key not in self.keys:
                self.keys[key] = index
                self.raw_units[index] = raw_unit
        kept = {index for (name, _), index in self.keys.items() if name in used}
        self._dropped: set[int] = set()
        if select is not None:
            chosen = select(self, kept)
            self._dropped = kept - chosen
            kept = chosen
        self.used = sorted(kept)
        self._pieces: dict[int, list] = {index: [] for index in self.used}
        runs: list[tuple[int, int]] = []  # (first row, its line) of runs of consecutive lines
        width = len(self.header)
        n_rows = 0
        if self.used:
            pick = operator.itemgetter(*self.used, *self.used)  # a tuple even for one column
        else:
            pick = lambda fields: ()
        for chunk_numbers, chunk in self._chunks(lines):
            picked = [pick(fields) if len(fields) == width else fields for fields in chunk]
            wrong = [i for i, row in enumerate(picked) if isinstance(row, list)]
            for position in wrong:
                if any(field.strip() for field in picked[position]):
                    raise format_error(
                        path,
                        f"{len(picked[position])} fields where the header names {width}",
                        "export the data again or fix that line",
                        int(chunk_numbers[position]),
                    )
            if wrong:
                keep = np.ones(len(picked), dtype=bool)
                keep[wrong] = False
                picked = [row for row, ok in zip(picked, keep) if ok]
                chunk_numbers = chunk_numbers[keep]
            del chunk
            if not picked:
                continue
            _add_runs(runs, n_rows, chunk_numbers)
            for index, column in zip(self.used, zip(*picked)):
                _append(self._pieces[index], n_rows, _compact(column))
            n_rows += len(picked)
            del picked
        self.n_rows = n_rows
        self._run_rows = np.array([row for row, _ in runs], dtype=np.int64)
        self._run_lines = np.array([line for _, line in runs], dtype=np.int64)
        for index in self.used:
            self._pieces[index] = _finish(self._pieces[index])
        if n_rows >= self.TRIM_ROWS:
            release_free_memory()
        self._starts: dict[int, np.ndarray] = {}
        self._label_values: dict[tuple[int, int], np.ndarray] = {}
        self._checked: set[int] = set()

    @property
    def line_numbers(self) -> np.ndarray:
        """Each row's line in the file (int64; built on each access: for errors)."""
        return self.lines_of(np.arange(self.n_rows))

    lines = line_numbers

    def lines_of(self, rows) -> np.ndarray:
        """The file lines of table rows ``rows`` (an int array)."""
        rows = np.asarray(rows, dtype=np.int64)
        run = np.searchsorted(self._run_rows, rows, side="right") - 1
        return self._run_lines[run] + (rows - self._run_rows[run])

    def line_of(self, row: int) -> int:
        """The file line of table row ``row``."""
        return int(self.lines_of(np.array([row]))[0])

    def _lines(self, blocks):
        """The lines of ``blocks`` (texts whose lines may continue into the next block)."""
        rest = ""
        for block in blocks:
            if not self.has_text and block.strip():
                self.has_text = True
            parts = (rest + block).split("\n")
            rest = parts.pop()
            yield from parts
        if rest or not self.has_text:
            yield rest

    def _chunks(self, lines):
        """``(line numbers, fields of each row)`` of at most :data:`CHUNK_ROWS` rows at a time."""
        if self.separator == "\t":
            number = 2
            while True:
                block = list(itertools.islice(lines, self.CHUNK_ROWS))
                if not block:
                    return
                yield (np.arange(number, number + len(block), dtype=np.int32),
                       [line.split("\t") for line in block])
                number += len(block)
        rows = self._split(lines)
        while True:
            block = list(itertools.islice(rows, self.CHUNK_ROWS))
            if not block:
                return
            yield (np.array([number for number, _ in block], dtype=np.int32),
                   [fields for _, fields in block])

    def _split(self, lines, first: int = 2):
        """``(line number, fields)`` of ``lines``; blank lines give ``[""]``.

        ``first`` is the file line number of the first of ``lines``.
        """
        if self.separator == "\t":
            return ((number, line.split("\t")) for number, line in enumerate(lines, first))
        reader = csv.reader(lines, delimiter=self.separator)
        name = {",": "comma", ";": "semicolon"}[self.separator]

        def numbered():
            start = first
            try:
                for fields in reader:
                    yield start, fields if fields else [""]
                    start = reader.line_num + first
            except csv.Error as err:
                raise format_error(
                    self.path,
                    f"the line cannot be read as {name}-separated text ({err})",
                    "export the data again as a tab-separated file",
                    reader.line_num + first - 1,
                ) from None

        return numbered()

    def bracketed(self, name: str) -> dict[str, int]:
        """``{text in brackets: column index}`` of every column named ``name [TEXT]``."""
        return {
            self.raw_units[index]: index
            for (base, unit), index in self.keys.items()
            if base == name and unit is not None and self.raw_units[index] is not None
            and index not in self._dropped
        }

    def find(self, name: str, units=(None,)) -> tuple[int, str | None] | None:
        """``(column index, unit)`` of the first column named ``name`` in one of ``units``.

        A column the reader's ``select`` left out counts as missing.
        """
        for unit in units:
            index = self.keys.get((name, unit))
            if index is not None and index not in self._dropped:
                return index, unit
        return None

    def column(self, name: str, units=(None,)) -> RowsOf | None:
        """Column ``name`` as numbers read by rows (``column[rows]``), checked now; or None."""
        found = self.find(name, units)
        if found is None:
            return None
        self.check_numbers(found[0])
        return RowsOf(self, found[0])

    def text(self, name: str, units=(None,)) -> list[str] | None:
        found = self.find(name, units)
        if found is None:
            return None
        return self.columns_text(found[0])

    def columns_text(self, index: int) -> list[str]:
        """Column ``index`` as stripped strings (a numbers chunk as its numbers' text)."""
        out: list[str] = []
        for start, (kind, data, labels) in self._pieces[index]:
            if kind == "codes":
                out.extend(np.asarray(labels, dtype=object)[data].tolist())
            elif kind in ("float", "ints"):
                values = data if kind == "float" else _ints_values(data, slice(None))
                out.extend("" if np.isnan(value) else repr(value) for value in values.tolist())
            else:
                out.extend(field.strip() for field in data.tolist())
        return out

    def codes(self, name: str, units=(None,)) -> tuple[np.ndarray, list[str]] | None:
        """``(codes, labels)``: column ``name`` as ``labels[codes]`` (stripped texts), or None."""
        found = self.find(name, units)
        return None if found is None else self.codes_at(found[0])

    def codes_at(self, index: int) -> tuple[np.ndarray, list[str]]:
        """Column ``index`` as ``(codes, labels)``, ``labels[codes]`` its stripped texts."""
        pieces = self._pieces[index]
        if len(pieces) == 1 and pieces[0][1][0] == "codes":
            _, data, labels = pieces[0][1]
            return data, list(labels)
        labels, codes = np.unique(np.array(self.columns_text(index), dtype=object),
                                  return_inverse=True)
        return codes.reshape(-1), labels.tolist()

    def nonempty(self, name: str, units=(None,)) -> np.ndarray | None:
        """Per row, whether column ``name``'s field holds something (as ``bool`` of its text)."""
        found = self.find(name, units)
        if found is None:
            return None
        out = np.empty(self.n_rows, dtype=bool)
        for start, (kind, data, labels) in self._pieces[found[0]]:
            stop = start + _piece_length(kind, data)
            if kind == "codes":
                out[start:stop] = np.array([bool(label) for label in labels], dtype=bool)[data]
            elif kind == "float":
                out[start:stop] = ~np.isnan(data)
            elif kind == "ints":
                out[start:stop] = data[1] != np.iinfo(data[1].dtype).min
            else:
                out[start:stop] = [bool(field.strip()) for field in data.tolist()]
        return out

    def numbers(self, name: str, units=(None,)) -> np.ndarray | None:
        found = self.find(name, units)
        return None if found is None else self.numbers_at(found[0])

    def numbers_at(self, index: int) -> np.ndarray:
        """Column ``index`` as float64: empty fields NaN, comma or dot decimals.

        A column of one value throughout is a read-only broadcast of it. Every
        call builds the whole column afresh from the compact pieces, so it costs
        memory only while the caller holds it; :meth:`gather` reads some rows.
        """
        self.check_numbers(index)
        pieces = self._pieces[index]
        if len(pieces) == 1 and pieces[0][1][0] == "codes":
            numbers = self._label_numbers(index, pieces[0])
            if len(numbers) == 1:
                return np.broadcast_to(numbers[0], (self.n_rows,))
            return numbers[pieces[0][1][1]]
        return self.gather(index, None)

    def check_numbers(self, index: int) -> None:
        """Raise, naming its line, the first field of column ``index`` that is not a number.

        Pieces are checked in row order, a codes piece by its labels (as
        :meth:`numbers_at` always did); text pieces are parsed here once.
        """
        if index in self._checked:
            return
        pieces = self._pieces[index]
        for position, piece in enumerate(pieces):
            start, (kind, data, _) = piece
            if kind == "codes":
                self._label_numbers(index, piece)
            elif kind == "raw":
                pieces[position] = (start, ("float", self._parse_one_by_one(index, data, start), None))
        self._checked.add(index)

    def gather(self, index: int, rows) -> np.ndarray:
        """Rows ``rows`` (ascending ints; None for all) of column ``index`` as float64.

        The same numbers as ``numbers_at(index)[rows]``, built only for those rows.
        """
        self.check_numbers(index)
        pieces = self._pieces[index]
        if rows is None:
            out = np.empty(self.n_rows, dtype=np.float64)
            for piece in pieces:
                start, (kind, data, _) = piece
                stop = start + _piece_length(kind, data)
                out[start:stop] = self._piece_values(index, piece, slice(None))
            return out
        rows = np.asarray(rows)
        out = np.empty(len(rows), dtype=np.float64)
        if not len(rows) or not pieces:
            return out
        if index not in self._starts:
            self._starts[index] = np.array([start for start, _ in pieces], dtype=np.int64)
        starts = self._starts[index]
        first, last = np.searchsorted(starts, [rows[0], rows[-1]], side="right") - 1
        bounds = [*np.searchsorted(rows, starts[first + 1 : last + 1]).tolist(), len(rows)]
        low = 0
        for piece, high in zip(pieces[first : last + 1], bounds):
            if high > low:
                out[low:high] = self._piece_values(index, piece, rows[low:high] - piece[0])
            low = high
        return out

    def first_number(self, index: int, rows, block: int = 1 << 16) -> float | None:
        """The first finite number of column ``index`` among ascending ``rows``, else None."""
        for low in range(0, len(rows), block):
            values = self.gather(index, rows[low : low + block])
            finite = np.isfinite(values)
            if finite.any():
                return float(values[int(np.argmax(finite))])
        return None

    def _piece_values(self, index: int, piece, local) -> np.ndarray:
        """float64 numbers of rows ``local`` (within the piece) of a checked piece."""
        _, (kind, data, _) = piece
        if kind == "codes":
            return self._label_numbers(index, piece)[data[local]]
        if kind == "ints":
            return _ints_values(data, local)
        return data[local]

    def _label_numbers(self, index: int, piece) -> np.ndarray:
        """The numbers of a codes piece's labels; a label that is none names its first line."""
        start, (_, data, labels) = piece
        if (index, start) in self._label_values:
            return self._label_values[(index, start)]
        values = np.empty(len(labels), dtype=np.float64)
        for position, field in enumerate(labels):
            try:
                values[position] = float(field.replace(",", ".")) if field else np.nan
            except ValueError:
                values[position] = np.inf
            if np.isinf(values[position]):
                row = start + int(np.argmax(data == position))
                self._not_a_number(index, field, row)
        self._label_values[(index, start)] = values
        return values

    def _parse_one_by_one(self, index: int, fields: np.ndarray, start: int) -> np.ndarray:
        values = np.empty(len(fields), dtype=np.float64)
        for position, field in enumerate(fields.tolist()):
            field = field.strip()
            try:
                values[position] = float(field.replace(",", ".")) if field else np.nan
            except ValueError:
                values[position] = np.inf
            if np.isinf(values[position]):
                self._not_a_number(index, field, start + position)
        return values

    def _not_a_number(self, index: int, field: str, row: int):
        shown = field if len(field) <= 30 else field[:27] + "..."
        raise format_error(
            self.path,
            f"{shown!r} in column {self.header[index]!r} is not a number",
            "export the data again or fix that line",
            self.line_of(row),
        )


class RowsOf:
    """A numbers column of a :class:`TobiiTable` read by rows: ``column[rows]`` (float64).

    ``rows`` are ascending row numbers (an int array), or None for the whole
    column; only those rows are built, from the table's compact pieces.
    """

    def __init__(self, table: TobiiTable, index: int):
        self.table, self.index = table, index

    def __getitem__(self, rows) -> np.ndarray:
        return self.table.gather(self.index, rows)

    def first(self, rows) -> float | None:
        """The first finite number among ``rows``, else None."""
        return self.table.first_number(self.index, rows)


class LinesOf:
    """The file lines of table rows ``rows`` by position (``lines[i]``), for error messages."""

    def __init__(self, table: TobiiTable, rows: np.ndarray):
        self.table, self.rows = table, rows

    def __getitem__(self, position: int) -> int:
        return self.table.line_of(int(self.rows[position]))


def _compact(column: tuple) -> tuple:
    """One chunk of a column (a tuple of field strings) in its compact form.

    ``("codes", codes, labels)`` when few distinct texts; else ``("float",
    numbers, None)`` when every field is a number (or empty), else ``("raw",
    fields, None)``.
    """
    distinct = set(column)
    if len(distinct) <= max(64, len(column) // 16):
        labels: list[str] = []
        known: dict[str, int] = {}
        code_of = {}
        for field in distinct:
            label = field.strip()
            if label not in known:
                known[label] = len(labels)
                labels.append(label)
            code_of[field] = known[label]
        codes = np.fromiter(map(code_of.__getitem__, column), np.int32, len(column))
        return "codes", codes, labels
    body = "\n".join(column) + "\n"
    if body.startswith("\n"):
        body = "nan" + body
    while "\n\n" in body:
        body = body.replace("\n\n", "\nnan\n")
    values = parse_fast(body.replace(",", "."), 1)
    if values is None or np.isinf(values).any():
        return "raw", np.array(column, dtype=object), None
    values = values.reshape(-1)
    return _as_ints(values) or ("float", values, None)


#: Largest integer magnitude kept as offsets: every integer below it is a float64 exactly.
_EXACT = 2.0**53


def _as_ints(values: np.ndarray) -> tuple | None:
    """``("ints", (base, offsets), None)`` for a chunk of whole numbers (NaN allowed), else None.

    ``offsets`` are int16 or int32 from the chunk's smallest number, their type's
    smallest value standing for NaN; ``base + offsets`` gives back every number
    exactly (a negative zero keeps the chunk as float64).
    """
    finite = values[~np.isnan(values)]
    if not finite.size or np.abs(finite).max() >= _EXACT or (finite != np.floor(finite)).any():
        return None
    if np.signbit(finite[finite == 0]).any():
        return None
    base = finite.min()
    span = finite.max() - base
    dtype = np.int16 if span < 2**15 - 1 else np.int32 if span < 2**31 - 1 else None
    if dtype is None:
        return None
    with np.errstate(invalid="ignore"):
        offsets = (values - base).astype(dtype)
    offsets[np.isnan(values)] = np.iinfo(dtype).min
    return "ints", (float(base), offsets), None


def _ints_values(data: tuple, local) -> np.ndarray:
    """The float64 numbers of rows ``local`` of an ``ints`` piece's ``(base, offsets)``."""
    base, offsets = data
    picked = offsets[local]
    values = picked.astype(np.float64)
    values += base
    values[picked == np.iinfo(offsets.dtype).min] = np.nan
    return values


def _piece_length(kind: str, data) -> int:
    return len(data[1]) if kind == "ints" else len(data)


def _add_runs(runs: list, row: int, numbers: np.ndarray) -> None:
    """Add the file lines ``numbers`` of rows from ``row`` on to ``runs`` of consecutive lines."""
    breaks = [0, *(np.flatnonzero(np.diff(numbers) != 1) + 1).tolist()]
    for at in breaks:
        first_row, line = row + at, int(numbers[at])
        if runs and runs[-1][1] + (first_row - runs[-1][0]) == line:
            continue  # continues the previous run
        runs.append((first_row, line))


def _append(pieces: list, start: int, piece: tuple) -> None:
    """Add a chunk's ``piece`` to a column's ``pieces``, codes joined as they come.

    Consecutive codes chunks share one label table (``{label: code}``) and keep
    their codes as int16 (int32 past 32767 labels) until :func:`_finish`.
    """
    kind, data, labels = piece
    if kind != "codes":
        pieces.append((start, piece))
        return
    if not (pieces and pieces[-1][1][0] == "codes"):
        pieces.append((start, ("codes", [], {})))
    _, (_, chunks, known) = pieces[-1]
    mapping = np.fromiter(
        (known.setdefault(label, len(known)) for label in labels), np.int32, len(labels)
    )
    chunks.append(mapping[data].astype(np.int16 if len(known) < 32768 else np.int32))


def _finish(pieces: list) -> list:
    """Each run of codes chunks as one array of the smallest integer type, with its labels."""
    out = []
    for start, piece in pieces:
        if piece[0] == "codes":
            chunks, labels = piece[1], list(piece[2])
            codes = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
            del chunks[:]
            if len(labels) < 128:
                codes = codes.astype(np.int8)
            piece = ("codes", codes, labels)
        out.append((start, piece))
    return out


_MALLOC_TRIM = None


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    Parsing a long export allocates and frees millions of small objects and
    arrays between the table's long-lived chunks, so the freed memory sits in
    holes the heap cannot shrink past: the process would stay at the parse's
    peak while the recordings are built on top (about 1x the recordings' arrays
    for a 10-minute 1200 Hz export). This frees nothing that is in use.
    """
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError, TypeError):  # not glibc (macOS, Windows, musl)
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


def _text_blocks(path, size: int = 1 << 20):
    """The text of ``path`` in blocks of about ``size`` bytes, as :func:`._text.read_text` decodes it.

    UTF-8 (BOM or not) or UTF-16, gzip or not; line ends normalised to ``\\n``;
    undecodable bytes and NUL characters raise naming their line.
    """
    encoding = text_encoding(read_bytes(path, 4))
    opener = gzip.open if is_gzip(path) else open
    decoder = codecs.getincrementaldecoder("utf-8" if encoding == "utf-8-sig" else encoding)()
    line = 1
    pending_cr = False
    try:
        with opener(path, "rb") as file:
            head = True
            while True:
                data = file.read(size)
                final = not data
                if head and encoding == "utf-8-sig":
                    data = data[len(codecs.BOM_UTF8):]
                head = False
                try:
                    text = decoder.decode(data, final=final)
                except UnicodeDecodeError as err:
                    where = line + data[: err.start].count(b"\n") if encoding == "utf-8" else None
                    raise format_error(
                        path,
                        f"the file is not valid {encoding.upper().replace('-SIG', '')} text",
                        "export it again as UTF-8 or UTF-16 text",
                        where,
                    ) from None
                if pending_cr:
                    text = "\r" + text
                pending_cr = text.endswith("\r") and not final
                if pending_cr:
                    text = text[:-1]
                if "\r" in text:
                    text = text.replace("\r\n", "\n").replace("\r", "\n")
                if "\x00" in text:
                    raise format_error(
                        path,
                        "the file holds NUL characters (binary data)",
                        "pass a text gaze file",
                        line + text[: text.index("\x00")].count("\n"),
                    )
                line += text.count("\n")
                if text:
                    yield text
                if final:
                    return
    except (OSError, EOFError, zlib.error) as err:
        if not is_gzip(path):
            raise
        raise format_error(
            path,
            f"the gzip-compressed data is damaged or cut short ({err})",
            "compress the export again with gzip, or pass it uncompressed",
        ) from None


def all_present(*groups) -> bool:
    """Whether no column in any of the lists of columns is missing (None)."""
    return all(column is not None for group in groups for column in group)


def label_mask(values, test) -> np.ndarray:
    """``test(text)`` per row of a :meth:`TobiiTable.text` list or :meth:`TobiiTable.codes` pair."""
    if isinstance(values, tuple):
        codes, labels = values
        return np.array([bool(test(label)) for label in labels], dtype=bool)[codes]
    return np.array([bool(test(value)) for value in values], dtype=bool)


def label_at(values, row: int) -> str:
    """Row ``row``'s text of a :meth:`TobiiTable.text` list or :meth:`TobiiTable.codes` pair."""
    if isinstance(values, tuple):
        return values[1][values[0][row]]
    return values[row]


def first_value(values, rows: np.ndarray):
    """The first non-empty entry of ``values`` (list, array, :class:`RowsOf` or codes pair)
    among ``rows``, else None."""
    if values is None:
        return None
    if isinstance(values, RowsOf):
        return values.first(rows)
    if isinstance(values, tuple):
        codes, labels = values
        for index in rows:
            if labels[codes[index]]:
                return labels[codes[index]]
        return None
    for index in rows:
        value = values[index]
        if isinstance(value, str):
            if value:
                return value
        elif np.isfinite(value):
            return float(value)
    return None


def first_label(values, mask: np.ndarray) -> str | None:
    """The first non-empty text of a codes pair among the rows where ``mask`` is set, else None."""
    if values is None:
        return None
    codes, labels = values
    filled = np.array([bool(label) for label in labels], dtype=bool)[codes] & mask
    return labels[codes[int(np.argmax(filled))]] if filled.any() else None


def row_dtype(n_rows: int):
    """The integer type of row numbers of a table of ``n_rows`` rows."""
    return np.int32 if n_rows < 2**31 - 1 else np.int64


def keyed_rows(
    samples: np.ndarray, stimulus: tuple, recording: tuple | None, block: int = 1 << 18
) -> dict[str, np.ndarray]:
    """``{key: ascending rows}`` of the ``samples`` rows by (recording, stimulus) codes pairs.

    Keys are the stimulus' text, ``"RECORDING/STIMULUS"`` when the sample rows
    hold several recordings, in the order of their first sample; equal keys are
    joined. Rows are grouped a ``block`` at a time, so no whole-file sort or
    index array beyond the rows themselves is made.
    """
    dtype = row_dtype(len(samples))
    names, name_labels = stimulus
    records, record_labels = recording if recording is not None else (None, [""])
    parts: dict[int, list[np.ndarray]] = {}
    seen_records: set[int] = set()
    for low in range(0, len(samples), block):
        rows = np.flatnonzero(samples[low : low + block]) + low
        if not rows.size:
            continue
        pair = names[rows].astype(np.int64)
        if records is not None:
            seen_records.update(np.unique(records[rows]).tolist())
            pair += records[rows].astype(np.int64) * len(name_labels)
        order = np.argsort(pair, kind="stable")
        for members in np.split(order, np.flatnonzero(np.diff(pair[order])) + 1):
            parts.setdefault(int(pair[members[0]]), []).append(rows[members].astype(dtype))
    several = len(seen_records) > 1
    keys: dict[str, np.ndarray] = {}
    for group in sorted(parts, key=lambda group: parts[group][0][0]):  # by first sample
        found = np.concatenate(parts[group])
        parts[group] = []
        row = int(found[0])
        name = name_labels[names[row]]
        key = f"{record_labels[records[row]]}/{name}" if several else name
        keys[key] = np.sort(np.concatenate([keys[key], found])) if key in keys else found
    return keys


def make_recording(path, key, t, coords, valid, screen, meta) -> GazeRecording:
    try:
        return GazeRecording(t=t, coords=coords, valid=valid, screen=screen, meta=meta)
    except ValueError as err:
        raise format_error(
            path, f"stimulus {key!r}: {str(err).rstrip('.')}", "export the data again"
        ) from None


def needs_movement(
    table: TobiiTable, movement, column: str = "Eye movement type", where: str = "Pro Lab's"
) -> None:
    """Refuse ``what="fixations"`` in one sentence when the event-type ``column`` is missing."""
    if movement is None:
        raise format_error(
            table.path,
            f"there is no {column!r} column, so the export holds no fixations",
            f"include {column} (and the fixation point) in {where} data export, or read "
            "the samples and detect fixations with detect_fixations_ivt",
            1,
        )


def check_time(seconds: np.ndarray, lines: np.ndarray, path) -> None:
    if seconds.size > 1:
        back = np.diff(seconds) < 0
        if back.any():
            raise format_error(
                path,
                "Recording timestamp goes backwards",
                "export the recording sorted by time",
                int(lines[int(np.argmax(back)) + 1]),
            )


def screen_geometry(resolution, px, mm, depth, rows: np.ndarray) -> dict | None:
    """``ScreenGeometry.to_meta()`` from paired px / mm gaze positions and eye distances.

    ``px`` and ``mm`` are ``[x, y]`` columns of the same gaze points from the
    screen's top-left corner in pixels and millimetres (None where missing),
    ``resolution`` ``[width, height]`` px, ``depth`` columns of eye-to-screen
    distances in mm. mm per px is fitted through the origin by least squares over
    ``rows``; the distance is the median over samples of the eyes' mean. None
    when something is missing or unusable.
    """
    depth = [column for column in depth if column is not None]
    if not (all_present(resolution, px, mm) and depth):
        return None
    sizes = []
    for px_all, mm_all, pixels in zip(px, mm, resolution):
        both = np.isfinite(px_all[rows]) & np.isfinite(mm_all[rows])
        px_, mm_ = px_all[rows][both], mm_all[rows][both]
        if px_.size < 2 or np.ptp(px_) < 0.01 * pixels:
            return None
        sizes.append(float(np.dot(mm_, px_) / np.dot(px_, px_)) * pixels)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eyes = np.nanmean(np.column_stack([column[rows] for column in depth]), axis=1)
        distance = float(np.nanmedian(eyes)) if np.isfinite(eyes).any() else np.nan
    try:
        return ScreenGeometry(resolution[0], resolution[1], sizes[0], sizes[1], distance).to_meta()
    except ValueError:
        return None


def sampling_rate(seconds: np.ndarray) -> float | None:
    """Samples per second (0.1 Hz), from the intervals up to twice the typical one.

    Gaps (a stimulus shown twice, lost data) are left out; zero intervals are kept,
    so whole-millisecond timestamps of a 1200 Hz tracker still give 1200 Hz.
    """
    steps = np.diff(seconds)
    positive = steps[steps > 0]
    if positive.size == 0:
        return None
    regular = steps[(steps >= 0) & (steps <= 2.0 * np.median(positive))]
    return round(float(1.0 / np.mean(regular)), 1)


def _cut_by_boundary(rows, first, last, tracker_rows, is_fixation_row, labels_all):
    """Per run: whether the fixation goes on outside ``rows`` (or outside the export).

    That is a fixation cut by the start or end of a stimulus, where Pro Lab
    reports the whole fixation's duration on both sides, or by the export's last
    sample (its duration would run past the data).
    """
    n = len(rows)
    cut = np.zeros(len(first), dtype=bool)
    if len(first) == 0 or len(tracker_rows) == 0:
        return cut
    for ends, step in ((first, -1), (last, 1)):
        at = np.searchsorted(tracker_rows, rows[ends]) + step
        exists = (at >= 0) & (at < len(tracker_rows))
        neighbour = tracker_rows[np.clip(at, 0, len(tracker_rows) - 1)]
        inside = ends + step
        in_entry = (inside >= 0) & (inside < n)
        in_entry &= rows[np.clip(inside, 0, n - 1)] == neighbour
        same = labels_all[neighbour] == labels_all[rows[ends]]
        same |= np.isnan(labels_all[neighbour]) & np.isnan(labels_all[rows[ends]])
        cut |= exists & ~in_entry & is_fixation_row[neighbour] & same
        if step == 1:
            cut |= ~exists  # the export ends within the fixation
    return cut


def fixation_runs(
    table, rows, t, meta, tracker_rows, movement, index, point, inside, reported=True
) -> Fixations:
    """Runs of rows with ``movement == Fixation`` and one ``index``, placed at ``point``.

    Durations are the export's ``Gaze event duration`` (when ``reported``; else
    the time the run's samples cover), except for fixations cut by the stimulus'
    start or end (only the part within the stimulus counts), and never past the
    next fixation's start.
    """
    is_fixation_row = label_mask(movement, lambda kind: kind.lower() == "fixation")
    labels_all = index if index is not None else np.zeros(table.n_rows)
    is_fixation = is_fixation_row[rows]
    labels = labels_all[rows]
    previous_fixation = np.concatenate([[False], is_fixation[:-1]])
    previous_label = np.concatenate([[np.nan], labels[:-1]])
    same_label = (labels == previous_label) | (np.isnan(labels) & np.isnan(previous_label))
    starts_run = is_fixation & (~previous_fixation | ~same_label)
    n_runs = int(starts_run.sum())
    members = np.flatnonzero(is_fixation)  # positions within ``rows``
    run = (np.cumsum(starts_run) - 1)[members]
    first = np.flatnonzero(starts_run)
    last = np.zeros(n_runs, dtype=np.int64)
    np.maximum.at(last, run, members)
    u, v = point[0][rows[members]], point[1][rows[members]]
    on_media = inside(u, v, rows[members])
    count = np.bincount(run, weights=on_media, minlength=n_runs)
    kept = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_u = np.bincount(run, weights=np.where(on_media, u, 0.0), minlength=n_runs) / count
        mean_v = np.bincount(run, weights=np.where(on_media, v, 0.0), minlength=n_runs) / count
    duration_ms = None
    if reported:
        duration_ms = table.numbers("gaze event duration", ("ms", None))
        if duration_ms is None:
            duration_ms = table.numbers("eye movement event duration", ("ms", None))
    steps = np.diff(t)
    period = float(np.median(steps[steps > 0])) if (steps > 0).any() else 0.0
    covered = t[last] - t[first] + period
    duration = covered
    if duration_ms is not None:
        reported = duration_ms[rows[first]] / 1000.0
        duration = np.where(np.isfinite(reported) & (reported >= 0), reported, covered)
    cut = _cut_by_boundary(rows, first, last, tracker_rows, is_fixation_row, labels_all)
    duration = np.where(cut, covered, duration)
    start = t[first]
    following = np.append(start[1:], np.inf)  # runs are in time order within an entry
    duration = np.clip(np.minimum(duration, following - start), 0.0, None)
    start, duration = start[kept], duration[kept]
    coords = np.column_stack([mean_v[kept] - 0.5, mean_u[kept] - 0.5])
    meta = dict(meta)
    meta["fixations_off_media"] = int(n_runs - kept.sum())
    meta["fixations_cut_by_stimulus"] = int(cut[kept].sum())
    filter_name = first_value(table.codes("recording fixation filter name"), rows)
    meta["detector"] = {"name": "Tobii Pro Lab", **({"filter": filter_name} if filter_name else {})}
    try:
        return Fixations(start=start, duration=duration, coords=coords, meta=meta)
    except ValueError as err:
        raise format_error(
            table.path,
            f"the fixations of stimulus {meta.get('stimulus')!r} cannot be read "
            f"({str(err).rstrip('.')})",
            "export the data again",
        ) from None
