"""What the Tobii readers share: the export table, header units, fixation runs, screen geometry.

* :class:`TobiiTable` reads a Tobii text export (Pro Lab, Studio, raw SDK
  samples): tab-separated, or comma / semicolon re-saved by a spreadsheet (read
  with :mod:`csv`), keeping only the columns a reader uses, by base name and unit
  (``Gaze point X [DACS px]``, ``GazePointX (ADCSpx)``); numbers are parsed by the
  C fast path of :mod:`._table` with comma or dot decimals, a bad field named by
  its line.
* :func:`split_header` splits ``Name [unit]`` / ``Name (unit)`` in linear time.
* :func:`fixation_runs` turns per-sample event labels (``Fixation`` runs of one
  index) into :class:`Fixations`, durations clipped at stimulus and export
  boundaries and at the next fixation.
* :func:`screen_geometry` fits ``meta["screen"]`` from paired px / mm positions.
"""

from __future__ import annotations

import csv
import gc
import operator
import warnings

import numpy as np

from ..geometry import ScreenGeometry
from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._table import parse_fast

__all__ = [
    "TobiiTable",
    "all_present",
    "check_time",
    "first_value",
    "fixation_runs",
    "make_recording",
    "needs_movement",
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
    """The export's used columns by name and unit: one tuple of field strings per column.

    ``used`` holds the base names (lower case, unit removed) of the columns to
    keep; the others are skipped as they are split.
    Tab-separated text is split on tabs; a comma or semicolon table (an export
    re-saved by a spreadsheet) is read with :mod:`csv`, so quoted fields work.
    """

    def __init__(self, text: str, path, used: set[str]):
        self.path = path
        lines = text.split("\n")
        self.separator = sniff_separator(lines[0])
        if self.separator == "\t":
            header = lines[0].split("\t")
        else:
            header = next(iter(self._split(lines[:1], first=1)))[1]
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
        used = sorted(kept)
        # a tuple even when one column is used (and an empty one when none is)
        pick = operator.itemgetter(*used, *used) if used else (lambda fields: ())
        width = len(self.header)
        collecting = gc.isenabled()
        gc.disable()  # millions of short strings: the cyclic collector would run over and over
        try:
            if self.separator == "\t":  # one row per line: line numbers from positions
                numbers = None
                picked = [
                    pick(fields) if len(fields) == width else fields
                    for fields in (line.split("\t") for line in lines[1:])
                ]
            else:
                numbers, picked = [], []
                for number, fields in self._split(lines):
                    numbers.append(number)
                    picked.append(pick(fields) if len(fields) == width else fields)
        finally:
            if collecting:
                gc.enable()
        del lines
        wrong = [i for i, row in enumerate(picked) if isinstance(row, list)]
        for position in wrong:
            row = picked[position]
            if any(field.strip() for field in row):
                raise format_error(
                    path,
                    f"{len(row)} fields where the header names {width}",
                    "export the data again or fix that line",
                    position + 2 if numbers is None else numbers[position],
                )
        if wrong:
            kept = [i for i, row in enumerate(picked) if not isinstance(row, list)]
            rows = [picked[i] for i in kept]
        else:
            kept, rows = None, picked
        if numbers is None:
            self.lines = list(range(2, len(picked) + 2)) if kept is None else [i + 2 for i in kept]
        else:
            self.lines = numbers if kept is None else [numbers[i] for i in kept]
        del picked
        self.n_rows = len(rows)
        self.line_numbers = np.asarray(self.lines, dtype=np.int64)
        transposed = list(zip(*rows))[: len(used)] if rows else [()] * len(used)
        self.columns = dict(zip(used, transposed))
        self._numbers: dict[int, np.ndarray] = {}
        self._texts: dict[int, list[str]] = {}

    def _split(self, lines: list[str], first: int = 2):
        """``(line number, fields)`` of the lines after the header; blank lines give ``[""]``.

        ``first`` is the file line number of ``lines[1]`` (1 to read ``lines[0]`` itself).
        """
        body = lines[1:] if first == 2 else lines
        if self.separator == "\t":
            return ((number, line.split("\t")) for number, line in enumerate(body, first))
        reader = csv.reader(body, delimiter=self.separator)
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
        }

    def find(self, name: str, units=(None,)) -> tuple[int, str | None] | None:
        """``(column index, unit)`` of the first column named ``name`` in one of ``units``."""
        for unit in units:
            if (name, unit) in self.keys:
                return self.keys[(name, unit)], unit
        return None

    def text(self, name: str, units=(None,)) -> list[str] | None:
        found = self.find(name, units)
        if found is None:
            return None
        return self.columns_text(found[0])

    def columns_text(self, index: int) -> list[str]:
        """Column ``index`` as stripped strings."""
        if index not in self._texts:
            self._texts[index] = [field.strip() for field in self.columns[index]]
        return self._texts[index]

    def numbers(self, name: str, units=(None,)) -> np.ndarray | None:
        found = self.find(name, units)
        return None if found is None else self.numbers_at(found[0])

    def numbers_at(self, index: int) -> np.ndarray:
        """Column ``index`` as float64: empty fields NaN, comma or dot decimals."""
        if index not in self._numbers:
            body = "\n".join(self.columns[index]) + "\n" if self.n_rows else ""
            if body.startswith("\n"):
                body = "nan" + body
            while "\n\n" in body:
                body = body.replace("\n\n", "\nnan\n")
            body = body.replace(",", ".")
            values = parse_fast(body, 1) if body else np.empty((0, 1))
            if values is None or np.isinf(values).any():
                values = self._parse_one_by_one(index)
            self._numbers[index] = values.reshape(-1)
        return self._numbers[index]

    def _parse_one_by_one(self, index: int) -> np.ndarray:
        values = np.empty(self.n_rows, dtype=np.float64)
        for position, (field, line) in enumerate(zip(self.columns[index], self.lines)):
            field = field.strip()
            try:
                values[position] = float(field.replace(",", ".")) if field else np.nan
            except ValueError:
                values[position] = np.inf
            if np.isinf(values[position]):
                shown = field if len(field) <= 30 else field[:27] + "..."
                raise format_error(
                    self.path,
                    f"{shown!r} in column {self.header[index]!r} is not a number",
                    "export the data again or fix that line",
                    line,
                )
        return values


def all_present(*groups) -> bool:
    """Whether no column in any of the lists of columns is missing (None)."""
    return all(column is not None for group in groups for column in group)


def first_value(values, rows: np.ndarray):
    """The first non-empty entry of ``values`` (list or array) among ``rows``, else None."""
    if values is None:
        return None
    for index in rows:
        value = values[index]
        if isinstance(value, str):
            if value:
                return value
        elif np.isfinite(value):
            return float(value)
    return None


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
    is_fixation_row = np.array([kind.lower() == "fixation" for kind in movement], dtype=bool)
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
    filter_name = first_value(table.text("recording fixation filter name"), rows)
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
