"""One object's mask carried from its plane to the neighbouring planes of a stack with SAM.

What micro-sam's 3D annotator does from one annotated slice with SAM 1: the mask
on plane ``z`` prompts plane ``z + 1`` (its box, its centre point and the mask
itself as SAM's dense input; ``GazeSam.segment_from_mask``), that answer prompts
``z + 2``, and so on; then the same downward from ``z``. No napari, no Qt, no
torch here: the model is passed in (a :class:`~napari_gazeseg.models.sam_gaze.GazeSam`
or anything with its ``set_image`` and ``segment_from_mask``). SAM 2's video
predictor does the same job with its own memory
(:func:`napari_gazeseg.models.sam2_gaze.sam2_mask_propagation`); both yield the
same items.

Contract
--------
* **Planes.** ``slice_index`` holds the leading indices of the plane the object was
  annotated on; ``axis`` (an index into them, default the last) is the one walked
  along. Upward first (``z + 1, z + 2, ...``), then downward (``z - 1, ...``), at
  most ``planes_each_way`` planes each way (None: to the ends of the stack)
  (:func:`propagation_planes`).
* **Stopping.** A direction stops at the first plane whose mask is empty or whose
  IoU with the previous plane's mask is below ``iou_threshold``; that plane gets
  no mask (micro-sam's criterion).
* **Output.** One :class:`~napari_gazeseg.segmentation.ObjectMask` ``(object_id,
  plane's slice index, mask)`` per plane reached, in the order visited (the start
  plane's own mask is not repeated); a :class:`PropagationEnd` after each
  direction says where and why it ended; with ``stages=True``
  :class:`~napari_gazeseg.segmentation.Stage` items come before each plane.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .segmentation import ObjectMask, Stage

__all__ = [
    "DEFAULT_IOU_THRESHOLD",
    "PropagationEnd",
    "mask_iou",
    "propagate_mask",
    "propagation_planes",
]

#: IoU with the previous plane below which a direction stops (micro-sam's 3D annotator: 0.8
#: for its own models; lower here so that gaze-made masks of growing objects carry on).
DEFAULT_IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class PropagationEnd:
    """Where one direction ended: ``direction`` +1 / -1, ``last_plane`` (the start when
    no plane was reached) and ``reason`` in words."""

    direction: int
    last_plane: int
    reason: str


def propagation_planes(
    n_planes: int, start: int, planes_each_way: int | None = None
) -> tuple[list[int], list[int]]:
    """The planes visited upward and downward from ``start`` (None: to the ends)."""
    n_planes, start = int(n_planes), int(start)
    if not 0 <= start < n_planes:
        raise ValueError(f"plane {start} is not in a stack of {n_planes} planes.")
    if planes_each_way is not None and planes_each_way < 0:
        raise ValueError(f"planes each way must be 0 or more, got {planes_each_way}.")
    reach = n_planes if planes_each_way is None else int(planes_each_way)
    up = list(range(start + 1, min(n_planes, start + reach + 1)))
    down = list(range(start - 1, max(-1, start - reach - 1), -1))
    return up, down


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 0.0


def _leading_axis(slice_index: tuple[int, ...], axis: int) -> int:
    if not slice_index:
        raise ValueError("a 2D image has no neighbouring planes; propagation needs a stack.")
    if not -len(slice_index) <= axis < len(slice_index):
        raise ValueError(f"axis {axis} is not one of the image's {len(slice_index)} leading axes.")
    return axis % len(slice_index)


def propagate_mask(
    sam,
    image,
    mask: np.ndarray,
    slice_index: Sequence[int],
    object_id: int,
    *,
    axis: int = -1,
    planes_each_way: int | None = None,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    contrast_limits: tuple[float, float] | None = None,
    box_extension: float = 0.0,
    stages: bool = False,
) -> Iterator[ObjectMask | PropagationEnd | Stage]:
    """Carry ``mask`` (the object's mask on plane ``slice_index``) through ``image``'s planes.

    ``image`` is the whole stack (any array-like indexable by slice indices; grey
    or RGB planes); see the module docstring for the order and the stops. The
    inputs are checked when the generator starts.
    """
    slice_index = tuple(int(i) for i in slice_index)
    axis = _leading_axis(slice_index, axis)
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError(
            f"object {object_id} has no mask on plane {slice_index[axis]}; segment it on this "
            "plane first (or choose the plane it is on)."
        )
    if object_id < 1:
        raise ValueError(f"object masks need a label id of 1 or more, got {object_id}.")
    up, down = propagation_planes(image.shape[axis], slice_index[axis], planes_each_way)
    total = len(up) + len(down)
    done = 0
    for direction, planes in ((1, up), (-1, down)):
        previous, last = mask, slice_index[axis]
        reason = None
        for plane in planes:
            index = slice_index[:axis] + (plane,) + slice_index[axis + 1 :]
            if stages:
                way = "up" if direction > 0 else "down"
                yield Stage(f"object {object_id}: plane {plane} ({way})", done, total)
            sam.set_image(np.asarray(image[index]), contrast_limits, index)
            found = np.asarray(sam.segment_from_mask(previous, box_extension=box_extension), bool)
            done += 1
            if not found.any():
                reason = f"empty mask on plane {plane}"
                break
            iou = mask_iou(found, previous)
            if iou < iou_threshold:
                reason = f"IoU {iou:.2f} < {iou_threshold:.2f} with plane {last} on plane {plane}"
                break
            yield ObjectMask(int(object_id), index, found)
            previous, last = found, plane
        if reason is None:
            end_plane = planes[-1] if planes else slice_index[axis]
            at_end = not 0 <= end_plane + direction < image.shape[axis]
            reason = "end of the stack" if at_end else f"limit of {len(planes)} plane{'' if len(planes) == 1 else 's'}"
        done = len(up) if direction > 0 else total
        yield PropagationEnd(direction, last, reason)
