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
    LinesOf,
    TobiiTable,
    check_time,
    first_value,
    fixation_runs,
    keyed_rows,
    label_at,
    label_mask,
    make_recording,
    needs_movement,
    release_free_memory,
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


#: Columns only Studio's own fixations use (left out when reading samples).
_FIXATION_ONLY = {
    "gazeeventtype", "gazeeventduration", "fixationindex", "fixationpointx", "fixationpointy",
    "fixationfilter",
}
#: Rows of one recording computed at a time (bounds the float64 working arrays).
_BLOCK = 1 << 18


def _columns_for(what: str):
    """The ``select`` of :class:`TobiiTable`: the fixation columns only for ``what="fixations"``,
    the left eye's gaze and the eye distances only when there are millimetres to fit."""

    def select(table: TobiiTable, kept: set[int]) -> set[int]:
        base = {index: name for (name, _), index in table.keys.items()}
        drop = set() if what == "fixations" else set(_FIXATION_ONLY)
        if not all(table.find(f"gazepointleft{axis}", ("adcsmm",)) for axis in "xy"):
            drop |= {"gazepointleftx", "gazepointlefty", "distanceleft", "distanceright"}
        return {index for index in kept if base[index] not in drop}

    return select


def _resolution(table: TobiiTable, rows: np.ndarray) -> list[float] | None:
    text = first_value(table.codes("recordingresolution"), rows)
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
    :class:`GazeFormatError` for a file it cannot read. Memory: as Pro Lab's
    reader, only the columns this read needs are kept, and each recording's
    arrays are built a block of rows at a time.
    """
    table = TobiiTable.read(
        path, _USED, "export the data again from Tobii Studio", _columns_for(what)
    )
    if table.find("recordingtimestamp") is None:
        raise format_error(
            path,
            "there is no 'RecordingTimestamp' column",
            "include RecordingTimestamp in Tobii Studio's data export",
            1,
        )
    time = table.column("recordingtimestamp")
    media = table.codes("medianame")
    if media is None:
        raise format_error(
            path,
            "there is no 'MediaName' column, so the gaze cannot be placed on an image",
            "include MediaName, MediaPosX/Y, MediaWidth/Height and GazePointX/Y (MCSpx) in the "
            "export",
            1,
        )
    width, height = table.column("mediawidth"), table.column("mediaheight")
    point = _place(table, "gazepoint", width is not None)
    if point is None:
        raise format_error(
            path,
            "the gaze cannot be placed on the image: GazePointX/Y (MCSpx), or GazePointX/Y "
            "(ADCSpx) with MediaPosX/Y (ADCSpx), are missing",
            "include those columns in Tobii Studio's data export",
            1,
        )
    left, right = table.column("validityleft"), table.column("validityright")
    tracker = table.nonempty("gazepointindex")
    if tracker is None:
        tracker = np.zeros(table.n_rows, dtype=bool)
        for codes in (left, right):
            if codes is not None:
                tracker |= np.isfinite(codes[None])
        if left is None and right is None:
            u, v = _to_pixels(point, None)
            tracker = np.isfinite(u) | np.isfinite(v)
            del u, v
    for low in range(0, table.n_rows, _BLOCK):
        rows = np.arange(low, min(low + _BLOCK, table.n_rows))
        missing = tracker[rows] & ~np.isfinite(time[rows])
        if missing.any():
            raise format_error(
                path,
                "a gaze sample has no RecordingTimestamp",
                "export the data again or delete that line",
                table.line_of(low + int(np.argmax(missing))),
            )
    samples = tracker & label_mask(media, bool)
    eyes = [codes for codes in (left, right) if codes is not None]
    eyes_ok = np.ones(table.n_rows, bool) if not eyes else np.zeros(table.n_rows, bool)
    for codes in eyes:
        eyes_ok |= codes[None] <= 1
    inside = _inside(width, height)
    recording = table.codes("recordingname") or table.codes("participantname")
    tracker_rows = np.flatnonzero(tracker)
    del tracker
    screen_px = [table.column(f"gazepoint{axis}", ("adcspx",)) for axis in "xy"]
    contents: dict[str, GazeRecording | Fixations] = {}
    keys = keyed_rows(samples, media, recording)
    del samples
    whole: dict[str, object] = {}  # fixations only: columns of every row, built once
    while keys:
        key, rows = next(iter(keys.items()))
        del keys[key]  # each key's rows go as its recording is built
        seconds = time[rows]
        seconds *= 1e-3
        check_time(seconds, LinesOf(table, rows), path)
        onset = float(seconds[0])
        resolution = _resolution(table, rows)
        image = {"name": label_at(media, rows[0])}
        size = [first_value(side, rows) if side is not None else None for side in (height, width)]
        if all(value is not None and value > 0 for value in size):
            image["shape"] = [int(round(size[0])), int(round(size[1]))]
        meta = {
            "source": "tobii-studio",
            "participant": first_value(table.codes("participantname"), rows),
            "recording": first_value(table.codes("recordingname"), rows),
            "stimulus": label_at(media, rows[0]),
            "stimulus_onset_s": onset,
            "sampling_rate_hz": sampling_rate(seconds),
            "image": image,
            "recording_resolution_px": None if resolution is None else [int(x) for x in resolution],
            "screen": None if resolution is None else _geometry(table, resolution, tracker_rows),
        }
        meta = {name: value for name, value in meta.items() if value is not None}
        t = seconds
        t -= onset
        if what == "fixations":
            movement = table.codes("gazeeventtype")
            needs_movement(table, movement, "GazeEventType", "Tobii Studio's")
            if "point" not in whole:
                fixation_point = _place(table, "fixationpoint", width is not None) or point
                whole["point"] = _to_pixels(fixation_point, None)
                whole["index"] = table.numbers("fixationindex")
            fixations = fixation_runs(
                table,
                rows,
                t,
                meta,
                tracker_rows,
                movement,
                whole["index"],
                whole["point"],
                inside,
            )
            filter_name = first_value(table.codes("fixationfilter"), rows)
            fixations.meta["detector"] = {
                "name": "Tobii Studio",
                **({"filter": filter_name} if filter_name else {}),
            }
            contents[key] = fixations
            continue
        screen = None
        if resolution is not None and screen_px[0] is not None and screen_px[1] is not None:
            screen = np.empty((len(rows), 2), dtype=np.float64)
        coords = np.empty((len(rows), 2), dtype=np.float64)
        ok = np.empty(len(rows), dtype=bool)
        for low in range(0, len(rows), _BLOCK):
            part = rows[low : low + _BLOCK]
            at = slice(low, low + len(part))
            u, v = _to_pixels(point, part)
            coords[at, 0] = v - 0.5
            coords[at, 1] = u - 0.5
            ok[at] = inside(u, v, part) & eyes_ok[part]
            if screen is not None:
                screen[at, 0] = screen_px[0][part] / resolution[0]
                screen[at, 1] = screen_px[1][part] / resolution[1]
        coords[~ok] = np.nan
        contents[key] = make_recording(path, key, t, coords, ok, screen, meta)
        del t, seconds, coords, ok, screen
        if len(rows) >= TobiiTable.TRIM_ROWS:
            release_free_memory()  # this recording's working arrays, before the next
        del rows
    return contents


def _place(table: TobiiTable, point: str, sized: bool):
    """How to place ``point`` ("gazepoint" / "fixationpoint") in media pixels, or None.

    ``("mcs", x, y)`` or ``("adcs", x, y, position x, position y)`` columns, for
    :func:`_to_pixels`.
    """
    mcs = [table.column(f"{point}{axis}", ("mcspx",)) for axis in "xy"]
    if mcs[0] is not None and mcs[1] is not None:
        return ("mcs", *mcs)
    adcs = [table.column(f"{point}{axis}", ("adcspx",)) for axis in "xy"]
    position = [table.column(f"mediapos{axis}", ("adcspx", None)) for axis in "xy"]
    if any(column is None for column in adcs + position):
        return None
    if point == "gazepoint":
        warnings.warn(
            f"{table.path}: no GazePointX/Y (MCSpx) columns; the gaze is placed on the media "
            "assuming it was shown at its own size (export the MCSpx columns to be sure).",
            GazeFormatWarning,
            stacklevel=3,
        )
    return ("adcs", *adcs, *position)


def _to_pixels(place: tuple, rows) -> tuple[np.ndarray, np.ndarray]:
    """``(u, v)`` media pixels of table ``rows`` (None: all) as :func:`_place` says."""
    if place[0] == "mcs":
        return place[1][rows], place[2][rows]
    _, x, y, position_x, position_y = place
    return x[rows] - position_x[rows], y[rows] - position_y[rows]


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
    px = [table.column(f"gazepointleft{axis}", ("adcspx",)) for axis in "xy"]
    mm = [table.column(f"gazepointleft{axis}", ("adcsmm",)) for axis in "xy"]
    depth = [table.column(f"distance{eye}") for eye in ("left", "right")]
    return screen_geometry(resolution, px, mm, depth, rows)
