"""Tobii Studio data export (TSV): gaze samples (or Studio's fixations) per media.

Tobii Studio 3.x writes one tab-separated table (UTF-8, often with a BOM, CRLF
line ends) whose column names carry their unit in parentheses:
``RecordingTimestamp`` (ms from the recording start), ``MediaName``,
``MediaPosX (ADCSpx)``, ``MediaPosY (ADCSpx)``, ``MediaWidth``, ``MediaHeight``,
``GazePointX (ADCSpx)``, ``GazePointY (ADCSpx)`` (screen pixels, the average of
both eyes), ``GazePointX (MCSpx)``, ``GazePointY (MCSpx)`` (media pixels from its
top-left corner), ``ValidityLeft``, ``ValidityRight`` (0 = certain ... 4 = eye
not found), ``GazeEventType`` (Fixation, Saccade, Unclassified),
``GazeEventDuration`` (ms), ``FixationIndex``, ``FixationPointX (MCSpx)``,
``FixationPointY (MCSpx)``, ``RecordingResolution`` (``"1920 x 1080"``),
``ParticipantName``, ``RecordingName``, ``FixationFilter``.

Mapping to image pixels: ``MCSpx`` coordinates are pixels of the media (the
image) from its top-left corner, so ``(row, col) = (y - 0.5, x - 0.5)``. Without
the MCS columns the screen gaze is placed by the media's position,
``u = GazePointX (ADCSpx) - MediaPosX``, assuming the media was shown at its own
size (a warning says so). Gaze outside ``MediaWidth x MediaHeight`` stays an
invalid sample.

Rows: every row with a gaze sample (a ``GazePointIndex``, or else a validity
code) while a media is shown becomes a sample; event rows are skipped. Each
``MediaName`` gives one entry (``"RECORDING/MEDIA"`` when the file holds several
recordings). A sample is valid when its gaze point lies on the media and at least
one eye's validity code is 0 or 1. ``screen`` is the screen gaze divided by
``RecordingResolution``; ``meta["screen"]`` comes from ``GazePointLeftX
(ADCSmm)`` against ``(ADCSpx)`` and ``DistanceLeft/Right`` when exported.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._infer import GazeFormatWarning
from ._tobii import (
    TobiiTable,
    check_time,
    first_value,
    fixation_runs,
    make_recording,
    needs_movement,
    sampling_rate,
    screen_geometry,
)

__all__ = ["is_tobii_studio_header", "read_tobii_studio"]

_USED = {
    "recordingtimestamp",
    "participantname",
    "recordingname",
    "recordingresolution",
    "fixationfilter",
    "medianame",
    "mediaposx",
    "mediaposy",
    "mediawidth",
    "mediaheight",
    "gazepointindex",
    "gazepointx",
    "gazepointy",
    "gazepointleftx",
    "gazepointlefty",
    "validityleft",
    "validityright",
    "distanceleft",
    "distanceright",
    "gazeeventtype",
    "gazeeventduration",
    "fixationindex",
    "fixationpointx",
    "fixationpointy",
}
_RESOLUTION = re.compile(r"^\s*(\d{1,6})\s*[xX\u00d7]\s*(\d{1,6})\s*$")


def is_tobii_studio_header(names: set[str]) -> bool:
    """Whether lower-case header names are Tobii Studio's (``RecordingTimestamp`` with gaze)."""
    return "recordingtimestamp" in names and any(
        name.startswith(("gazepointx", "fixationpointx", "mediaposx")) for name in names
    )


def _codes(table: TobiiTable, name: str) -> np.ndarray | None:
    """Validity codes 0-4 as float (NaN where empty); a word is an error naming its line."""
    return table.numbers(name)


def _resolution(table: TobiiTable, rows: np.ndarray) -> list[float] | None:
    text = first_value(table.text("recordingresolution"), rows)
    match = _RESOLUTION.match(text) if isinstance(text, str) and len(text) < 40 else None
    if match is None:
        return None
    width, height = (float(group) for group in match.groups())
    return [width, height] if width > 0 and height > 0 else None


def read_tobii_studio(
    path: str | Path, what: str = "samples"
) -> dict[str, GazeRecording | Fixations]:
    """Read a Tobii Studio data export: ``{media: GazeRecording}`` (or ``Fixations``).

    See the module docstring for the columns and the mapping. Raises
    :class:`GazeFormatError` for a file it cannot read.
    """
    table = TobiiTable.read(path, _USED, "export the data again from Tobii Studio")
    if table.find("recordingtimestamp") is None:
        raise format_error(
            path,
            "there is no 'RecordingTimestamp' column",
            "include RecordingTimestamp in Tobii Studio's data export",
            1,
        )
    seconds_all = table.numbers("recordingtimestamp") * 1e-3
    media = table.text("medianame")
    if media is None:
        raise format_error(
            path,
            "there is no 'MediaName' column, so the gaze cannot be placed on an image",
            "include MediaName, MediaPosX/Y, MediaWidth/Height and GazePointX/Y (MCSpx) in the "
            "export",
            1,
        )
    width, height = table.numbers("mediawidth"), table.numbers("mediaheight")
    point = _place(table, "gazepoint", width is not None)
    if point is None:
        raise format_error(
            path,
            "the gaze cannot be placed on the image: GazePointX/Y (MCSpx), or GazePointX/Y "
            "(ADCSpx) with MediaPosX/Y (ADCSpx), are missing",
            "include those columns in Tobii Studio's data export",
            1,
        )
    left, right = _codes(table, "validityleft"), _codes(table, "validityright")
    index = table.text("gazepointindex")
    if index is not None:
        tracker = np.array([bool(value) for value in index], dtype=bool)
    else:
        tracker = np.zeros(table.n_rows, dtype=bool)
        for codes in (left, right):
            if codes is not None:
                tracker |= np.isfinite(codes)
        if left is None and right is None:
            tracker = np.isfinite(point[0]) | np.isfinite(point[1])
    missing = tracker & ~np.isfinite(seconds_all)
    if missing.any():
        raise format_error(
            path,
            "a gaze sample has no RecordingTimestamp",
            "export the data again or delete that line",
            table.lines[int(np.argmax(missing))],
        )
    samples = tracker & np.array([bool(name) for name in media], dtype=bool)
    eyes = [codes for codes in (left, right) if codes is not None]
    eyes_ok = (
        np.any([codes <= 1 for codes in eyes], axis=0) if eyes else np.ones(table.n_rows, bool)
    )
    u, v = point
    inside = _inside(width, height)
    valid = inside(u, v, np.arange(table.n_rows)) & eyes_ok
    recording = table.text("recordingname") or table.text("participantname")
    tracker_rows = np.flatnonzero(tracker)
    screen_px = [table.numbers(f"gazepoint{axis}", ("adcspx",)) for axis in "xy"]
    contents: dict[str, GazeRecording | Fixations] = {}
    for key, rows in _keys(samples, media, recording).items():
        check_time(seconds_all[rows], table.line_numbers[rows], path)
        onset = float(seconds_all[rows[0]])
        resolution = _resolution(table, rows)
        image = {"name": media[rows[0]]}
        size = [first_value(side, rows) if side is not None else None for side in (height, width)]
        if all(value is not None and value > 0 for value in size):
            image["shape"] = [int(round(size[0])), int(round(size[1]))]
        meta = {
            "source": "tobii-studio",
            "participant": first_value(table.text("participantname"), rows),
            "recording": first_value(table.text("recordingname"), rows),
            "stimulus": media[rows[0]],
            "stimulus_onset_s": onset,
            "sampling_rate_hz": sampling_rate(seconds_all[rows]),
            "image": image,
            "recording_resolution_px": None if resolution is None else [int(x) for x in resolution],
            "screen": None if resolution is None else _geometry(table, resolution, tracker_rows),
        }
        meta = {name: value for name, value in meta.items() if value is not None}
        t = seconds_all[rows] - onset
        if what == "fixations":
            movement = table.text("gazeeventtype")
            needs_movement(table, movement, "GazeEventType", "Tobii Studio's")
            fixation_point = _place(table, "fixationpoint", width is not None) or point
            fixations = fixation_runs(
                table,
                rows,
                t,
                meta,
                tracker_rows,
                movement,
                table.numbers("fixationindex"),
                fixation_point,
                inside,
            )
            filter_name = first_value(table.text("fixationfilter"), rows)
            fixations.meta["detector"] = {
                "name": "Tobii Studio",
                **({"filter": filter_name} if filter_name else {}),
            }
            contents[key] = fixations
            continue
        screen = None
        if resolution is not None and screen_px[0] is not None and screen_px[1] is not None:
            screen = np.column_stack(
                [screen_px[0][rows] / resolution[0], screen_px[1][rows] / resolution[1]]
            )
        coords = np.column_stack([v[rows] - 0.5, u[rows] - 0.5])
        ok = valid[rows]
        coords[~ok] = np.nan
        contents[key] = make_recording(path, key, t, coords, ok, screen, meta)
    return contents


def _place(table: TobiiTable, point: str, sized: bool):
    """``(u, v)`` media pixels of ``point`` ("gazepoint" / "fixationpoint") per row, or None."""
    mcs = [table.numbers(f"{point}{axis}", ("mcspx",)) for axis in "xy"]
    if mcs[0] is not None and mcs[1] is not None:
        return mcs[0], mcs[1]
    adcs = [table.numbers(f"{point}{axis}", ("adcspx",)) for axis in "xy"]
    position = [table.numbers(f"mediapos{axis}", ("adcspx", None)) for axis in "xy"]
    if any(column is None for column in adcs + position):
        return None
    if point == "gazepoint":
        warnings.warn(
            f"{table.path}: no GazePointX/Y (MCSpx) columns; the gaze is placed on the media "
            "assuming it was shown at its own size (export the MCSpx columns to be sure).",
            GazeFormatWarning,
            stacklevel=3,
        )
    return adcs[0] - position[0], adcs[1] - position[1]


def _inside(width, height):
    def inside(u: np.ndarray, v: np.ndarray, rows: np.ndarray) -> np.ndarray:
        ok = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (v >= 0)
        with np.errstate(invalid="ignore"):
            if width is not None:
                ok &= ~(u >= width[rows])
            if height is not None:
                ok &= ~(v >= height[rows])
        return ok

    return inside


def _geometry(table: TobiiTable, resolution, rows: np.ndarray) -> dict | None:
    px = [table.numbers(f"gazepointleft{axis}", ("adcspx",)) for axis in "xy"]
    mm = [table.numbers(f"gazepointleft{axis}", ("adcsmm",)) for axis in "xy"]
    depth = [table.numbers(f"distance{eye}") for eye in ("left", "right")]
    return screen_geometry(resolution, px, mm, depth, rows)


def _keys(samples: np.ndarray, media: list[str], recording) -> dict[str, np.ndarray]:
    rows = np.flatnonzero(samples)
    recordings = [recording[i] for i in rows] if recording is not None else [""] * len(rows)
    several = len(set(recordings)) > 1
    keys: dict[str, list[int]] = {}
    for row, record in zip(rows.tolist(), recordings):
        name = media[row]
        keys.setdefault(f"{record}/{name}" if several else name, []).append(row)
    return {key: np.asarray(indices, dtype=np.int64) for key, indices in keys.items()}
