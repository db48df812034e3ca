"""Raw Tobii SDK samples saved as text (Titta, I2MC, tobii-research scripts).

Two column families are read, tab-, comma- or semicolon-separated:

* **Tobii SDK 3 / I2MC** (e.g. I2MC's TX300 example data): ``Time`` (tracker
  clock, µs), ``RelTimestamp`` (ms from the start, optional), ``LGazePos2dx``,
  ``LGazePos2dy``, ``LValidity``, ``RGazePos2dx``, ``RGazePos2dy``,
  ``RValidity`` (codes 0 = certain ... 4 = eye not found; ``-1`` positions when
  lost) and the 3D columns ``L/RGazePos3dx/y/z`` and ``L/REyePos3dz`` (mm);
* **tobii-research / Titta** field names: ``system_time_stamp`` or
  ``device_time_stamp`` (µs), ``left_gaze_point_on_display_area_x``/``_y``,
  ``left_gaze_point_validity`` (tobii-research: 1 / 0) or ``left_gaze_point_valid``
  (TittaPy: True / False), ``right_...``, and
  ``left_gaze_point_in_user_coordinates_x/y/z``,
  ``left_gaze_origin_in_user_coordinates_x/y/z`` (mm).

Positions are normalised to the display area ((0, 0) top-left, (1, 1)
bottom-right): they are kept exactly as ``screen``, the average of the eyes
whose validity is good (code 0 or 1; validity 1 / True). The files hold no
image, so the image is the screen: ``image_shape=(height, width)``, the screen
resolution in pixels (default 1080 x 1920, announced with a warning), maps
``(x, y)`` to ``(row, col) = (y * height - 0.5, x * width - 0.5)``;
``meta["image"]`` is the screen, named after the file.
Time is seconds from the first sample. ``meta["screen"]`` (for I-VT in degrees)
is fitted from the 3D gaze points (the display plane's size in mm) and the eye
positions (their distance from that plane) when those columns are present.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..geometry import ScreenGeometry
from ..recording import GazeRecording
from ._errors import format_error
from ._infer import GazeFormatWarning
from ._text import read_text
from ._tobii import TobiiTable, check_time, sampling_rate

__all__ = ["DEFAULT_RESOLUTION", "is_titta_header", "read_titta"]

#: Screen resolution (width, height) assumed when none is given.
DEFAULT_RESOLUTION = (1920, 1080)

#: Column names per family: time (name, seconds per unit), eyes' x, y, validity, 3D point, eye.
_SDK3 = {
    "time": (("reltimestamp", 1e-3), ("time", 1e-6)),
    "eyes": [
        ("lgazepos2dx", "lgazepos2dy", "lvalidity"),
        ("rgazepos2dx", "rgazepos2dy", "rvalidity"),
    ],
    "point3d": [("lgazepos3dx", "lgazepos3dy", "lgazepos3dz"),
                ("rgazepos3dx", "rgazepos3dy", "rgazepos3dz")],
    "origin3d": [("leyepos3dx", "leyepos3dy", "leyepos3dz"),
                 ("reyepos3dx", "reyepos3dy", "reyepos3dz")],
    "codes": True,
}
_RESEARCH = {
    "time": (("system_time_stamp", 1e-6), ("device_time_stamp", 1e-6)),
    "eyes": [
        (f"{eye}_gaze_point_on_display_area_x", f"{eye}_gaze_point_on_display_area_y",
         (f"{eye}_gaze_point_validity", f"{eye}_gaze_point_valid"))
        for eye in ("left", "right")
    ],
    "point3d": [tuple(f"{eye}_gaze_point_in_user_coordinates_{axis}" for axis in "xyz")
                for eye in ("left", "right")],
    "origin3d": [tuple(f"{eye}_gaze_origin_in_user_coordinates_{axis}" for axis in "xyz")
                 for eye in ("left", "right")],
    "codes": False,
}


def _family(names: set[str]) -> dict | None:
    for family in (_SDK3, _RESEARCH):
        has_time = any(name in names for name, _ in family["time"])
        has_eye = any({x, y} <= names for x, y, _ in family["eyes"])
        if has_time and has_eye:
            return family
    return None


def is_titta_header(names: set[str]) -> bool:
    """Whether lower-case header names are raw Tobii SDK samples this module reads."""
    return _family(names) is not None


def _used(family: dict) -> set[str]:
    names = {name for name, _ in family["time"]}
    for group in ("eyes", "point3d", "origin3d"):
        for columns in family[group]:
            for column in columns:
                names.update((column,) if isinstance(column, str) else column)
    return names


def _validity(table: TobiiTable, names, codes: bool) -> np.ndarray | None:
    """Good (True) / not (False) per row; None when the column is missing."""
    names = (names,) if isinstance(names, str) else names
    name = next((name for name in names if table.find(name) is not None), None)
    if name is None:
        return None
    values = table.text(name)
    words = {"true": 1.0, "false": 0.0}
    numbers = np.array([words.get(value.lower(), np.nan) for value in values])
    numeric = ~np.isin([value.lower() for value in values], list(words))
    if numeric.any():
        parsed = table.numbers(name)
        numbers[numeric] = parsed[numeric]
    known = np.isfinite(numbers)
    if codes:
        return known & (numbers <= 1)
    return known & (numbers == 1)


def read_titta(
    path: str | Path, image_shape: tuple[int, int] | None = None
) -> GazeRecording:
    """Read raw Tobii SDK samples (see the module docstring) as one :class:`GazeRecording`.

    ``image_shape`` is the screen's ``(height, width)`` in pixels (the image the
    gaze is placed on); without it 1080 x 1920 is assumed, with a warning.
    Raises :class:`GazeFormatError`.
    """
    text = read_text(path)
    if not text.strip():
        raise format_error(path, "the file is empty", "save the samples again")
    head = TobiiTable(text.split("\n", 1)[0], path, used=set())
    family = _family({name for name, _ in head.keys})
    if family is None:
        raise format_error(
            path,
            "the header has no Tobii SDK time and gaze columns (LGazePos2dx, RelTimestamp / "
            "left_gaze_point_on_display_area_x, system_time_stamp)",
            "save the samples with their header line",
            1,
        )
    table = TobiiTable(text, path, used=_used(family))
    for name, scale in family["time"]:
        raw = table.numbers(name)
        if raw is not None:
            time_name, seconds = name, raw * scale
            break
    rows = np.arange(table.n_rows)
    missing = ~np.isfinite(seconds)
    if missing.any():
        raise format_error(
            path,
            f"a sample has no {table.header[table.find(time_name)[0]]!r}",
            "save the samples again or delete that line",
            table.lines[int(np.argmax(missing))],
        )
    check_time(seconds, table.line_numbers, path)
    points, goods = [], []
    for x_name, y_name, validity_name in family["eyes"]:
        x, y = table.numbers(x_name), table.numbers(y_name)
        if x is None or y is None:
            continue
        good = np.isfinite(x) & np.isfinite(y)
        if family["codes"]:
            good &= ~((x == -1) & (y == -1))  # the SDK's "no position"
        validity = _validity(table, validity_name, family["codes"])
        if validity is not None:
            good &= validity
        points.append(np.column_stack([x, y]))
        goods.append(good)
    weight = np.array(goods, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        screen = sum(np.where(g[:, None], p, 0.0) for g, p in zip(goods, points))
        screen = screen / weight.sum(axis=0)[:, None]
    valid = np.any(goods, axis=0)
    screen[~valid] = np.nan
    if image_shape is None:
        height, width = DEFAULT_RESOLUTION[1], DEFAULT_RESOLUTION[0]
        warnings.warn(
            f"{path}: raw Tobii samples hold no screen resolution; the gaze is placed on a "
            f"{width} x {height} px screen image (screen positions are kept exact; pass "
            "image_shape=(height, width) of your screen for another).",
            GazeFormatWarning,
            stacklevel=2,
        )
    else:
        height, width = (int(value) for value in image_shape)
        if height <= 0 or width <= 0:
            raise ValueError(f"image_shape must be two positive sizes, got {image_shape!r}.")
    coords = np.column_stack([screen[:, 1] * height - 0.5, screen[:, 0] * width - 0.5])
    t = seconds - seconds[0] if seconds.size else seconds
    meta = {
        "source": "tobii-sdk-samples",
        "time_column": table.header[table.find(time_name)[0]],
        "sampling_rate_hz": sampling_rate(seconds),
        "image": {"name": Path(path).name.split(".")[0], "shape": [height, width]},
        "recording_resolution_px": [width, height],
    }
    geometry = _geometry(table, family, screen, valid, width, height)
    if geometry is not None:
        meta["screen"] = geometry
    if rows.size:
        meta["start_time"] = float(seconds[0])
    try:
        return GazeRecording(t=t, coords=coords, valid=valid, screen=screen, meta=meta)
    except ValueError as err:
        raise format_error(path, str(err).rstrip("."), "save the samples again") from None


def _geometry(table, family, screen, valid, width, height) -> dict | None:
    """The display plane from 3D gaze points; the eyes' distance from it (mm).

    A least-squares affine fit ``P = P0 + x * ex + y * ey`` of the 3D gaze points
    ``P`` on the normalised ``(x, y)`` gives the screen's edges ``ex`` (width)
    and ``ey`` (height); the viewing distance is the median distance of the eye
    positions from that plane. None without the columns or with too few samples.
    """
    point = _eye_mean(table, family["point3d"])
    origin = _eye_mean(table, family["origin3d"])
    if point is None or origin is None:
        return None
    usable = valid & np.isfinite(point).all(axis=1) & np.isfinite(origin).all(axis=1)
    if usable.sum() < 10:
        return None
    design = np.column_stack([np.ones(usable.sum()), screen[usable]])
    if np.linalg.matrix_rank(design) < 3 or np.ptp(screen[usable], axis=0).min() < 0.05:
        return None
    solution, *_ = np.linalg.lstsq(design, point[usable], rcond=None)
    corner, edge_x, edge_y = solution
    normal = np.cross(edge_x, edge_y)
    if not np.linalg.norm(normal) > 0:
        return None
    normal = normal / np.linalg.norm(normal)
    distance = float(np.median(np.abs((origin[usable] - corner) @ normal)))
    try:
        return ScreenGeometry(
            width, height, float(np.linalg.norm(edge_x)), float(np.linalg.norm(edge_y)), distance
        ).to_meta()
    except ValueError:
        return None


def _eye_mean(table: TobiiTable, eyes) -> np.ndarray | None:
    columns = []
    for names in eyes:
        values = [table.numbers(name) for name in names]
        if all(value is not None for value in values):
            columns.append(np.column_stack(values))
    if not columns:
        return None
    stacked = np.stack(columns)
    stacked[(stacked == 0).all(axis=2)] = np.nan  # the SDK's "no position": all zeros
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(stacked, axis=0)
