"""The native gaze format: ``NAME.gaze.tsv`` samples plus a ``NAME.gaze.json`` sidecar.

The TSV has one header line and one line per sample, tab-separated::

    t_s   row   col   valid   screen_x   screen_y   object_id

* ``t_s``: seconds from the recording start (float).
* coordinate columns, image data coordinates in napari axis order with pixel
  centres at integers: ``row, col`` (2D), ``plane, row, col`` (3D) and
  ``axis0, ..., axis{D-3}, row, col`` beyond; ``nan`` where invalid.
* ``valid``: ``1`` or ``0``.
* ``screen_x, screen_y``: normalised display-area position ((0, 0) top-left,
  (1, 1) bottom-right of the screen), ``nan`` where unknown.
* ``object_id``: label id of the object session (0 = none).

Floats are written as Python's shortest round-trip ``repr``, so reading gives
back the very same float64 values. The sidecar holds the recording ``meta``,
the format version, the number of image dimensions and a description of every
column; it is written when a :class:`NativeGazeWriter` opens, so a recording
killed mid-way is readable up to its last flushed line. A torn last line
(no line end) is dropped with a warning. Pandas reads the TSV as it is:
``pd.read_csv(path, sep="\\t", float_precision="round_trip")``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..recording import DEFAULT_OBJECT, GazeRecording
from ._errors import format_error
from ._table import parse_numeric_table
from ._text import read_text

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "NativeGazeWriter",
    "coordinate_columns",
    "native_columns",
    "read_native",
    "sidecar_path",
    "write_native",
]

FORMAT_NAME = "napari-gazeseg gaze"
FORMAT_VERSION = 1
_MAX_ID = 2.0**53  # object ids above this do not survive float64 parsing
_UNIT = "image data coordinate, pixel centres at integers; nan where invalid"


def coordinate_columns(ndim: int) -> list[str]:
    """Names of the coordinate columns of ``ndim``-dimensional coordinates."""
    if ndim < 2:
        raise ValueError(f"gaze coordinates need at least 2 dimensions, got {ndim}.")
    if ndim == 2:
        return ["row", "col"]
    if ndim == 3:
        return ["plane", "row", "col"]
    return [f"axis{i}" for i in range(ndim - 2)] + ["row", "col"]


def native_columns(ndim: int) -> list[str]:
    """All TSV columns, in file order, for ``ndim``-dimensional coordinates."""
    return ["t_s", *coordinate_columns(ndim), "valid", "screen_x", "screen_y", "object_id"]


def _column_descriptions(ndim: int) -> dict[str, str]:
    described = {"t_s": "seconds from the recording start"}
    for name in coordinate_columns(ndim):
        described[name] = f"{name} ({_UNIT})"
    described["valid"] = (
        "1 when the sample is valid, 0 for blinks, track loss or gaze off the image"
    )
    described["screen_x"] = "normalised display-area x (0 left, 1 right); nan where unknown"
    described["screen_y"] = "normalised display-area y (0 top, 1 bottom); nan where unknown"
    described["object_id"] = "label id of the object session (0 = outside any session)"
    return described


def sidecar_path(path: str | Path) -> Path:
    """``NAME.gaze.json`` for ``NAME.gaze.tsv`` (``NAME.json`` for ``NAME.tsv``)."""
    path = Path(path)
    if path.suffix.lower() == ".tsv":
        return path.with_suffix(".json")
    return path.with_name(path.name + ".json")


def _floats(values: np.ndarray) -> list[str]:
    return [repr(v) for v in values.tolist()]


class NativeGazeWriter:
    """Write a native gaze file batch by batch, readable at every flush.

    Parameters
    ----------
    path : str or Path
        The TSV to create (``NAME.gaze.tsv``); an existing file is replaced.
        The sidecar ``NAME.gaze.json`` is written at once, beside it.
    ndim : int
        Number of coordinate dimensions (2 for (row, col), 3 for (plane, row, col)).
    meta : dict
        The recording meta (JSON-serialisable), stored in the sidecar.

    Use as a context manager, or call :meth:`close`. Not thread-safe: one
    thread appends and flushes.
    """

    def __init__(self, path: str | Path, ndim: int, meta: dict[str, Any] | None = None):
        self.path = Path(path)
        self.ndim = int(ndim)
        columns = native_columns(self.ndim)
        sidecar = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "ndim": self.ndim,
            "columns": _column_descriptions(self.ndim),
            "meta": {} if meta is None else meta,
        }
        try:
            sidecar_text = json.dumps(sidecar, indent=2, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ValueError(f"meta must be JSON-serialisable: {err}") from None
        _write_atomically(sidecar_path(self.path), sidecar_text + "\n")
        self._file = open(self.path, "w", encoding="utf-8", newline="\n")
        self._file.write("\t".join(columns) + "\n")
        self._last_t = -np.inf
        self.samples_written = 0
        self.flush()

    def append(self, t, coords, valid=None, screen=None, object_id=None) -> None:
        """Append a batch of ``N`` samples.

        ``t`` (N,) seconds, non-decreasing and not before the last batch;
        ``coords`` (N, ndim) image data coordinates; ``valid`` (N,) bool
        (default: coordinates finite; invalid samples are written as ``nan``);
        ``screen`` (N, 2) normalised display ``(x, y)`` or None (unknown);
        ``object_id`` (N,) non-negative ints (default 1).
        """
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        n = t.shape[0]
        if n == 0:
            return
        coords = np.asarray(coords, dtype=np.float64).reshape(n, -1)
        if coords.shape[1] != self.ndim:
            raise ValueError(
                f"coords have {coords.shape[1]} columns but the file holds {self.ndim}D gaze."
            )
        finite = np.isfinite(coords).all(axis=1)
        valid = finite if valid is None else np.asarray(valid, dtype=bool).reshape(n) & finite
        coords = np.where(valid[:, None], coords, np.nan)
        screen = (
            np.full((n, 2), np.nan)
            if screen is None
            else np.asarray(screen, dtype=np.float64).reshape(n, 2)
        )
        ids = (
            np.full(n, DEFAULT_OBJECT, dtype=np.int64)
            if object_id is None
            else np.asarray(object_id)
        )
        ids = ids.reshape(n)
        if not np.isfinite(t).all():
            raise ValueError("t must be finite for every sample.")
        if t[0] < self._last_t or (np.diff(t) < 0).any():
            raise ValueError("t must be non-decreasing across appended batches.")
        if np.isinf(screen).any():
            raise ValueError("screen holds infinite values; write NaN where it is unknown.")
        if (ids < 0).any() or (ids > _MAX_ID).any() or (ids != np.round(ids)).any():
            raise ValueError("object_id must hold non-negative integers up to 2**53.")
        columns = [_floats(t)]
        columns += [_floats(coords[:, axis]) for axis in range(self.ndim)]
        columns.append(["1" if v else "0" for v in valid.tolist()])
        columns += [_floats(screen[:, 0]), _floats(screen[:, 1])]
        columns.append([str(int(v)) for v in ids.tolist()])
        self._file.write("".join("\t".join(row) + "\n" for row in zip(*columns)))
        self._last_t = float(t[-1])
        self.samples_written += n

    def flush(self) -> None:
        """Push everything appended so far to the disk (flush and ``os.fsync``)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush and close; further appends raise ``ValueError``."""
        if not self._file.closed:
            self.flush()
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> "NativeGazeWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "w", encoding="utf-8", newline="\n") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def write_native(recording: GazeRecording, path: str | Path) -> None:
    """Write ``recording`` as ``path`` (``NAME.gaze.tsv``) plus its sidecar."""
    with NativeGazeWriter(path, recording.ndim, recording.meta) as writer:
        writer.append(
            recording.t, recording.coords, recording.valid, recording.screen, recording.object_id
        )


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    """The parsed sidecar of the TSV at ``path``; None when there is none."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    try:
        content = json.loads(read_text(sidecar))
    except json.JSONDecodeError as err:
        raise format_error(
            sidecar,
            f"the sidecar is not valid JSON ({err.msg})",
            "restore it or delete it",
            err.lineno,
        ) from None
    if not isinstance(content, dict) or content.get("format") != FORMAT_NAME:
        raise format_error(
            sidecar, f"this JSON is not a {FORMAT_NAME!r} sidecar", "rename or delete it"
        )
    version = content.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise format_error(
            sidecar, f"format_version {version!r} is not a version number", "restore the sidecar"
        )
    if version > FORMAT_VERSION:
        raise format_error(
            sidecar,
            f"format version {version} is newer than this napari-gazeseg reads ({FORMAT_VERSION})",
            "update napari-gazeseg",
        )
    if not isinstance(content.get("meta", {}), dict):
        raise format_error(sidecar, "'meta' is not a JSON object", "restore the sidecar")
    return content


def _ndim_from_header(header: list[str], path) -> int:
    ndim = len(header) - 5
    if ndim >= 2 and header == native_columns(ndim):
        return ndim
    found, expected = "\t".join(header), "\t".join(native_columns(2))
    raise format_error(
        path,
        f"the header {found!r} is not a native gaze header such as {expected!r}",
        "write native files with write_gaze or NativeGazeWriter",
        1,
    )


def read_native(path: str | Path) -> GazeRecording:
    """Read a native gaze file (see the module docstring).

    A missing sidecar gives empty ``meta``. ``screen`` is None when every
    sample's screen position is unknown. Raises :class:`GazeFormatError`.
    """
    sidecar = read_sidecar(path)
    text = read_text(path)
    header_end = text.find("\n")
    if not text.strip():
        raise format_error(path, "the file is empty", "pass a gaze file with a header line")
    if header_end < 0:
        raise format_error(path, "the header line has no line end", "pass a complete gaze file", 1)
    header = text[:header_end].split("\t")
    ndim = _ndim_from_header(header, path)
    if sidecar is not None and sidecar.get("ndim", ndim) != ndim:
        raise format_error(
            sidecar_path(path),
            f"the sidecar says {sidecar.get('ndim')!r}D but the TSV header has {ndim}D coordinates",
            "restore the matching sidecar",
        )
    body = text[header_end + 1 :]
    if body and not body.endswith("\n"):
        torn_line = body.count("\n") + 2
        body = body[: body.rfind("\n") + 1]
        warnings.warn(
            f"{path}, line {torn_line}: the last line is incomplete (the recording was cut off "
            "while writing); it was left out.",
            UserWarning,
            stacklevel=2,
        )
    table = parse_numeric_table(body, header, path, first_line=2)
    return _recording_from_table(
        table, ndim, {} if sidecar is None else sidecar.get("meta", {}), path
    )


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argmax(mask)) + 2  # data row 0 is line 2


def _recording_from_table(table: np.ndarray, ndim: int, meta: dict, path) -> GazeRecording:
    t = table[:, 0]
    coords = table[:, 1 : 1 + ndim]
    valid, screen, ids = table[:, 1 + ndim], table[:, 2 + ndim : 4 + ndim], table[:, 4 + ndim]
    checks = [
        (~np.isfinite(t), "the time t_s is not a finite number", "every sample needs a time"),
        (np.isinf(coords).any(axis=1), "a coordinate is infinite", "write nan for invalid samples"),
        (
            ~np.isin(valid, (0.0, 1.0)),
            "valid is neither 0 nor 1",
            "write 1 for valid and 0 for invalid samples",
        ),
        (
            np.isinf(screen).any(axis=1),
            "a screen position is infinite",
            "write nan where it is unknown",
        ),
        (
            ~((ids >= 0) & (ids <= _MAX_ID) & (ids == np.round(ids))),
            "object_id is not a non-negative integer",
            "write label ids 0, 1, 2, ...",
        ),
    ]
    if len(t) > 1:
        back = np.zeros(len(t), dtype=bool)
        back[1:] = np.diff(t) < 0
        checks.append(
            (back, "time goes backwards", "samples must be in time order; sort the file by t_s")
        )
    for bad, problem, remedy in checks:
        if bad.any():
            raise format_error(path, problem, remedy, _first_bad(bad))
    if np.isnan(screen).all():
        screen = None
    try:
        return GazeRecording(
            t=t, coords=coords, valid=valid == 1.0, screen=screen, object_id=ids, meta=meta
        )
    except ValueError as err:
        raise format_error(path, str(err).rstrip("."), "fix the file") from None
