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
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..recording import Fixations
from ._errors import format_error
from ._text import read_text

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
    "IMAGE",
    "CURRENT_FIX_X",
    "CURRENT_FIX_Y",
    "CURRENT_FIX_DURATION",
    "CURRENT_FIX_START",
    "IMAGE_HEIGHT",
    "IMAGE_WIDTH",
)
_NUMERIC = _REQUIRED[1:]


def _number(text: str, column: str, path, line: int) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise format_error(
            path,
            f"{shown!r} in column {column} is not a finite number",
            "fix or delete that line",
            line,
        )
    return value


def read_gazemedseg_csv(path: str | Path) -> dict[str, Fixations]:
    """Read a GazeMedSeg fixation CSV: ``{IMAGE: Fixations}`` in order of first appearance.

    Each :class:`Fixations` holds ``(row, col)`` centroids (see the module
    docstring), start and duration in seconds, object id 1, and ``meta`` with
    ``source="gazemedseg"`` and ``image={"name": IMAGE, "shape": [H, W]}``.
    Raises :class:`GazeFormatError`.
    """
    text = read_text(path)
    if not text.strip():
        raise format_error(
            path, "the file is empty", "pass a GazeMedSeg fixation CSV with its header line"
        )
    rows = csv.reader(io.StringIO(text))
    try:
        header = [name.strip() for name in next(rows)]
        return _read_rows(rows, header, path)
    except csv.Error as err:
        raise format_error(
            path, f"the CSV is malformed ({err})", "fix that line", rows.line_num
        ) from None


def _read_rows(rows, header: list[str], path) -> dict[str, Fixations]:
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise format_error(
            path,
            f"the header lacks {', '.join(missing)}",
            "export the fixation report with those columns",
            1,
        )
    index = {name: header.index(name) for name in _REQUIRED}
    per_image: dict[str, dict[str, list]] = {}
    for fields in rows:
        line = rows.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if len(fields) != len(header):
            raise format_error(
                path,
                f"{len(fields)} fields where the header names {len(header)}",
                "fix or delete that line",
                line,
            )
        name = fields[index["IMAGE"]].strip()
        if not name:
            raise format_error(path, "IMAGE is empty", "name the image of every fixation", line)
        x, y, duration, start, height, width = (
            _number(fields[index[column]], column, path, line) for column in _NUMERIC
        )
        if height < 1 or width < 1 or height != round(height) or width != round(width):
            raise format_error(
                path,
                "IMAGE_HEIGHT and IMAGE_WIDTH must be positive whole numbers",
                "fix that line",
                line,
            )
        if duration < 0:
            raise format_error(path, "CURRENT_FIX_DURATION is negative", "fix that line", line)
        image = per_image.setdefault(name, {"shape": (height, width), "line": line, "values": []})
        if image["shape"] != (height, width):
            raise format_error(
                path,
                f"image {name!r} has size {int(height)} x {int(width)} here but "
                f"{int(image['shape'][0])} x {int(image['shape'][1])} on line {image['line']}",
                "give every row of an image the same IMAGE_HEIGHT and IMAGE_WIDTH",
                line,
            )
        image["values"].append((start, duration, y, x))
    return {name: _fixations(name, image) for name, image in per_image.items()}


def _fixations(name: str, image: dict) -> Fixations:
    height, width = image["shape"]
    start_ms, duration_ms, y, x = np.array(image["values"], dtype=np.float64).T
    coords = np.column_stack([y * height - 0.5, x * width - 0.5])
    meta = {"source": "gazemedseg", "image": {"name": name, "shape": [int(height), int(width)]}}
    return Fixations(
        start=start_ms / 1000.0, duration=duration_ms / 1000.0, coords=coords, meta=meta
    )


def write_gazemedseg_csv(fixations_by_image: dict[str, Fixations], path: str | Path) -> None:
    """Write fixations of several images as one GazeMedSeg fixation CSV.

    ``fixations_by_image`` maps IMAGE names to 2D :class:`Fixations` whose
    ``meta["image"]["shape"]`` gives the image ``(height, width)`` (as readers and
    detectors store it). Positions are normalised as the module docstring says;
    start and duration are written in milliseconds; ``CURRENT_FIX_PUPIL`` is
    left empty. Raises ``ValueError`` for fixations without an image shape or
    with more than two coordinates.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for name, fixations in fixations_by_image.items():
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
