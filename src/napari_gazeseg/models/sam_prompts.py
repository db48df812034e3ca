"""Gaze -> SAM prompts: points, a box and a dense mask input, in SAM's input frame.

Coordinates
-----------
Gaze arrives in image data coordinates, napari axis order ``(row, col)``, pixel
centres at integers. SAM wants ``(x, y) = (col, row)`` in the *input frame*: the
image resized so that its longest side is ``long_side`` (1024) pixels and padded
at the bottom and right to a square. This module is the only place that turns
``(row, col)`` into ``(x, y)``; the scaling is exactly segment-anything's
``ResizeLongestSide.apply_coords`` (``x * new_w / old_w``, ``y * new_h / old_h``),
and SAM's prompt encoder then adds 0.5 itself (its pixel-centre shift).

Dense prompts
-------------
The four dense prompts of *SAM meets Gaze* are maps over the image
(:data:`DENSE_KINDS`, the canonical names of :data:`napari_gazeseg.gaze.maps.GAZE_MAPS`,
made by :func:`napari_gazeseg.gaze.maps.gaze_map`). Heatmaps are
unnormalised sums of kernels (their scale grows with the number of points and
with fixation durations) and blurred gaze peaks near 0.02 for an isolated gaze
pixel, so each map is first divided by its maximum (``p`` in ``[0, 1]``, an empty
map stays 0). ``p`` is resized exactly like the image (bilinear with antialiasing,
longest side ``long_side``), padded with 0 at the bottom and right to
``long_side x long_side`` and averaged over 4 x 4 blocks to SAM's 256 x 256 mask
input. SAM reads its mask input as *logits* (it was trained on its own previous
low-resolution logits), so ``p`` becomes ``logit_scale * (2 p - 1)``: the gaze
peak is a confident +``logit_scale``, unlooked-at image and padding a confident
-``logit_scale``, and half the peak is 0 (undecided). The default
:data:`DENSE_LOGIT_SCALE` = 10 matches the magnitude of SAM's own confident
low-resolution logits; fine-tuned checkpoints store the scale they were trained
with and :class:`~napari_gazeseg.models.sam_gaze.GazeSam` uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.utils.transforms import ResizeLongestSide

from ..gaze.maps import GAZE_MAPS, gaze_map
from ..gaze.recording import Fixations, GazeRecording

__all__ = [
    "DENSE_KINDS",
    "DENSE_LOGIT_SCALE",
    "MASK_INPUT_SIDE",
    "PromptKind",
    "SamPrompt",
    "add_clicks",
    "box_from_points",
    "build_prompt",
    "dense_map",
    "mask_input_from_map",
    "parse_prompt_kind",
    "points_to_sam",
    "prompt_from_mask",
    "sam_frame_size",
    "user_box",
]

#: Dense prompt kinds (SAM meets Gaze, sec. 2.2-2.3): the gaze maps' canonical names.
DENSE_KINDS = GAZE_MAPS
#: Logit given to the peak of a dense prompt (and its negative to unlooked-at pixels).
DENSE_LOGIT_SCALE = 10.0
#: Side of SAM's low-resolution mask input (the input frame downsampled by 4).
MASK_INPUT_SIDE = 256
_SPARSE_PARTS = ("fixations", "box")


@dataclass(frozen=True)
class PromptKind:
    """Which prompts to give SAM: fixation points, a gaze-extent box, one dense map."""

    points: bool
    box: bool
    dense: str | None

    @property
    def name(self) -> str:
        parts = (["fixations"] if self.points else []) + (["box"] if self.box else [])
        return "+".join(parts + ([self.dense] if self.dense else []))


def parse_prompt_kind(kind: str | PromptKind) -> PromptKind:
    """Parse ``"fixations"``, ``"fixations+box"``, ``"heatmap_fixations"``, ``"fixations+blurred_gaze"`` ...

    Parts joined by ``+``: ``fixations``, ``box`` and at most one of :data:`DENSE_KINDS`.
    """
    if isinstance(kind, PromptKind):
        return kind
    parts = [part.strip() for part in str(kind).split("+") if part.strip()]
    unknown = [p for p in parts if p not in _SPARSE_PARTS + DENSE_KINDS]
    dense = [p for p in parts if p in DENSE_KINDS]
    if not parts or unknown or len(dense) > 1 or len(set(parts)) != len(parts):
        raise ValueError(
            f"prompt {kind!r} is not understood; join 'fixations', 'box' and at most one of "
            f"{', '.join(DENSE_KINDS)} with '+'."
        )
    return PromptKind("fixations" in parts, "box" in parts, dense[0] if dense else None)


def sam_frame_size(original_size: tuple[int, int], long_side: int = 1024) -> tuple[int, int]:
    """``(rows, cols)`` of the image resized so that its longest side is ``long_side``."""
    return ResizeLongestSide.get_preprocess_shape(
        int(original_size[0]), int(original_size[1]), long_side
    )


def points_to_sam(coords_rc, original_size: tuple[int, int], long_side: int = 1024) -> np.ndarray:
    """``(K, 2)`` ``(row, col)`` image coordinates -> ``(K, 2)`` ``(x, y)`` in SAM's input frame."""
    coords_rc = np.asarray(coords_rc, dtype=np.float64).reshape(-1, 2)
    new_h, new_w = sam_frame_size(original_size, long_side)
    xy = np.empty_like(coords_rc)
    xy[:, 0] = coords_rc[:, 1] * (new_w / original_size[1])
    xy[:, 1] = coords_rc[:, 0] * (new_h / original_size[0])
    return xy


def add_clicks(
    prompt: SamPrompt,
    positive=None,
    negative=None,
    box=None,
    *,
    original_size: tuple[int, int],
    long_side: int = 1024,
) -> SamPrompt:
    """``prompt`` with the annotator's clicks and box added, as micro-sam corrects.

    ``positive`` / ``negative`` are ``(K, 2)`` ``(row, col)`` image coordinates of
    foreground (SAM label 1) and background (label 0) clicks on the slice, added
    after the gaze points. ``box`` is the annotator's rectangle on the slice: its
    ``(K, 2)`` ``(row, col)`` corners as drawn (napari's four vertices, or two
    opposite corners), along the image axes, clipped to the image's extent
    (``-0.5 .. size - 0.5``); it replaces the gaze-extent box (:func:`user_box`).
    The gaze points and dense prompt already in ``prompt`` are kept: one prompt.
    """
    coords, labels = [], []
    for points, label in ((positive, 1), (negative, 0)):
        if points is None:
            continue
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if not np.isfinite(points).all():
            raise ValueError("a correction click has no finite position; click on the image.")
        if len(points):
            coords.append(points_to_sam(points, original_size, long_side))
            labels.append(np.full(len(points), label, dtype=np.int64))
    sam_box = None if box is None else user_box(box, original_size, long_side)
    if not coords and sam_box is None:
        return prompt
    if coords and prompt.point_coords is not None:
        coords.insert(0, np.asarray(prompt.point_coords, dtype=np.float64))
        labels.insert(0, np.asarray(prompt.point_labels, dtype=np.int64))
    return SamPrompt(
        point_coords=np.concatenate(coords) if coords else prompt.point_coords,
        point_labels=np.concatenate(labels) if coords else prompt.point_labels,
        box=prompt.box if sam_box is None else sam_box,
        mask_input=prompt.mask_input,
    )


def user_box(corners_rc, original_size: tuple[int, int], long_side: int = 1024) -> np.ndarray:
    """An annotator's rectangle -> SAM's box ``(x0, y0, x1, y1)`` in the input frame.

    ``corners_rc`` ``(K, 2)``, ``K >= 2``: the ``(row, col)`` corners as drawn
    (their order does not matter), taken as they are, as micro-sam takes napari's
    rectangles. Every corner must share its row or column with the extreme ones
    (a rectangle along the image axes); the box is clipped to the image's extent
    ``-0.5 .. size - 0.5``. ValueError says what to do otherwise.
    """
    corners = np.asarray(corners_rc, dtype=np.float64).reshape(-1, 2)
    if len(corners) < 2 or not np.isfinite(corners).all():
        raise ValueError("a correction box has no finite position; draw it on the image.")
    low, high = corners.min(axis=0), corners.max(axis=0)
    span = np.maximum(high - low, 1.0)
    on_edge = np.isclose(corners, low, atol=1e-6 * span) | np.isclose(corners, high, atol=1e-6 * span)
    if not on_edge.all():
        raise ValueError(
            "a correction box is rotated; SAM takes boxes along the image axes: draw it again "
            "with the rectangle tool, unrotated."
        )
    extent_high = np.array(original_size, dtype=np.float64) - 0.5
    if (high < -0.5).any() or (low > extent_high).any():
        raise ValueError("a correction box lies outside the image; draw it on the object.")
    low, high = np.clip(low, -0.5, extent_high), np.clip(high, -0.5, extent_high)
    return points_to_sam(np.stack([low, high]), original_size, long_side).reshape(4)


def prompt_from_mask(
    mask,
    *,
    box: bool = True,
    center: bool = True,
    dense: bool = True,
    box_extension: float = 0.0,
    long_side: int = 1024,
    logit_scale: float = DENSE_LOGIT_SCALE,
) -> SamPrompt:
    """SAM prompts that carry an object's mask on one plane to the next (micro-sam's projection).

    ``mask`` ``(rows, cols)`` bool, non-empty: its bounding box (pixel centres, grown
    by ``box_extension`` times its side on every side, clipped to the image), its
    centre point (the mask pixel farthest from the background, as a foreground
    point) and the mask itself as SAM's dense mask input (scaled as a dense gaze
    map: ``logit_scale`` inside, ``-logit_scale`` outside; see the module doc).
    """
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or not mask.any():
        raise ValueError("a mask prompt needs a non-empty 2D mask of the plane.")
    original_size = mask.shape
    prompt = SamPrompt()
    if box:
        rows, cols = np.nonzero(mask)
        extent = np.array([[rows.min(), cols.min()], [rows.max(), cols.max()]], dtype=np.float64)
        margin = float(box_extension) * (extent[1] - extent[0] + 1)
        corners = np.clip(
            extent + np.array([-margin, margin]), 0, np.array(original_size) - 1
        )
        prompt.box = points_to_sam(corners, original_size, long_side).reshape(4)
    if center:
        distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
        peak = np.unravel_index(int(np.argmax(distance)), mask.shape)
        prompt.point_coords = points_to_sam(np.array([peak], float), original_size, long_side)
        prompt.point_labels = np.ones(1, dtype=np.int64)
    if dense:
        prompt.mask_input = mask_input_from_map(mask.astype(np.float64), long_side, logit_scale)
    if prompt.is_empty:
        raise ValueError("choose at least one of box, center and dense for a mask prompt.")
    return prompt


def box_from_points(coords_rc, original_size: tuple[int, int], margin: float = 0.0) -> np.ndarray:
    """The gaze extent as a box ``(x0, y0, x1, y1)`` in image pixels (SAM's box order).

    The smallest box around the points, grown by ``margin`` pixels on every side and
    clipped to the image (pixel centres ``0 .. size - 1``).
    """
    coords_rc = np.asarray(coords_rc, dtype=np.float64).reshape(-1, 2)
    coords_rc = coords_rc[np.isfinite(coords_rc).all(axis=1)]
    if coords_rc.shape[0] == 0:
        raise ValueError("a gaze box needs at least one valid gaze point on the image.")
    low = np.clip(coords_rc.min(axis=0) - margin, 0, np.array(original_size) - 1)
    high = np.clip(coords_rc.max(axis=0) + margin, 0, np.array(original_size) - 1)
    return np.array([low[1], low[0], high[1], high[0]], dtype=np.float64)


def dense_map(
    kind: str,
    shape: tuple[int, int],
    fixations: Fixations | None = None,
    recording: GazeRecording | None = None,
) -> np.ndarray:
    """One of the four dense gaze maps of one 2D slice, ``(rows, cols)`` float64, unnormalised.

    ``fixations`` and ``recording`` hold the gaze of one object on this slice (their
    last two coordinate columns are used). ``heatmap_gaze`` and ``blurred_gaze``
    need the raw ``recording``; the fixation kinds need ``fixations``
    (:func:`~napari_gazeseg.gaze.maps.gaze_map`, with the paper's kernel).
    """
    if len(shape) != 2:
        raise ValueError(f"a dense prompt is a map of one 2D slice; got the shape {tuple(shape)}.")
    return gaze_map(kind, shape, recording=recording, fixations=fixations)


def mask_input_from_map(
    gaze_map: np.ndarray, long_side: int = 1024, logit_scale: float = DENSE_LOGIT_SCALE
) -> np.ndarray:
    """A dense gaze map of the image's shape -> SAM's mask input ``(1, 256, 256)`` float32 logits.

    See the module doc for the scaling: peak-normalise, resize like the image,
    pad bottom/right, average 4 x 4 blocks, ``logit_scale * (2 p - 1)``.
    """
    gaze_map = np.asarray(gaze_map, dtype=np.float64)
    if gaze_map.ndim != 2:
        raise ValueError(
            f"a dense prompt must be a 2D map of the image slice, got shape {gaze_map.shape}."
        )
    peak = float(np.nanmax(gaze_map)) if gaze_map.size else 0.0
    normalised = np.nan_to_num(gaze_map / peak if peak > 0 else np.zeros_like(gaze_map))
    new_h, new_w = sam_frame_size(gaze_map.shape, long_side)
    tensor = torch.as_tensor(normalised, dtype=torch.float32)[None, None]
    resized = F.interpolate(
        tensor, (new_h, new_w), mode="bilinear", align_corners=False, antialias=True
    )
    padded = F.pad(resized, (0, long_side - new_w, 0, long_side - new_h), value=0.0)
    low_res = F.adaptive_avg_pool2d(padded, (MASK_INPUT_SIDE, MASK_INPUT_SIDE))
    return (logit_scale * (2.0 * low_res[0] - 1.0)).numpy()


@dataclass
class SamPrompt:
    """Prompts for one object in SAM's input frame, ready for the prompt encoder.

    ``point_coords (K, 2)`` ``(x, y)`` and ``point_labels (K,)`` (1 foreground) or
    None; ``box (4,)`` ``(x0, y0, x1, y1)`` or None; ``mask_input (1, 256, 256)``
    logits or None.
    """

    point_coords: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    box: np.ndarray | None = None
    mask_input: np.ndarray | None = None

    @property
    def is_empty(self) -> bool:
        return self.point_coords is None and self.box is None and self.mask_input is None


def build_prompt(
    kind: str | PromptKind,
    original_size: tuple[int, int],
    fixations: Fixations | None = None,
    recording: GazeRecording | None = None,
    box_margin: float = 0.0,
    logit_scale: float = DENSE_LOGIT_SCALE,
    long_side: int = 1024,
) -> SamPrompt:
    """SAM prompts of one object on one 2D slice of ``original_size`` ``(rows, cols)``.

    ``fixations`` / ``recording`` hold that object's gaze on the slice. The box is the
    extent of the fixations (of the valid raw samples when there are no fixations).
    Raises ValueError with what to do when the gaze the prompt needs is missing.
    """
    kind = parse_prompt_kind(kind)
    original_size = (int(original_size[0]), int(original_size[1]))
    prompt = SamPrompt()
    fixation_rc = None if fixations is None or len(fixations) == 0 else fixations.coords[:, -2:]
    if kind.points:
        if fixation_rc is None:
            raise ValueError(
                "there are no fixations on this image slice for this object; look at it longer."
            )
        prompt.point_coords = points_to_sam(fixation_rc, original_size, long_side)
        prompt.point_labels = np.ones(len(fixation_rc), dtype=np.int64)
    if kind.box:
        if fixation_rc is not None:
            extent = fixation_rc
        elif recording is not None and recording.valid.any():
            extent = recording.coords[recording.valid][:, -2:]
        else:
            raise ValueError(
                "there is no gaze on this image slice for this object to draw a box from."
            )
        box = box_from_points(extent, original_size, box_margin)
        prompt.box = points_to_sam(box.reshape(2, 2)[:, ::-1], original_size, long_side).reshape(4)
    if kind.dense:
        gaze_map = dense_map(kind.dense, original_size, fixations=fixations, recording=recording)
        prompt.mask_input = mask_input_from_map(gaze_map, long_side, logit_scale)
    return prompt
