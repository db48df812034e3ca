"""npe2 reader: any gaze file napari-gazeseg reads, opened as gaze layers.

npe2 semantics, as napari applies them:

* :func:`get_reader` looks only at the file's name, sidecar and header line
  (:func:`~napari_gazeseg.gaze.formats.detect_format`). It returns None for
  files that are no gaze file (another reader may take the ``.csv``), so napari
  can try other plugins. ``NAME.gaze.tsv`` files and files with a native
  sidecar are always taken;
* the function it returns reads the whole file. A gaze file that turns out to
  be broken raises the formats' :class:`~napari_gazeseg.gaze.formats.GazeFormatError`,
  one sentence naming the file, the line and what to do, which napari shows as
  an error notification while it keeps running.

Layers per recording (per stimulus for files holding several): the heatmap
(hidden; only when the recording names its image size), the gaze samples, the
scanpath and the fixations (Tobii I-VT with its defaults; fixation-only files
give their own fixations). See :mod:`napari_gazeseg._napari.layers`.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from ..gaze.recording import Fixations
from .layers import LayerDataTuple, gaze_layers

__all__ = ["get_reader", "gaze_file_layers", "read_gaze_layers"]


def _paths(path: str | Sequence[str]) -> list[str]:
    return [os.fspath(path)] if isinstance(path, (str, os.PathLike)) else [os.fspath(p) for p in path]


def _is_gaze_file(path: str) -> bool:
    """True for native files (by name or sidecar) and files whose header a format knows."""
    from ..gaze.formats import GazeFormatError, detect_format
    from ..gaze.formats.native import sidecar_path

    if not os.path.isfile(path):
        return False
    if path.lower().endswith(".gaze.tsv") or sidecar_path(path).is_file():
        return True  # ours even when broken: reading it says what is wrong
    try:
        detect_format(path)
    except (GazeFormatError, OSError):
        return False
    return True


def get_reader(path: str | Sequence[str]) -> Callable[..., list[LayerDataTuple]] | None:
    """The reader for ``path`` when every file is a gaze file, else None."""
    paths = _paths(path)
    if not paths or not all(_is_gaze_file(p) for p in paths):
        return None
    return read_gaze_layers


def gaze_file_layers(
    path: str,
    *,
    image_shape: Sequence[int] | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
) -> list[LayerDataTuple]:
    """The layers of every recording (or fixation report) in one gaze file.

    ``image_shape`` (default: each recording's ``meta["image"]["shape"]``) sizes
    the heatmap and the points; ``scale`` and ``translate`` place the layers over
    an image layer that has them. Layer names start with the stimulus name.
    """
    from ..gaze.fixations import detect_fixations_ivt
    from ..gaze.formats import read_gaze_all

    layers: list[LayerDataTuple] = []
    for name, contents in read_gaze_all(path).items():
        if isinstance(contents, Fixations):
            recording, fixations = None, contents
        else:
            recording, fixations = contents, detect_fixations_ivt(contents)
        layers.extend(
            gaze_layers(
                recording,
                fixations,
                image_shape=image_shape,
                name=name,
                scale=scale,
                translate=translate,
            )
        )
    return layers


def read_gaze_layers(path: str | Sequence[str]) -> list[LayerDataTuple]:
    """Read gaze files into layers (the function :func:`get_reader` hands to napari)."""
    from ._deleted_visuals_guard import guard_current_viewer

    guard_current_viewer()
    layers: list[LayerDataTuple] = []
    for one in _paths(path):
        layers.extend(gaze_file_layers(one))
    return layers
