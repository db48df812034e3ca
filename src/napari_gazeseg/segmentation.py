"""How gaze becomes labels: the one place the Segment widget and ``gazeseg segment`` share.

No napari, no Qt, no torch here: the models are passed in (a
:class:`~napari_gazeseg.models.sam_gaze.GazeSam` or anything with its
``set_image`` / ``segment``; a GradTrack predictor or anything with ``predict``).

Contract
--------
* **Objects.** Every object session (object id = label id; id 0, outside any
  session, is left out) is segmented on one 2D slice: on a 2D image the image
  itself; on an nD image the slice the annotator looked at longest during that
  session (total fixation duration, raw sample count without fixations)
  (:func:`objects_in`, :func:`object_on_slice`). 2D gaze over an nD image is
  placed on ``slice_index`` (the displayed slice) instead.
* **Masks.** :func:`sam_object_masks` and :func:`gradtrack_object_masks` yield one
  :class:`ObjectMask` ``(object_id, slice_index, mask)`` per object, in id order;
  with ``stages=True`` they also yield :class:`Stage` items before each long step
  (loading, embedding, object k of N) for a progress display.
* **Painting.** :func:`paint_mask` puts one object's mask into a label slice: the
  object's previous pixels are replaced, other objects' pixels kept unless
  ``overwrite``. :func:`paint_all` paints a sequence of masks into a new label image.
* **GradTrack by gaze.** :func:`labels_from_gaze` turns a foreground into one label
  per object looked at (below).
* **Checks.** :func:`gaze_image_mismatch` (gaze recorded on another image),
  :func:`off_image_warning` (much gaze off the image) and :func:`mask_problem` (a
  result that cannot be right) return one sentence or None; callers decide
  whether to warn, ask or refuse.

Coordinates are image data coordinates in napari axis order, pixel centres at
integers (see :mod:`napari_gazeseg.gaze.recording`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from .gaze import maps as _maps
from .gaze.recording import NO_OBJECT, Fixations, GazeRecording

__all__ = [
    "BUNDLED_GRADTRACK_CARD",
    "MOST_OF_IMAGE",
    "OFF_IMAGE_SHARE",
    "PROMPT_CHOICES",
    "ObjectGaze",
    "ObjectMask",
    "Stage",
    "check_gaze_fits",
    "fixations_of",
    "gaze_image_mismatch",
    "gradtrack_gaze",
    "gradtrack_object_masks",
    "labels_from_gaze",
    "mask_problem",
    "medsam_masks_for",
    "object_on_slice",
    "objects_in",
    "objects_to_segment",
    "off_image_share",
    "off_image_warning",
    "paint_all",
    "paint_mask",
    "problems_of",
    "sam_masks_for",
    "sam_object_masks",
]

#: The SAM prompts offered by name (the Segment widget's list, the commands' --prompt help):
#: the fixations as points, with their box, each gaze map of gaze.maps.GAZE_MAPS alone, and
#: the points with the blurred gaze. Any '+'-combination models.sam_prompts.parse_prompt_kind
#: accepts works too. Read from GAZE_MAPS when this module is imported, so a new map is
#: offered everywhere by adding it there.
PROMPT_CHOICES = ("fixations", "fixations+box", *_maps.GAZE_MAPS, "fixations+blurred_gaze")

#: A mask covering more than this share of its slice is reported as not credible.
MOST_OF_IMAGE = 0.75
#: More than this share of gaze off the image is warned about.
OFF_IMAGE_SHARE = 0.20
#: What the bundled GradTrack model knows (shown where it is chosen; see docs/gradtrack.md).
BUNDLED_GRADTRACK_CARD = (
    "Bundled GradTrack model: trained on 160 synthetic fluorescence-cell images "
    "(384 px, 5 cells each, simulated gaze; held-out Dice 94 %). It knows such cells "
    "only: on other images (e.g. brightfield histology) its masks are wrong; train "
    "your own with `gazeseg train`."
)


# -- objects ----------------------------------------------------------------------------
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

    @property
    def has_gaze(self) -> bool:
        return bool(len(self.fixations)) or (
            self.recording is not None and bool(self.recording.valid.any())
        )


@dataclass(frozen=True)
class ObjectMask:
    """One object's mask ``(rows, cols)`` bool on the slice ``slice_index`` of the image."""

    object_id: int
    slice_index: tuple[int, ...]
    mask: np.ndarray

    @property
    def pixels(self) -> int:
        return int(np.count_nonzero(self.mask))


@dataclass(frozen=True)
class Stage:
    """What a segmentation is doing now: ``text``, and ``done`` of ``total`` objects."""

    text: str
    done: int
    total: int


def fixations_of(gaze: GazeRecording | Fixations, detector=None) -> Fixations:
    """Fixations as given, or detected in a raw recording by ``detector`` (a
    :class:`~napari_gazeseg.gaze.fixations.FixationDetector`; default I-VT with its defaults)."""
    if isinstance(gaze, Fixations):
        return gaze
    from .gaze.fixations import FixationDetector

    return (detector or FixationDetector()).detect(gaze)


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


def check_gaze_fits(gaze_ndim: int, image_ndim: int) -> None:
    """Gaze goes with an ``image_ndim``-D image when it is 2D (one slice) or ``image_ndim``-D."""
    if gaze_ndim not in (2, image_ndim):
        raise ValueError(
            f"the gaze has {gaze_ndim}D coordinates but the image is {image_ndim}D; "
            "choose the gaze recorded on this image."
        )


def _lift(fixations: Fixations, leading: tuple[int, ...]) -> Fixations:
    """2D fixations placed on one slice of a stack (leading coordinates prepended)."""
    coords = np.hstack([np.tile(np.asarray(leading, float), (len(fixations), 1)), fixations.coords])
    return Fixations(
        fixations.start, fixations.duration, coords, fixations.object_id, fixations.meta
    )


def objects_to_segment(
    fixations: Fixations,
    recording: GazeRecording | None = None,
    *,
    image_ndim: int,
    object_ids: Iterable[int] | None = None,
    slice_index: Sequence[int] | None = None,
) -> list[ObjectGaze]:
    """The objects SAM is asked about, each on its slice; ValueError when there is none.

    ``image_ndim`` counts the image's spatial axes (no RGB axis). 2D gaze over an
    nD image is placed on ``slice_index`` (the displayed slice; required then) and
    its raw samples, which have no slice, are dropped. ``object_ids`` picks
    objects (None: all). Objects without any gaze are left out.
    """
    check_gaze_fits(fixations.ndim, image_ndim)
    if recording is not None:
        check_gaze_fits(recording.ndim, image_ndim)
    n_leading = image_ndim - 2
    if fixations.ndim == 2 and n_leading:
        if slice_index is None or len(slice_index) != n_leading:
            raise ValueError(
                f"2D gaze over a {image_ndim}D image needs the slice it was looked at; "
                "show that slice and segment again."
            )
        fixations = _lift(fixations, tuple(int(i) for i in slice_index))
        recording = None
    objects = objects_in(fixations, recording)
    if object_ids is not None:
        chosen = {int(i) for i in object_ids}
        objects = [obj for obj in objects if obj.object_id in chosen]
    objects = [obj for obj in objects if obj.has_gaze]
    if not objects:
        raise ValueError(
            "the gaze holds no (chosen) object session with fixations; "
            "record one object per session or check the object ids."
        )
    return objects


# -- SAM --------------------------------------------------------------------------------
def _spatial_ndim(image, rgb: bool | None) -> int:
    """The image's spatial axes; ``rgb`` None guesses (a 2D image with 3 or 4 channels is RGB)."""
    shape = tuple(image.shape)
    if rgb is None:
        rgb = len(shape) == 3 and shape[-1] in (3, 4)
    return len(shape) - (1 if rgb else 0)


def sam_masks_for(
    sam,
    image,
    objects: Sequence[ObjectGaze],
    *,
    prompt: str | None = None,
    mask: str | int | None = "best",
    contrast_limits: tuple[float, float] | None = None,
    stages: bool = False,
    clicks: dict | None = None,
) -> Iterator[ObjectMask | Stage]:
    """SAM's mask for each of ``objects`` (from :func:`objects_to_segment`), in order.

    ``clicks`` maps an object id to its correction clicks ``(positive, negative)``
    (``(K, 2)`` ``(row, col)`` on the object's slice, or None), or to
    ``(positive, negative, box)`` with the annotator's rectangle (its ``(row, col)``
    corners, or None), combined with the object's gaze prompt in one SAM prompt
    (the box replaces the gaze box; :func:`~napari_gazeseg.models.sam_prompts.add_clicks`).

    ``image`` is the whole image (any array-like indexable by slice indices);
    ``mask`` is SAM's mask choice (``"best"``, ``"single"``, ``0``, ``1``, ``2``;
    parsed by ``GazeSam.segment``). Each slice is embedded once while consecutive
    objects share it (and the model's own cache keeps earlier slices).
    """
    total = len(objects)
    current = None
    for done, obj in enumerate(objects):
        if obj.slice_index != current:
            if stages:
                where = (
                    f" (slice {', '.join(map(str, obj.slice_index))})" if obj.slice_index else ""
                )
                yield Stage(f"embedding the image{where}", done, total)
            sam.set_image(
                np.asarray(image[obj.slice_index]), contrast_limits, obj.slice_index or None
            )
            current = obj.slice_index
        if stages:
            yield Stage(f"object {done + 1} of {total} (label {obj.object_id})", done, total)
        extra = (
            {} if not clicks or obj.object_id not in clicks else {"clicks": clicks[obj.object_id]}
        )
        result = sam.segment(obj.fixations, obj.recording, prompt, mask=mask, **extra)
        yield ObjectMask(obj.object_id, obj.slice_index, np.asarray(result, dtype=bool))


def sam_object_masks(
    sam,
    image,
    fixations: Fixations,
    recording: GazeRecording | None = None,
    *,
    prompt: str | None = None,
    mask: str | int | None = "best",
    contrast_limits: tuple[float, float] | None = None,
    object_ids: Iterable[int] | None = None,
    slice_index: Sequence[int] | None = None,
    rgb: bool | None = None,
    stages: bool = False,
    clicks: dict | None = None,
) -> Iterator[ObjectMask | Stage]:
    """One SAM mask per object session of the gaze: :func:`objects_to_segment` then :func:`sam_masks_for`.

    ``rgb`` says whether the image's last axis is colour (None: a 2D image with 3
    or 4 channels is). The inputs are checked when the generator starts.
    """
    image_ndim = _spatial_ndim(image, rgb)
    objects = objects_to_segment(
        fixations, recording, image_ndim=image_ndim, object_ids=object_ids, slice_index=slice_index
    )
    yield from sam_masks_for(
        sam,
        image,
        objects,
        prompt=prompt,
        mask=mask,
        contrast_limits=contrast_limits,
        stages=stages,
        clicks=clicks,
    )


def medsam_masks_for(
    medsam,
    image,
    objects: Sequence[ObjectGaze],
    *,
    contrast_limits: tuple[float, float] | None = None,
    margin_px: float = 0.0,
    stages: bool = False,
) -> Iterator[ObjectMask | Stage]:
    """MedSAM's mask for each of ``objects`` (from :func:`objects_to_segment`), in order.

    ``medsam`` is a :class:`~napari_gazeseg.models.medsam.MedSam` (or anything with its
    ``embed`` and ``segment_points``): MedSAM's own preprocessing, and one box
    prompt per object, the box around its fixations on its slice (its valid raw
    samples when it has none) grown by ``margin_px``. Each slice is embedded once
    while consecutive objects share it.
    """
    total = len(objects)
    current, plane, embedding = None, None, None
    for done, obj in enumerate(objects):
        if obj.slice_index != current or plane is None:
            if stages:
                where = (
                    f" (slice {', '.join(map(str, obj.slice_index))})" if obj.slice_index else ""
                )
                yield Stage(f"embedding the image for MedSAM{where}", done, total)
            plane = np.asarray(image[obj.slice_index])
            embedding = medsam.embed(plane, contrast_limits)
            current = obj.slice_index
        if stages:
            yield Stage(f"object {done + 1} of {total} (label {obj.object_id})", done, total)
        if len(obj.fixations):
            points = obj.fixations.coords[:, -2:]
        else:
            points = obj.recording.coords[obj.recording.valid][:, -2:]
        result = medsam.segment_points(plane, points, contrast_limits, margin_px, embedding)
        yield ObjectMask(obj.object_id, obj.slice_index, np.asarray(result, dtype=bool))


# -- GradTrack --------------------------------------------------------------------------
def gradtrack_gaze(
    fixations: Fixations,
    *,
    image_ndim: int,
    slice_index: Sequence[int] = (),
    object_ids: Iterable[int] | None = None,
) -> Fixations:
    """The fixations that choose GradTrack's objects on ``slice_index``; ValueError when none.

    nD fixations are restricted to the slice; 2D fixations are taken as on it.
    """
    check_gaze_fits(fixations.ndim, image_ndim)
    if fixations.ndim > 2:
        fixations = fixations.on_slice(tuple(slice_index))
    if object_ids is not None:
        fixations = fixations.select(
            np.isin(fixations.object_id, sorted({int(i) for i in object_ids}))
        )
    if not (fixations.object_id != NO_OBJECT).any():
        raise ValueError(
            "the gaze holds no (chosen) object session with fixations on this slice; "
            "check the object ids, or label the whole foreground instead."
        )
    return fixations


def gradtrack_object_masks(
    predictor,
    image,
    fixations: Fixations | None = None,
    *,
    contrast_limits: tuple[float, float] | None = None,
    slice_index: Sequence[int] = (),
    object_ids: Iterable[int] | None = None,
    foreground_id: int = 1,
    rgb: bool | None = None,
    stages: bool = False,
) -> Iterator[ObjectMask | Stage]:
    """GradTrack's foreground on one slice as object masks.

    Without ``fixations`` the whole foreground is one mask with ``foreground_id``.
    With fixations, each object session looking at the slice gets the foreground
    components its fixations fall in (:func:`labels_from_gaze`); an object whose
    fixations fall on no foreground gets an empty mask.
    """
    slice_index = tuple(int(i) for i in slice_index)
    if fixations is not None:
        image_ndim = _spatial_ndim(image, rgb)
        fixations = gradtrack_gaze(
            fixations, image_ndim=image_ndim, slice_index=slice_index, object_ids=object_ids
        )
    if stages:
        yield Stage("segmenting the slice with GradTrack", 0, 1)
    foreground = np.asarray(
        predictor.predict(np.asarray(image[slice_index]), contrast_limits), bool
    )
    if fixations is None:
        yield ObjectMask(int(foreground_id), slice_index, foreground)
        return
    labels = labels_from_gaze(foreground, fixations.coords[:, -2:], fixations.object_id)
    for object_id in fixations.object_ids.tolist():
        yield ObjectMask(int(object_id), slice_index, labels == object_id)


def labels_from_gaze(mask: np.ndarray, points: np.ndarray, object_ids: np.ndarray) -> np.ndarray:
    """Label image ``(rows, cols)`` int32: each looked-at component of ``mask`` as its object id.

    GradTrack segments what the observer's kind of object looks like, everywhere
    in the image, as one foreground; the gaze sessions say which objects were
    meant. Each connected component of ``mask`` (2D bool) holding fixations of
    session ``k`` becomes label ``k``. A component holding fixations of several
    sessions (touching objects) is split among them by growing each object from
    its fixations through the component (a watershed flood on a flat landscape:
    a pixel joins the object that reaches it first, so each share is connected).
    Components no session looked at are left out.

    ``points`` ``(N, 2)`` are fixation positions ``(row, col)`` on the mask and
    ``object_ids`` ``(N,)`` their sessions. Points outside the image or off the
    foreground, NaN points and points of object id 0 choose no component.
    """
    from scipy import ndimage
    from skimage.segmentation import watershed

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


# -- painting ---------------------------------------------------------------------------
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


def paint_all(
    masks: Iterable[ObjectMask | Stage],
    shape: Sequence[int],
    overwrite: bool = False,
    dtype=np.int32,
) -> np.ndarray:
    """A new label image of ``shape`` with every mask painted in turn (:class:`Stage` items skipped)."""
    labels = np.zeros(tuple(shape), dtype=dtype)
    for item in masks:
        if isinstance(item, ObjectMask):
            paint_mask(labels[item.slice_index], item.mask, item.object_id, overwrite)
    return labels


# -- checks -----------------------------------------------------------------------------
def mask_problem(mask: np.ndarray) -> str | None:
    """Why a mask cannot be a right answer ("empty", "covers 93% of the image"), or None."""
    mask = np.asarray(mask, dtype=bool)
    pixels = int(np.count_nonzero(mask))
    if pixels == 0:
        return "empty mask"
    share = pixels / mask.size
    if share > MOST_OF_IMAGE:
        return f"the mask covers {share:.0%} of the image"
    return None


def _name_stem(name) -> str:
    stem = PurePath(str(name)).name
    while PurePath(stem).suffix and len(PurePath(stem).suffix) <= 5:
        stem = PurePath(stem).stem
    return stem.strip().lower()


def gaze_image_mismatch(
    meta: dict | None,
    image_name: str | None,
    image_shape: Sequence[int],
    advice: str | None = "choose the gaze recorded on this image",
) -> str | None:
    """One sentence when the gaze's ``meta["image"]`` names another image, else None.

    The shape must match (2D gaze shown over a stack: the last two axes); the
    name, when both are known, must match up to folders, extensions and case.
    Gaze whose meta says nothing about its image passes. ``advice`` ends the
    sentence (None: the sentence ends with the difference).
    """
    recorded = (meta or {}).get("image") or {}
    if not isinstance(recorded, dict):
        return None
    shape = recorded.get("shape")
    name = recorded.get("name")
    image_shape = tuple(int(s) for s in image_shape)
    reasons = []
    if name and image_name and _name_stem(name) != _name_stem(image_name):
        reasons.append(f"{str(name)!r}, not {str(image_name)!r}")
    if shape:
        shape = tuple(int(s) for s in shape)
        compared = image_shape[-len(shape) :] if len(shape) < len(image_shape) else image_shape
        if shape != compared:
            reasons.append(f"of shape {shape}, not {image_shape}")
    if not reasons:
        return None
    sentence = f"the gaze was recorded on another image ({' and '.join(reasons)})"
    return f"{sentence}; {advice}." if advice else f"{sentence}."


def off_image_share(coords: np.ndarray, image_shape: Sequence[int]) -> float:
    """Share of the valid points ``(N, D)`` outside an image of ``image_shape`` (last D axes)."""
    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or not len(coords):
        return 0.0
    coords = coords[np.isfinite(coords).all(axis=1)]
    if not len(coords):
        return 0.0
    shape = np.asarray(tuple(image_shape)[-coords.shape[1] :], dtype=float)
    inside = ((coords >= -0.5) & (coords < shape - 0.5)).all(axis=1)
    return float(1.0 - inside.mean())


def off_image_warning(
    gaze: GazeRecording | Fixations | np.ndarray, image_shape: Sequence[int]
) -> str | None:
    """One sentence when more than :data:`OFF_IMAGE_SHARE` of the gaze is off the image."""
    if isinstance(gaze, GazeRecording):
        coords = gaze.coords[gaze.valid]
    elif isinstance(gaze, Fixations):
        coords = gaze.coords
    else:
        coords = gaze
    share = off_image_share(coords, image_shape)
    if share <= OFF_IMAGE_SHARE:
        return None
    return (
        f"{share:.0%} of the gaze lies outside the {tuple(int(s) for s in image_shape)} image; "
        "the coordinates are likely in other units (pixels read as normalised, or a different "
        "screen or image size) or from another image."
    )


def problems_of(masks: Iterable[ObjectMask]) -> list[str]:
    """``"label K: <problem>"`` for each mask :func:`mask_problem` finds wanting."""
    found = []
    for item in masks:
        problem = mask_problem(item.mask)
        if problem:
            found.append(f"label {item.object_id}: {problem}")
    return found
