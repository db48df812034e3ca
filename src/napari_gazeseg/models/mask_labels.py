"""Write one object's mask into a label image as its own label id.

A label image holds ``0`` for background and object ids ``1, 2, ...`` (the gaze
sessions' object ids). Painting an object replaces that object's previous mask;
other objects' pixels are kept unless ``overwrite`` is asked for.
"""

from __future__ import annotations

import numpy as np

__all__ = ["paint_mask"]


def paint_mask(labels: np.ndarray, mask: np.ndarray, label_id: int, overwrite: bool = False) -> int:
    """Put ``mask`` into ``labels`` (in place) as ``label_id``; returns the pixels now labelled so.

    ``labels`` and ``mask`` have the same shape (one 2D slice, or a view of it).
    Pixels that held ``label_id`` but are outside the new mask go back to 0; mask
    pixels that belong to another object keep it unless ``overwrite``.
    """
    if label_id < 1:
        raise ValueError(f"object masks need a label id of 1 or more, got {label_id}.")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != labels.shape:
        raise ValueError(
            f"the mask has shape {mask.shape} but the labels slice has {labels.shape}."
        )
    if labels.dtype.kind in "iu" and label_id > np.iinfo(labels.dtype).max:
        raise ValueError(
            f"label id {label_id} does not fit the labels layer's {labels.dtype}; use a wider dtype."
        )
    labels[(labels == label_id) & ~mask] = 0
    writable = mask if overwrite else mask & ((labels == 0) | (labels == label_id))
    labels[writable] = label_id
    return int(np.count_nonzero(labels == label_id))
