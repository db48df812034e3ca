"""Which gaze format a file holds: by its sidecar, then by its header line."""

from __future__ import annotations

from pathlib import Path

from ._errors import format_error
from .bids import is_bids_physio
from .eyelink import is_sample_report_header
from .eyelink_asc import looks_like_asc
from .gazepoint import is_gazepoint_header
from .pupil import is_pupil_header
from ._table import header_fields
from ._text import decode_text, read_bytes, text_encoding
from .native import native_columns, read_sidecar
from .plain_csv import is_plain_csv_header
from .titta import is_titta_header
from .tobii_studio import is_tobii_studio_header

__all__ = ["FORMATS", "detect_format"]

#: Names accepted by ``format=`` of :func:`read_gaze`, with what they read.
FORMATS = {
    "native": "napari-gazeseg NAME.gaze.tsv + NAME.gaze.json",
    "tobii-pro-lab": "Tobii Pro Lab data export (TSV, or re-saved as CSV; Glasses snapshots)",
    "tobii-studio": "Tobii Studio data export (TSV)",
    "tobii-sdk": "raw Tobii SDK samples saved as text (Titta, I2MC, tobii-research)",
    "gazemedseg": "GazeMedSeg / EyeLink Data Viewer fixation report (CSV)",
    "csv": "plain CSV/TSV with a time column and x, y or row, col columns",
    "eyelink-asc": "EyeLink ASC (edf2asc): samples, EFIX fixations, messages",
    "eyelink-samples": "EyeLink Data Viewer sample report (TIMESTAMP, AVERAGE_GAZE_X, ...)",
    "pupil-labs": "Pupil Player gaze_positions.csv / gaze_positions_on_surface_NAME.csv, Pupil Cloud enrichment gaze.csv",
    "gazepoint": "Gazepoint Analysis all_gaze / fixations CSV",
    "bids": "BIDS eye-tracking physio (NAME_physio.tsv.gz + NAME_physio.json)",
}

_SNIFF_BYTES = 65536


def _first_line(path: Path) -> str:
    head = read_bytes(path, _SNIFF_BYTES)
    if not head.strip():
        raise format_error(path, "the file is empty", "pass a gaze file with a header line")
    if text_encoding(head).startswith("utf-16"):
        head = head[: len(head) // 2 * 2]
    elif b"\n" in head:
        head = head[: head.index(b"\n")]
    line = decode_text(head, path).split("\n")[0]
    if not line.strip():
        raise format_error(
            path, "the first line is empty", "pass a gaze file that starts with its header line", 1
        )
    return line


def detect_format(path: str | Path) -> str:
    """The name (a key of :data:`FORMATS`) of the format of the file at ``path``.

    A native sidecar beside the file decides first; otherwise the header line:
    the native columns (``t_s, row, col, valid, ...``, tab-separated), Tobii Pro Lab column names (``Recording timestamp``,
    ``Gaze point X``), ``CURRENT_FIX_X`` (GazeMedSeg), a ``*_physio.tsv.gz`` name
    (BIDS), ``** CONVERTED FROM`` (EyeLink ASC), ``norm_pos_x`` / ``x_norm`` (Pupil
    Labs), ``FPOGX`` (Gazepoint), or a time column with
    ``x, y`` / ``row, col`` (plain CSV). Raises :class:`GazeFormatError` when
    none fits.
    """
    path = Path(path)
    if read_sidecar(path) is not None:
        return "native"
    if is_bids_physio(path):
        return "bids"
    first_line = _first_line(path)
    if looks_like_asc(first_line):
        return "eyelink-asc"
    fields, separator = header_fields(first_line)
    names = {field.lower() for field in fields}
    if separator == "\t" and len(fields) >= 7 and fields == native_columns(len(fields) - 5):
        return "native"
    if any(name.startswith(("recording timestamp", "gaze point x")) for name in names):
        return "tobii-pro-lab"
    if is_tobii_studio_header(names):
        return "tobii-studio"
    if is_titta_header(names):
        return "tobii-sdk"
    if {"current_fix_x", "current_fix_y"} <= names:
        return "gazemedseg"
    if is_sample_report_header(names):
        return "eyelink-samples"
    if is_pupil_header(names):
        return "pupil-labs"
    if is_gazepoint_header(fields):
        return "gazepoint"
    if is_plain_csv_header(fields):
        return "csv"
    shown = ", ".join(fields[:6]) + (", ..." if len(fields) > 6 else "")
    raise format_error(
        path,
        f"the header ({shown}) matches no gaze format napari-gazeseg reads",
        "pass a file of a format docs/formats.md lists, or name the format with format=",
        1,
    )
