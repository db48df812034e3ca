"""Keep napari from crashing after our layers are deleted (an upstream napari/vispy bug).

With napari 0.9 and vispy 0.17, deleting a layer whose points carry text (our
fixations layer: its numbers), or several layers at once (a recording's gaze,
fixations, scanpath and heatmap), and drawing afterwards crashes the OpenGL
driver: a segmentation fault with Mesa (software rendering, remote desktops,
many Linux desktops), an access violation on Windows (napari/napari#6472,
#7345). Deleting a recording's layers to open the next one, or the live layers
while recording, brought napari down. The crash follows the garbage collection
of the deleted layers' vispy visuals (their OpenGL objects are deleted and
their ids reused); it does not happen while they are held.

The guard therefore holds the visuals of deleted napari-gazeseg layers (those
with ``metadata["gazeseg"]``) for the viewer's lifetime. They are detached from
the scene and never drawn again; what they keep is their GPU buffers and the
deleted napari layer itself (data and features): a few times the layer's data
size (a 10-minute 120 Hz raw gaze layer some MB, a 1024 x 1024 heatmap 4 MB
on the GPU and 8 MB in memory). Other plugins' and the user's own layers are left to napari.
The guard reaches into napari's canvas (``layer_to_visual``), which is private:
where that is not found, it does nothing.
"""

from __future__ import annotations

import weakref

from ._viewer import napari_canvas
from .layers import GAZESEG

__all__ = ["guard_current_viewer", "guard_deleted_visuals"]

#: Each guarded viewer's held visuals (keyed weakly: a closed viewer lets them go).
HELD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def guard_deleted_visuals(viewer) -> None:
    """Install the guard on ``viewer`` (once; None and viewers without a canvas are ignored)."""
    viewer = getattr(viewer, "__wrapped__", viewer)  # the viewer itself, not a plugin's proxy
    if viewer is None or viewer in HELD:
        return
    canvas = napari_canvas(viewer)
    if not hasattr(canvas, "layer_to_visual"):
        return
    kept: list = []
    HELD[viewer] = kept

    def keep(event) -> None:
        layer = viewer.layers[event.index]
        visual = canvas.layer_to_visual.get(layer)
        if visual is not None and GAZESEG in getattr(layer, "metadata", {}):
            kept.append(visual)

    viewer.layers.events.removing.connect(keep)


def guard_current_viewer() -> None:
    """The guard on the viewer napari is showing (for readers and samples, which get no viewer)."""
    import napari

    guard_deleted_visuals(napari.current_viewer())
