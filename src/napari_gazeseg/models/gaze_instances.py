"""Turn a foreground mask (GradTrack's output) into one label per object looked at.

GradTrack segments what the observer's kind of object looks like, everywhere in
the image, as one foreground. The gaze sessions say which objects the annotator
meant: each connected component of the foreground that holds fixations of object
session ``k`` becomes label ``k``. A component holding fixations of several
sessions (touching objects) is split among them by growing each object from its
fixations through the component (a watershed flood on a flat landscape: a pixel
joins the object that reaches it first, so each object's share is connected).
Components no session looked at are left out.

Coordinates: fixation points in image data coordinates ``(row, col)`` of the
mask, in pixels, pixel centres at integers (napari's convention).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.segmentation import watershed

from ..gaze.recording import NO_OBJECT

__all__ = ["labels_from_gaze"]


def labels_from_gaze(mask: np.ndarray, points: np.ndarray, object_ids: np.ndarray) -> np.ndarray:
    """Label image ``(rows, cols)`` int32: each looked-at component of ``mask`` as its object id.

    ``mask`` is a 2D boolean foreground; ``points`` ``(N, 2)`` are fixation
    positions ``(row, col)`` on it and ``object_ids`` ``(N,)`` their sessions.
    Points outside the image or off the foreground, NaN points and points of
    object id 0 (outside any session) choose no component.
    """
    mask = np.asarray(mask, dtype=bool)
    points = np.asarray(points, dtype=float)
    object_ids = np.asarray(object_ids)
    if mask.ndim != 2:
        raise ValueError(f"the foreground mask must be 2D, got shape {mask.shape}.")
    if points.size == 0:
        points = points.reshape(0, 2)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (N, 2) (row, col), got shape {points.shape}.")
    if object_ids.shape != (len(points),):
        raise ValueError(f"{len(points)} points but object ids of shape {object_ids.shape}.")
    if object_ids.size and (
        object_ids.dtype.kind not in "iu"
        or object_ids.min() < 0
        or object_ids.max() > np.iinfo(np.int32).max
    ):
        raise ValueError(
            f"object ids must be whole numbers from 0 to {np.iinfo(np.int32).max} (int32 labels)."
        )
    object_ids = object_ids.astype(np.int64)
    labels = np.zeros(mask.shape, dtype=np.int32)
    with np.errstate(invalid="ignore"):  # NaN points compare False: outside
        inside = (
            (points >= -0.5).all(axis=1)
            & (points < np.asarray(mask.shape) - 0.5).all(axis=1)
            & (object_ids != NO_OBJECT)
        )
    pixel = np.round(points[inside]).astype(np.int64)
    object_ids = object_ids[inside]
    on_foreground = mask[pixel[:, 0], pixel[:, 1]]
    pixel, object_ids = pixel[on_foreground], object_ids[on_foreground]
    if not len(pixel):
        return labels
    components, _ = ndimage.label(mask)
    seeds = np.zeros(mask.shape, dtype=np.int64)
    seeds[pixel[:, 0], pixel[:, 1]] = object_ids
    boxes = ndimage.find_objects(components)
    for component in np.unique(components[pixel[:, 0], pixel[:, 1]]):
        box = boxes[component - 1]
        region = components[box] == component
        own_seeds = np.where(region, seeds[box], 0)
        if len(np.unique(own_seeds[own_seeds > 0])) == 1:
            labels[box][region] = own_seeds.max()
            continue
        # several sessions in one component: each object grows from its fixations through
        # the component (a flood, so a share never jumps across background)
        labels[box][region] = watershed(
            np.zeros(region.shape, np.uint8), markers=own_seeds, mask=region
        )[region]
    return labels
