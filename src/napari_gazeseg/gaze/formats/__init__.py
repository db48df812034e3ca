"""Gaze files: read every supported format, write the native one.

Formats (``docs/formats.md`` describes each column and convention):

* ``"native"``: ``NAME.gaze.tsv`` + ``NAME.gaze.json`` (:mod:`.native`), written by
  :func:`write_gaze` and, while recording, by :class:`NativeGazeWriter`;
* ``"tobii-pro-lab"``: Tobii Pro Lab data export TSV, one recording per
  presented stimulus (:mod:`.tobii_prolab`);
* ``"tobii-studio"``: Tobii Studio data export TSV, one recording per media
  (:mod:`.tobii_studio`);
* ``"tobii-sdk"``: raw Tobii SDK samples saved as text by Titta, I2MC or
  tobii-research scripts, the screen as the image (:mod:`.titta`);
* ``"gazemedseg"``: GazeMedSeg / EyeLink Data Viewer fixation report CSV, one
  :class:`Fixations` per image (:mod:`.gazemedseg`), written by
  :func:`write_gazemedseg_csv`;
* ``"csv"``: plain tables with a time column and ``x, y`` or ``row, col``
  (:mod:`.plain_csv`);
* ``"eyelink-asc"``: EyeLink ASC, one recording per block (:mod:`.eyelink_asc`);
* ``"eyelink-samples"``: EyeLink Data Viewer sample reports, one recording per
  trial (:mod:`.eyelink`);
* ``"pupil-labs"``: Pupil Player gaze exports, world or surface, and Pupil Cloud's
  Reference Image Mapper and Marker Mapper ``gaze.csv`` (:mod:`.pupil`);
* ``"gazepoint"``: Gazepoint Analysis all_gaze / fixations CSV (:mod:`.gazepoint`);
* ``"bids"``: BIDS eye-tracking physio, read and written by
  :func:`write_bids_physio` (:mod:`.bids`).

Every reader gives image data coordinates in napari axis order with pixel
centres at integers and time in seconds, and raises :class:`GazeFormatError`
(a ``ValueError``) with one sentence naming the file, the line and what to do.
"""

from __future__ import annotations

from pathlib import Path

from ..recording import Fixations, GazeRecording
from ._detect import FORMATS, detect_format
from ._errors import GazeFormatError, format_error
from ._infer import GazeFormatWarning
from .bids import read_bids_physio, write_bids_physio
from .eyelink import read_sample_report
from .eyelink_asc import read_eyelink_asc
from .gazepoint import read_gazepoint
from .pupil import read_pupil
from .gazemedseg import read_gazemedseg_csv, write_gazemedseg_csv
from .native import NativeGazeWriter, read_native, sidecar_path, write_native
from .plain_csv import read_plain_csv
from .titta import read_titta
from .tobii_prolab import read_tobii_pro_lab
from .tobii_studio import read_tobii_studio

__all__ = [
    "FORMATS",
    "GazeFormatError",
    "GazeFormatWarning",
    "NativeGazeWriter",
    "detect_format",
    "read_gaze",
    "read_gaze_all",
    "write_bids_physio",
    "write_gaze",
    "write_gazemedseg_csv",
]

_WHAT = ("samples", "fixations")


def _single_name(recording: GazeRecording, path: Path) -> str:
    name = (
        recording.meta.get("image", {}).get("name")
        if isinstance(recording.meta.get("image"), dict)
        else None
    )
    if isinstance(name, str) and name:
        return name
    stem = path.name
    for suffix in (".tsv", ".csv", ".txt", ".gaze"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem


def _data_file(path: Path) -> Path:
    """The TSV of a native sidecar (``NAME.gaze.json`` -> ``NAME.gaze.tsv``); other paths as given."""
    if path.suffix.lower() == ".json":
        samples = path.with_suffix(".tsv")
        if samples.is_file() and sidecar_path(samples) == path:
            return samples
    return path


def read_gaze_all(
    path: str | Path,
    format: str | None = None,
    what: str = "samples",
    image_shape: tuple[int, int] | None = None,
) -> dict[str, GazeRecording | Fixations]:
    """Everything a gaze file holds, keyed by stimulus / image name.

    Parameters
    ----------
    path : str or Path
        The file (for native files the ``.gaze.tsv`` or its ``.gaze.json`` sidecar).
    format : str, optional
        A key of :data:`FORMATS`; detected from the sidecar and header when None.
    what : {"samples", "fixations"}
        ``"samples"`` gives :class:`GazeRecording` objects (fixation-only
        formats give :class:`Fixations`); ``"fixations"`` gives the fixations
        the file itself classified (Tobii Pro Lab's ``Eye movement type``,
        GazeMedSeg reports) and is refused for sample-only formats.
    image_shape : (height, width), optional
        The image (or screen) size for files that do not name it: normalised
        positions (Pupil Labs surfaces, Gazepoint, older GazeMedSeg CSVs) are
        scaled to it, screen-pixel files (EyeLink ASC, Data Viewer reports,
        BIDS) use it as the screen; ignored by files that name their size.

    Single-recording formats (native, CSV) give one entry, keyed by
    ``meta["image"]["name"]`` or else the file name without its extensions.
    """
    path = _data_file(Path(path))
    if what not in _WHAT:
        raise ValueError(f"what must be 'samples' or 'fixations', got {what!r}.")
    if format is None:
        format = detect_format(path)
    elif format not in FORMATS:
        raise ValueError(f"unknown gaze format {format!r}; use one of {', '.join(FORMATS)}.")
    if format == "tobii-pro-lab":
        return read_tobii_pro_lab(path, what=what)
    if format == "tobii-studio":
        return read_tobii_studio(path, what=what)
    if format == "gazemedseg":
        return read_gazemedseg_csv(path, image_shape=image_shape)
    if format == "eyelink-asc":
        return read_eyelink_asc(path, what=what, image_shape=image_shape)
    if format == "gazepoint":
        return read_gazepoint(path, what=what, image_shape=image_shape)
    if format == "pupil-labs":
        return read_pupil(path, image_shape=image_shape, what=what)
    if what == "fixations":
        raise format_error(
            path,
            "this file holds gaze samples, not fixations",
            "read its samples and find fixations with detect_fixations_ivt",
        )
    if format == "eyelink-samples":
        return read_sample_report(path, image_shape=image_shape)
    if format == "bids":
        return read_bids_physio(path, image_shape=image_shape)
    if format == "tobii-sdk":
        recording = read_titta(path, image_shape=image_shape)
    else:
        recording = read_native(path) if format == "native" else read_plain_csv(path)
    return {_single_name(recording, path): recording}


def read_gaze(
    path: str | Path,
    format: str | None = None,
    stimulus: str | None = None,
    what: str = "samples",
    image_shape: tuple[int, int] | None = None,
) -> GazeRecording | Fixations:
    """The gaze of one stimulus / image in a file (see :func:`read_gaze_all`).

    ``stimulus`` names the entry to return; it may be left out when the file
    holds exactly one. Raises :class:`GazeFormatError` listing the names when it
    is needed or does not match.
    """
    contents = read_gaze_all(path, format=format, what=what, image_shape=image_shape)
    names = ", ".join(repr(name) for name in contents)
    if stimulus is None:
        if len(contents) == 1:
            return next(iter(contents.values()))
        if not contents:
            raise format_error(
                path,
                "the file holds no gaze for any stimulus",
                "export the recording with its gaze data",
            )
        raise format_error(
            path,
            f"the file holds gaze for several stimuli ({names})",
            "pass stimulus= with one of them",
        )
    if stimulus not in contents:
        raise format_error(
            path,
            f"there is no gaze for stimulus {stimulus!r}, only for {names}",
            "pass one of those names",
        )
    return contents[stimulus]


def write_gaze(recording: GazeRecording, path: str | Path) -> None:
    """Write ``recording`` in the native format: ``path`` (``NAME.gaze.tsv``) and its sidecar."""
    if isinstance(recording, Fixations):
        raise TypeError(
            "write_gaze writes gaze samples; write Fixations with write_gazemedseg_csv."
        )
    if not isinstance(recording, GazeRecording):
        raise TypeError(f"write_gaze needs a GazeRecording, got {type(recording).__name__}.")
    write_native(recording, path)
