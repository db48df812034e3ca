"""Gaze over multiscale images (whole slides, OME-Zarr pyramids): SAM on a tile, labels at level 0.

No napari, no torch: the pyramid is a list of 2D array-likes (numpy, dask, zarr),
level 0 the largest, as a napari multiscale Image layer holds it; the model is
passed in (anything with GazeSam's ``set_image`` / ``segment``).

Contract
--------
* **Coordinates.** Gaze is stored in level-0 pixel coordinates (what napari's
  ``world_to_data`` gives for a multiscale layer). A point ``p`` on level ``k``
  with downsampling factors ``f`` is ``(p + 0.5) * f - 0.5`` on level 0, pixel
  centres at integers (:func:`to_level0`, :func:`from_level0`).
* **Tile.** An object is segmented on the level the annotator was viewing, on a
  square tile of ``tile`` pixels of that level (SAM's 1024 by default) centred
  on its fixations and shifted to lie inside the level (:func:`tile_around`); only
  that tile is read from the pyramid.
* **Labels.** The tile's mask is scaled up to level 0 by pixel replication and
  painted (:func:`napari_gazeseg.segmentation.paint_mask` rules) into a
  level-0 label array that is read and written by region only: a chunked zarr
  array (:func:`zarr_labels`), which a napari Labels layer shows without
  holding the slide in memory. Only the chunks the mask touches are written;
  the object's earlier pixels are cleared within the tile's level-0 region only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .gaze.recording import Fixations
from .segmentation import paint_mask

__all__ = [
    "Tile",
    "from_level0",
    "level_factors",
    "segment_on_tile",
    "tile_around",
    "to_level0",
    "zarr_labels",
]


def level_factors(pyramid: Sequence, level: int) -> np.ndarray:
    """``(2,)`` downsampling of ``level`` against level 0 (rows, cols), from the shapes."""
    if not 0 <= level < len(pyramid):
        raise ValueError(f"level {level} does not exist; the image has levels 0..{len(pyramid) - 1}.")
    base = np.asarray(pyramid[0].shape[:2], float)
    return base / np.asarray(pyramid[level].shape[:2], float)


def to_level0(points, factors) -> np.ndarray:
    """``(N, 2)`` level-k ``(row, col)`` points on level 0."""
    return (np.asarray(points, float) + 0.5) * np.asarray(factors, float) - 0.5


def from_level0(points, factors) -> np.ndarray:
    """``(N, 2)`` level-0 ``(row, col)`` points on the level downsampled by ``factors``."""
    return (np.asarray(points, float) + 0.5) / np.asarray(factors, float) - 0.5


@dataclass(frozen=True)
class Tile:
    """A ``rows x cols`` window at ``origin`` (row, col) of pyramid level ``level``."""

    level: int
    origin: tuple[int, int]
    size: tuple[int, int]

    def slices(self) -> tuple[slice, slice]:
        return tuple(slice(o, o + s) for o, s in zip(self.origin, self.size))


def tile_around(points_level0, pyramid: Sequence, level: int, tile: int = 1024) -> Tile:
    """The ``tile``-pixel square of ``level`` centred on the points' middle, inside the level."""
    points = np.asarray(points_level0, float).reshape(-1, 2)
    if not len(points):
        raise ValueError("the object has no fixations; look at it before segmenting.")
    on_level = from_level0(points, level_factors(pyramid, level))
    centre = (on_level.min(axis=0) + on_level.max(axis=0)) / 2
    shape = np.asarray(pyramid[level].shape[:2])
    size = np.minimum(tile, shape)
    origin = np.clip(np.round(centre - size / 2).astype(int), 0, shape - size)
    return Tile(int(level), (int(origin[0]), int(origin[1])), (int(size[0]), int(size[1])))


def zarr_labels(
    shape: Sequence[int],
    path: str | os.PathLike | None = None,
    chunks: int = 2048,
    dtype=np.int32,
    overwrite: bool = False,
):
    """A chunked level-0 label array filled with 0: on disk at ``path`` or in memory.

    An existing ``path`` is refused unless ``overwrite``.
    """
    import zarr

    if path is not None and os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it, or another path.")
    store = zarr.storage.MemoryStore() if path is None else zarr.storage.LocalStore(str(path))
    return zarr.create_array(
        store=store,
        shape=tuple(int(s) for s in shape[:2]),
        chunks=(chunks, chunks),
        dtype=dtype,
        fill_value=0,
        overwrite=overwrite,
    )


def segment_on_tile(
    sam,
    pyramid: Sequence,
    fixations: Fixations,
    object_id: int,
    labels,
    *,
    level: int,
    tile: int = 1024,
    contrast_limits: tuple[float, float] | None = None,
    prompt: str | None = None,
    overwrite: bool = False,
) -> tuple[Tile, np.ndarray]:
    """Segment one object on a tile of ``level`` and paint it into level-0 ``labels``.

    ``fixations`` are level-0 ``(row, col)``; the object's own are used. Returns the
    tile and the mask on it. ``labels`` is any array indexable by slices (a zarr
    array from :func:`zarr_labels`, numpy); only the mask's level-0 region is
    read and written.
    """
    own = fixations.for_object(object_id)
    where = tile_around(own.coords[:, -2:], pyramid, level, tile)
    factors = level_factors(pyramid, level)
    if not np.allclose(factors, np.round(factors)):
        raise ValueError(
            f"level {level} is {factors.tolist()} times smaller than level 0; "
            "labels are written back only for whole-number downsampling."
        )
    factors_int = np.round(factors).astype(int)
    image = np.asarray(pyramid[level][where.slices()])
    on_tile = from_level0(own.coords[:, -2:], factors) - np.asarray(where.origin)
    local = Fixations(own.start, own.duration, on_tile, own.object_id, own.meta)
    sam.set_image(image, contrast_limits)
    mask = np.asarray(sam.segment(local, None, prompt), bool)
    # the tile's level-0 region, clipped to level 0 (the last pixels of a level may cover less)
    top, left = (np.asarray(where.origin) * factors_int).tolist()
    full = np.repeat(np.repeat(mask, factors_int[0], axis=0), factors_int[1], axis=1)
    bottom = min(top + full.shape[0], labels.shape[0])
    right = min(left + full.shape[1], labels.shape[1])
    region = np.asarray(labels[top:bottom, left:right])
    paint_mask(region, full[: bottom - top, : right - left], int(object_id), overwrite)
    labels[top:bottom, left:right] = region
    return where, mask
