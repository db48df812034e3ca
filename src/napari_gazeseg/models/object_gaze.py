"""Split gaze into per-object, per-slice pieces: what SAM is prompted with for each object.

Every object (label id) is segmented on one 2D slice: on 2D images the image
itself; on nD images (``(plane, row, col)`` or more leading axes) the slice the
annotator looked at longest during that object's session (total fixation
duration; raw sample count when there are no fixations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..gaze.recording import NO_OBJECT, Fixations, GazeRecording

__all__ = ["ObjectGaze", "fixations_of", "object_on_slice", "objects_in"]


@dataclass
class ObjectGaze:
    """One object's gaze on the slice it is segmented on.

    ``slice_index`` holds the leading indices (``()`` for 2D images); ``fixations``
    and ``recording`` (None when only fixations are known) are restricted to it.
    """

    object_id: int
    slice_index: tuple[int, ...]
    fixations: Fixations
    recording: GazeRecording | None


def fixations_of(gaze: GazeRecording | Fixations) -> Fixations:
    """Fixations as given, or detected in a raw recording with the default I-VT filter."""
    if isinstance(gaze, Fixations):
        return gaze
    from ..gaze.fixations import detect_fixations_ivt

    return detect_fixations_ivt(gaze)


def _most_looked_at(leading: np.ndarray, weights: np.ndarray) -> tuple[int, ...]:
    planes, inverse = np.unique(np.round(leading).astype(np.int64), axis=0, return_inverse=True)
    totals = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(planes))
    return tuple(int(i) for i in planes[int(np.argmax(totals))])


def object_on_slice(
    object_id: int,
    fixations: Fixations,
    recording: GazeRecording | None = None,
    slice_index: tuple[int, ...] | None = None,
) -> ObjectGaze:
    """The gaze of ``object_id`` on ``slice_index`` (None: the slice looked at longest)."""
    own_fix = fixations.for_object(object_id)
    own_rec = None if recording is None else recording.for_object(object_id)
    n_leading = fixations.ndim - 2
    if slice_index is None:
        if n_leading == 0:
            slice_index = ()
        elif len(own_fix):
            slice_index = _most_looked_at(own_fix.coords[:, :n_leading], own_fix.duration)
        elif own_rec is not None and own_rec.valid.any():
            valid = own_rec.coords[own_rec.valid]
            slice_index = _most_looked_at(valid[:, :n_leading], np.ones(len(valid)))
        else:
            slice_index = (0,) * n_leading
    slice_index = tuple(int(i) for i in slice_index)
    if n_leading:
        own_fix = own_fix.on_slice(slice_index)
        own_rec = None if own_rec is None else own_rec.on_slice(slice_index)
    return ObjectGaze(int(object_id), slice_index, own_fix, own_rec)


def objects_in(fixations: Fixations, recording: GazeRecording | None = None) -> list[ObjectGaze]:
    """Every object session's gaze (object id 0, outside sessions, is left out), by id."""
    ids = set(fixations.object_ids.tolist())
    if recording is not None:
        ids |= set(recording.object_ids.tolist())
    ids.discard(NO_OBJECT)
    return [object_on_slice(object_id, fixations, recording) for object_id in sorted(ids)]
