"""Gazepoint exports: Gazepoint Analysis ``*_all_gaze.csv`` and ``*_fixations.csv``.

Columns (Gazepoint Open Gaze API and Analysis exports; any subset, in any order,
a trailing comma allowed):

``MEDIA_ID``, ``MEDIA_NAME``     the stimulus shown (optional; one entry per medium)
``TIME`` / ``TIME(<date>)``     seconds (restarting with each medium in Analysis exports)
``TIMETICK(f=<Hz>)``             CPU ticks (not used)
``FPOGX``, ``FPOGY``             fixation point of gaze, fraction of the screen:
                                (0, 0) top-left, (1, 1) bottom-right
``FPOGS``, ``FPOGD``             fixation start and duration so far, seconds
``FPOGID``, ``FPOGV``            fixation number, valid flag (1 only during a fixation)
``BPOGX``, ``BPOGY``, ``BPOGV``  best point of gaze (every tracked sample)

**Samples** (``all_gaze``): ``BPOGX/Y`` with ``BPOGV`` when exported, else
``FPOGX/Y`` with ``FPOGV`` (then saccade samples are invalid, as Gazepoint
flags them); time is seconds from the medium's first sample.

**Fixations** (a ``*_fixations.csv``, or ``what="fixations"`` of an
``all_gaze``): one per fixation, from the row where it ends (``FPOGID`` changes,
or ``FPOGD`` starts again, or the next row is not a fixation); start ``FPOGS`` when it is on the clock of
``TIME``, else ``TIME - FPOGD``; duration ``FPOGD``; position ``FPOGX/Y``. A
file whose every row is a different fixation (or named ``*fixations*``) is a
fixations file. Starts count from the medium's first sample in ``all_gaze``, from
``TIME``'s zero in a fixations file (Analysis restarts ``TIME`` with each medium).

**Mapping**: the screen is the image (Gazepoint Analysis shows each medium full
screen): ``(row, col) = (y * height - 0.5, x * width - 0.5)`` on the image of
``image_shape``; the export names no screen size, so without ``image_shape``
positions are placed on a 1000 x 1000 grid with a warning
(``meta["image"]["shape_assumed"]``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._infer import typical_step, warn, warn_off_image
from ._table import read_csv_columns
from ._text import read_text

__all__ = ["is_gazepoint_header", "read_gazepoint"]

NOMINAL_SCREEN = (1000, 1000)


def is_gazepoint_header(fields: list[str]) -> bool:
    """True for a header with ``FPOGX``, ``FPOGY`` (or ``BPOGX``, ``BPOGY``) and a ``TIME`` column."""
    upper = {field.strip().strip('"').upper() for field in fields}
    has_time = any(name == "TIME" or name.startswith("TIME(") for name in upper)
    return has_time and ({"FPOGX", "FPOGY"} <= upper or {"BPOGX", "BPOGY"} <= upper)


def read_gazepoint(
    path: str | Path, what: str = "samples", image_shape: tuple[int, int] | None = None
) -> dict[str, GazeRecording | Fixations]:
    """Read a Gazepoint export (see the module docstring); raises :class:`GazeFormatError`."""
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise format_error(path, "the file is empty", "pass a Gazepoint export with its header line")
    header_line = text.split("\n", 1)[0]
    separator = "\t" if "\t" in header_line else ","
    header = [h.strip().strip('"') for h in header_line.split(separator)]
    time_name = next((h for h in header if h.upper() == "TIME" or h.upper().startswith("TIME(")), None)
    if time_name is None or not is_gazepoint_header(header):
        raise format_error(
            path,
            "the header lacks TIME and FPOGX, FPOGY (or BPOGX, BPOGY)",
            "export all_gaze or fixations with those columns from Gazepoint Analysis",
            1,
        )
    columns = {name: (name,) for name in ("FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV",
                                          "BPOGX", "BPOGY", "BPOGV")}
    columns["TIME"] = (time_name,)
    _, num, txt = read_csv_columns(text, path, columns, {"media": ("MEDIA_NAME", "MEDIA_ID")})
    n = len(num["TIME"])
    if (~np.isfinite(num["TIME"])).any():
        raise format_error(path, "a TIME is missing", "fix or delete that line", int(np.argmax(~np.isfinite(num["TIME"]))) + 2)
    media = txt.get("media") or [""] * n
    shape = NOMINAL_SCREEN if image_shape is None else (int(image_shape[-2]), int(image_shape[-1]))
    fixation_file = _is_fixation_file(path, num, media)
    result: dict = {}
    placed = []
    for name in dict.fromkeys(media):
        rows = np.array([m == name for m in media], dtype=bool)
        part = {k: v[rows] for k, v in num.items()}
        key = name or path.stem
        if fixation_file or what == "fixations":
            entry = _fixations(part, key, shape, fixation_file, path)
            placed.append(entry.coords)
        else:
            entry, coords = _samples(part, key, shape)
            placed.append(coords)
        if image_shape is None:
            entry.meta["image"]["shape_assumed"] = True
        result[key] = entry
    if image_shape is None:
        warn(
            path,
            f"Gazepoint exports name no screen size, so positions are placed on a {shape[0]} x {shape[1]} "
            "image; pass image_shape=(height, width) to place them on yours",
        )
    if placed:
        warn_off_image(path, np.concatenate(placed), shape)
    return result


def _is_fixation_file(path: Path, num: dict, media: list[str]) -> bool:
    if "fixations" in path.name.lower():
        return True
    if "FPOGID" not in num or len(num["FPOGID"]) < 2:
        return False
    pairs = list(zip(media, num["FPOGID"].tolist()))
    return len(set(pairs)) == len(pairs)


def _samples(part: dict, key: str, shape) -> tuple[GazeRecording, np.ndarray]:
    prefix = "BPOG" if {"BPOGX", "BPOGY"} <= part.keys() else "FPOG"
    x, y = part[f"{prefix}X"], part[f"{prefix}Y"]
    flag = part.get(f"{prefix}V")
    t = part["TIME"]
    order = np.argsort(t, kind="stable")
    t, x, y = t[order], x[order], y[order]
    height, width = shape
    coords = np.column_stack([y * height - 0.5, x * width - 0.5])
    valid = np.isfinite(coords).all(axis=1)
    if flag is not None:
        valid &= flag[order] == 1.0
    tracked = coords[valid]
    inside = (coords[:, 0] >= -0.5) & (coords[:, 0] < height - 0.5)
    inside &= (coords[:, 1] >= -0.5) & (coords[:, 1] < width - 0.5)
    meta = {"source": "gazepoint", "image": {"name": key, "shape": [height, width]}, "point_of_gaze": prefix}
    step = typical_step(t)
    if step is not None:
        meta["sampling_rate_hz"] = round(1.0 / step, 1)
    recording = GazeRecording(
        t=t - t[0] if len(t) else t,
        coords=coords,
        valid=valid & inside,
        screen=np.column_stack([x, y]),
        meta=meta,
    )
    return recording, tracked


def _fixations(part: dict, key: str, shape, every_row: bool, path) -> Fixations:
    for needed in ("FPOGX", "FPOGY", "FPOGD"):
        if needed not in part:
            raise format_error(
                path, f"the export lacks {needed}, so it holds no fixations", "export FPOGX, FPOGY and FPOGD", 1
            )
    t, d = part["TIME"], part["FPOGD"]
    n = len(t)
    flag = part.get("FPOGV", np.ones(n))
    ids = part.get("FPOGID")
    if every_row:
        ends = np.isfinite(d) & (flag == 1.0)
    else:
        fix = (flag == 1.0) & np.isfinite(d)
        nxt = np.r_[fix[1:], False]
        restart = np.r_[d[1:] < d[:-1], True]
        changed = np.r_[ids[1:] != ids[:-1], True] if ids is not None else np.zeros(n, dtype=bool)
        ends = fix & (~nxt | restart | changed)
    start = (t - d)[ends]
    if "FPOGS" in part and ends.any():
        stated = part["FPOGS"][ends]
        if np.nanmedian(np.abs(stated - start)) < 0.5:  # FPOGS on the clock of TIME
            start = stated
    # all_gaze: from the medium's first sample; a fixations file keeps TIME's origin
    t0 = float(t[0]) if n and not every_row else 0.0
    height, width = shape
    coords = np.column_stack([part["FPOGY"][ends] * height - 0.5, part["FPOGX"][ends] * width - 0.5])
    keep = np.isfinite(coords).all(axis=1) & np.isfinite(start)
    meta = {
        "source": "gazepoint",
        "image": {"name": key, "shape": [height, width]},
        "detector": {"name": "Gazepoint fixation filter (FPOG)"},
    }
    return Fixations(start=start[keep] - t0, duration=d[ends][keep], coords=coords[keep], meta=meta)
