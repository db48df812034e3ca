"""Gaze data as napari layers, and napari layers back as gaze data.

Builders turn a :class:`~napari_gazeseg.gaze.GazeRecording` or
:class:`~napari_gazeseg.gaze.Fixations` into napari ``LayerDataTuple``\\ s
``(data, kwargs, layer_type)``; :func:`recording_from_layer` and
:func:`fixations_from_layer` turn the layers back into data.

Layers and what they show
-------------------------
``"gaze"`` (Points)
    Every *valid* sample, small, coloured by time (viridis, first sample dark
    violet, last yellow: napari's colormap on the ``t`` feature); border
    coloured by object id (:func:`object_colors`; one colour for one object).
    Features: ``sample`` (index in the recording), ``t`` (s), ``object_id``,
    ``screen_x``, ``screen_y`` (normalised display coordinates; NaN when the
    recording has none, see ``metadata["gazeseg"]["has_screen"]``).
``"fixations"`` (Points)
    One point per fixation, area proportional to its duration, face coloured by
    order (same colormap as the gaze: both encode time), border by object id,
    the 1-based order as text (hidden above :data:`FIXATION_NUMBERS_SHOWN_MAX`
    fixations). Features: ``order`` (1-based), ``start``,
    ``duration`` (s), ``object_id``.
``"scanpath"`` (Vectors, lines)
    Fixations joined in time order: one line segment per saccade inside a run of
    consecutive fixations of the same object on the same plane (a saccade to
    another object or slice ends the run and is not drawn), coloured by object
    id. Data ``(n, 2, D)``: the fixation left and the step to the next one
    (``length`` 1). One array, so replacing it costs napari a few array copies,
    where a Shapes path per run cost a triangulation each (docs/performance.md).
    Features per segment: ``object_id``, ``from_fixation`` (1-based order of the
    fixation it leaves; it reaches the next), and of its run: ``first_fixation``
    (1-based order of the run's first fixation) and ``n_fixations``.
``"heatmap"`` (Image)
    A gaze map of :mod:`napari_gazeseg.gaze.maps` per 2D slice, inferno,
    additive blending, so it lies over the image like light. Computed at a
    bounded resolution (:func:`heatmap_grid`: at most :data:`HEATMAP_MAX_SIDE`
    pixels on the long side of a plane, :data:`HEATMAP_MAX_PIXELS` in all), so
    a recording of a whole-slide image costs megabytes, not the image's size;
    the layer's ``scale`` and ``translate`` make such a coarser map cover the
    image exactly, edge to edge.

Every layer's ``metadata["gazeseg"]`` holds ``kind``, ``name`` (the recording's
name, which layer names start with), ``meta`` (the recording's or fixations'
meta) and ``group``: the layers built from one recording share a group, which is
how widgets find a recording's fixations or heatmap to update.

Invalid samples
---------------
Invalid samples have NaN coordinates and cannot be drawn as points. The gaze
layer keeps them in ``metadata["gazeseg"]["invalid"]``: a dict of arrays
``sample``, ``t``, ``object_id`` and ``screen`` (``(k, 2)``, or None). Reading
the layer back merges them with the drawn samples by time, ties broken by the
original sample index, so native file -> layers -> writer -> native file gives
back exactly the same recording. Points the user deletes are gone; points the
user moves keep their new coordinates.

Coordinates
-----------
Layer data are image data coordinates in napari axis order (``(row, col)`` or
``(plane, row, col)``), pixel centres at integers, exactly as in the recording.
Give ``scale``, ``translate`` and ``affine`` (:func:`placement_of` an image layer:
its rotate, shear and extra affine folded into ``affine``) so the layers overlay
the image's pixels; the data stay in image data coordinates.
nD points lie on their plane and napari shows them on that slice only.
"""

from __future__ import annotations

import contextlib
import copy
import math
import uuid
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..gaze.maps import HEATMAP_SPELLINGS, needs_raw_gaze
from ..gaze.recording import NO_OBJECT, Fixations, GazeRecording
from ..imaging import label_colors_at  # re-exported: the fixation numbers' colours

# pandas (~0.4 s to import, with pyarrow) is imported where features are built: napari
# itself imports it only then, and a file opened from the window builds them in a worker.
if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FIXATION_NUMBERS_SHOWN_MAX",
    "GAZESEG",
    "HEATMAP_KINDS",
    "HEATMAP_MAX_PIXELS",
    "HEATMAP_MAX_SIDE",
    "LAYER_KINDS",
    "RAW_GAZE_SHOWN_MAX",
    "create_layers",
    "fixations_from_layer",
    "fixations_layer",
    "gaze_layer",
    "gaze_layers",
    "heatmap_grid",
    "heatmap_layer",
    "heatmap_map",
    "label_colors_at",
    "layer_kind",
    "new_group",
    "object_colors",
    "object_label_colormap",
    "placement_of",
    "recording_from_layer",
    "recording_from_layer_data",
    "scanpath_layer",
    "update_layer",
]

#: Key of the plugin's entry in ``layer.metadata``.
GAZESEG = "gazeseg"
#: The kinds of layer the builders make.
LAYER_KINDS = ("gaze", "fixations", "scanpath", "heatmap")
#: What a heatmap is made of: raw gaze samples, fixation centroids, fixation
#: centroids weighted by duration (SAM meets Gaze), or blurred gaze pixels; the
#: Gaze layers' spellings of :data:`~napari_gazeseg.gaze.maps.GAZE_MAPS`, whose
#: canonical names are accepted too.
HEATMAP_KINDS = HEATMAP_SPELLINGS
#: Longest side, in heatmap pixels, of one plane of a heatmap; larger images get
#: a coarser heatmap shown with the layer's ``scale`` (:func:`heatmap_grid`).
HEATMAP_MAX_SIDE = 2048
#: Most pixels a whole heatmap (every plane of a stack) holds: 128 MiB of float32.
HEATMAP_MAX_PIXELS = 2**25

#: Longest raw gaze (valid samples) :func:`gaze_layers` shows by default: about
#: 3 minutes at 120 Hz. Every canvas redraw draws every point; without a GPU
#: (software OpenGL) 81 000 points add about 0.9 s to each redraw, a quarter of
#: them about 0.2 s (``benchmarks/bench_gaze_layers.py``), so longer recordings
#: open with the raw gaze hidden, one tick away, and their fixations shown.
RAW_GAZE_SHOWN_MAX = 20_000
#: Most fixations whose order numbers :func:`fixations_layer` shows: more start
#: with the numbers hidden (the layer's "display text" box shows them). Without a
#: GPU the 867 numbers of an 11-minute recording cost about 0.5 s of every
#: redraw, a slider move's or a pan's (``benchmarks/bench_gaze_layers.py``), and
#: that many overlap into a blur at a view of the whole image.
FIXATION_NUMBERS_SHOWN_MAX = 300
#: Colormap for time (gaze samples by time, fixations by order).
TIME_COLORMAP = "viridis"
#: Okabe-Ito colour-blind-safe palette for object ids 1, 2, ... (cycled).
_OBJECT_PALETTE = np.array(
    [
        [0.902, 0.624, 0.000],  # orange
        [0.337, 0.706, 0.914],  # sky blue
        [0.000, 0.620, 0.451],  # bluish green
        [0.941, 0.894, 0.259],  # yellow
        [0.000, 0.447, 0.698],  # blue
        [0.835, 0.369, 0.000],  # vermillion
        [0.800, 0.475, 0.655],  # reddish purple
    ]
)
#: Colour of samples and fixations outside any object session (id 0).
_NO_OBJECT_COLOR = np.array([0.62, 0.62, 0.62])

LayerDataTuple = tuple[Any, dict, str]


# -- helpers -------------------------------------------------------------------
def new_group(name: str) -> str:
    """A fresh group id for the layers of one recording, readable in the metadata."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def object_colors(object_id: np.ndarray, alpha: float = 1.0) -> np.ndarray | str:
    """RGBA ``(N, 4)`` colours of object ids: Okabe-Ito for 1, 2, ..., grey for 0.

    napari refuses an empty colour array, so no ids give a plain colour name.
    """
    ids = np.asarray(object_id, dtype=np.int64).reshape(-1)
    if ids.size == 0:
        return "white"
    rgb = _OBJECT_PALETTE[(ids - 1) % len(_OBJECT_PALETTE)]
    rgb[ids == NO_OBJECT] = _NO_OBJECT_COLOR
    return np.column_stack([rgb, np.full(len(ids), float(alpha))])


def object_label_colormap(object_ids) -> dict:
    """A Labels ``colormap`` dict giving each object id its :func:`object_colors` colour.

    Label 0 is transparent; ids not listed are grey. A labels layer coloured so
    (ground truth, segmentations) matches the gaze and fixations of its objects.
    """
    ids = [int(i) for i in np.unique(np.asarray(object_ids)) if i != NO_OBJECT]
    colors = object_colors(np.array(ids, dtype=np.int64)) if ids else np.zeros((0, 4))
    return {0: "transparent", None: "gray", **{i: c for i, c in zip(ids, colors)}}


#: Levels of the time colormap: finer than the 256 a display shows.
_TIME_LEVELS = 1024


def _time_colors(values: np.ndarray, alpha: float, dtype=np.float64) -> np.ndarray | str:
    """RGBA ``(N, 4)`` colours of values along the time colormap, min to max.

    Looked up in a table of :data:`_TIME_LEVELS` colours (values rounded to the
    nearest level), a million values at a time, so long recordings cost the
    colours and little else. napari refuses an empty colour array, so no values
    give a plain colour name.
    """
    from napari.utils.colormaps import ensure_colormap

    values = np.asarray(values)
    if values.size == 0:
        return "white"
    table = np.asarray(ensure_colormap(TIME_COLORMAP).map(np.linspace(0.0, 1.0, _TIME_LEVELS)), dtype)
    table[:, 3] = alpha
    low, high = float(values.min()), float(values.max())
    step = (_TIME_LEVELS - 1) / (high - low) if high > low else 0.0
    colors = np.empty((values.shape[0], 4), dtype=dtype)
    for start in range(0, values.shape[0], 2**20):
        block = values[start : start + 2**20]
        levels = np.rint((block - low) * step).astype(np.int32)
        colors[start : start + 2**20] = table[levels]
    return colors


def _time_colormap(alpha: float):
    """The time colormap (:data:`TIME_COLORMAP`) with every colour at opacity ``alpha``."""
    from napari.utils.colormaps import Colormap, ensure_colormap

    base = ensure_colormap(TIME_COLORMAP)
    colors = np.array(base.colors, dtype=np.float64)
    colors[:, 3] = alpha
    return Colormap(colors=colors, controls=base.controls, name=f"gazeseg {TIME_COLORMAP} {alpha:g}")


def _object_colors_compact(object_id: np.ndarray, alpha: float) -> np.ndarray | str:
    """:func:`object_colors` as float32, looked up in a table (16 bytes a point, no temporaries)."""
    ids = np.asarray(object_id).reshape(-1)
    if ids.size == 0:
        return "white"
    table = np.ones((len(_OBJECT_PALETTE) + 1, 4), dtype=np.float32)
    table[0, :3] = _NO_OBJECT_COLOR
    table[1:, :3] = _OBJECT_PALETTE
    table[:, 3] = alpha
    colors = np.empty((ids.shape[0], 4), dtype=np.float32)
    for start in range(0, ids.shape[0], 2**20):
        block = ids[start : start + 2**20]
        index = np.where(block == NO_OBJECT, 0, (block - 1) % len(_OBJECT_PALETTE) + 1)
        colors[start : start + 2**20] = table[index]
    return colors


def placement_of(image_layer) -> dict[str, Any]:
    """``{"scale", "translate", "affine"}`` of an image layer, for the builders.

    The image's whole data -> world transform (rotate, shear and extra affine
    folded into ``affine``): see :func:`napari_gazeseg._napari._viewer.placement_of`.
    Builders take the last ``D`` axes, ``D`` being the recording's number of
    coordinate columns, so a 2D recording fits the displayed plane of a stack.
    """
    from ._viewer import placement_of as whole_placement

    return whole_placement(image_layer)


def _transform(ndim: int, scale, translate, affine=None) -> dict:
    kwargs: dict[str, Any] = {}
    if affine is not None:  # (N + 1, N + 1): its last ndim axes and the homogeneous one
        matrix = np.asarray(affine, dtype=np.float64)
        if matrix.shape[0] - 1 < ndim:
            raise ValueError(f"affine is {matrix.shape} but the gaze data have {ndim} dimensions.")
        keep = list(range(matrix.shape[0] - 1 - ndim, matrix.shape[0]))
        kwargs["affine"] = matrix[np.ix_(keep, keep)]
    for key, value in (("scale", scale), ("translate", translate)):
        if value is not None:
            value = tuple(float(v) for v in value)
            if len(value) < ndim:
                raise ValueError(
                    f"{key} has {len(value)} entries but the gaze data have {ndim} dimensions."
                )
            kwargs[key] = value[-ndim:]
    return kwargs


def _extent(shape: Sequence[int] | None, coords: np.ndarray) -> float:
    """Size in pixels of the image the layers overlay (longest displayed side).

    From the image shape when known, else from the spread of the points; sizes of
    points and line widths are fractions of it, so they look alike at any zoom.
    """
    displayed = tuple(shape[: coords.shape[1]][-2:]) if shape is not None else ()
    if len(displayed) == 2:  # the shape's (row, col) axes; an RGB axis is dropped
        return float(max(displayed))
    finite = coords[np.isfinite(coords).all(axis=1)] if coords.size else coords
    if finite.shape[0] == 0:
        return 256.0
    spread = finite[:, -2:].max(axis=0) - finite[:, -2:].min(axis=0)
    return float(max(64.0, spread.max() * 1.1))


def _gazeseg_meta(kind: str, meta: Mapping, group: str | None, name: str, **extra) -> dict:
    entry = {"kind": kind, "name": name, "group": group or new_group(name)}
    return {GAZESEG: {**entry, "meta": copy.deepcopy(dict(meta)), **extra}}


def _base_name(meta: Mapping, name: str | None) -> str:
    if name:
        return name
    return str(meta.get("image", {}).get("name") or "gaze")


def layer_kind(layer) -> str | None:
    """The gazeseg kind of a layer (``"gaze"``, ``"fixations"``, ...), or None."""
    entry = getattr(layer, "metadata", {}).get(GAZESEG)
    return entry.get("kind") if isinstance(entry, Mapping) else None


# -- builders --------------------------------------------------------------------
def gaze_layer(
    recording: GazeRecording,
    *,
    name: str | None = None,
    group: str | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    affine: np.ndarray | None = None,
    image_shape: Sequence[int] | None = None,
) -> LayerDataTuple:
    """Raw gaze samples as a Points layer (see the module docstring).

    ``image_shape`` (default ``recording.image_shape``) sets the point size: one
    three-hundredth of the image's longest side, at least one pixel.
    """
    base = _base_name(recording.meta, name)
    valid = recording.valid
    has_screen = recording.screen is not None
    t = recording.t[valid]
    object_id = recording.object_id[valid]
    # the smallest exact dtypes: an hour at 1200 Hz is 4.3 million rows
    # (benchmarks/bench_reader_memory.py); colours by time come from the "t"
    # feature through napari's colormap, not from an array of ours
    n = len(recording)
    samples = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)[valid]
    ids = object_id.astype(np.min_scalar_type(int(object_id.max()))) if len(object_id) else object_id
    if len(object_id) and (object_id == object_id[0]).all():
        border_color = object_colors(object_id[:1], alpha=0.9)[0]  # one object: one colour
    else:
        border_color = _object_colors_compact(object_id, alpha=0.9)
    del object_id
    if has_screen:
        screen_x, screen_y = recording.screen[valid, 0], recording.screen[valid, 1]
    else:  # no screen positions: NaN, as small as a NaN can be stored
        screen_x = screen_y = np.full(len(t), np.nan, dtype=np.float32)
    import pandas as pd
    features = pd.DataFrame(
        {"sample": samples, "t": t, "object_id": ids, "screen_x": screen_x, "screen_y": screen_y},
        copy=False,
    )
    del samples, ids, screen_x, screen_y
    invalid = ~valid
    stored_invalid = {
        "sample": np.flatnonzero(invalid).astype(np.int64),
        "t": recording.t[invalid],
        "object_id": recording.object_id[invalid],
        "screen": recording.screen[invalid] if has_screen else None,
    }
    extent = _extent(image_shape or recording.image_shape, recording.coords)
    kwargs = {
        "name": f"{base} gaze",
        "features": features,
        "size": max(1.0, extent / 300.0),
        "face_color": "t" if len(t) else "white",
        "face_colormap": _time_colormap(0.85),
        "border_color": border_color,
        "border_width": 0.2,
        "border_width_is_relative": True,
        "blending": "translucent_no_depth",
        "metadata": _gazeseg_meta(
            "gaze",
            recording.meta,
            group,
            base,
            invalid=stored_invalid,
            has_screen=has_screen,
            ndim=recording.ndim,
        ),
        **_transform(recording.ndim, scale, translate, affine),
    }
    return recording.coords[valid], kwargs, "points"  # boolean indexing copies


def _fixation_sizes(duration: np.ndarray, extent: float) -> np.ndarray:
    """Diameters (pixels): area proportional to duration, 300 ms -> extent / 40.

    Clipped to ``[0.5, 2.5]`` times that diameter so very short fixations stay
    visible and very long ones do not hide their neighbours.
    """
    typical = extent / 40.0
    ratio = np.sqrt(np.clip(np.asarray(duration, dtype=np.float64), 0.0, None) / 0.3)
    return typical * np.clip(ratio, 0.5, 2.5)


def _fixation_text(extent: float, color) -> dict:
    if not isinstance(color, str):
        color = {"array": np.asarray(color, dtype=np.float64), "default": "white"}
    return {
        "string": "{order}",
        "size": 8,
        "color": color,
        "anchor": "upper_left",
        # up and right by the radius of a typical (300 ms) fixation: next to its circle
        "translation": [-extent / 80.0, extent / 80.0],
        "blending": "translucent",
    }


def fixations_layer(
    fixations: Fixations,
    *,
    name: str | None = None,
    group: str | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    affine: np.ndarray | None = None,
    image_shape: Sequence[int] | None = None,
    text_color: str | np.ndarray = "white",
) -> LayerDataTuple:
    """Fixations as a Points layer: size from duration, colour by order, order as text.

    ``text_color`` colours the order numbers: one colour, or one per fixation
    (:func:`label_colors_at`). The numbers start hidden when there are more than
    :data:`FIXATION_NUMBERS_SHOWN_MAX` fixations.
    """
    base = _base_name(fixations.meta, name)
    extent = _extent(image_shape or fixations.image_shape, fixations.coords)
    order = np.arange(1, len(fixations) + 1, dtype=np.int64)
    import pandas as pd
    features = pd.DataFrame(
        {
            "order": order,
            "start": fixations.start,
            "duration": fixations.duration,
            "object_id": fixations.object_id,
        }
    )
    text = _fixation_text(extent, text_color)
    text["visible"] = len(fixations) <= FIXATION_NUMBERS_SHOWN_MAX
    if fixations.ndim > 2:
        text["translation"] = [0.0] * (fixations.ndim - 2) + text["translation"]
    kwargs = {
        "name": f"{base} fixations",
        "features": features,
        "size": _fixation_sizes(fixations.duration, extent),
        "face_color": _time_colors(order, alpha=0.55),
        "border_color": object_colors(fixations.object_id),
        "border_width": 0.12,
        "border_width_is_relative": True,
        "text": text,
        "metadata": _gazeseg_meta("fixations", fixations.meta, group, base),
        **_transform(fixations.ndim, scale, translate, affine),
    }
    return fixations.coords.copy(), kwargs, "points"


def _scanpath_runs(fixations: Fixations) -> list[np.ndarray]:
    """Index arrays of consecutive fixations on the same object and plane."""
    if len(fixations) == 0:
        return []
    key = np.column_stack([fixations.object_id, np.round(fixations.coords[:, :-2])])
    breaks = np.flatnonzero((np.diff(key, axis=0) != 0).any(axis=1)) + 1
    return [run for run in np.split(np.arange(len(fixations)), breaks) if run.size >= 2]


def scanpath_layer(
    fixations: Fixations,
    *,
    name: str | None = None,
    group: str | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    affine: np.ndarray | None = None,
    image_shape: Sequence[int] | None = None,
) -> LayerDataTuple:
    """The scanpath as Vectors line segments (see the module docstring).

    On nD recordings each segment lies on its run's plane (no step along the
    plane axes), so napari shows it on that slice. A run of a single fixation
    has no segment (the fixations layer shows it).
    """
    base = _base_name(fixations.meta, name)
    extent = _extent(image_shape or fixations.image_shape, fixations.coords)
    runs = _scanpath_runs(fixations)
    ndim = fixations.ndim
    leaves = np.concatenate([run[:-1] for run in runs]) if runs else np.zeros(0, dtype=np.int64)
    data = np.zeros((leaves.size, 2, ndim), dtype=np.float64)
    data[:, 0] = fixations.coords[leaves]
    data[:, 1, -2:] = fixations.coords[leaves + 1, -2:] - fixations.coords[leaves, -2:]
    run_first = np.concatenate([np.full(run.size - 1, run[0]) for run in runs]) if runs else leaves
    run_size = np.concatenate([np.full(run.size - 1, run.size) for run in runs]) if runs else leaves
    object_id = np.asarray(fixations.object_id, dtype=np.int64)[leaves]
    import pandas as pd
    features = pd.DataFrame(
        {
            "object_id": object_id,
            "from_fixation": (leaves + 1).astype(np.int64),
            "first_fixation": (run_first + 1).astype(np.int64),
            "n_fixations": run_size.astype(np.int64),
        }
    )
    kwargs = {
        "name": f"{base} scanpath",
        "ndim": ndim,
        "vector_style": "line",
        "length": 1.0,
        "features": features,
        "edge_color": object_colors(object_id, alpha=0.9),
        "edge_width": max(0.5, extent / 400.0),
        "opacity": 0.8,
        "metadata": _gazeseg_meta("scanpath", fixations.meta, group, base),
        **_transform(ndim, scale, translate, affine),
    }
    return data, kwargs, "vectors"


def heatmap_grid(
    shape: Sequence[int],
    max_side: int = HEATMAP_MAX_SIDE,
    max_pixels: int = HEATMAP_MAX_PIXELS,
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The shape of the heatmap of an image of data shape ``shape``, and its pixel size.

    Returns ``(heatmap_shape, pixel_size)``: leading (plane) axes are kept; when
    a plane's long side exceeds ``max_side``, or all planes together would hold
    more than ``max_pixels`` pixels, the two displayed axes get ``m = ceil(n *
    side / long_side)`` pixels instead of ``n``, ``side`` being the largest
    allowed long side. ``pixel_size`` is ``n / m`` image pixels per heatmap pixel
    on each axis (1 where nothing changes), so that the ``m`` heatmap pixels cover
    the ``n`` image pixels exactly, edge to edge. Raises ``ValueError`` when the
    planes alone exceed ``max_pixels`` (no heatmap can be that small).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"an image shape needs at least two positive sizes, got {shape}.")
    planes = int(np.prod(shape[:-2], dtype=object)) if len(shape) > 2 else 1
    if planes > max_pixels:
        raise ValueError(
            f"an image of {planes} planes is too large for a heatmap of at most {max_pixels} pixels."
        )
    side = min(int(max_side), math.isqrt(int(max_pixels) // planes))
    long_side = max(shape[-2:])
    if long_side <= side:
        return shape, (1.0,) * len(shape)
    coarse = tuple(max(1, -(-n * side // long_side)) for n in shape[-2:])
    return shape[:-2] + coarse, (1.0,) * (len(shape) - 2) + tuple(
        n / m for n, m in zip(shape[-2:], coarse)
    )


def heatmap_map(
    kind: str,
    shape: Sequence[int],
    *,
    recording: GazeRecording | None = None,
    fixations: Fixations | None = None,
    kernel_size: int = 100,
    sigma: float = 100 / 6,
    max_side: int | None = HEATMAP_MAX_SIDE,
    max_pixels: int = HEATMAP_MAX_PIXELS,
) -> np.ndarray:
    """A gaze map of the given ``kind`` (:data:`HEATMAP_KINDS`) over an image.

    ``shape`` is the image's data shape for the ``D`` coordinate axes:
    ``(rows, cols)`` or ``(planes, rows, cols)``; nD maps are made slice by
    slice from the points on each slice. ``"gaze"`` and ``"blurred"`` use the
    valid samples of ``recording``, ``"fixations"`` and ``"fixations+duration"``
    the centroids of ``fixations`` (weighted by duration in seconds). Returns
    float32 of the shape :func:`heatmap_grid` gives (``shape`` itself for images
    up to ``max_side`` pixels; ``max_side=None`` always gives ``shape``).
    ``kernel_size`` and ``sigma`` (image pixels) shape the Gaussian of the three
    heatmap kinds; ``"blurred"`` always uses the paper's radius 3 and sigma 5
    heatmap pixels (:func:`~napari_gazeseg.gaze.maps.blurred_gaze`) and ignores them.

    On a coarser grid (``pixel_size`` ``f`` per axis), point ``p`` sits at
    ``(p + 0.5) / f - 0.5`` heatmap pixels and the kernel is ``kernel_size / f``
    pixels wide with ``sigma / f``: the same Gaussians, sampled at the heatmap
    pixel centres (the point splatted to the nearest heatmap pixel), so values
    and peaks stay comparable with the full-resolution map.
    """
    from ..gaze.maps import map_of_points, map_points

    points, weights = map_points(kind, recording=recording, fixations=fixations)
    shape = tuple(int(s) for s in shape)
    ndim = points.shape[1] if points.ndim == 2 and points.size else len(shape)
    if len(shape) != ndim:
        raise ValueError(
            f"the heatmap shape {shape} must have one entry per gaze coordinate axis ({ndim})."
        )
    if max_side is None:
        grid, pixel_size = shape, (1.0,) * len(shape)
    else:
        grid, pixel_size = heatmap_grid(shape, max_side, max_pixels)
    if grid != shape:
        size = np.asarray(pixel_size[-2:])
        points = points.copy()
        points[:, -2:] = (points[:, -2:] + 0.5) / size - 0.5
        mean_size = float(size.mean())
        kernel_size = max(1, int(round(kernel_size / mean_size)))
        sigma = sigma / mean_size
    return map_of_points(kind, points, grid, weights, kernel_size, sigma, dtype=np.float32)


def heatmap_layer(
    kind: str,
    shape: Sequence[int],
    *,
    recording: GazeRecording | None = None,
    fixations: Fixations | None = None,
    kernel_size: int = 100,
    sigma: float = 100 / 6,
    name: str | None = None,
    group: str | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    affine: np.ndarray | None = None,
) -> LayerDataTuple:
    """A heatmap (:func:`heatmap_map`) as an Image layer: inferno, additive.

    ``scale`` and ``translate`` place the image (as for every builder); a
    heatmap coarser than the image (:func:`heatmap_grid`) gets the layer scale
    ``scale * pixel_size`` and a translate shifted by ``scale * (pixel_size - 1) / 2``,
    so its pixels cover the image's exactly. ``metadata["gazeseg"]["heatmap"]``
    holds the kind, kernel, and ``pixel_size`` (image pixels per heatmap pixel).
    """
    data = heatmap_map(
        kind, shape, recording=recording, fixations=fixations, kernel_size=kernel_size, sigma=sigma
    )
    _grid, pixel_size = heatmap_grid(shape)
    source = recording if needs_raw_gaze(kind) else fixations
    base = _base_name(source.meta, name)
    parameters = {
        "heatmap_kind": kind,
        "kernel_size": int(kernel_size),
        "sigma": float(sigma),
        "pixel_size": [float(f) for f in pixel_size],
    }
    placement = _transform(len(shape), scale, translate, affine)
    if any(f != 1.0 for f in pixel_size):
        image_scale = np.asarray(placement.get("scale", (1.0,) * len(shape)), dtype=np.float64)
        image_translate = np.asarray(placement.get("translate", (0.0,) * len(shape)), dtype=np.float64)
        size = np.asarray(pixel_size, dtype=np.float64)
        placement = {
            **placement,
            "scale": tuple(float(v) for v in image_scale * size),
            "translate": tuple(float(v) for v in image_translate + image_scale * (size - 1.0) / 2.0),
        }
    kwargs = {
        "name": f"{base} heatmap",
        "colormap": "inferno",
        "blending": "additive",
        "opacity": 0.7,
        "contrast_limits": _heatmap_limits(data),
        "metadata": _gazeseg_meta("heatmap", source.meta, group, base, heatmap=parameters),
        **placement,
    }
    return data, kwargs, "image"


def _heatmap_limits(data: np.ndarray) -> tuple[float, float]:
    high = float(data.max()) if data.size else 0.0
    return (0.0, high if high > 0 else 1.0)


def gaze_layers(
    recording: GazeRecording | None = None,
    fixations: Fixations | None = None,
    *,
    image_shape: Sequence[int] | None = None,
    heatmap_kind: str | None = "fixations+duration",
    kernel_size: int = 100,
    sigma: float = 100 / 6,
    name: str | None = None,
    scale: Sequence[float] | None = None,
    translate: Sequence[float] | None = None,
    affine: np.ndarray | None = None,
    visible: Sequence[str] | None = None,
    text_color: str | np.ndarray = "white",
) -> list[LayerDataTuple]:
    """All layers of one recording, sharing one group, bottom to top.

    Heatmap (when ``heatmap_kind`` is not None and the image shape is known,
    from ``image_shape`` or the meta), gaze, scanpath, fixations. Either
    argument may be None (a fixation-only file has no raw gaze). Layers of the
    kinds in ``visible`` are shown, the others made hidden, ready to be switched
    on. By default the scanpath and fixations are shown, the raw gaze too when
    it has at most :data:`RAW_GAZE_SHOWN_MAX` valid samples, and the heatmap
    (which would tint the image) is hidden. ``text_color`` colours the fixation
    numbers: one colour, or one per fixation (:func:`label_colors_at`).
    """
    if recording is None and fixations is None:
        raise ValueError("give a gaze recording, fixations, or both.")
    source = recording if recording is not None else fixations
    base = _base_name(source.meta, name)
    group = new_group(base)
    common = {"name": base, "group": group, "scale": scale, "translate": translate, "affine": affine}
    shape = tuple(image_shape) if image_shape is not None else source.image_shape
    ndim = source.ndim
    layers: list[LayerDataTuple] = []
    needs = None if heatmap_kind is None else recording if needs_raw_gaze(heatmap_kind) else fixations
    if shape is not None and np.prod(shape[: ndim - 2], dtype=object) > HEATMAP_MAX_PIXELS:
        needs = None  # so many planes that even 1 x 1 pixel each is too large a heatmap
    if heatmap_kind is not None and shape is not None and needs is not None:
        layers.append(
            heatmap_layer(
                heatmap_kind,
                shape[:ndim],
                recording=recording,
                fixations=fixations,
                kernel_size=kernel_size,
                sigma=sigma,
                **common,
            )
        )
    if recording is not None:
        layers.append(gaze_layer(recording, image_shape=shape, **common))
    if fixations is not None:
        layers.append(scanpath_layer(fixations, image_shape=shape, **common))
        layers.append(fixations_layer(fixations, image_shape=shape, text_color=text_color, **common))
    if visible is None:
        short = recording is not None and int(recording.valid.sum()) <= RAW_GAZE_SHOWN_MAX
        visible = ("scanpath", "fixations") + (("gaze",) if short else ())
    for _data, kwargs, _type in layers:
        kwargs["visible"] = kwargs["metadata"][GAZESEG]["kind"] in visible
    return layers


# -- updating existing layers ------------------------------------------------------
_STYLE_KEYS = {
    "points": ("size", "face_color", "border_color"),
    "vectors": ("edge_color", "edge_width"),
    "image": ("contrast_limits",),
}


#: Settings that usually stay the same from one update to the next: set only when changed.
_UNCHANGED_SKIPPED = ("edge_width",)


def _same(old, new) -> bool:
    """Whether a layer setting ``old`` already equals ``new`` (numbers or sequences of them)."""
    try:
        return bool(np.array_equal(np.asarray(old, dtype=np.float64), np.asarray(new, dtype=np.float64)))
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def _one_refresh(layer, batched: bool = True):
    """Set a Points or Vectors layer's styles with one napari refresh, not one per setter.

    Each style setter makes napari re-slice the layer, recompute its thumbnail
    (a Python loop per segment for Vectors) and redraw its vispy visual. Inside,
    napari's refresh and the layer's and its colour/text managers' events are
    held; after, ``data`` (action "changed", all indices) and ``features`` are
    announced once, and one ``refresh()`` re-slices, redraws and re-thumbnails
    from the final state.
    """
    block_refresh = getattr(layer, "_block_refresh", None)  # napari >= 0.5
    if not batched or block_refresh is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(block_refresh())
        stack.enter_context(layer.events.blocker_all())
        for name in ("_face", "_border", "_edge", "text"):
            manager = getattr(layer, name, None)
            if manager is not None and hasattr(manager, "events"):
                stack.enter_context(manager.events.blocker_all())
        yield
    if not layer.visible:
        # napari does not re-slice hidden layers; shown again, the text of the new
        # features would be looked up with the old slice's indices
        layer.set_view_slice()
    n = len(layer.data)
    layer.events.data(  # as napari's own setter ends: the viewer's extent, other listeners
        value=layer.data, action="changed", data_indices=tuple(range(n)), vertex_indices=((),)
    )
    if hasattr(layer.events, "features"):
        layer.events.features()
    from napari.layers import Vectors

    if isinstance(layer, Vectors):
        layer.refresh(thumbnail=False)
        _thumbnail_later(layer)
    else:
        layer.refresh()


def _thumbnail_later(layer) -> None:
    """Recompute a layer's thumbnail on the next turn of Qt's event loop (now without one).

    napari draws a Vectors thumbnail with a Python loop over its segments: 30-35 ms
    of every scanpath update of a long recording (benchmarks/bench_gaze_layers.py),
    a fifth of a slider move's block. On its own turn the window answers in between.
    """
    import weakref

    from qtpy.QtCore import QCoreApplication, QTimer

    ref = weakref.ref(layer)

    def thumbnail() -> None:
        alive = ref()
        if alive is not None:
            alive.refresh(data_displayed=False, highlight=False, extent=False)

    if QCoreApplication.instance() is None:
        thumbnail()
    else:
        QTimer.singleShot(1, thumbnail)  # 1, not 0: after the paint, in a pass of its own


def create_layers(layer_data: Sequence[LayerDataTuple]) -> list:
    """napari layers built from layer-data tuples (``Layer.create``).

    Workers call it, so that the UI thread only adds the layers: building the
    Points layer of an 11-minute recording (81 000 samples) took 0.3 s. A layer
    not yet in a viewer is plain Python; napari builds its visual and controls
    when it is added, on the UI thread.
    """
    from napari.layers import Layer

    return [Layer.create(*item) for item in layer_data]


def update_layer(layer, layer_data: LayerDataTuple) -> None:
    """Put a builder's output into an existing layer of the same kind, in place.

    Replaces data, features, per-item colours and sizes and the gazeseg
    metadata; keeps the layer object, its name, visibility, opacity and the
    user's other settings.
    """
    data, kwargs, layer_type = layer_data
    kind = type(layer).__name__.lower()  # napari's layer classes: Points, Shapes, Image, ...
    if kind != layer_type:
        raise ValueError(f"cannot put {layer_type} data into the {kind} layer {layer.name!r}.")
    batched = layer_type != "image"
    if not batched:
        layer.data = data
    with _one_refresh(layer, batched=batched):
        if batched:
            layer.data = data
        if "features" in kwargs:
            layer.features = kwargs["features"]
        if "face_colormap" in kwargs:  # before face_color names the feature it maps
            layer.face_colormap = kwargs["face_colormap"]
        changed = []
        for key in _STYLE_KEYS[layer_type]:
            if key in _UNCHANGED_SKIPPED and _same(getattr(layer, key), kwargs[key]):
                continue  # napari redraws (and re-thumbnails) the layer at each set
            setattr(layer, key, kwargs[key])
            changed.append(key)
        text_color = kwargs.get("text", {}).get("color") if isinstance(kwargs.get("text"), Mapping) else None
        if text_color is not None and not isinstance(text_color, str):
            layer.text.color = text_color  # per-fixation colours from the worker, for the new fixations
    if "edge_width" in changed:
        layer.events.edge_width()  # held above: the layer controls' width box follows
    if layer_type == "image":
        for key in ("affine", "scale", "translate"):  # a coarser heatmap than the image has its own
            if key in kwargs and not _same(getattr(layer, key), kwargs[key]):
                setattr(layer, key, kwargs[key])
        layer.reset_contrast_limits_range()
        layer.contrast_limits = kwargs["contrast_limits"]
    layer.metadata = {**layer.metadata, GAZESEG: kwargs["metadata"][GAZESEG]}


# -- layers back to data -------------------------------------------------------------
def _entry(metadata: Mapping, expected: str, layer_name: str) -> dict:
    entry = metadata.get(GAZESEG) if isinstance(metadata, Mapping) else None
    kind = entry.get("kind") if isinstance(entry, Mapping) else None
    if kind != expected:
        what = f"a {kind} layer" if kind else "not a napari-gazeseg layer"
        raise ValueError(
            f"Layer {layer_name!r} is {what}; pick a {expected} layer made by napari-gazeseg "
            "(open a gaze file or a sample)."
        )
    return entry


def recording_from_layer_data(
    data, features: pd.DataFrame, metadata: Mapping, layer_name: str = "layer"
) -> GazeRecording:
    """The recording behind a gaze Points layer's data, features and metadata.

    Drawn points become valid samples (with their current coordinates); the
    invalid samples kept in the metadata are merged back in by time, ties broken
    by the original sample index.
    """
    entry = _entry(metadata, "gaze", layer_name)
    coords = np.asarray(data, dtype=np.float64)
    n_valid = coords.shape[0]
    import pandas as pd
    features = pd.DataFrame(features)
    required = {"sample", "t", "object_id"} | ({"screen_x", "screen_y"} if entry.get("has_screen") else set())
    missing = required - set(features.columns)
    if missing or len(features) != n_valid:
        raise ValueError(
            f"Layer {layer_name!r} lost its gaze features ({', '.join(sorted(missing)) or 'rows'}); "
            "open the gaze file again."
        )
    invalid = entry["invalid"]
    n_invalid = len(invalid["t"])
    ndim = int(entry["ndim"])
    coords = coords.reshape(n_valid, ndim)
    sample = np.concatenate([features["sample"].to_numpy(np.int64), np.asarray(invalid["sample"], np.int64)])
    t = np.concatenate([features["t"].to_numpy(np.float64), np.asarray(invalid["t"], np.float64)])
    object_id = np.concatenate(
        [features["object_id"].to_numpy(np.int64), np.asarray(invalid["object_id"], np.int64)]
    )
    screen = None
    if entry.get("has_screen"):
        valid_screen = features[["screen_x", "screen_y"]].to_numpy(np.float64)
        screen = np.concatenate([valid_screen, np.asarray(invalid["screen"], np.float64).reshape(-1, 2)])
    all_coords = np.concatenate([coords, np.full((n_invalid, ndim), np.nan)])
    valid = np.concatenate([np.ones(n_valid, bool), np.zeros(n_invalid, bool)])
    order = np.lexsort((sample, t))
    return GazeRecording(
        t=t[order],
        coords=all_coords[order],
        valid=valid[order],
        screen=None if screen is None else screen[order],
        object_id=object_id[order],
        meta=copy.deepcopy(entry["meta"]),
    )


def recording_from_layer(layer) -> GazeRecording:
    """The :class:`GazeRecording` shown by a gaze Points layer (see the module docstring)."""
    return recording_from_layer_data(layer.data, layer.features, layer.metadata, layer.name)


def fixations_from_layer(layer) -> Fixations:
    """The :class:`Fixations` shown by a fixations Points layer, at their current positions."""
    entry = _entry(layer.metadata, "fixations", layer.name)
    features = layer.features
    missing = {"start", "duration", "object_id"} - set(features.columns)
    if missing:
        raise ValueError(
            f"Layer {layer.name!r} lost its fixation features ({', '.join(sorted(missing))}); "
            "detect the fixations again in the Gaze layers widget."
        )
    return Fixations(
        start=features["start"].to_numpy(np.float64),
        duration=features["duration"].to_numpy(np.float64),
        coords=np.asarray(layer.data, dtype=np.float64).reshape(len(features), layer.ndim),
        object_id=features["object_id"].to_numpy(np.int64),
        meta=copy.deepcopy(entry["meta"]),
    )
