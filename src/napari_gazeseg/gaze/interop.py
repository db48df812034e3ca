"""pymovements interop: a :class:`GazeRecording` as a ``pymovements.Gaze`` and back.

``to_pymovements(recording, fixations=None)`` gives a ``pymovements.Gaze``:

* ``samples``: ``time`` in ms (pymovements' unit), ``pixel`` ``[x, y]`` in
  **screen pixels** when the recording knows its screen (``recording.screen`` and
  ``meta["screen"]["width_px"/"height_px"]``: ``x = screen_x * width - 0.5``),
  else in **image pixels** (``x = col``, ``y = row``; the image is then the
  experiment's screen); NaN positions become nulls, as pymovements keeps them.
  Our own columns ride along so that nothing is lost: ``gazeseg_t`` (s),
  ``gazeseg_c0`` .. ``gazeseg_c{D-1}`` (image coordinates), ``gazeseg_valid``,
  ``gazeseg_object_id`` and, when known, ``gazeseg_screen_x/_y``;
* ``experiment``: screen size in px (and cm, distance, from ``meta["screen"]``),
  origin upper left, the sampling rate;
* ``metadata["napari_gazeseg"]``: the recording's ``meta``;
* ``events``: ``fixations`` (optional) as ``"fixation"`` events, onset and offset in ms.

``from_pymovements(gaze, image_shape=None)`` reads it back: a ``Gaze`` made by
:func:`to_pymovements` gives the very same recording (``recording.equals``);
any other ``Gaze`` (e.g. ``pymovements.gaze.from_asc``) gives the screen as
the image: ``(row, col) = (y, x)`` of its ``pixel`` column (the mean of both eyes
where both were tracked), an image of the experiment's screen size (or
``image_shape``), time in seconds from its first sample.

pymovements (and polars) are imported only when these functions run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .recording import Fixations, GazeRecording

__all__ = ["from_pymovements", "to_pymovements"]

_PREFIX = "gazeseg_"


def _pymovements():
    try:
        import polars as pl
        import pymovements as pm
    except ImportError as err:  # pragma: no cover - pymovements is a test dependency
        raise ImportError(
            "pymovements interop needs pymovements: pip install pymovements."
        ) from err
    return pm, pl


def to_pymovements(recording: GazeRecording, fixations: Fixations | None = None) -> Any:
    """The recording as a ``pymovements.Gaze`` (see the module docstring)."""
    if not isinstance(recording, GazeRecording):
        raise TypeError(f"to_pymovements needs a GazeRecording, got {type(recording).__name__}.")
    pm, pl = _pymovements()
    meta = recording.meta
    geometry = meta.get("screen") if isinstance(meta.get("screen"), dict) else {}
    width, height = geometry.get("width_px"), geometry.get("height_px")
    resolution = meta.get("screen_resolution_px")
    if not (width and height) and isinstance(resolution, list) and len(resolution) == 2:
        width, height = resolution
    if recording.screen is not None and width and height:
        x = recording.screen[:, 0] * width - 0.5
        y = recording.screen[:, 1] * height - 0.5
        space = "screen"
    else:
        x, y = recording.coords[:, -1].copy(), recording.coords[:, -2].copy()
        shape = recording.image_shape
        height, width = (shape[-2], shape[-1]) if shape else (None, None)
        space = "image"
    columns: dict[str, Any] = {
        "time": recording.t * 1000.0,
        "x": x,
        "y": y,
        f"{_PREFIX}t": recording.t,
        f"{_PREFIX}valid": recording.valid,
        f"{_PREFIX}object_id": recording.object_id,
    }
    for axis in range(recording.ndim):
        columns[f"{_PREFIX}c{axis}"] = recording.coords[:, axis]
    if recording.screen is not None:
        columns[f"{_PREFIX}screen_x"] = recording.screen[:, 0]
        columns[f"{_PREFIX}screen_y"] = recording.screen[:, 1]
    frame = pl.DataFrame(columns).with_columns(
        pl.col("x").fill_nan(None), pl.col("y").fill_nan(None)
    )
    rate = None
    try:
        rate = float(recording.sampling_rate_hz)
    except ValueError:
        pass
    experiment = pm.Experiment(
        screen_width_px=int(width) if width else None,
        screen_height_px=int(height) if height else None,
        screen_width_cm=geometry["width_mm"] / 10.0 if "width_mm" in geometry else None,
        screen_height_cm=geometry["height_mm"] / 10.0 if "height_mm" in geometry else None,
        distance_cm=geometry["distance_mm"] / 10.0 if "distance_mm" in geometry else None,
        origin="upper left",
        sampling_rate=rate,
    )
    events = None
    if fixations is not None:
        events = pm.Events(
            name="fixation",
            onsets=(fixations.start * 1000.0).tolist(),
            offsets=(fixations.end * 1000.0).tolist(),
        )
    return pm.Gaze(
        frame,
        experiment=experiment,
        events=events,
        time_column="time",
        time_unit="ms",
        pixel_columns=["x", "y"],
        metadata={"napari_gazeseg": meta, "pixel_space": space},
    )


def from_pymovements(gaze: Any, image_shape: tuple[int, int] | None = None) -> GazeRecording:
    """A :class:`GazeRecording` from a ``pymovements.Gaze`` (see the module docstring)."""
    _, pl = _pymovements()
    samples = gaze.samples
    columns = samples.columns
    if f"{_PREFIX}t" in columns and f"{_PREFIX}c0" in columns:
        return _ours(gaze, samples, columns)
    if "time" not in columns or "pixel" not in columns:
        raise ValueError(
            "the pymovements Gaze has no time and pixel columns; load it with pixel_columns= "
            "and time_column= so that its gaze positions are known."
        )
    time = samples["time"].cast(pl.Float64).to_numpy()
    pixel = np.array(samples["pixel"].to_list(), dtype=np.float64).reshape(len(time), -1)
    if pixel.shape[1] not in (2, 4):
        raise ValueError(f"the pixel column holds {pixel.shape[1]} values per sample; expected x, y (one or two eyes).")
    with np.errstate(invalid="ignore"):
        if pixel.shape[1] == 4:
            x = np.nanmean(pixel[:, 0::2], axis=1) if np.isfinite(pixel).any() else pixel[:, 0]
            y = np.nanmean(pixel[:, 1::2], axis=1) if np.isfinite(pixel).any() else pixel[:, 1]
        else:
            x, y = pixel[:, 0], pixel[:, 1]
    screen = getattr(getattr(gaze, "experiment", None), "screen", None)
    width = getattr(screen, "width_px", None)
    height = getattr(screen, "height_px", None)
    if image_shape is not None:
        height, width = int(image_shape[-2]), int(image_shape[-1])
    meta: dict[str, Any] = {"source": "pymovements", "image": {"name": "screen"}}
    rate = getattr(getattr(gaze.experiment, "eyetracker", None), "sampling_rate", None) if gaze.experiment else None
    if rate:
        meta["sampling_rate_hz"] = float(rate)
    coords = np.column_stack([y, x])
    normalised = None
    valid = np.isfinite(coords).all(axis=1)
    if width and height:
        meta["image"]["shape"] = [int(height), int(width)]
        meta["screen_resolution_px"] = [int(width), int(height)]
        size = [getattr(screen, name, None) for name in ("width_cm", "height_cm", "distance_cm")]
        if image_shape is None and all(isinstance(v, (int, float)) and v > 0 for v in size):
            meta["screen"] = {
                "width_px": int(width), "height_px": int(height),
                "width_mm": size[0] * 10.0, "height_mm": size[1] * 10.0, "distance_mm": size[2] * 10.0,
            }
        normalised = np.column_stack([(x + 0.5) / width, (y + 0.5) / height])
        valid &= (y >= -0.5) & (y < height - 0.5) & (x >= -0.5) & (x < width - 0.5)
    order = np.argsort(time, kind="stable")
    t = (time - time[order][0]) / 1000.0 if len(time) else time
    return GazeRecording(
        t=t[order],
        coords=coords[order],
        valid=valid[order],
        screen=None if normalised is None else normalised[order],
        meta=meta,
    )


def _ours(gaze, samples, columns) -> GazeRecording:
    ndim = sum(1 for c in columns if c.startswith(f"{_PREFIX}c") and c[len(_PREFIX) + 1 :].isdigit())
    get = lambda name: samples[name].to_numpy()  # noqa: E731
    screen = None
    if f"{_PREFIX}screen_x" in columns:
        screen = np.column_stack([get(f"{_PREFIX}screen_x"), get(f"{_PREFIX}screen_y")])
    meta = (gaze.metadata or {}).get("napari_gazeseg", {})
    return GazeRecording(
        t=get(f"{_PREFIX}t"),
        coords=np.column_stack([get(f"{_PREFIX}c{axis}") for axis in range(ndim)]),
        valid=get(f"{_PREFIX}valid"),
        screen=screen,
        object_id=get(f"{_PREFIX}object_id"),
        meta=meta,
    )
