"""Every read of the napari viewer and its layers, written once.

The widgets, the reader and the sample data ask the viewer the same questions;
the answers live here so that each is written (and tested) once:

- :func:`full_resolution` (level 0 of a multiscale layer) and
  :func:`image_data_shape`: an image layer's data shape, level 0 when
  multiscale, without the RGB(A) axis (the shape gaze coordinates index);
- :func:`displayed_slice`: the leading data indices of the plane the viewer
  shows of an image (through the layer's world -> data transform);
- :func:`recording_layers`: the layers of one recording (its ``group``), by kind;
- :func:`is_image`, :func:`is_labels`, :func:`is_points`, :func:`is_shapes`:
  layer predicates by ``isinstance`` on napari's public layer classes;
- :func:`placement_of` / :func:`place_layer`: an image layer's whole data ->
  world transform (scale, translate, rotate, shear and its extra affine) for
  the layers drawn over it, so overlays land on the pixels the recording maps
  gaze to (:func:`snapshot_view` maps through the same full transform);
- :func:`add_layers_in_turns` / :func:`layers_arriving`: layer-data tuples
  added one per turn of Qt's event loop (the reader's background open), and
  whether a viewer is still receiving them (widgets wait before filling a
  recording's missing layers);
- :func:`camera_of` and :func:`napari_canvas`: the camera (public) and
  napari's vispy canvas, the one private access of the plugin, which the
  screen -> image mapping (:func:`snapshot_view`) and the crash guard
  (:mod:`._deleted_visuals_guard`) need;
- :func:`snapshot_view`: the viewer read into a napari-free
  :class:`~napari_gazeseg.tracking.mapping.ViewTransform`, which the recorder
  (``tracking/``, no napari) applies to gaze batches on any thread.

Read (and :func:`add_layers_in_turns` called) on the UI thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..tracking.mapping import ViewNotMappableError, ViewTransform
from .layers import GAZESEG, layer_kind

__all__ = [
    "add_layers_in_turns",
    "camera_of",
    "displayed_slice",
    "full_resolution",
    "image_data_shape",
    "is_image",
    "is_labels",
    "is_points",
    "is_shapes",
    "layers_arriving",
    "napari_canvas",
    "place_layer",
    "placement_of",
    "recording_layers",
    "snapshot_view",
    "tuned_fixation_detector",
    "window_open",
]


# -- layers -------------------------------------------------------------------------
def is_image(layer, *, ours: bool | None = False) -> bool:
    """An Image layer; by default only the user's (not a heatmap of ours).

    ``ours=None`` accepts every Image layer, ``True`` only the plugin's heatmaps.
    """
    from napari.layers import Image

    if not isinstance(layer, Image):
        return False
    return ours is None or (layer_kind(layer) is not None) == ours


def is_labels(layer) -> bool:
    from napari.layers import Labels

    return isinstance(layer, Labels)


def is_points(layer) -> bool:
    from napari.layers import Points

    return isinstance(layer, Points)


def is_shapes(layer) -> bool:
    from napari.layers import Shapes

    return isinstance(layer, Shapes)


def full_resolution(layer):
    """A layer's data at full resolution: level 0 of a multiscale layer, else its data."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def image_data_shape(image_layer) -> tuple[int, ...]:
    """An image layer's data shape without the RGB(A) axis (level 0 when multiscale)."""
    data = full_resolution(image_layer)
    shape = tuple(int(s) for s in data.shape)
    return shape[:-1] if getattr(image_layer, "rgb", False) else shape


def displayed_slice(viewer, image_layer, n_leading: int | None = None) -> tuple[int, ...]:
    """The image's displayed plane: its leading data indices at the viewer's current point.

    napari aligns layers on their last axes and places them by their transforms,
    so the viewer's world point goes through the layer's world -> data
    transform; indices are rounded and clipped to the data. ``n_leading``
    defaults to all axes before the last two (of :func:`image_data_shape`).
    """
    shape = image_data_shape(image_layer)
    if n_leading is None:
        n_leading = max(0, len(shape) - 2)
    if n_leading == 0:
        return ()
    data_point = np.asarray(image_layer.world_to_data(viewer.dims.point), float)
    return tuple(int(np.clip(np.round(data_point[axis]), 0, shape[axis] - 1)) for axis in range(n_leading))


def recording_layers(viewer, layer) -> dict[str, Any]:
    """The layers of the recording ``layer`` belongs to (its ``group``), by kind.

    ``layer`` itself is the one of its kind; of other kinds the first in the
    layer list. Empty when ``layer`` is None or not one of the plugin's.
    """
    entry = getattr(layer, "metadata", {}).get(GAZESEG) if layer is not None else None
    if not isinstance(entry, Mapping) or not entry.get("kind"):
        return {}
    group = entry.get("group")
    found: dict[str, Any] = {}
    for other in viewer.layers:
        theirs = other.metadata.get(GAZESEG)
        if isinstance(theirs, Mapping) and theirs.get("kind") and theirs.get("group") == group:
            found.setdefault(theirs["kind"], other)
    found[entry["kind"]] = layer
    return found


def tuned_fixation_detector(viewer):
    """The :class:`~napari_gazeseg.gaze.fixations.FixationDetector` the user tuned in a
    docked Gaze layers panel (napari's ``dock_widgets``), else I-VT with its defaults."""
    from ..gaze.fixations import FixationDetector
    from .gaze_layers_widget import GazeLayersWidget

    window = getattr(viewer, "window", None)
    docked = getattr(window, "dock_widgets", None) or {}
    tuned = next((w for w in docked.values() if isinstance(w, GazeLayersWidget)), None)
    return FixationDetector() if tuned is None else tuned.fixation_detector


# -- placement -------------------------------------------------------------------------
def placement_of(image_layer, ndim: int | None = None) -> dict[str, Any]:
    """``{"scale", "translate", "affine"}`` that put a layer exactly over ``image_layer``.

    ``scale`` and ``translate`` are the image's; ``affine`` (an ``(N + 1, N + 1)``
    matrix) folds in its rotate, shear and extra affine, so that a layer with
    these three lands on the image's pixels whatever scale and translate it has
    (a coarser heatmap changes its own). It is the identity for images placed by
    scale and translate only. The builders of :mod:`.layers` take the last ``D``
    axes of each (a 2D recording over a stack's plane); ``ndim`` does that here.
    """
    n = image_layer.ndim
    scale = np.asarray(image_layer.scale, dtype=np.float64)
    translate = np.asarray(image_layer.translate, dtype=np.float64)
    origin = np.asarray(image_layer.data_to_world(np.zeros(n)), dtype=np.float64)
    columns = [np.asarray(image_layer.data_to_world(np.eye(n)[i]), dtype=np.float64) - origin for i in range(n)]
    full = np.column_stack(columns)  # data -> world, linear part
    linear = full / scale  # what acts after the scale
    offset = origin - linear @ translate  # what acts after the translate
    if np.allclose(linear, np.eye(n), rtol=0, atol=1e-12) and np.allclose(offset, 0, rtol=0, atol=1e-9):
        linear, offset = np.eye(n), np.zeros(n)
    affine = np.eye(n + 1)
    affine[:n, :n], affine[:n, n] = linear, offset
    placement = {
        "scale": tuple(float(s) for s in scale),
        "translate": tuple(float(t) for t in translate),
        "affine": affine,
    }
    return placement if ndim is None else last_axes(placement, ndim)


def last_axes(placement: Mapping[str, Any], ndim: int) -> dict[str, Any]:
    """A placement (:func:`placement_of`) for the last ``ndim`` axes of the image."""
    out: dict[str, Any] = {}
    for key, value in placement.items():
        if value is None:
            continue
        if key == "affine":
            matrix = np.asarray(value, dtype=np.float64)
            keep = list(range(matrix.shape[0] - 1 - ndim, matrix.shape[0]))
            out[key] = matrix[np.ix_(keep, keep)]
        else:
            out[key] = tuple(float(v) for v in value)[-ndim:]
    return out


def place_layer(layer, image_layer) -> None:
    """Put an existing overlay of ours over ``image_layer`` (its last ``layer.ndim`` axes).

    A heatmap coarser than the image keeps its own pixel size
    (``metadata["gazeseg"]["heatmap"]["pixel_size"]``): its scale and translate
    cover the image edge to edge.
    """
    placement = placement_of(image_layer, layer.ndim)
    if layer_kind(layer) == "heatmap":
        size = np.asarray(
            layer.metadata[GAZESEG].get("heatmap", {}).get("pixel_size", [1.0] * layer.ndim), np.float64
        )[-layer.ndim :]
        scale = np.asarray(placement["scale"])
        placement["translate"] = tuple(np.asarray(placement["translate"]) + scale * (size - 1.0) / 2.0)
        placement["scale"] = tuple(scale * size)
    layer.affine = placement["affine"]
    layer.scale = placement["scale"]
    layer.translate = placement["translate"]


# -- adding layers without freezing the window -----------------------------------------
#: id(viewer) -> how many layers add_layers_in_turns still has to add to it
_ARRIVING: dict[int, int] = {}
#: Pause between two layers of add_layers_in_turns (ms). Not 0: Qt ran a 0 ms timer
#: queued from a timer in the same pass, so two layers went in without a paint or any
#: other timer between them (measured, benchmarks/bench_open.py).
TURN_PAUSE_MS = 1


def window_open(viewer) -> bool:
    """Whether ``viewer`` has its Qt window, not yet closed (``Viewer.close`` deletes it)."""
    return getattr(getattr(viewer, "window", None), "_qt_window", None) is not None


def layers_arriving(viewer) -> bool:
    """Whether :func:`add_layers_in_turns` is still adding layers to ``viewer``."""
    return _ARRIVING.get(id(viewer), 0) > 0


def add_layers_in_turns(viewer, layer_data, done=None) -> None:
    """Add layers (napari ``Layer`` objects, or layer-data tuples) to ``viewer`` in order,
    over several turns of Qt's event loop.

    Each turn adds one layer (building it first from a tuple; a worker can build
    them off the UI thread instead, as :func:`~.reader.open_in_background` does).
    A layer to be shown is added hidden and shown on the next turn, so that napari
    adding it (its vispy visual, layer controls and list row) and its first draw
    (vispy preparing the shaders, llvmpipe compiling them) are two blocks, not one.
    The window answers between turns instead of freezing for the whole set:
    opening a long recording's four layers in one go blocked for about a second
    under a software OpenGL. ``done(layers)`` is called after the last turn with
    the layers added. When the viewer's window closes meanwhile, the rest is
    dropped quietly. Call on the UI thread.
    """
    from napari.layers import Layer
    from qtpy.QtCore import QTimer

    added: list = []
    turns: list = []
    for item in layer_data:
        turns.append(("add", item))
        shown = item.visible if isinstance(item, Layer) else item[1].get("visible", True)
        if shown:
            turns.append(("show", None))
    key = id(viewer)
    _ARRIVING[key] = _ARRIVING.get(key, 0) + len(turns)

    def finish() -> None:
        _ARRIVING[key] = _ARRIVING.get(key, 0) - len(turns)
        if _ARRIVING[key] <= 0:
            _ARRIVING.pop(key, None)
        turns.clear()

    def step() -> None:
        if not turns:
            finish()
            if done is not None:
                done(added)
            return
        if not window_open(viewer):  # closed meanwhile: napari's controls are gone
            finish()
            return
        what, item = turns.pop(0)
        _ARRIVING[key] -= 1
        try:
            if what == "show":
                added[-1].visible = True
            else:
                layer = item if isinstance(item, Layer) else Layer.create(*item)
                layer.visible = False  # shown on the next turn, if it is to be
                added.append(viewer.add_layer(layer))
        except RuntimeError:  # the window (its Qt objects) went away meanwhile
            finish()
            return
        QTimer.singleShot(TURN_PAUSE_MS, step)

    QTimer.singleShot(TURN_PAUSE_MS, step)


# -- camera and canvas -----------------------------------------------------------------
def camera_of(viewer):
    """The viewer's camera: ``scene.camera`` from napari 0.9 (the viewer's own before)."""
    return getattr(viewer, "scene", viewer).camera


def napari_canvas(viewer):
    """napari's vispy canvas of ``viewer`` (``.native`` is its Qt widget), or None.

    napari has no public API for the canvas widget, whose position on the screen
    the screen-to-image mapping needs, nor for its layer visuals, which the crash
    guard holds; it lives at ``viewer.window._qt_viewer``. Plugin widgets get a
    proxy of the viewer that warns on private attributes (napari 0.9: a
    FutureWarning, "unavailable no earlier than 0.10"); the one access is made
    here, without that warning, and returns None where it fails.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return viewer.window._qt_viewer.canvas
        except AttributeError:
            return None


def _world_to_data_matrix(layer, world_ndim: int) -> np.ndarray:
    """The layer's world -> data map as a ``(D, W + 1)`` affine matrix.

    ``layer.world_to_data`` is affine, so its values at the origin and the unit
    vectors determine it exactly.
    """
    origin = np.zeros(world_ndim)
    b = np.asarray(layer.world_to_data(origin), dtype=float)
    columns = [np.asarray(layer.world_to_data(np.eye(world_ndim)[i]), dtype=float) - b for i in range(world_ndim)]
    return np.column_stack(columns + [b])


def snapshot_view(viewer, layer, screen=None) -> ViewTransform:
    """Take the current screen, canvas, camera, slice and layer transform (UI thread).

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari.layers.Image (or any layer with ``world_to_data``)
        The image the gaze is recorded over.
    screen : QScreen or None
        The screen the tracker's display area covers; None takes the screen
        showing napari's canvas.
    """
    if viewer.dims.ndisplay != 2:
        raise ViewNotMappableError(
            "Gaze can only be mapped in the 2D view; switch napari to 2D (Ctrl+Y) to record."
        )
    vispy_canvas = napari_canvas(viewer)
    if vispy_canvas is None:
        raise ViewNotMappableError(
            "this napari version does not expose its canvas to plugins; gaze cannot be mapped."
        )
    canvas = vispy_canvas.native
    from qtpy.QtCore import QPoint

    if screen is None:
        screen = canvas.screen()
    geometry = screen.geometry()
    top_left = canvas.mapToGlobal(QPoint(0, 0))
    camera = camera_of(viewer)
    orientation = tuple(str(o) for o in getattr(camera, "orientation2d", ("down", "right")))
    flip = np.array([-1.0 if orientation[0] == "up" else 1.0, -1.0 if orientation[1] == "left" else 1.0])
    return ViewTransform(
        screen_origin=np.array([geometry.x(), geometry.y()], dtype=float),
        screen_size=np.array([geometry.width(), geometry.height()], dtype=float),
        canvas_origin=np.array([top_left.x(), top_left.y()], dtype=float),
        canvas_size=np.array([canvas.width(), canvas.height()], dtype=float),
        center=np.asarray(camera.center, dtype=float)[-2:],
        zoom=float(camera.zoom),
        flip=flip,
        world_point=np.asarray(viewer.dims.point, dtype=float),
        displayed=np.asarray(viewer.dims.displayed, dtype=int)[-2:],
        world_to_data=_world_to_data_matrix(layer, viewer.dims.ndim),
        data_shape=np.asarray(image_data_shape(layer), dtype=float),
        device_pixel_ratio=float(screen.devicePixelRatio()),
    )
