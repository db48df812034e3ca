"""Tobii Pro Lab data export (TSV): gaze samples (or Pro Lab's fixations) per presented stimulus.

Both header generations are read: current ones carry units in brackets
(``Recording timestamp [ms]`` or ``[μs]``, ``Gaze point X [DACS px]``,
``Presented Media position X [DACS px]``, ``Presented Media width [px]``,
``Fixation point X [MCS norm]``, ...), older ones none or in parentheses
(``Recording timestamp`` in ms, ``Gaze point X``, ``Presented Media position X
(DACSpx)``, ``Fixation point X (MCSnorm)``). Decimals may be dots or commas; the
text UTF-8 (with or without BOM) or UTF-16; tab-separated, or re-saved by a
spreadsheet as comma / semicolon CSV. A ``Recording timestamp`` without a unit is
ms or µs as ``Eyetracker timestamp`` (µs) or a plausible rate says
(``meta["timestamp_unit"]``, ``meta["timestamp_unit_from"]``; µs or a guess warns).

Mapping to image pixels. DACS px are screen pixels from the top-left corner of
the display area; the presented media's top-left corner sits at ``Presented
Media position X/Y`` and it is drawn ``Presented Media width/height`` pixels
large, showing an image of ``Original Media width/height`` pixels. A gaze point
``(gx, gy)`` therefore lies at ``u = (gx - position_x) * original_width /
presented_width`` (and ``v`` alike) from the image's top-left corner, and at
image data coordinates ``(row, col) = (v - 0.5, u - 0.5)`` with pixel centres at
integers: image pixel ``(row, col)`` covers ``[row - 0.5, row + 0.5) x [col - 0.5,
col + 0.5)``. Without the media columns, ``MCS norm`` coordinates (0 to 1 across the
original media) or ``MCS px`` coordinates (original media pixels from the corner)
are used. Gaze outside the media is kept as an invalid sample.

Rows: only eye-tracker samples become samples (``Sensor == "Eye Tracker"``, or
without a ``Sensor`` column every row that is not a bare event), and only while
a stimulus is presented. Each ``Presented Stimulus name`` gives one entry, keyed
by that name (``"RECORDING/STIMULUS"`` when the file holds several recordings);
a stimulus shown several times keeps all its samples in one recording. Time is
seconds from the stimulus' first sample (``meta["stimulus_onset_s"]`` holds that
first sample's time from the recording start).

A sample is valid when its gaze point is present, lies on the media, at least
one eye's ``Validity`` is ``Valid`` (or 0/1 in Tobii Studio's numeric codes) and
Pro Lab did not classify it as ``EyesNotFound``. ``screen`` is the gaze point
divided by ``Recording resolution width/height`` (normalised display area);
``meta["screen"]`` comes from ``Gaze point X/Y [DACS mm]`` against ``[DACS px]``
and ``Eye position Z [DACS mm]`` when exported, so I-VT runs in degrees. Pro
Lab's calibration screens (``Eyetracker Calibration``, ...) are no stimulus.

``what="fixations"`` gives Pro Lab's own fixations: runs of rows with ``Eye
movement type == Fixation`` and one ``Eye movement type index``, placed at
``Fixation point X/Y`` (mapped as above) and lasting ``Gaze event duration``,
cut to the part within the stimulus (and the export) and never past the next
fixation; fixations off the media are left out and counted in
``meta["fixations_off_media"]``.

Pro Lab Glasses exports without screen gaze give one entry per snapshot from
``Mapped gaze point X/Y [SNAPSHOT]`` and ``Mapped fixation X/Y [SNAPSHOT]``
(snapshot pixels from its corner; see :func:`_read_glasses`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._infer import GazeFormatWarning
from ._tobii import (
    LinesOf,
    TobiiTable,
    all_present,
    check_time,
    first_label,
    first_value,
    fixation_runs,
    keyed_rows,
    label_at,
    label_mask,
    make_recording,
    needs_movement,
    release_free_memory,
    row_dtype,
    sampling_rate,
    screen_geometry,
    split_header,
)

__all__ = ["is_calibration", "read_prolab_aoi_hits", "read_tobii_pro_lab", "split_header"]

_SECONDS = {"ms": 1e-3, "us": 1e-6, None: 1e-3}
_DACS = ("dacspx", None)
_PX = ("px", None)


#: Base names (lower case, unit removed) of the columns the reader uses; others are skipped.
_USED = {
    "aoi hit",
    "recording timestamp",
    "sensor",
    "event",
    "gaze point x",
    "gaze point y",
    "validity left",
    "validity right",
    "eye movement type",
    "eye movement type index",
    "gaze event duration",
    "eye movement event duration",
    "fixation point x",
    "fixation point y",
    "presented stimulus name",
    "presented media name",
    "presented media position x",
    "presented media position y",
    "presented media width",
    "presented media height",
    "original media width",
    "original media height",
    "recording resolution width",
    "recording resolution height",
    "participant name",
    "recording name",
    "recording fixation filter name",
    "eyetracker timestamp",
    "eye position left z",
    "gaze point left x",
    "gaze point left y",
    "gaze point right x",
    "gaze point right y",
    "eye position right z",
    # Pro Lab Glasses: gaze and fixations mapped onto a snapshot, ``Name [SNAPSHOT]``
    "mapped gaze point x",
    "mapped gaze point y",
    "assisted mapping gaze point x",
    "assisted mapping gaze point y",
    "manually mapped gaze point x",
    "manually mapped gaze point y",
    "mapped fixation x",
    "mapped fixation y",
    "mapped eye movement type",
    "mapped eye movement type index",
}


#: Columns only Pro Lab's own fixations use (kept for ``what="fixations"`` and Glasses exports).
_FIXATION_ONLY = {
    "eye movement type index",
    "gaze event duration",
    "eye movement event duration",
    "fixation point x",
    "fixation point y",
    "recording fixation filter name",
}
_GLASSES = ("mapped ", "assisted mapping ", "manually mapped ")
#: Rows of one recording computed at a time (bounds the float64 working arrays).
_BLOCK = 1 << 18


def _columns_for(what: str):
    """The ``select`` of :class:`TobiiTable` for ``what``: the used columns this read needs.

    Left out as the file is parsed (so they cost no memory): Pro Lab's fixation
    columns when reading samples, AOI hits unless asked for, ``Eyetracker
    timestamp`` when ``Recording timestamp`` names its unit, each eye's gaze in
    px and the eye distances when no gaze point has millimetres (no screen
    geometry can come of them), and the Glasses' snapshot columns when the gaze
    can be placed on the media.
    """

    def select(table: TobiiTable, kept: set[int]) -> set[int]:
        base = {index: name for (name, _), index in table.keys.items()}
        glasses = any(name.startswith(_GLASSES) for name in base.values())
        drop = set()
        if what != "fixations" and not glasses:
            drop |= _FIXATION_ONLY
        if what != "aoi_hits":
            drop.add("aoi hit")
        if table.find("recording timestamp", ("ms", "us")) is not None:
            drop.add("eyetracker timestamp")
        with_mm = [
            point
            for point in ("gaze point", "gaze point left", "gaze point right")
            if all(table.find(f"{point} {axis}", ("dacsmm",)) for axis in "xy")
        ]
        for point in ("gaze point left", "gaze point right"):
            if point not in with_mm:
                drop |= {f"{point} x", f"{point} y"}
        if not with_mm:
            drop |= {"eye position left z", "eye position right z"}
        if _placeable(table, "gaze point"):
            drop |= {name for name in base.values() if name.startswith(_GLASSES)}
        return {index for index in kept if base[index] not in drop}

    return select


def _placeable(table: TobiiTable, point: str) -> bool:
    """Whether the header has what :meth:`_Media.candidates` needs to place ``point``."""
    def has(*names, units):
        return all(table.find(name, units) is not None for name in names)

    original = has("original media width", "original media height", units=_PX)
    media = (
        has("presented media position x", "presented media position y", units=_DACS)
        and has("presented media width", "presented media height", units=_PX)
        and original
    )
    return (
        (has(f"{point} x", f"{point} y", units=_DACS) and media)
        or (has(f"{point} x", f"{point} y", units=("mcsnorm",)) and original)
        or has(f"{point} x", f"{point} y", units=("mcspx",))
    )


def _validity(values, table: TobiiTable, column: str) -> np.ndarray | None:
    """1 (valid) / 0 (invalid) per row of a codes pair, empty entries ``-1`` (unknown)."""
    if values is None:
        return None
    rows, labels = values
    codes = np.full(len(labels), -1, dtype=np.int8)
    for index, value in enumerate(labels):
        word = value.lower()
        if word == "valid":
            codes[index] = 1
        elif word == "invalid":
            codes[index] = 0
        elif word:
            try:
                codes[index] = 1 if float(word.replace(",", ".")) <= 1 else 0
            except ValueError:
                raise format_error(
                    table.path,
                    f"{value!r} in column {column!r} is neither Valid nor Invalid",
                    "export the data again or fix that line",
                    table.line_of(int(np.argmax(rows == index))),
                ) from None
    return codes[rows]


def _eyes_ok(table: TobiiTable) -> np.ndarray:
    codes = [
        _validity(table.codes(name), table, name.capitalize())
        for name in ("validity left", "validity right")
    ]
    codes = [c for c in codes if c is not None]
    if not codes:
        return np.ones(table.n_rows, dtype=bool)
    known = np.any([c >= 0 for c in codes], axis=0)
    return np.any([c == 1 for c in codes], axis=0) | ~known


class _Media:
    """Per-row geometry of the presented media; maps Pro Lab coordinates to image pixels.

    Columns are :class:`~._tobii.RowsOf`: every mapping reads only the rows it is given.
    """

    def __init__(self, table: TobiiTable):
        self.position = [table.column(f"presented media position {axis}", _DACS) for axis in "xy"]
        self.presented = [
            table.column(f"presented media {side}", _PX) for side in ("width", "height")
        ]
        self.original = [
            table.column(f"original media {side}", _PX) for side in ("width", "height")
        ]

    def candidates(self, table: TobiiTable, point: str) -> list | None:
        """The column sets ``point`` ("gaze point" / "fixation point") can be placed from, best first."""
        candidates = []
        dacs = [table.column(f"{point} {axis}", _DACS) for axis in "xy"]
        if all_present(dacs, self.position, self.presented, self.original):
            candidates.append(("dacs", dacs))
        norm = [table.column(f"{point} {axis}", ("mcsnorm",)) for axis in "xy"]
        if all_present(norm, self.original):
            candidates.append(("norm", norm))
        media_px = [table.column(f"{point} {axis}", ("mcspx",)) for axis in "xy"]
        if all_present(media_px):
            candidates.append(("px", media_px))
        return candidates or None

    def to_pixels(self, candidates: list, rows) -> tuple[np.ndarray, np.ndarray]:
        """``(u, v)`` of table ``rows`` (None: all) from the media's corner, original px."""
        placed = []
        for kind, (x, y) in candidates:
            if kind == "dacs":
                with np.errstate(invalid="ignore", divide="ignore"):
                    placed.append(
                        tuple(
                            (column[rows] - self.position[axis][rows])
                            * self.original[axis][rows]
                            / self.presented[axis][rows]
                            for axis, column in enumerate((x, y))
                        )
                    )
            elif kind == "norm":
                placed.append((x[rows] * self.original[0][rows], y[rows] * self.original[1][rows]))
            else:
                placed.append((x[rows], y[rows]))
        u, v = placed[0]
        for other_u, other_v in placed[1:]:
            missing = ~(np.isfinite(u) & np.isfinite(v))
            u, v = np.where(missing, other_u, u), np.where(missing, other_v, v)
        unplaced = ~(np.isfinite(u) & np.isfinite(v))  # e.g. a media size of 0
        return np.where(unplaced, np.nan, u), np.where(unplaced, np.nan, v)

    def inside(self, u: np.ndarray, v: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Whether ``(u, v)`` of table rows ``rows`` lies on the media (``0 <= u < width``).

        Only the sides whose original media size is known bound the media.
        """
        width, height = self.original
        inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (v >= 0)
        with np.errstate(invalid="ignore"):
            if width is not None:
                inside &= ~(u >= width[rows])
            if height is not None:
                inside &= ~(v >= height[rows])
        return inside


def _sample_rows(table: TobiiTable, gaze_x) -> np.ndarray:
    """Rows that are eye-tracker samples; ``gaze_x()`` gives the gaze x of all rows."""
    sensor = table.codes("sensor")
    if sensor is not None:
        return label_mask(sensor, lambda value: value.lower() == "eye tracker")
    event = table.codes("event")
    if event is None:
        return np.ones(table.n_rows, dtype=bool)
    has_validity = np.zeros(table.n_rows, dtype=bool)
    for name in ("validity left", "validity right"):
        values = table.codes(name)
        if values is not None:
            has_validity |= label_mask(values, bool)
    bare_event = label_mask(event, bool) & np.isnan(gaze_x()) & ~has_validity
    return ~bare_event


#: Presented stimuli that are Pro Lab's calibration / validation screens, not images.
_CALIBRATION = ("eyetracker calibration", "eye tracker calibration", "eyetracker validation",
                "eye tracker validation")
#: Snapshot-mapped gaze of Pro Lab Glasses, best first: ``NAME X [SNAPSHOT]``.
_SNAPSHOT_GAZE = ("mapped gaze point", "assisted mapping gaze point", "manually mapped gaze point")
#: Plausible eye-tracker sampling rates (Hz), for telling ms from µs timestamps.
_PLAUSIBLE_HZ = (20.0, 2500.0)


def is_calibration(name: str) -> bool:
    """Whether a presented stimulus name is Pro Lab's eye-tracker calibration or validation."""
    return name.strip().lower().startswith(_CALIBRATION)


def _timestamp(table: TobiiTable, path) -> tuple[int, str | None]:
    for unit in ("ms", "us", None):
        found = table.find("recording timestamp", (unit,))
        if found is not None:
            return found
    raise format_error(
        path,
        "there is no 'Recording timestamp' column",
        "include Recording timestamp in Pro Lab's Data Export",
        1,
    )


def _time_unit(table: TobiiTable, unit: str | None, index: int, is_tracker: np.ndarray, path):
    """``(seconds per timestamp unit, meta)``; a missing unit is inferred and said.

    Older Pro Lab exports write ``Recording timestamp`` without a unit, some in
    ms, some in µs. ``Eyetracker timestamp`` (the tracker's clock, always µs)
    decides when present: the ratio of the two clocks' steps is 1 for µs and
    0.001 for ms. Otherwise the unit giving a plausible sampling rate (20 to
    2500 Hz) is taken. Microseconds, or a unit that could not be inferred, are
    announced with a warning; ``meta["timestamp_unit"]`` and
    ``meta["timestamp_unit_from"]`` say which unit and why.
    """
    if unit is not None:
        return _SECONDS[unit], {"timestamp_unit": unit, "timestamp_unit_from": "header"}
    rows = np.flatnonzero(is_tracker)
    values = table.gather(index, rows)
    steps = np.diff(values)
    guess, reason = None, None
    tracker = table.numbers("eyetracker timestamp", ("us", None))
    if tracker is not None:
        tracker_steps = np.diff(tracker[rows])
        both = (steps > 0) & (tracker_steps > 0)
        if both.sum() >= 2:
            ratio = float(np.median(steps[both] / tracker_steps[both]))
            guess = "us" if ratio > 0.0316 else "ms"  # geometric middle of 1 and 0.001
            reason = "Eyetracker timestamp"
    if guess is None:
        positive = steps[steps > 0]
        if positive.size:
            step = float(np.median(positive))
            low, high = _PLAUSIBLE_HZ
            if low <= 1e3 / step <= high:
                guess, reason = "ms", "sampling rate"
            elif low <= 1e6 / step <= high:
                guess, reason = "us", "sampling rate"
    if guess is None:
        guess, reason = "ms", "assumed"
        warnings.warn(
            f"{path}: 'Recording timestamp' has no unit and its steps fit no eye-tracker rate; "
            "read as milliseconds (export it with its unit to be sure).",
            GazeFormatWarning,
            stacklevel=3,
        )
    elif guess == "us":
        evidence = (
            "its steps match Eyetracker timestamp's"
            if reason == "Eyetracker timestamp"
            else "milliseconds would give an implausible sampling rate"
        )
        warnings.warn(
            f"{path}: 'Recording timestamp' has no unit; read as microseconds ({evidence}).",
            GazeFormatWarning,
            stacklevel=3,
        )
    return _SECONDS[guess], {"timestamp_unit": guess, "timestamp_unit_from": reason}


def _seconds(table: TobiiTable, tracker: np.ndarray, path) -> tuple[int, float, dict]:
    """``(column, seconds per unit, meta)`` of the Recording timestamps, checked present
    on tracker rows (a block of rows at a time)."""
    index, unit = _timestamp(table, path)
    table.check_numbers(index)
    for low in range(0, table.n_rows, _BLOCK):
        rows = np.arange(low, min(low + _BLOCK, table.n_rows))
        missing = tracker[rows] & ~np.isfinite(table.gather(index, rows))
        if missing.any():
            raise format_error(
                path,
                "an eye-tracker sample has no Recording timestamp",
                "export the data again or delete that line",
                table.line_of(low + int(np.argmax(missing))),
            )
    scale, meta = _time_unit(table, unit, index, tracker, path)
    return index, scale, meta


def read_tobii_pro_lab(
    path: str | Path, what: str = "samples"
) -> dict[str, GazeRecording | Fixations]:
    """Read a Pro Lab data export: ``{stimulus: GazeRecording}`` (or ``Fixations``).

    See the module docstring for the columns, the mapping and the keys. Raises
    :class:`GazeFormatError` for a file it cannot read. Memory: the table keeps
    only the columns this read needs, compactly; each recording's arrays are
    built a block of rows at a time, so the file's working arrays are never
    held whole.
    """
    table = TobiiTable.read(
        path, _USED, "export the data again from Tobii Pro Lab", _columns_for(what)
    )
    _timestamp(table, path)
    media = _Media(table)
    gaze = media.candidates(table, "gaze point")
    if gaze is None:
        snapshots = _snapshots(table)
        if snapshots:
            return _read_glasses(table, snapshots, what)
        raise format_error(
            path,
            "the gaze cannot be placed on the image: Gaze point X/Y with the Presented Media "
            "position, Presented Media size and Original Media size columns are missing "
            "(and there is no gaze mapped onto a snapshot)",
            "include those columns (or Gaze point X/Y [MCS norm]) in Pro Lab's Data Export",
            1,
        )
    gaze_dacs = [table.column(f"gaze point {axis}", _DACS) for axis in "xy"]

    def probe():
        return gaze_dacs[0][None] if gaze_dacs[0] is not None else media.to_pixels(gaze, None)[0]

    tracker = _sample_rows(table, probe)
    time_index, time_scale, time_meta = _seconds(table, tracker, path)
    stimulus = table.codes("presented stimulus name")
    if stimulus is None or not table.n_rows:
        stimulus = table.codes("presented media name") or stimulus
    recording = table.codes("recording name")
    samples = tracker.copy()
    calibration = np.zeros(table.n_rows, dtype=bool)
    if stimulus is not None:
        samples &= label_mask(stimulus, bool)
        calibration = samples & label_mask(stimulus, is_calibration)
        samples &= ~calibration
    keys = _keys(samples, stimulus, recording, path)
    if not keys and calibration.any():
        raise format_error(
            path,
            "the export holds only the eye-tracker calibration, no gaze on a stimulus",
            "export the recording's stimuli from Pro Lab",
        )
    if what == "aoi_hits":
        return _aoi_hits(table, keys, stimulus)
    eyes_ok = _eyes_ok(table)
    movement = table.codes("eye movement type")
    if movement is not None:
        eyes_ok &= label_mask(movement, lambda kind: kind.lower() != "eyesnotfound")
    screen = _screen_columns(table, gaze_dacs)
    tracker_rows = np.flatnonzero(tracker)
    shared_meta = {
        "source": "tobii-pro-lab",
        "participant": first_label(table.codes("participant name"), samples),
        "screen": _screen_geometry(table, gaze_dacs, tracker_rows),
        **time_meta,
    }
    if calibration.any():
        shared_meta["calibration_samples_skipped"] = int(calibration.sum())
    del samples, calibration
    if what != "fixations":
        del tracker_rows, tracker
    contents: dict[str, GazeRecording | Fixations] = {}
    whole: dict[str, object] = {}  # fixations only: columns of every row, built once
    while keys:
        key, rows = next(iter(keys.items()))
        del keys[key]  # each key's rows go as its recording is built
        seconds = table.gather(time_index, rows)
        seconds *= time_scale
        check_time(seconds, LinesOf(table, rows), path)
        onset = float(seconds[0])
        meta = dict(shared_meta)
        meta.update(_stimulus_meta(table, media, rows, stimulus, recording, onset, seconds))
        meta = {name: value for name, value in meta.items() if value is not None}
        t = seconds
        t -= onset
        if what == "fixations":
            needs_movement(table, movement)
            if "point" not in whole:
                fixation = media.candidates(table, "fixation point") or gaze
                whole["point"] = media.to_pixels(fixation, None)
                whole["index"] = table.numbers("eye movement type index")
            contents[key] = fixation_runs(
                table,
                rows,
                t,
                meta,
                tracker_rows,
                movement,
                whole["index"],
                whole["point"],
                lambda u_, v_, at: media.inside(u_, v_, at),
            )
            continue
        coords, valid, screen_xy = _sample_arrays(media, gaze, rows, eyes_ok, screen)
        contents[key] = make_recording(path, key, t, coords, valid, screen_xy, meta)
        del t, seconds, coords, valid, screen_xy
        if len(rows) >= TobiiTable.TRIM_ROWS:
            release_free_memory()  # this recording's working arrays, before the next
        del rows
    return contents


def _sample_arrays(media: _Media, gaze: list, rows: np.ndarray, ok: np.ndarray, screen):
    """``(coords, valid, screen)`` of table ``rows``, built a block of rows at a time.

    The same numbers as mapping every row of the export at once and taking
    ``rows``: ``coords = (v - 0.5, u - 0.5)``, valid when on the media and ``ok``,
    ``screen`` the gaze point over the recording resolution (NaN where not finite).
    """
    n = len(rows)
    coords = np.empty((n, 2), dtype=np.float64)
    valid = np.empty(n, dtype=bool)
    screen_xy = None if screen is None else np.empty((n, 2), dtype=np.float64)
    for low in range(0, n, _BLOCK):
        part = rows[low : low + _BLOCK]
        at = slice(low, low + len(part))
        u, v = media.to_pixels(gaze, part)
        coords[at, 0] = v - 0.5
        coords[at, 1] = u - 0.5
        valid[at] = media.inside(u, v, part) & ok[part]
        if screen_xy is not None:
            x, y, width, height = (column[part] for column in screen)
            with np.errstate(invalid="ignore", divide="ignore"):
                block = np.column_stack([x / width, y / height])
            block[~np.isfinite(block)] = np.nan
            screen_xy[at] = block
    return coords, valid, screen_xy


def _aoi_hits(table: TobiiTable, keys: dict[str, np.ndarray], stimulus) -> dict[str, dict]:
    """Pro Lab's own ``AOI hit [STIMULUS - AOI]`` columns, per recording key: ``{AOI: bool (N,)}``.

    The arrays are aligned with the samples :func:`read_tobii_pro_lab` gives for
    that key (same rows, same order); empty fields count as no hit.
    """
    columns = table.bracketed("aoi hit")
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, rows in keys.items():
        name = label_at(stimulus, rows[0]) if stimulus is not None else None
        hits = {}
        for label, index in columns.items():
            stim, sep, aoi = label.partition(" - ")
            if not sep:
                stim, aoi = None, label
            if stim is not None and name is not None and stim.strip() != name:
                continue
            values = table.gather(index, rows)
            hits[aoi.strip()] = np.nan_to_num(values, nan=0.0) > 0.5
        out[key] = hits
    return out


def read_prolab_aoi_hits(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Pro Lab's AOI hit columns: ``{key: {AOI name: bool per sample}}``.

    Keys and sample order are those of :func:`read_tobii_pro_lab`'s recordings,
    so ``hits[key][aoi][i]`` says whether Pro Lab counted sample ``i`` of
    recording ``key`` on that AOI (to compare with our own hits, see
    :mod:`napari_gazeseg.gaze.aoi`). Stimuli without AOI columns give ``{}``.
    """
    return read_tobii_pro_lab(path, what="aoi_hits")


def _keys(samples: np.ndarray, stimulus, recording, path) -> dict[str, np.ndarray]:
    """``{key: ascending sample rows}``, keys in the order of their first sample."""
    if stimulus is None:
        name = Path(path).name.split(".")[0]
        rows = np.flatnonzero(samples).astype(row_dtype(len(samples)))
        return {name: rows} if rows.size else {}
    return keyed_rows(samples, stimulus, recording)


def _screen_columns(table: TobiiTable, gaze_dacs) -> list | None:
    """``[gaze x, gaze y, resolution width, height]`` columns for ``screen``, or None."""
    resolution = [
        table.column(f"recording resolution {side}", _PX) for side in ("width", "height")
    ]
    if not all_present(resolution, gaze_dacs):
        return None
    return [*gaze_dacs, *resolution]


def _screen_geometry(table: TobiiTable, gaze_dacs, rows: np.ndarray) -> dict | None:
    """``meta["screen"]`` from the export: px and mm of the gaze point, eye distance.

    ``Gaze point X/Y [DACS mm]`` against ``[DACS px]`` (both from the display
    area's top-left corner) gives millimetres per pixel (least squares through
    the origin), times ``Recording resolution`` the screen size; the median of
    ``Eye position left/right Z [DACS mm]`` (distance from the screen plane) the
    viewing distance. None when a column is missing or the values are unusable.
    """
    resolution = [
        first_value(table.column(f"recording resolution {side}", _PX), rows)
        for side in ("width", "height")
    ]
    depth = [table.column(f"eye position {eye} z", ("dacsmm",)) for eye in ("left", "right")]
    for point in ("gaze point", "gaze point left", "gaze point right"):
        px = gaze_dacs if point == "gaze point" else [
            table.column(f"{point} {axis}", ("dacspx",)) for axis in "xy"
        ]
        mm = [table.column(f"{point} {axis}", ("dacsmm",)) for axis in "xy"]
        geometry = screen_geometry(resolution, px, mm, depth, rows)
        if geometry is not None:  # an eye not exported (all empty) gives none
            return geometry
    return None


def _stimulus_meta(table, media, rows, stimulus, recording, onset, seconds) -> dict:
    """The meta of one recording; ``seconds`` are its samples' times (of ``rows``)."""
    width, height = (first_value(side, rows) for side in media.original)
    media_name = first_value(table.codes("presented media name"), rows)
    stimulus_name = None if stimulus is None else first_value(stimulus, rows)
    image = {"name": media_name or stimulus_name or ""}
    if width is not None and height is not None:
        image["shape"] = [int(round(height)), int(round(width))]
    resolution = [
        first_value(table.column(f"recording resolution {side}", _PX), rows)
        for side in ("width", "height")
    ]
    return {
        "recording": None if recording is None else first_value(recording, rows),
        "stimulus": stimulus_name,
        "stimulus_onset_s": onset,
        "sampling_rate_hz": sampling_rate(seconds),
        "image": image,
        "recording_resolution_px": None
        if not all_present(resolution)
        else [int(resolution[0]), int(resolution[1])],
    }


# -- Pro Lab Glasses: gaze and fixations mapped onto snapshots ----------------


def _snapshots(table: TobiiTable) -> dict[str, dict]:
    """``{snapshot: {"gaze": (x, y) columns, "fixation": (x, y), "movement", "index"}}``."""
    found: dict[str, dict] = {}
    for base in _SNAPSHOT_GAZE:
        ys = table.bracketed(f"{base} y")
        for name, x in table.bracketed(f"{base} x").items():
            if name in ys:
                found.setdefault(name, {}).setdefault("gaze", (x, ys[name]))
    ys = table.bracketed("mapped fixation y")
    for name, x in table.bracketed("mapped fixation x").items():
        if name in ys:
            found.setdefault(name, {})["fixation"] = (x, ys[name])
    for part, column in (("movement", "mapped eye movement type"),
                         ("index", "mapped eye movement type index")):
        for name, at in table.bracketed(column).items():
            if name in found:
                found[name][part] = at
    return found


def _read_glasses(table: TobiiTable, snapshots: dict, what: str) -> dict:
    """One entry per (recording,) snapshot: the samples (or fixations) mapped onto it.

    Mapped coordinates are snapshot pixels from its top-left corner, so
    ``(row, col) = (y - 0.5, x - 0.5)``. An entry spans the tracker samples from
    the first to the last one mapped onto the snapshot; samples not mapped onto
    it are invalid. Snapshots with mapped fixations but no mapped gaze give
    :class:`Fixations` (as ``what="fixations"`` does).
    """
    path = table.path
    sensor = table.codes("sensor")
    if sensor is not None:
        tracker = label_mask(sensor, lambda value: value.lower() == "eye tracker")
    else:
        tracker = np.ones(table.n_rows, dtype=bool)
    time_index, time_scale, time_meta = _seconds(table, tracker, path)
    seconds = table.numbers_at(time_index) * time_scale
    recording = table.codes("recording name")
    if recording is not None:
        records, record_labels = recording
    else:
        records, record_labels = np.zeros(table.n_rows, dtype=np.int8), [""]
    several = np.unique(records[tracker]).size > 1
    tracker_rows = np.flatnonzero(tracker)
    participant = table.codes("participant name")
    contents: dict[str, GazeRecording | Fixations] = {}
    for snapshot, columns in snapshots.items():
        gaze = [table.numbers_at(at) for at in columns["gaze"]] if "gaze" in columns else None
        fix = None
        if "fixation" in columns:
            fix = [table.numbers_at(at) for at in columns["fixation"]]
        movement = (table.codes_at(columns["movement"]) if "movement" in columns
                    else table.codes("eye movement type"))
        index = (table.numbers_at(columns["index"]) if "index" in columns
                 else table.numbers("eye movement type index"))
        placed = gaze if gaze is not None else fix
        mapped = tracker & np.isfinite(placed[0]) & np.isfinite(placed[1])
        found, first = np.unique(records[mapped], return_index=True)
        for code in found[np.argsort(first)].tolist():  # recordings in order of appearance
            name = record_labels[code]
            own = tracker & (records == code)
            hits = np.flatnonzero(mapped & own)
            rows = np.flatnonzero(own)
            rows = rows[(rows >= hits[0]) & (rows <= hits[-1])]
            key = f"{name}/{snapshot}" if several else snapshot
            check_time(seconds[rows], LinesOf(table, rows), path)
            onset = float(seconds[rows[0]])
            meta = {
                "source": "tobii-pro-lab",
                "glasses": True,
                "participant": first_value(participant, rows),
                "recording": name or None,
                "stimulus": snapshot,
                "stimulus_onset_s": onset,
                "sampling_rate_hz": sampling_rate(seconds[rows]),
                "image": {"name": snapshot},
                **time_meta,
            }
            meta = {field: value for field, value in meta.items() if value is not None}
            t = seconds[rows] - onset
            if what == "fixations" or gaze is None:
                needs_movement(table, movement)
                point = fix if fix is not None else gaze
                contents[key] = fixation_runs(
                    table, rows, t, meta, tracker_rows, movement, index, point, _on_snapshot,
                    reported="movement" not in columns,  # Gaze event duration is the unmapped one's
                )
                continue
            valid = mapped[rows]
            coords = np.column_stack([gaze[1][rows] - 0.5, gaze[0][rows] - 0.5])
            coords[~valid] = np.nan
            contents[key] = make_recording(path, key, t, coords, valid, None, meta)
    return contents


def _on_snapshot(u: np.ndarray, v: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.isfinite(u) & np.isfinite(v)
