"""Annotating an image series by looking: the series, its files and its log (no napari, no torch).

An :class:`AnnotationSeries` is a dataset folder being filled one image at a time::

    OUTPUT/
      images/NAME.EXT          the image as given (copied on first accept)
      gaze/NAME.gaze.tsv       the recording made while annotating it (+ .gaze.json)
      masks/NAME.png|tif       its label image (PNG when 2D and ids <= 65535, else TIFF)
      annotations.jsonl        one JSON row per accept or skip, appended, never rewritten
      backup/STAMP/...         files an accept replaced (the user reopened and accepted again)

It is exactly what ``gazeseg train``, ``gazeseg train-sam``, ``gazeseg segment``
and ``gazeseg metrics`` read. The source is either a folder of images (2D, RGB,
16-bit, 3D stacks: ``.tif .tiff .png .jpg .jpeg .bmp``), whose output then goes to
``SOURCE/gazeseg-annotations`` unless another folder is given, or a dataset
folder (``images/`` inside), which is annotated in place.

Contracts
---------
* Nothing accepted is rewritten unless :meth:`AnnotationSeries.accept` is called
  again for that image; its previous files then move to ``backup/STAMP/``
  (``STAMP`` = local date and time) before the new ones are written.
* ``annotations.jsonl`` is appended one complete line at a time (flushed and
  fsynced); a torn last line (a crash mid-write) is ignored when read.
* The state of an image is the state of its last row: ``"accepted"`` (its
  files exist), ``"skipped"``, or ``"todo"`` without a row. Resuming starts at
  :meth:`AnnotationSeries.first_unfinished`: the first image that is neither
  accepted nor skipped.
* An accept row counts the corrections made on the image: ``corrections``
  (brush, eraser and fill strokes), ``clicks`` (prompt clicks) and ``boxes``
  (prompt boxes); :func:`correction_counts` reads them, as 0 in rows written
  before a count existed.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .gaze.recording import GazeRecording

__all__ = ["CORRECTION_COUNTS", "IMAGE_SUFFIXES", "LOG_NAME", "AnnotationSeries", "ImageEntry",
           "correction_counts"]

#: Image files a series may hold (lower case).
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
#: The series log, in the output folder.
LOG_NAME = "annotations.jsonl"
#: Where a plain image folder's annotations go, inside it, by default.
DEFAULT_OUTPUT = "gazeseg-annotations"
STATES = ("todo", "accepted", "skipped")
#: The correction counts of an accept row: brush/eraser/fill strokes, prompt clicks, prompt boxes.
CORRECTION_COUNTS = ("corrections", "clicks", "boxes")


def correction_counts(row: dict[str, Any]) -> dict[str, int]:
    """A log row's :data:`CORRECTION_COUNTS`; a count the row lacks (older rows: no boxes) is 0."""
    return {key: int(row.get(key) or 0) for key in CORRECTION_COUNTS}


@dataclass
class ImageEntry:
    """One image of the series: its name (file stem), source file and state."""

    name: str
    source: Path
    state: str = "todo"
    row: dict[str, Any] | None = field(default=None, repr=False)


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


class AnnotationSeries:
    """A folder of images being annotated by gaze, with resume and an append-only log."""

    def __init__(self, source: str | Path, output: str | Path | None = None) -> None:
        source = Path(source)
        if not source.is_dir():
            raise FileNotFoundError(
                f"{source} is not a folder; pick a folder of images or a dataset folder "
                "(with images/)."
            )
        if (source / "images").is_dir():
            images_dir = source / "images"
            self.output = Path(output) if output is not None else source
        else:
            images_dir = source
            self.output = Path(output) if output is not None else source / DEFAULT_OUTPUT
        files: dict[str, Path] = {}
        for path in sorted(images_dir.iterdir()):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
                if path.stem in files:
                    raise ValueError(
                        f"{files[path.stem].name} and {path.name} in {images_dir} share a name; "
                        "keep one."
                    )
                files[path.stem] = path
        if not files:
            raise FileNotFoundError(
                f"{images_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}); pick another folder."
            )
        self.images = [ImageEntry(name, path) for name, path in files.items()]
        self._index = {entry.name: k for k, entry in enumerate(self.images)}
        self._read_log()

    # -- paths --------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.output / LOG_NAME

    def paths(self, name: str, *, mask_suffix: str = ".png") -> dict[str, Path]:
        """Where an image's files go: ``image``, ``gaze`` (+ sidecar), ``mask``."""
        entry = self.entry(name)
        return {
            "image": self.output / "images" / entry.source.name,
            "gaze": self.output / "gaze" / f"{name}.gaze.tsv",
            "sidecar": self.output / "gaze" / f"{name}.gaze.json",
            "mask": self.output / "masks" / f"{name}{mask_suffix}",
        }

    # -- state --------------------------------------------------------------------------

    def entry(self, name: str) -> ImageEntry:
        try:
            return self.images[self._index[name]]
        except KeyError:
            raise KeyError(f"{name!r} is not an image of this series.") from None

    def __len__(self) -> int:
        return len(self.images)

    def index_of(self, name: str) -> int:
        return self._index[name]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for entry in self.images:
            out[entry.state] += 1
        return out

    def progress_text(self) -> str:
        c = self.counts()
        return f"{c['accepted']} / {len(self)} accepted" + (
            f", {c['skipped']} skipped" if c["skipped"] else ""
        )

    def first_unfinished(self) -> int | None:
        """Index of the first image neither accepted nor skipped (None: all done)."""
        for k, entry in enumerate(self.images):
            if entry.state == "todo":
                return k
        return None

    def rows(self) -> list[dict]:
        """Every complete row of the log, in order."""
        if not self.log_path.exists():
            return []
        rows = []
        with open(self.log_path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # a torn last line: the write it belongs to did not finish
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return rows

    def _read_log(self) -> None:
        for entry in self.images:
            entry.state, entry.row = "todo", None
        for row in self.rows():
            name = row.get("image")
            if name in self._index and row.get("state") in STATES:
                entry = self.images[self._index[name]]
                entry.state, entry.row = row["state"], row
        for entry in self.images:  # an accept whose mask went missing is not done
            if entry.state == "accepted":
                mask = entry.row.get("files", {}).get("mask") if entry.row else None
                if not mask or not (self.output / mask).exists():
                    entry.state = "todo"

    # -- images -------------------------------------------------------------------------

    def read_image(self, name: str) -> np.ndarray:
        """The image as stored in its file (2D, RGB(A), or a stack), any dtype."""
        from .gaze.dataset import _read_image

        return _read_image(self.entry(name).source)

    def mask_of(self, name: str) -> np.ndarray | None:
        """The accepted mask of an image, or None."""
        from .gaze.dataset import _read_mask

        entry = self.entry(name)
        if entry.state != "accepted" or entry.row is None:
            return None
        return _read_mask(self.output / entry.row["files"]["mask"])

    # -- writing ------------------------------------------------------------------------

    def _append(self, row: dict) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, allow_nan=False, sort_keys=False) + "\n"
        # If a crash tore the last line, start on a new one.
        needs_newline = False
        if self.log_path.exists() and self.log_path.stat().st_size:
            with open(self.log_path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) != b"\n"
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(("\n" if needs_newline else "") + line)
            fh.flush()
            os.fsync(fh.fileno())

    def _backup(self, paths: list[Path]) -> Path | None:
        existing = [p for p in paths if p.exists()]
        if not existing:
            return None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        folder = self.output / "backup" / stamp
        for path in existing:
            target = folder / path.relative_to(self.output)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), str(target))
        return folder

    def accept(
        self,
        name: str,
        mask: np.ndarray,
        recording: GazeRecording | None = None,
        **info: Any,
    ) -> dict:
        """Write an image's files and log the accept; returns the row.

        ``mask`` is the label image (the image's shape without an RGB axis).
        ``info`` goes into the row (e.g. ``seconds``, ``object_seconds``,
        ``model``, ``corrections``, ``clicks``, ``boxes``). A previous accept's files move
        to ``backup/STAMP/`` first.
        """
        import imageio.v3 as iio

        from .gaze.formats import write_gaze

        entry = self.entry(name)
        mask = np.asarray(mask)
        if not np.issubdtype(mask.dtype, np.integer) and mask.dtype != bool:
            raise ValueError(f"the mask of {name!r} must hold integer labels, got {mask.dtype}.")
        if mask.size and (mask.min() < 0):
            raise ValueError(f"the mask of {name!r} holds negative labels.")
        top = int(mask.max()) if mask.size else 0
        as_png = mask.ndim == 2 and top <= np.iinfo(np.uint16).max
        paths = self.paths(name, mask_suffix=".png" if as_png else ".tif")
        old = [paths["gaze"], paths["sidecar"]] + [
            paths["mask"].with_suffix(s) for s in (".png", ".tif")
        ]
        backup = self._backup(old)
        for key in ("image", "gaze", "mask"):
            paths[key].parent.mkdir(parents=True, exist_ok=True)
        if not paths["image"].exists() and paths["image"].resolve() != entry.source.resolve():
            shutil.copy2(entry.source, paths["image"])
        if as_png:
            dtype = np.uint8 if top <= 255 else np.uint16
            iio.imwrite(paths["mask"], mask.astype(dtype))
        else:
            import tifffile

            dtype = np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32
            tifffile.imwrite(paths["mask"], mask.astype(dtype))
        files = {"image": str(paths["image"].relative_to(self.output)),
                 "mask": str(paths["mask"].relative_to(self.output))}
        if recording is not None:
            write_gaze(recording, paths["gaze"])
            files["gaze"] = str(paths["gaze"].relative_to(self.output))
        row = {
            "image": name,
            "state": "accepted",
            "time": _now(),
            "annotator": info.pop("annotator", None) or getpass.getuser(),
            "objects": int(len(np.unique(mask[mask > 0]))),
            "files": files,
            **info,
        }
        if backup is not None:
            row["replaced"] = str(backup.relative_to(self.output))
        self._append(row)
        entry.state, entry.row = "accepted", row
        return row

    def export(self, folder: str | Path) -> list[Path]:
        """Export the accepted images: labels as one napari-readable stack, gaze as BIDS.

        Writes ``FOLDER/labels.tif`` (``(N, ...)`` uint16/uint32, the accepted
        masks in series order; only when they share one shape), ``FOLDER/labels.json``
        (the image name of each plane) and, for each accepted 2D recording,
        ``FOLDER/bids/sub-<annotator>/beh/sub-<annotator>_task-annotate_acq-<NAME>_recording-eye1_physio.tsv.gz``
        with its sidecar and events. Never replaces a file: an existing one is named in
        a ``FileExistsError``.
        """
        import re

        import tifffile

        from .gaze.formats import read_gaze
        from .gaze.formats.bids import write_bids_physio

        folder = Path(folder)
        accepted = [e for e in self.images if e.state == "accepted"]
        if not accepted:
            raise ValueError("no image is accepted yet; accept images before exporting.")
        written: list[Path] = []
        masks = [self.mask_of(e.name) for e in accepted]
        stack_path = folder / "labels.tif"
        if len({m.shape for m in masks}) == 1:
            if stack_path.exists():
                raise FileExistsError(f"{stack_path} already exists; export to another folder.")
            folder.mkdir(parents=True, exist_ok=True)
            stack = np.stack(masks)
            top = int(stack.max()) if stack.size else 0
            tifffile.imwrite(stack_path, stack.astype(np.uint16 if top < 2**16 else np.uint32))
            (folder / "labels.json").write_text(json.dumps([e.name for e in accepted], indent=1))
            written += [stack_path, folder / "labels.json"]
        for entry in accepted:
            gaze = entry.row.get("files", {}).get("gaze")
            if not gaze:
                continue
            recording = read_gaze(self.output / gaze)
            if recording.ndim != 2:
                continue
            who = re.sub(r"[^A-Za-z0-9]", "", str(entry.row.get("annotator") or "x")) or "x"
            acq = re.sub(r"[^A-Za-z0-9]", "", entry.name) or "image"
            target = (folder / "bids" / f"sub-{who}" / "beh"
                      / f"sub-{who}_task-annotate_acq-{acq}_recording-eye1_physio.tsv.gz")
            target.parent.mkdir(parents=True, exist_ok=True)
            written += write_bids_physio(recording, target)
        return written

    def skip(self, name: str, **info: Any) -> dict:
        """Log that an image was skipped (it counts as finished when resuming)."""
        entry = self.entry(name)
        row = {"image": name, "state": "skipped", "time": _now(),
               "annotator": info.pop("annotator", None) or getpass.getuser(), **info}
        self._append(row)
        entry.state, entry.row = "skipped", row
        return row
