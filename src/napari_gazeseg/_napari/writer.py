"""npe2 writer: a gaze Points layer saved as a native gaze recording.

The layer's points are the valid samples (at their current positions), its
features their time, object id and screen position, and its metadata the
invalid samples and the recording ``meta`` (see
:mod:`napari_gazeseg._napari.layers`); together they give back the recording,
which :func:`~napari_gazeseg.gaze.formats.write_gaze` writes as ``path`` plus
its JSON sidecar (``NAME.gaze.tsv`` -> ``NAME.gaze.json``, ``NAME.tsv`` ->
``NAME.json``). A file read, shown and saved unchanged is written back with
exactly the same values.
"""

from __future__ import annotations

from typing import Any

from .layers import recording_from_layer_data

__all__ = ["write_gaze_points"]


def write_gaze_points(path: str, data: Any, attributes: dict) -> list[str]:
    """Write one gaze Points layer (``data`` and its ``attributes``) to ``path``.

    Returns the paths written: the TSV and its sidecar. Raises ValueError, in one
    sentence, for Points layers that napari-gazeseg did not make from gaze.
    """
    from ..gaze.formats import write_gaze
    from ..gaze.formats.native import sidecar_path

    recording = recording_from_layer_data(
        data,
        attributes.get("features"),
        attributes.get("metadata", {}),
        attributes.get("name", "layer"),
    )
    write_gaze(recording, path)
    return [str(path), str(sidecar_path(path))]
