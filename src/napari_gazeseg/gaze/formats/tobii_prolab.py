"""Tobii Pro Lab data export (TSV): gaze samples (or Pro Lab's fixations) per presented stimulus.

Both header generations are read: current ones carry units in brackets
(``Recording timestamp [ms]`` or ``[μs]``, ``Gaze point X [DACS px]``,
``Presented Media position X [DACS px]``, ``Presented Media width [px]``,
``Fixation point X [MCS norm]``, ...), older ones none or in parentheses
(``Recording timestamp`` in ms, ``Gaze point X``, ``Presented Media position X
(DACSpx)``, ``Fixation point X (MCSnorm)``). Decimals may be dots or commas; the
text UTF-8 (with or without BOM) or UTF-16.

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
divided by ``Recording resolution width/height`` (normalised display area).

``what="fixations"`` gives Pro Lab's own fixations: runs of rows with ``Eye
movement type == Fixation`` and one ``Eye movement type index``, placed at
``Fixation point X/Y`` (mapped as above) and lasting ``Gaze event duration``;
fixations off the media are left out and counted in
``meta["fixations_off_media"]``.
"""

from __future__ import annotations

import gc
import operator
import re
from pathlib import Path

import numpy as np

from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._table import parse_fast
from ._text import read_text

__all__ = ["read_tobii_pro_lab"]

_HEADER = re.compile(
    r"^(?P<name>.*?)\s*(?:\[(?P<bracketed>[^\]]*)\]|\((?P<parenthesised>[^)]*)\))?$"
)
_SECONDS = {"ms": 1e-3, "us": 1e-6, None: 1e-3}
_DACS = ("dacspx", None)
_PX = ("px", None)


def _unit(text: str | None) -> str | None:
    if text is None:
        return None
    unit = text.lower().replace(" ", "").replace("μ", "u").replace("µ", "u")
    return unit or None


#: Base names (lower case, unit removed) of the columns the reader uses; others are skipped.
_USED = {
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
}


class _Table:
    """The export's used columns by name and unit: one tuple of field strings per column."""

    def __init__(self, text: str, path):
        self.path = path
        lines = text.split("\n")
        self.header = [field.strip().strip('"') for field in lines[0].split("\t")]
        self.keys = {}
        for index, field in enumerate(self.header):
            match = _HEADER.match(field)
            unit = _unit(match.group("bracketed") or match.group("parenthesised"))
            self.keys.setdefault((match.group("name").strip().lower(), unit), index)
        used = sorted({index for (name, _), index in self.keys.items() if name in _USED})
        # a tuple even when one column is used (and an empty one when none is)
        pick = operator.itemgetter(*used, *used) if used else (lambda fields: ())
        width = len(self.header)
        collecting = gc.isenabled()
        gc.disable()  # millions of short strings: the cyclic collector would run over and over
        try:
            split = (line.split("\t") for line in lines[1:])
            picked = [pick(fields) if len(fields) == width else None for fields in split]
        finally:
            if collecting:
                gc.enable()
        for position in (i for i, row in enumerate(picked) if row is None):
            line = lines[position + 1]
            if line.strip():
                raise format_error(
                    path,
                    f"{line.count(chr(9)) + 1} fields where the header names {width}",
                    "export the data again or fix that line",
                    position + 2,
                )
        self.lines = [position + 2 for position, row in enumerate(picked) if row is not None]
        rows = [row for row in picked if row is not None]
        self.n_rows = len(rows)
        self.line_numbers = np.asarray(self.lines, dtype=np.int64)
        transposed = list(zip(*rows))[: len(used)] if rows else [()] * len(used)
        self.columns = dict(zip(used, transposed))
        self._numbers: dict[int, np.ndarray] = {}
        self._texts: dict[int, list[str]] = {}

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
        if found[0] not in self._texts:
            self._texts[found[0]] = [field.strip() for field in self.columns[found[0]]]
        return self._texts[found[0]]

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


def _validity(values: list[str] | None, table: _Table, column: str) -> np.ndarray | None:
    """True / False per row, NaN-like None entries as ``-1`` (unknown)."""
    if values is None:
        return None
    codes = np.full(len(values), -1, dtype=np.int8)
    for index, value in enumerate(values):
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
                    table.lines[index],
                ) from None
    return codes


def _eyes_ok(table: _Table) -> np.ndarray:
    codes = [
        _validity(table.text(name), table, name.capitalize())
        for name in ("validity left", "validity right")
    ]
    codes = [c for c in codes if c is not None]
    if not codes:
        return np.ones(table.n_rows, dtype=bool)
    known = np.any([c >= 0 for c in codes], axis=0)
    return np.any([c == 1 for c in codes], axis=0) | ~known


def _all_present(*groups) -> bool:
    """Whether no column in any of the lists of columns is missing (None)."""
    return all(column is not None for group in groups for column in group)


class _Media:
    """Per-row geometry of the presented media; maps Pro Lab coordinates to image pixels."""

    def __init__(self, table: _Table):
        self.position = [table.numbers(f"presented media position {axis}", _DACS) for axis in "xy"]
        self.presented = [
            table.numbers(f"presented media {side}", _PX) for side in ("width", "height")
        ]
        self.original = [
            table.numbers(f"original media {side}", _PX) for side in ("width", "height")
        ]

    def to_pixels(self, table: _Table, point: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(u, v)``: ``point`` ("gaze point" / "fixation point") from the media's corner, original px."""
        candidates = []
        dacs = [table.numbers(f"{point} {axis}", _DACS) for axis in "xy"]
        if _all_present(dacs, self.position, self.presented, self.original):
            with np.errstate(invalid="ignore", divide="ignore"):
                candidates.append(
                    tuple(
                        (dacs[axis] - self.position[axis])
                        * self.original[axis]
                        / self.presented[axis]
                        for axis in range(2)
                    )
                )
        norm = [table.numbers(f"{point} {axis}", ("mcsnorm",)) for axis in "xy"]
        if _all_present(norm, self.original):
            candidates.append((norm[0] * self.original[0], norm[1] * self.original[1]))
        media_px = [table.numbers(f"{point} {axis}", ("mcspx",)) for axis in "xy"]
        if _all_present(media_px):
            candidates.append(tuple(media_px))
        if not candidates:
            return None
        u, v = candidates[0]
        for other_u, other_v in candidates[1:]:
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


def _sample_rows(table: _Table, gaze_x: np.ndarray) -> np.ndarray:
    sensor = table.text("sensor")
    if sensor is not None:
        return np.array([value.lower() == "eye tracker" for value in sensor], dtype=bool)
    event = table.text("event")
    if event is None:
        return np.ones(table.n_rows, dtype=bool)
    has_validity = np.zeros(table.n_rows, dtype=bool)
    for name in ("validity left", "validity right"):
        values = table.text(name)
        if values is not None:
            has_validity |= np.array([bool(value) for value in values], dtype=bool)
    bare_event = (
        np.array([bool(value) for value in event], dtype=bool) & np.isnan(gaze_x) & ~has_validity
    )
    return ~bare_event


def _first(values, rows: np.ndarray):
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


def read_tobii_pro_lab(
    path: str | Path, what: str = "samples"
) -> dict[str, GazeRecording | Fixations]:
    """Read a Pro Lab data export: ``{stimulus: GazeRecording}`` (or ``Fixations``).

    See the module docstring for the columns, the mapping and the keys. Raises
    :class:`GazeFormatError` for a file it cannot read.
    """
    text = read_text(path)
    if not text.strip():
        raise format_error(path, "the file is empty", "export the data again from Tobii Pro Lab")
    table = _Table(text, path)
    timestamp = None
    for unit in ("ms", "us", None):
        found = table.find("recording timestamp", (unit,))
        if found is not None:
            timestamp = found
            break
    if timestamp is None:
        raise format_error(
            path,
            "there is no 'Recording timestamp' column",
            "include Recording timestamp in Pro Lab's Data Export",
            1,
        )
    media = _Media(table)
    gaze = media.to_pixels(table, "gaze point")
    if gaze is None:
        raise format_error(
            path,
            "the gaze cannot be placed on the image: Gaze point X/Y with the Presented Media "
            "position, Presented Media size and Original Media size columns are missing",
            "include those columns (or Gaze point X/Y [MCS norm]) in Pro Lab's Data Export",
            1,
        )
    seconds = table.numbers_at(timestamp[0]) * _SECONDS[timestamp[1]]
    gaze_dacs = [table.numbers(f"gaze point {axis}", _DACS) for axis in "xy"]
    probe = gaze_dacs[0] if gaze_dacs[0] is not None else gaze[0]
    samples = _sample_rows(table, probe)
    bad_time = samples & ~np.isfinite(seconds)
    if bad_time.any():
        raise format_error(
            path,
            "an eye-tracker sample has no Recording timestamp",
            "export the data again or delete that line",
            table.lines[int(np.argmax(bad_time))],
        )
    stimulus = table.text("presented stimulus name") or table.text("presented media name")
    recording = table.text("recording name")
    if stimulus is not None:
        samples &= np.array([bool(name) for name in stimulus], dtype=bool)
    keys = _keys(samples, stimulus, recording, path)
    u, v = gaze
    valid = media.inside(u, v, np.arange(table.n_rows)) & _eyes_ok(table)
    movement = table.text("eye movement type")
    if movement is not None:
        valid &= np.array([kind.lower() != "eyesnotfound" for kind in movement], dtype=bool)
    screen = _screen(table, gaze_dacs)
    shared_meta = {
        "source": "tobii-pro-lab",
        "participant": _first(table.text("participant name"), np.flatnonzero(samples)),
    }
    contents: dict[str, GazeRecording | Fixations] = {}
    for key, rows in keys.items():
        _check_time(seconds[rows], table.line_numbers[rows], path)
        onset = float(seconds[rows[0]])
        meta = dict(shared_meta)
        meta.update(_stimulus_meta(table, media, rows, stimulus, recording, onset, seconds))
        meta = {name: value for name, value in meta.items() if value is not None}
        t = seconds[rows] - onset
        if what == "fixations":
            contents[key] = _fixations(table, media, rows, t, meta)
            continue
        coords = np.column_stack([v[rows] - 0.5, u[rows] - 0.5])
        try:
            contents[key] = GazeRecording(
                t=t,
                coords=coords,
                valid=valid[rows],
                screen=None if screen is None else screen[rows],
                meta=meta,
            )
        except ValueError as err:
            raise format_error(
                path, f"stimulus {key!r}: {str(err).rstrip('.')}", "export the data again"
            ) from None
    return contents


def _keys(samples: np.ndarray, stimulus, recording, path) -> dict[str, np.ndarray]:
    rows = np.flatnonzero(samples)
    if stimulus is None:
        name = Path(path).name.split(".")[0]
        return {name: rows} if rows.size else {}
    names = [stimulus[i] for i in rows]
    recordings = [recording[i] for i in rows] if recording is not None else [""] * len(rows)
    several = len(set(recordings)) > 1
    keys: dict[str, list[int]] = {}
    for row, name, record in zip(rows.tolist(), names, recordings):
        keys.setdefault(f"{record}/{name}" if several else name, []).append(row)
    return {key: np.asarray(indices, dtype=np.int64) for key, indices in keys.items()}


def _check_time(seconds: np.ndarray, lines: np.ndarray, path) -> None:
    if seconds.size > 1:
        back = np.diff(seconds) < 0
        if back.any():
            raise format_error(
                path,
                "Recording timestamp goes backwards",
                "export the recording sorted by time",
                int(lines[int(np.argmax(back)) + 1]),
            )


def _screen(table: _Table, gaze_dacs) -> np.ndarray | None:
    resolution = [
        table.numbers(f"recording resolution {side}", _PX) for side in ("width", "height")
    ]
    if not _all_present(resolution, gaze_dacs):
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        screen = np.column_stack([gaze_dacs[0] / resolution[0], gaze_dacs[1] / resolution[1]])
    screen[~np.isfinite(screen)] = np.nan
    return screen


def _stimulus_meta(table, media, rows, stimulus, recording, onset, seconds) -> dict:
    width, height = (_first(side, rows) for side in media.original)
    media_name = _first(table.text("presented media name"), rows)
    stimulus_name = None if stimulus is None else _first(stimulus, rows)
    image = {"name": media_name or stimulus_name or ""}
    if width is not None and height is not None:
        image["shape"] = [int(round(height)), int(round(width))]
    resolution = [
        _first(table.numbers(f"recording resolution {side}", _PX), rows)
        for side in ("width", "height")
    ]
    return {
        "recording": None if recording is None else _first(recording, rows),
        "stimulus": stimulus_name,
        "stimulus_onset_s": onset,
        "sampling_rate_hz": _sampling_rate(seconds[rows]),
        "image": image,
        "recording_resolution_px": None
        if not _all_present(resolution)
        else [int(resolution[0]), int(resolution[1])],
    }


def _sampling_rate(seconds: np.ndarray) -> float | None:
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


def _fixations(
    table: _Table, media: _Media, rows: np.ndarray, t: np.ndarray, meta: dict
) -> Fixations:
    movement = table.text("eye movement type")
    if movement is None:
        raise format_error(
            table.path,
            "there is no 'Eye movement type' column, so the export holds no fixations",
            "include Eye movement type (and Fixation point X/Y) in Pro Lab's Data Export, or read "
            "the samples and detect fixations with detect_fixations_ivt",
            1,
        )
    is_fixation = np.array([movement[i].lower() == "fixation" for i in rows], dtype=bool)
    index = table.numbers("eye movement type index")
    labels = index[rows] if index is not None else np.zeros(len(rows))
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
    point = media.to_pixels(table, "fixation point") or media.to_pixels(table, "gaze point")
    u, v = point[0][rows[members]], point[1][rows[members]]
    on_media = media.inside(u, v, rows[members])
    count = np.bincount(run, weights=on_media, minlength=n_runs)
    kept = count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_u = np.bincount(run, weights=np.where(on_media, u, 0.0), minlength=n_runs) / count
        mean_v = np.bincount(run, weights=np.where(on_media, v, 0.0), minlength=n_runs) / count
    duration_ms = table.numbers("gaze event duration", ("ms", None))
    if duration_ms is None:
        duration_ms = table.numbers("eye movement event duration", ("ms", None))
    steps = np.diff(t)
    period = float(np.median(steps[steps > 0])) if (steps > 0).any() else 0.0
    duration = t[last] - t[first] + period
    if duration_ms is not None:
        reported = duration_ms[rows[first]] / 1000.0
        duration = np.where(np.isfinite(reported), reported, duration)
    start, duration = t[first][kept], duration[kept]
    coords = np.column_stack([mean_v[kept] - 0.5, mean_u[kept] - 0.5])
    off_media = int(n_runs - kept.sum())
    meta = dict(meta)
    meta["fixations_off_media"] = off_media
    filter_name = _first(table.text("recording fixation filter name"), rows)
    meta["detector"] = {"name": "Tobii Pro Lab", **({"filter": filter_name} if filter_name else {})}
    try:
        return Fixations(start=start, duration=duration, coords=coords, meta=meta)
    except ValueError as err:
        raise format_error(
            table.path,
            f"the fixations of stimulus {meta.get('stimulus')!r} cannot be read ({str(err).rstrip('.')})",
            "export the data again",
        ) from None
