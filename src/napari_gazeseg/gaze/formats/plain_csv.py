"""Plain gaze tables: a time column and image coordinates, comma/tab/semicolon separated.

Columns (header names, case-insensitive; other columns are ignored):

* time: ``t``, ``time`` or ``timestamp``, with a unit as ``t [ms]``,
  ``time (us)`` or ``time_ms``; units ``s``, ``ms``, ``us``/``µs``/``μs``, ``ns``.
  Without a unit it is inferred from the sampling rate (the one unit that gives
  8 to 5000 Hz, :func:`._infer.infer_time_unit`); a unit other than seconds is
  announced with a :class:`GazeFormatWarning`, and a table where no unit fits is
  refused with the sentence that says how to state it.
* coordinates in image pixels, pixel centres at integers: ``x, y`` (``x`` is the
  column, ``y`` the row; an optional ``z`` is the plane) or ``row, col``
  (optionally preceded by ``plane``). Empty or ``nan`` coordinates mark invalid samples.
  Positions that all lie within 0..1 look normalised, not pixels: they are read
  as given, with a warning.
* optional ``valid`` (1/0) and ``object_id`` (non-negative integers, default 1).

Times are kept as given (converted to seconds) and must not decrease. In tab- or
semicolon-separated tables holding commas, the comma is the decimal mark (``1,5``),
as spreadsheets write them in many locales.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..recording import GazeRecording
from ._errors import format_error
from ._table import header_fields, parse_numeric_table
from ._infer import infer_time_unit, looks_normalised, typical_step, warn
from ._text import read_text

__all__ = ["is_plain_csv_header", "read_plain_csv"]

_TIME = re.compile(
    r"^(?:t|time|timestamp)(?:\s*[\[(]\s*(?P<bracketed>s|ms|us|µs|μs|ns)\s*[\])]|_(?P<suffixed>s|ms|us|ns))?$",
    re.IGNORECASE,
)
_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
_LAYOUTS = (("plane", "row", "col"), ("row", "col"), ("z", "y", "x"), ("y", "x"))


def _time_column(fields: list[str]) -> tuple[int, float | None] | None:
    """(index, seconds per unit) of the time column; the factor is None when no unit is named."""
    for index, field in enumerate(fields):
        match = _TIME.match(field.strip())
        if match:
            unit = match.group("bracketed") or match.group("suffixed")
            return index, None if unit is None else _SECONDS_PER_UNIT[unit.lower()]
    return None


def _coordinate_columns(names: list[str]) -> list[int] | None:
    for layout in _LAYOUTS:
        if all(axis in names for axis in layout):
            return [names.index(axis) for axis in layout]
    return None


def is_plain_csv_header(fields: list[str]) -> bool:
    """True when ``fields`` name a time column and x, y or row, col columns."""
    names = [field.strip().lower() for field in fields]
    return _time_column(fields) is not None and _coordinate_columns(names) is not None


def read_plain_csv(path: str | Path) -> GazeRecording:
    """Read a plain gaze table (see the module docstring); raises :class:`GazeFormatError`."""
    text = read_text(path)
    if not text.strip():
        raise format_error(path, "the file is empty", "pass a gaze table with a header line")
    header_end = text.find("\n")
    if header_end < 0:
        text += "\n"
        header_end = len(text) - 1
    fields, separator = header_fields(text[:header_end])
    names = [field.lower() for field in fields]
    time = _time_column(fields)
    coordinates = _coordinate_columns(names)
    if time is None or coordinates is None:
        raise format_error(
            path,
            f"the header ({', '.join(fields)}) lacks a time column (t, time or timestamp) "
            "or coordinate columns (x, y or row, col)",
            "name the columns as docs/formats.md describes",
            1,
        )
    body = text[header_end + 1 :]
    if body and not body.endswith("\n"):
        body += "\n"
    time_index, seconds_per_unit = time
    optional = [name for name in ("valid", "object_id") if name in names]
    usecols = [time_index, *coordinates, *(names.index(name) for name in optional)]
    decimal = "," if separator != "," and "," in body else "."
    table = parse_numeric_table(
        body, fields, path, first_line=2, separator=separator, decimal=decimal, usecols=usecols
    )
    coords = table[:, 1 : 1 + len(coordinates)]
    extra = dict.fromkeys(("valid", "object_id"))
    for offset, name in enumerate(optional):
        extra[name] = table[:, 1 + len(coordinates) + offset]
    _check(path, table[:, 0], coords, extra)
    name = Path(path).name
    name = name[:-3] if name.lower().endswith(".gz") else name
    meta = {"source": "csv", "image": {"name": Path(name).stem}}
    if seconds_per_unit is None:
        if typical_step(table[:, 0]) is None:
            seconds_per_unit = 1.0  # one distinct time: nothing to infer from, nothing to get wrong
        else:
            seconds_per_unit, unit, rate = infer_time_unit(table[:, 0], path, fields[time_index])
            meta["time_unit"] = f"{unit} (inferred)"
            if unit != "s":
                warn(
                    path,
                    f"the time column {fields[time_index]!r} states no unit; read as {unit} "
                    f"(a {rate:.4g} Hz sampling rate); name it '{fields[time_index]} [{unit}]' "
                    "to say so",
                )
    t = table[:, 0] * seconds_per_unit
    valid = np.isfinite(coords).all(axis=1)
    if extra["valid"] is not None:
        valid &= extra["valid"] == 1.0
    if len(t) > 1 and looks_normalised(coords[:, -1], coords[:, -2]):
        warn(
            path,
            "every position lies within 0..1, so they look normalised, but plain tables hold "
            "image pixels; multiply them by the image width and height (or read them as given)",
        )
    return GazeRecording(t=t, coords=coords, valid=valid, object_id=extra["object_id"], meta=meta)


def _check(path, t, coords, extra) -> None:
    problems = [
        (~np.isfinite(t), "the time is not a finite number", "every sample needs a time"),
        (
            np.isinf(coords).any(axis=1),
            "a coordinate is infinite",
            "leave invalid coordinates empty",
        ),
    ]
    if len(t) > 1:
        back = np.zeros(len(t), dtype=bool)
        back[1:] = np.diff(t) < 0
        problems.append((back, "time goes backwards", "sort the rows by time"))
    if extra["valid"] is not None:
        problems.append(
            (~np.isin(extra["valid"], (0.0, 1.0)), "valid is neither 0 nor 1", "write 1 or 0")
        )
    ids = extra["object_id"]
    if ids is not None:
        bad_id = ~((ids >= 0) & (ids <= 2.0**53) & (ids == np.round(ids)))
        problems.append(
            (bad_id, "object_id is not a non-negative integer", "write label ids 0, 1, 2, ...")
        )
    for bad, problem, remedy in problems:
        if bad.any():
            raise format_error(path, problem, remedy, int(np.argmax(bad)) + 2)
