"""The native gaze format: ``NAME.gaze.tsv`` samples plus a ``NAME.gaze.json`` sidecar.

The TSV has one header line and one line per sample, tab-separated::

    t_s   row   col   valid   screen_x   screen_y   object_id

* ``t_s``: seconds from the recording start (float).
* coordinate columns, image data coordinates in napari axis order with pixel
  centres at integers: ``row, col`` (2D), ``plane, row, col`` (3D) and
  ``axis0, ..., axis{D-3}, row, col`` beyond; ``nan`` where invalid.
* ``valid``: ``1`` or ``0``.
* ``screen_x, screen_y``: normalised display-area position ((0, 0) top-left,
  (1, 1) bottom-right of the screen), ``nan`` where unknown.
* ``object_id``: label id of the object session (0 = none).

Floats are written as Python's shortest round-trip ``repr``, so reading gives
back the very same float64 values. The sidecar holds the recording ``meta``,
the format version, the number of image dimensions and a description of every
column; it is written when a :class:`NativeGazeWriter` opens, so a recording
killed mid-way is readable up to its last appended batch (each batch is whole
lines in one system call). A torn last line (no line end, e.g. a disk that
filled mid-line) is dropped with a warning. The writer never replaces a file
unasked and locks the file it writes (see :class:`NativeGazeWriter`). Pandas reads the TSV as it is:
``pd.read_csv(path, sep="\\t", float_precision="round_trip")``.
"""

from __future__ import annotations

import errno
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..recording import DEFAULT_OBJECT, GazeRecording
from ._errors import format_error
from ._table import parse_numeric_table
from ._text import read_text

try:
    import fcntl
except ImportError:  # Windows: exclusive creation alone guards a file being written
    fcntl = None

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GazeFileError",
    "GazeFileExistsError",
    "GazeFileLostError",
    "NativeGazeWriter",
    "coordinate_columns",
    "gaze_file_error",
    "native_columns",
    "read_native",
    "sidecar_path",
    "write_native",
]

FORMAT_NAME = "napari-gazeseg gaze"
FORMAT_VERSION = 1
_MAX_ID = 2.0**53  # object ids above this do not survive float64 parsing
_UNIT = "image data coordinate, pixel centres at integers; nan where invalid"


def coordinate_columns(ndim: int) -> list[str]:
    """Names of the coordinate columns of ``ndim``-dimensional coordinates."""
    if ndim < 2:
        raise ValueError(f"gaze coordinates need at least 2 dimensions, got {ndim}.")
    if ndim == 2:
        return ["row", "col"]
    if ndim == 3:
        return ["plane", "row", "col"]
    return [f"axis{i}" for i in range(ndim - 2)] + ["row", "col"]


def native_columns(ndim: int) -> list[str]:
    """All TSV columns, in file order, for ``ndim``-dimensional coordinates."""
    return ["t_s", *coordinate_columns(ndim), "valid", "screen_x", "screen_y", "object_id"]


def _column_descriptions(ndim: int) -> dict[str, str]:
    described = {"t_s": "seconds from the recording start"}
    for name in coordinate_columns(ndim):
        described[name] = f"{name} ({_UNIT})"
    described["valid"] = (
        "1 when the sample is valid, 0 for blinks, track loss or gaze off the image"
    )
    described["screen_x"] = "normalised display-area x (0 left, 1 right); nan where unknown"
    described["screen_y"] = "normalised display-area y (0 top, 1 bottom); nan where unknown"
    described["object_id"] = "label id of the object session (0 = outside any session)"
    return described


def sidecar_path(path: str | Path) -> Path:
    """``NAME.gaze.json`` for ``NAME.gaze.tsv`` (``NAME.json`` for ``NAME.tsv``)."""
    path = Path(path)
    if path.suffix.lower() == ".tsv":
        return path.with_suffix(".json")
    return path.with_name(path.name + ".json")


def _floats(values: np.ndarray) -> list[str]:
    return [repr(v) for v in values.tolist()]


class GazeFileError(OSError):
    """A gaze file that cannot be written, in one sentence.

    The sentence names the user's file (never a temporary ``.part`` file) and
    says what to do; ``errno`` is the system's error number (``errno.ENOSPC``
    for a full disk, ...) and ``path`` the user's file.
    """

    def __init__(self, message: str, path: str | Path, error_number: int | None = None):
        super().__init__(error_number, message)
        self.message = message
        self.path = Path(path)

    def __str__(self) -> str:
        return self.message


class GazeFileExistsError(GazeFileError, FileExistsError):
    """The file, or its sidecar, exists already: a gaze file is never replaced unasked."""


class GazeFileLostError(GazeFileError):
    """The file being written was removed or replaced (its folder deleted, the file moved).

    Everything written so far is still readable through the writer's open file;
    :meth:`NativeGazeWriter.move_to` puts it in a new file and goes on there.
    """


_REASONS = {
    errno.ENOSPC: "the disk is full; free disk space or choose another folder",
    errno.EDQUOT: "the disk quota is used up; free space or choose another folder",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.EROFS: "the folder is read-only; choose a folder you can write to",
    errno.ENOENT: "its folder does not exist; choose an existing folder",
    errno.ENOTDIR: "a part of its folder path is a file, not a folder; choose another folder",
}


def gaze_file_error(error: OSError, path: str | Path, writing: bool = False) -> GazeFileError:
    """The :class:`GazeFileError` for the system ``error`` met while creating (or
    ``writing``) the gaze file ``path``: one sentence naming ``path``."""
    if isinstance(error, GazeFileError):
        return error
    reason = _REASONS.get(error.errno)
    if reason is None:
        reason = f"{(error.strerror or str(error)).rstrip('.').lower()}; check the folder and try again"
    what = "Writing" if writing else "Creating"
    return GazeFileError(f"{what} {path} failed: {reason}.", path, error.errno)


def _exists_error(path: Path, found: Path) -> GazeFileExistsError:
    return GazeFileExistsError(
        f"{found} already exists and gaze files are never replaced; choose another file name.",
        path,
        errno.EEXIST,
    )


def _busy_error(path: Path) -> GazeFileError:
    return GazeFileError(
        f"{path} is being written by another recording; stop that recording or choose another file.",
        path,
        errno.EBUSY,
    )


def _try_lock(fd: int, shared: bool = False) -> bool:
    """An advisory whole-file lock (``flock``) on ``fd``, without waiting; True when held
    (also where the system has no ``flock``: exclusive creation is the guard there)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # file systems without locks (some network mounts)
        return True
    return True


def _being_written(path: Path) -> bool:
    """True when a :class:`NativeGazeWriter` (any process) holds ``path`` open."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        return not _try_lock(fd, shared=True)
    finally:
        os.close(fd)


def _open_for_writing(path: Path, overwrite: bool) -> int:
    """Create ``path`` (exclusively unless ``overwrite``) and lock it; the open descriptor.

    Refuses, in one sentence each, a file another writer holds and (unless
    ``overwrite``) an existing file or sidecar.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    if not overwrite:
        flags |= os.O_EXCL
    try:
        fd = os.open(path, flags, 0o666)
    except FileExistsError:
        raise (_busy_error(path) if _being_written(path) else _exists_error(path, path)) from None
    except OSError as err:
        raise gaze_file_error(err, path) from None
    if not _try_lock(fd):
        os.close(fd)
        raise _busy_error(path)
    if not overwrite and sidecar_path(path).exists():
        os.close(fd)
        os.unlink(path)  # made a moment ago, empty: ours
        raise _exists_error(path, sidecar_path(path))
    if overwrite:
        os.ftruncate(fd, 0)
    return fd


def _write_all(fd: int, data: bytes, path: Path) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as err:
        raise gaze_file_error(err, path, writing=True) from None


class NativeGazeWriter:
    """Write a native gaze file batch by batch, readable at every flush.

    Parameters
    ----------
    path : str or Path
        The TSV to create (``NAME.gaze.tsv``). The sidecar ``NAME.gaze.json`` is
        written at once, beside it.
    ndim : int
        Number of coordinate dimensions (2 for (row, col), 3 for (plane, row, col)).
    meta : dict
        The recording meta (JSON-serialisable), stored in the sidecar.
    overwrite : bool
        False (default): the file is created exclusively; an existing TSV or
        sidecar raises :class:`GazeFileExistsError` and is left as it was.
        True: an existing file is replaced (an explicit save).

    Either way, the TSV is locked (``flock``) while it is open: a second writer
    of the same file, in any process, raises :class:`GazeFileError`
    ("... is being written by another recording"). Every :meth:`append` goes to
    the operating system at once (a killed process loses nothing appended);
    :meth:`flush` forces it to the disk (``fsync``, against power loss) and
    checks that the file is still where it was created: when its folder was
    removed or the file moved or replaced, it raises :class:`GazeFileLostError`
    and :meth:`move_to` keeps everything in a new file. Errors are
    :class:`GazeFileError` sentences naming ``path``.

    Use as a context manager, or call :meth:`close`. Not thread-safe: one
    thread appends and flushes.
    """

    def __init__(
        self, path: str | Path, ndim: int, meta: dict[str, Any] | None = None, *, overwrite: bool = False
    ):
        self.path = Path(path)
        self.ndim = int(ndim)
        sidecar = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "ndim": self.ndim,
            "columns": _column_descriptions(self.ndim),
            "meta": {} if meta is None else meta,
        }
        try:
            self._sidecar_text = json.dumps(sidecar, indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as err:
            raise ValueError(f"meta must be JSON-serialisable: {err}") from None
        self._fd: int | None = _open_for_writing(self.path, overwrite)
        try:
            _write_atomically(sidecar_path(self.path), self._sidecar_text, self.path)
            _write_all(self._fd, ("\t".join(native_columns(self.ndim)) + "\n").encode(), self.path)
            self.flush()
        except BaseException:
            os.close(self._fd)
            self._fd = None
            if not overwrite:
                _remove_quietly(self.path)
            raise
        self._last_t = -np.inf
        self.samples_written = 0

    def append(self, t, coords, valid=None, screen=None, object_id=None) -> None:
        """Append a batch of ``N`` samples.

        ``t`` (N,) seconds, non-decreasing and not before the last batch;
        ``coords`` (N, ndim) image data coordinates; ``valid`` (N,) bool
        (default: coordinates finite; invalid samples are written as ``nan``);
        ``screen`` (N, 2) normalised display ``(x, y)`` or None (unknown);
        ``object_id`` (N,) non-negative ints (default 1).
        """
        if self._fd is None:
            raise ValueError(f"{self.path} is closed; open a new writer to write more.")
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        n = t.shape[0]
        if n == 0:
            return
        coords = np.asarray(coords, dtype=np.float64).reshape(n, -1)
        if coords.shape[1] != self.ndim:
            raise ValueError(
                f"coords have {coords.shape[1]} columns but the file holds {self.ndim}D gaze."
            )
        finite = np.isfinite(coords).all(axis=1)
        valid = finite if valid is None else np.asarray(valid, dtype=bool).reshape(n) & finite
        coords = np.where(valid[:, None], coords, np.nan)
        screen = (
            np.full((n, 2), np.nan)
            if screen is None
            else np.asarray(screen, dtype=np.float64).reshape(n, 2)
        )
        ids = (
            np.full(n, DEFAULT_OBJECT, dtype=np.int64)
            if object_id is None
            else np.asarray(object_id)
        )
        ids = ids.reshape(n)
        if not np.isfinite(t).all():
            raise ValueError("t must be finite for every sample.")
        if t[0] < self._last_t or (np.diff(t) < 0).any():
            raise ValueError("t must be non-decreasing across appended batches.")
        if np.isinf(screen).any():
            raise ValueError("screen holds infinite values; write NaN where it is unknown.")
        if (ids < 0).any() or (ids > _MAX_ID).any() or (ids != np.round(ids)).any():
            raise ValueError("object_id must hold non-negative integers up to 2**53.")
        columns = [_floats(t)]
        columns += [_floats(coords[:, axis]) for axis in range(self.ndim)]
        columns.append(["1" if v else "0" for v in valid.tolist()])
        columns += [_floats(screen[:, 0]), _floats(screen[:, 1])]
        columns.append([str(int(v)) for v in ids.tolist()])
        text = "".join("\t".join(row) + "\n" for row in zip(*columns))
        _write_all(self._fd, text.encode(), self.path)  # whole lines in one system call
        self._last_t = float(t[-1])
        self.samples_written += n

    def flush(self) -> None:
        """Push everything appended so far to the disk (``os.fsync``) and check the
        file is still there; raises :class:`GazeFileLostError` when it is not."""
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        except OSError as err:
            raise gaze_file_error(err, self.path, writing=True) from None
        if not self._still_there():
            raise GazeFileLostError(
                f"{self.path} was removed or replaced while being written; everything written "
                "so far is still held by the writer.",
                self.path,
                errno.ENOENT,
            )

    def move_to(self, path: str | Path) -> None:
        """Go on in the new file ``path`` (created exclusively, with the sidecar),
        which first gets everything written so far."""
        path = Path(path)
        fd = _open_for_writing(path, overwrite=False)
        try:
            _write_atomically(sidecar_path(path), self._sidecar_text, path)
            offset = 0
            while chunk := _read_at(self._fd, 1 << 20, offset):
                _write_all(fd, chunk, path)
                offset += len(chunk)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            _remove_quietly(path)
            _remove_quietly(sidecar_path(path))
            raise
        old, self._fd, self.path = self._fd, fd, path
        os.close(old)

    def close(self) -> None:
        """Flush and close; further appends raise ``ValueError``."""
        if self._fd is None:
            return
        fd = self._fd
        try:
            os.fsync(fd)
        except OSError as err:
            raise gaze_file_error(err, self.path, writing=True) from None
        finally:
            self._fd = None
            os.close(fd)  # releases the lock

    @property
    def closed(self) -> bool:
        return self._fd is None

    def _still_there(self) -> bool:
        try:
            here, mine = os.stat(self.path), os.fstat(self._fd)
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)

    def __enter__(self) -> "NativeGazeWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """``os.pread`` where the system has it; else seek, read and seek back to the end."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    try:
        return os.read(fd, size)
    finally:
        os.lseek(fd, 0, os.SEEK_END)


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_atomically(path: Path, text: str, owner: Path) -> None:
    """Write ``path`` through a temporary file; errors name ``owner`` (the user's file)."""
    temporary = path.with_name(path.name + ".part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temporary, flags, 0o666)
    except OSError as err:
        raise gaze_file_error(err, owner) from None
    try:
        _write_all(fd, text.encode("utf-8"), owner)
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(temporary, path)
    except OSError as err:
        if fd is not None:
            os.close(fd)
        _remove_quietly(temporary)
        raise gaze_file_error(err, owner) from None


def write_native(recording: GazeRecording, path: str | Path) -> None:
    """Write ``recording`` as ``path`` (``NAME.gaze.tsv``) plus its sidecar.

    An existing file is replaced (an explicit save), unless a recording is
    writing it: then :class:`GazeFileError` says so and nothing changes.
    """
    with NativeGazeWriter(path, recording.ndim, recording.meta, overwrite=True) as writer:
        writer.append(
            recording.t, recording.coords, recording.valid, recording.screen, recording.object_id
        )


def read_sidecar(path: str | Path) -> dict[str, Any] | None:
    """The parsed sidecar of the TSV at ``path``; None when there is none."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    try:
        content = json.loads(read_text(sidecar))
    except json.JSONDecodeError as err:
        raise format_error(
            sidecar,
            f"the sidecar is not valid JSON ({err.msg})",
            "restore it or delete it",
            err.lineno,
        ) from None
    if not isinstance(content, dict) or content.get("format") != FORMAT_NAME:
        raise format_error(
            sidecar, f"this JSON is not a {FORMAT_NAME!r} sidecar", "rename or delete it"
        )
    version = content.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise format_error(
            sidecar, f"format_version {version!r} is not a version number", "restore the sidecar"
        )
    if version > FORMAT_VERSION:
        raise format_error(
            sidecar,
            f"format version {version} is newer than this napari-gazeseg reads ({FORMAT_VERSION})",
            "update napari-gazeseg",
        )
    if not isinstance(content.get("meta", {}), dict):
        raise format_error(sidecar, "'meta' is not a JSON object", "restore the sidecar")
    return content


def _ndim_from_header(header: list[str], path) -> int:
    ndim = len(header) - 5
    if ndim >= 2 and header == native_columns(ndim):
        return ndim
    found, expected = "\t".join(header), "\t".join(native_columns(2))
    raise format_error(
        path,
        f"the header {found!r} is not a native gaze header such as {expected!r}",
        "write native files with write_gaze or NativeGazeWriter",
        1,
    )


#: Bytes of a native file parsed at a time (whole lines): reading holds one such
#: piece of text and the arrays, never the whole file as text.
_CHUNK_BYTES = 8 * 2**20


def read_native(path: str | Path) -> GazeRecording:
    """Read a native gaze file (see the module docstring).

    A missing sidecar gives empty ``meta``. ``screen`` is None when every
    sample's screen position is unknown. Raises :class:`GazeFormatError`.

    Plain UTF-8 files (as the writer makes them) are parsed :data:`_CHUNK_BYTES`
    at a time, so the peak memory is the arrays (twice, as
    :class:`GazeRecording` copies them) and one chunk, not the file's text;
    other encodings, line ends or a chunk that does not decode are read whole.
    """
    sidecar = read_sidecar(path)
    recording = _read_native_in_chunks(path, sidecar)
    if recording is not None:
        return recording
    return _read_native_whole(path, sidecar)


def _read_native_in_chunks(path: str | Path, sidecar: dict | None) -> GazeRecording | None:
    """The recording, parsed chunk by chunk; None where only the whole-text path will do.

    A first pass counts the lines, so the columns are allocated once at their
    final size and each chunk is parsed into its rows (no list of pieces to
    join, no heap left fragmented by them).
    """
    from ._text import decode_text, text_encoding

    with open(path, "rb") as file:
        head = file.read(_CHUNK_BYTES)
        header_end = head.find(b"\n")
        if (
            header_end < 0
            or not head.strip()
            or head.startswith(b"\x1f\x8b")
            or text_encoding(head) != "utf-8"
            or b"\r" in head
        ):
            return None
        try:
            header = decode_text(head[:header_end], path).split("\t")
        except ValueError:
            return None
        ndim = _ndim_from_header(header, path)
        _check_sidecar_ndim(path, sidecar, ndim)
        del head
        file.seek(header_end + 1)
        n_rows = 0
        while block := file.read(_CHUNK_BYTES):
            n_rows += block.count(b"\n")
        del block
        t, coords = np.empty(n_rows), np.empty((n_rows, ndim))
        valid, screen, ids = np.empty(n_rows, bool), np.empty((n_rows, 2)), np.empty(n_rows, np.int64)
        file.seek(header_end + 1)
        pending, eof, row, last_t = b"", False, 0, -np.inf
        while True:
            cut = pending.rfind(b"\n") + 1
            if cut == 0 or (not eof and len(pending) < _CHUNK_BYTES):
                if eof:
                    break
                more = file.read(_CHUNK_BYTES)
                eof = not more
                pending += more
                continue
            chunk, pending = pending[:cut], pending[cut:]
            if b"\r" in chunk:
                return None
            try:
                body = decode_text(chunk, path)
            except ValueError:  # the whole-text path names the line
                return None
            del chunk
            table = parse_numeric_table(body, header, path, first_line=row + 2)
            del body
            parts = _checked_columns(table, ndim, path, row + 2, last_t)
            del table
            stop = row + len(parts[0])
            if stop > n_rows:  # the file grew while being read: read it whole
                return None
            for store, part in zip((t, coords, valid, screen, ids), parts):
                store[row:stop] = part
            if stop > row:
                last_t = float(t[stop - 1])
            row = stop
    if row != n_rows:
        return None  # the file changed while being read
    if pending:
        warnings.warn(
            f"{path}, line {row + 2}: the last line is incomplete (the recording was cut off "
            "while writing); it was left out.",
            UserWarning,
            stacklevel=3,
        )
    meta = {} if sidecar is None else sidecar.get("meta", {})
    screen_known = bool(np.isfinite(screen).any())
    try:
        return GazeRecording(
            t=t, coords=coords, valid=valid, screen=screen if screen_known else None,
            object_id=ids, meta=meta,
        )
    except ValueError as err:
        raise format_error(path, str(err).rstrip("."), "fix the file") from None


def _check_sidecar_ndim(path, sidecar: dict | None, ndim: int) -> None:
    if sidecar is not None and sidecar.get("ndim", ndim) != ndim:
        raise format_error(
            sidecar_path(path),
            f"the sidecar says {sidecar.get('ndim')!r}D but the TSV header has {ndim}D coordinates",
            "restore the matching sidecar",
        )


def _checked_columns(table: np.ndarray, ndim: int, path, first_line: int, last_t: float):
    """``(t, coords, valid, screen, object_id)`` of a parsed chunk (views of it),
    after the checks of :func:`_recording_from_table` (lines counted from ``first_line``;
    the chunk's first time must not be before ``last_t``)."""
    t = table[:, 0]
    if len(t) and t[0] < last_t:
        raise format_error(
            path, "time goes backwards", "samples must be in time order; sort the file by t_s", first_line
        )
    _check_table(table, ndim, path, first_line)
    return (
        t,
        table[:, 1 : 1 + ndim],
        table[:, 1 + ndim] == 1.0,
        table[:, 2 + ndim : 4 + ndim],
        table[:, 4 + ndim],
    )


def _read_native_whole(path: str | Path, sidecar: dict | None) -> GazeRecording:
    """The recording, from the file's whole text (any encoding and line ends)."""
    text = read_text(path)
    header_end = text.find("\n")
    if not text.strip():
        raise format_error(path, "the file is empty", "pass a gaze file with a header line")
    if header_end < 0:
        raise format_error(path, "the header line has no line end", "pass a complete gaze file", 1)
    header = text[:header_end].split("\t")
    ndim = _ndim_from_header(header, path)
    _check_sidecar_ndim(path, sidecar, ndim)
    body = text[header_end + 1 :]
    if body and not body.endswith("\n"):
        torn_line = body.count("\n") + 2
        body = body[: body.rfind("\n") + 1]
        warnings.warn(
            f"{path}, line {torn_line}: the last line is incomplete (the recording was cut off "
            "while writing); it was left out.",
            UserWarning,
            stacklevel=2,
        )
    table = parse_numeric_table(body, header, path, first_line=2)
    return _recording_from_table(
        table, ndim, {} if sidecar is None else sidecar.get("meta", {}), path
    )


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argmax(mask)) + 2  # data row 0 is line 2


def _recording_from_table(table: np.ndarray, ndim: int, meta: dict, path) -> GazeRecording:
    _check_table(table, ndim, path, 2)
    t = table[:, 0]
    coords = table[:, 1 : 1 + ndim]
    valid, screen, ids = table[:, 1 + ndim], table[:, 2 + ndim : 4 + ndim], table[:, 4 + ndim]
    if np.isnan(screen).all():
        screen = None
    try:
        return GazeRecording(
            t=t, coords=coords, valid=valid == 1.0, screen=screen, object_id=ids, meta=meta
        )
    except ValueError as err:
        raise format_error(path, str(err).rstrip("."), "fix the file") from None


def _check_table(table: np.ndarray, ndim: int, path, first_line: int) -> None:
    """Raise for the first bad value of a parsed table whose row 0 is line ``first_line``."""
    t = table[:, 0]
    coords = table[:, 1 : 1 + ndim]
    valid, screen, ids = table[:, 1 + ndim], table[:, 2 + ndim : 4 + ndim], table[:, 4 + ndim]
    checks = [
        (~np.isfinite(t), "the time t_s is not a finite number", "every sample needs a time"),
        (np.isinf(coords).any(axis=1), "a coordinate is infinite", "write nan for invalid samples"),
        (
            ~np.isin(valid, (0.0, 1.0)),
            "valid is neither 0 nor 1",
            "write 1 for valid and 0 for invalid samples",
        ),
        (
            np.isinf(screen).any(axis=1),
            "a screen position is infinite",
            "write nan where it is unknown",
        ),
        (
            ~((ids >= 0) & (ids <= _MAX_ID) & (ids == np.round(ids))),
            "object_id is not a non-negative integer",
            "write label ids 0, 1, 2, ...",
        ),
    ]
    if len(t) > 1:
        back = np.zeros(len(t), dtype=bool)
        back[1:] = np.diff(t) < 0
        checks.append(
            (back, "time goes backwards", "samples must be in time order; sort the file by t_s")
        )
    for bad, problem, remedy in checks:
        if bad.any():
            raise format_error(path, problem, remedy, int(np.argmax(bad)) + first_line)
