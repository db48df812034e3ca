"""EyeLink Data Viewer sample reports (tab- or comma-separated text), one recording per trial.

Data Viewer's *Sample Report* writes one row per sample with the columns the user
picked; the ones read here (any case, any order, ``.`` for a missing value):

``RECORDING_SESSION_LABEL``  the session (participant); optional
``TRIAL_INDEX``              the trial; optional
``TIMESTAMP``                tracker time, ms
``AVERAGE_GAZE_X/_Y``        gaze in screen pixels, both eyes averaged; else
``LEFT_GAZE_X/_Y``, ``RIGHT_GAZE_X/_Y``  one eye each (averaged here where both are tracked)

**Entries**: one per session and trial, keyed like the fixation reports
(:mod:`.gazemedseg`): ``"trial 3"``, or ``"s01/trial 3"`` with several sessions.
**Mapping**: the screen is the image; screen pixels (EyeLink's pixel centres are
integers) are kept, ``(row, col) = (y, x)``; the screen size is ``image_shape``
(then samples off it are invalid and more than 20 % off is warned) or unknown
(warned). **Time**: seconds from the trial's first sample;
``meta["tracker_start_ms"]`` is its ``TIMESTAMP``; the rate is estimated from
the median interval.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..recording import GazeRecording
from ._errors import format_error
from ._infer import typical_step, warn, warn_off_image
from ._table import read_csv_columns
from ._text import read_text

__all__ = ["is_sample_report_header", "read_sample_report"]


def is_sample_report_header(names: set[str]) -> bool:
    """True for a Data Viewer sample report header (lower-case names)."""
    gaze = {"average_gaze_x", "average_gaze_y"} <= names or {"left_gaze_x", "left_gaze_y"} <= names or {
        "right_gaze_x", "right_gaze_y"
    } <= names
    return "timestamp" in names and gaze and bool(names & {"recording_session_label", "trial_index"})


def read_sample_report(
    path: str | Path, image_shape: tuple[int, int] | None = None
) -> dict[str, GazeRecording]:
    """Read a Data Viewer sample report (see the module docstring); raises :class:`GazeFormatError`."""
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise format_error(path, "the file is empty", "pass a Data Viewer sample report with its header line")
    columns = {
        "t": ("TIMESTAMP",),
        "ax": ("AVERAGE_GAZE_X",), "ay": ("AVERAGE_GAZE_Y",),
        "lx": ("LEFT_GAZE_X",), "ly": ("LEFT_GAZE_Y",),
        "rx": ("RIGHT_GAZE_X",), "ry": ("RIGHT_GAZE_Y",),
    }
    _, num, txt = read_csv_columns(
        text, path, columns, {"session": ("RECORDING_SESSION_LABEL",), "trial": ("TRIAL_INDEX",)}
    )
    if "t" not in num:
        raise format_error(path, "the header lacks TIMESTAMP", "add TIMESTAMP to the sample report", 1)
    if "ax" in num and "ay" in num:
        x, y = num["ax"], num["ay"]
    else:
        eyes = [(num[a], num[b]) for a, b in (("lx", "ly"), ("rx", "ry")) if a in num and b in num]
        if not eyes:
            raise format_error(
                path, "the header lacks AVERAGE_GAZE_X/_Y (or LEFT_/RIGHT_GAZE_X/_Y)", "add them to the report", 1
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": no eye tracked
            x = np.nanmean(np.stack([e[0] for e in eyes]), axis=0)
            y = np.nanmean(np.stack([e[1] for e in eyes]), axis=0)
    t = num["t"]
    bad = ~np.isfinite(t)
    if bad.any():
        raise format_error(path, "a sample has no TIMESTAMP", "fix or delete that line", int(np.argmax(bad)) + 2)
    n = len(t)
    sessions = txt.get("session") or [""] * n
    trials = txt.get("trial") or [""] * n
    several = len(set(sessions)) > 1
    shape = None if image_shape is None else (int(image_shape[-2]), int(image_shape[-1]))
    groups: dict[str, list[int]] = {}
    for row, (session, trial) in enumerate(zip(sessions, trials)):
        name = f"trial {trial}" if trial else "samples"
        groups.setdefault(f"{session}/{name}" if several else name, []).append(row)
    result = {}
    for key, rows in groups.items():
        rows = np.asarray(rows)
        order = rows[np.argsort(t[rows], kind="stable")]
        times = t[order]
        coords = np.column_stack([y[order], x[order]])
        valid = np.isfinite(coords).all(axis=1)
        meta = {"source": "eyelink-data-viewer", "recording": key, "image": {"name": key},
                "tracker_start_ms": float(times[0])}
        step = typical_step(times)
        if step is not None:
            meta["sampling_rate_hz"] = round(1000.0 / step, 1)
        screen = None
        if shape is not None:
            height, width = shape
            meta["image"]["shape"] = [height, width]
            meta["screen_resolution_px"] = [width, height]
            valid &= (coords[:, 0] >= -0.5) & (coords[:, 0] < height - 0.5)
            valid &= (coords[:, 1] >= -0.5) & (coords[:, 1] < width - 0.5)
            screen = np.column_stack([(coords[:, 1] + 0.5) / width, (coords[:, 0] + 0.5) / height])
        result[key] = GazeRecording(t=(times - times[0]) / 1000.0, coords=coords, valid=valid, screen=screen, meta=meta)
    if shape is None:
        warn(
            path,
            "a Data Viewer report names no screen size; positions are kept in screen pixels; "
            "pass image_shape=(height, width) to give it",
        )
    elif n:
        finite = np.isfinite(x) & np.isfinite(y)
        warn_off_image(path, np.column_stack([y, x])[finite], shape)
    return result
