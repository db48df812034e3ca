"""GazeMedSeg / EyeLink Data Viewer fixation reports (CSV), one :class:`Fixations` per image.

Columns (GazeMedSeg's ``kvasir_fixation.csv`` and ``nci-isbi_fixation.csv``):

``IMAGE``                 image file name; rows of one image form its fixation sequence
``CURRENT_FIX_INDEX``     order of the fixation within the image, from 1
``CURRENT_FIX_X``/``_Y``  fixation position normalised to the image: 0 is the left /
                          top edge, 1 the right / bottom edge
``CURRENT_FIX_DURATION``  milliseconds
``CURRENT_FIX_PUPIL``     pupil size (not used; written empty)
``CURRENT_FIX_START``     milliseconds from the start of the image's trial
``IMAGE_HEIGHT``/``_WIDTH``  image size in pixels

Coordinates: the normalised position covers the image edge to edge, so with
pixel centres at integers ``col = x * IMAGE_WIDTH - 0.5`` and
``row = y * IMAGE_HEIGHT - 0.5`` (``x = 0`` is the left edge of pixel 0 at
``col = -0.5``). GazeMedSeg's own heatmap code draws each fixation at pixel
``round(x * 768) - 1`` of a 768 x 768 grid and resizes that to the image, which
agrees with this to within one grid pixel (under 0.13 % of the image). Written
back, ``x = (col + 0.5) / IMAGE_WIDTH``; a round trip returns every value to
within float64 rounding (about 1e-12 pixels and 1e-16 s).

Also read (tab- or comma-separated, ``.`` for a missing value as Data Viewer
writes it, column names in any case):

* the **older GazeMedSeg CSV** (``images``, ``RECORDING_SESSION_LABEL``, no
  image size): normalised positions are placed on the image of
  ``image_shape=(height, width)`` when given, else on GazeMedSeg's own
  768 x 768 grid, with a :class:`GazeFormatWarning` that says so;
* **EyeLink Data Viewer fixation reports** (``RECORDING_SESSION_LABEL``,
  ``TRIAL_INDEX``, ``CURRENT_FIX_X``, ... and no ``IMAGE``): one entry per
  trial (``"trial 3"``), the screen as the image; positions in screen pixels
  are kept as they are (EyeLink's pixel centres are integers), the image size
  is ``image_shape`` when given, else unknown.

Normalised or pixel positions are told apart from the values, for the whole
file (:func:`._infer.looks_normalised`): pixels with ``IMAGE_HEIGHT`` /
``IMAGE_WIDTH`` columns are image pixels, not fractions 300 000 px away. Several
sessions in one file give keys ``"SESSION/IMAGE"`` (or ``"SESSION/trial N"``).
When more than 20 % of the fixations lie off their images, a warning says so.
Fixations without a position (``.``) are left out and counted in
``meta["fixations_without_position_in_file"]``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..recording import Fixations
from ._errors import format_error, quoted
from ._infer import OFF_IMAGE_WARN_SHARE, looks_normalised, off_image_share, warn
from ._text import csv_rows, read_text

__all__ = ["COLUMNS", "read_gazemedseg_csv", "write_gazemedseg_csv"]

COLUMNS = (
    "IMAGE",
    "CURRENT_FIX_INDEX",
    "CURRENT_FIX_X",
    "CURRENT_FIX_Y",
    "CURRENT_FIX_DURATION",
    "CURRENT_FIX_PUPIL",
    "CURRENT_FIX_START",
    "IMAGE_HEIGHT",
    "IMAGE_WIDTH",
)
_REQUIRED = (
    "CURRENT_FIX_X",
    "CURRENT_FIX_Y",
    "CURRENT_FIX_DURATION",
    "CURRENT_FIX_START",
)
_MISSING = {".", "", "nan", "NaN", "NA", "n/a"}
#: Side of the grid GazeMedSeg's own code draws normalised fixations on (its heatmap notebook).
NOMINAL_GRID = 768


def _number(text: str, column: str, path, line: int, missing_ok: bool = False) -> float:
    stripped = text.strip()
    if missing_ok and stripped in _MISSING:
        return math.nan
    try:
        value = float(stripped)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problem = f"{quoted(text)} in column {column} is not a finite number"
        raise format_error(path, problem, "fix or delete that line", line)
    return value


def read_gazemedseg_csv(
    path: str | Path, image_shape: tuple[int, int] | None = None
) -> dict[str, Fixations]:
    """Read a fixation report: ``{name: Fixations}`` in order of first appearance.

    Each :class:`Fixations` holds ``(row, col)`` centroids (see the module
    docstring), start and duration in seconds, object id 1, and ``meta`` with
    ``source="gazemedseg"``, ``image={"name": ..., "shape": [H, W]}`` (no shape
    for screen-pixel reports of unknown screen size) and ``coordinates``
    (``"normalised"`` or ``"pixels"``). ``image_shape`` gives the ``(height,
    width)`` of images (or of the screen) the file does not size. Raises
    :class:`GazeFormatError`.
    """
    text = read_text(path)
    if not text.strip():
        raise format_error(
            path, "the file is empty", "pass a GazeMedSeg fixation CSV with its header line"
        )
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [name.strip().strip('"') for name in next(rows)]
        return _read_rows(rows, header, path, image_shape)
    except csv.Error as err:
        raise format_error(
            path, f"the CSV is malformed ({err})", "fix that line", rows.line_num
        ) from None


def _layout(header: list[str], path) -> dict:
    """Which columns name the recording and size its image; refuses headers that lack them."""
    upper = [name.upper() for name in header]
    missing = [name for name in _REQUIRED if name not in upper]
    image = next((name for name in ("IMAGE", "IMAGES") if name in upper), None)
    trial = "TRIAL_INDEX" if "TRIAL_INDEX" in upper else None
    if image is None and trial is None:
        missing.insert(0, "IMAGE (or TRIAL_INDEX)")
    if missing:
        raise format_error(
            path,
            f"the header lacks {', '.join(missing)}",
            "export the fixation report with those columns",
            1,
        )
    sized = "IMAGE_HEIGHT" in upper and "IMAGE_WIDTH" in upper
    names = [*_REQUIRED, *(["IMAGE_HEIGHT", "IMAGE_WIDTH"] if sized else [])]
    index = {name: upper.index(name) for name in names}
    for name in (image, trial, "RECORDING_SESSION_LABEL"):
        if name is not None and name in upper:
            index[name] = upper.index(name)
    return {"index": index, "image": image, "trial": trial, "sized": sized}


def _read_rows(rows, header: list[str], path, image_shape) -> dict[str, Fixations]:
    layout = _layout(header, path)
    index, image_column, trial_column = layout["index"], layout["image"], layout["trial"]
    records = []  # (session, name, line, start, duration, x, y, height, width)
    sizes: dict[tuple[str, str], tuple[float, float, int]] = {}
    unplaced = 0
    for line, fields in csv_rows(rows, len(header), path):
        name = fields[index[image_column or trial_column]].strip()
        if not name or name in _MISSING:
            raise format_error(
                path,
                f"{image_column or trial_column} is empty",
                "name the image or trial of every fixation",
                line,
            )
        session = fields[index["RECORDING_SESSION_LABEL"]].strip() if "RECORDING_SESSION_LABEL" in index else ""
        x, y = (_number(fields[index[c]], c, path, line, True) for c in ("CURRENT_FIX_X", "CURRENT_FIX_Y"))
        duration, start = (
            _number(fields[index[c]], c, path, line) for c in ("CURRENT_FIX_DURATION", "CURRENT_FIX_START")
        )
        if duration < 0:
            raise format_error(path, "CURRENT_FIX_DURATION is negative", "fix that line", line)
        height = width = math.nan
        if layout["sized"]:
            height, width = (_number(fields[index[c]], c, path, line) for c in ("IMAGE_HEIGHT", "IMAGE_WIDTH"))
            if height < 1 or width < 1 or height != round(height) or width != round(width):
                raise format_error(
                    path,
                    "IMAGE_HEIGHT and IMAGE_WIDTH must be positive whole numbers",
                    "fix that line",
                    line,
                )
            first = sizes.setdefault((session, name), (height, width, line))
            if first[:2] != (height, width):
                raise format_error(
                    path,
                    f"image {name!r} has size {int(height)} x {int(width)} here but "
                    f"{int(first[0])} x {int(first[1])} on line {first[2]}",
                    "give every row of an image the same IMAGE_HEIGHT and IMAGE_WIDTH",
                    line,
                )
        if math.isnan(x) or math.isnan(y):
            unplaced += 1  # Data Viewer writes "." where it has no position
            continue
        records.append((session, name, line, start, duration, x, y, height, width))
    values = np.array([record[3:] for record in records], dtype=np.float64).reshape(-1, 6)
    normalised = bool(looks_normalised(values[:, 2], values[:, 3]))
    sessions = {record[0] for record in records}
    groups: dict[str, dict] = {}
    for row, (session, name, line, *_rest) in enumerate(records):
        if trial_column is not None and image_column is None:
            name = f"trial {name}"
        key = f"{session}/{name}" if len(sessions) > 1 else name
        group = groups.setdefault(key, {"name": name, "line": line, "rows": []})
        group["rows"].append(row)
    result = {}
    placed, shapes = [], []
    assumed = False
    for key, group in groups.items():
        rows_of = values[group["rows"]]
        shape = _shape(rows_of, group, path, layout["sized"], image_shape)
        if shape is None and normalised:
            shape, assumed = (NOMINAL_GRID, NOMINAL_GRID), True
        fixations = _fixations(key, group["name"], rows_of, shape, normalised, unplaced)
        result[key] = fixations
        if shape is not None:
            placed.append(fixations.coords)
            shapes.append(shape)
    if assumed:
        warn(
            path,
            "the file names no image size, so its normalised positions are placed on "
            f"GazeMedSeg's {NOMINAL_GRID} x {NOMINAL_GRID} grid; add IMAGE_HEIGHT and IMAGE_WIDTH "
            "columns, or pass image_shape=(height, width), to place them on the image",
        )
    if not normalised and len(placed) < len(result):
        warn(
            path,
            "a Data Viewer report names no screen size; positions are kept in screen pixels; "
            "pass image_shape=(height, width) to give it",
        )
    _warn_off_images(path, placed, shapes)
    return result


def _shape(rows_of, group, path, sized: bool, image_shape):
    if not sized:
        return None if image_shape is None else (int(image_shape[-2]), int(image_shape[-1]))
    height, width = rows_of[0, 4:6]  # one size per image, checked line by line
    return int(height), int(width)


def _fixations(key, name, rows_of, shape, normalised: bool, unplaced: int) -> Fixations:
    start_ms, duration_ms, x, y = rows_of[:, :4].T
    if normalised:
        height, width = shape
        coords = np.column_stack([y * height - 0.5, x * width - 0.5])
    else:
        coords = np.column_stack([y, x])  # pixel centres at integers, as EyeLink reports them
    image = {"name": name} if shape is None else {"name": name, "shape": [int(shape[0]), int(shape[1])]}
    meta = {
        "source": "gazemedseg",
        "image": image,
        "coordinates": "normalised" if normalised else "pixels",
    }
    if key != name:
        meta["recording"] = key
    if unplaced:
        meta["fixations_without_position_in_file"] = unplaced
    return Fixations(
        start=start_ms / 1000.0, duration=duration_ms / 1000.0, coords=coords, meta=meta
    )


def _warn_off_images(path, placed, shapes) -> None:
    if not placed:
        return
    off = [off_image_share(coords, shape) for coords, shape in zip(placed, shapes)]
    counts = [len(coords) for coords in placed]
    total = sum(counts)
    if total == 0:
        return
    share = sum((s or 0.0) * n for s, n in zip(off, counts)) / total
    if share > OFF_IMAGE_WARN_SHARE:
        warn(
            path,
            f"{share:.0%} of the fixations lie off their images; check the image sizes and "
            "whether the positions are pixels or normalised",
        )


def write_gazemedseg_csv(fixations_by_image: dict[str, Fixations], path: str | Path) -> None:
    """Write fixations of several images as one GazeMedSeg fixation CSV.

    ``fixations_by_image`` maps IMAGE names to 2D :class:`Fixations` whose
    ``meta["image"]["shape"]`` gives the image ``(height, width)`` (as readers and
    detectors store it). Positions are normalised as the module docstring says;
    start and duration are written in milliseconds; ``CURRENT_FIX_PUPIL`` is
    left empty. Raises ``ValueError`` for fixations without an image shape or
    with more than two coordinates, and for image names readers take as missing
    (``"."``, ``"NA"``, ...).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name, fixations in fixations_by_image.items():
        if str(name).strip() in _MISSING:
            raise ValueError(
                f"an image named {name!r} cannot be written: GazeMedSeg and EyeLink readers take "
                f"{name!r} for a missing value; give the image a real name."
            )
        shape = fixations.image_shape
        if shape is None:
            raise ValueError(
                f"fixations of {name!r} lack meta['image']['shape']; set it to the image (height, width)."
            )
        if fixations.ndim != 2:
            raise ValueError(
                f"fixations of {name!r} are {fixations.ndim}D; GazeMedSeg CSVs hold 2D images, "
                "so write one slice at a time (Fixations.on_slice)."
            )
        height, width = shape[-2:]
        x = (fixations.coords[:, 1] + 0.5) / width
        y = (fixations.coords[:, 0] + 0.5) / height
        for number, values in enumerate(
            zip(
                x.tolist(),
                y.tolist(),
                (fixations.duration * 1000.0).tolist(),
                (fixations.start * 1000.0).tolist(),
            ),
            start=1,
        ):
            fix_x, fix_y, duration_ms, start_ms = values
            writer.writerow(
                [
                    name,
                    number,
                    repr(fix_x),
                    repr(fix_y),
                    repr(duration_ms),
                    "",
                    repr(start_ms),
                    height,
                    width,
                ]
            )
    Path(path).write_text(buffer.getvalue(), encoding="utf-8")
