"""SAM 2 through a stack or a time series: gaze on a few planes segments every plane.

>>> predictor = build_video_predictor("tiny", "sam2.1_hiera_tiny.pt")   # device "auto"
>>> labels = paint_all(sam2_object_masks(predictor, stack, fixations), stack.shape[:3])

Contract
--------
* **Images.** ``stack`` is ``(planes, rows, cols)`` grey or ``(planes, rows, cols, 3|4)``
  RGB(A); its first axis (depth or time) is the one SAM 2 propagates along. Each
  plane is mapped to 8-bit RGB through ``contrast_limits`` (None: the stack's own
  minimum and maximum, one mapping for all planes; uint8 kept as is), then
  resized and normalised exactly as SAM 2's own JPEG-folder loader does
  (PIL bicubic resize to ``image_size`` squared, /255, ImageNet mean and std),
  but from memory: nothing is written to disk and no JPEG loss is added
  (:func:`video_frames`).
* **Prompts.** Fixations are ``(plane, row, col)``. Each object session (id = label
  id; id 0 is left out) gives, on every plane it has fixations on, those
  fixations as positive point prompts ``(x, y) = (col, row)`` in pixel units on
  that plane (:func:`plane_prompts`); fixations off the stack are dropped.
  Objects are prompted in id order, planes in ascending order.
* **Propagation.** SAM 2's video predictor propagates every object forward from
  the first prompted plane to the last plane, then backward from it to plane 0
  (both directions, SAM 2's memory holds every prompted plane).
* **Output.** :func:`sam2_object_masks` yields one
  :class:`~napari_gazeseg.segmentation.ObjectMask` ``(object_id, (plane,), mask)``
  for every object on every plane (empty masks included), planes in the order
  they were reached (first prompted plane upward, then downward), objects in id
  order within a plane; with ``stages=True`` :class:`~napari_gazeseg.segmentation.Stage`
  items come before each long step. ``paint_all(masks, stack.shape[:3])`` makes
  the 3D label image (overlaps go to the lower id).
* **One mask through the stack.** :func:`sam2_mask_propagation` prompts one
  object's mask on one plane (``add_new_mask``) and propagates it forward then
  backward, at most ``planes_each_way`` planes each way; it yields the masks of
  the other planes reached, upward first (what Annotate series' "Propagate to
  neighbouring planes" runs with a SAM 2 model).
* **Precision.** SAM 2 keeps its mask memory in bfloat16 and expects a CUDA
  autocast; on CUDA the propagation runs under a bfloat16 autocast, elsewhere in
  float32 (:func:`build_video_predictor` casts the memory back for the memory
  attention).

Quality needs real weights (``sam2.1_hiera_*.pt``); tests run the plumbing on
a randomly initialised, shallower hiera-tiny.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from ..gaze.recording import NO_OBJECT, Fixations
from ..imaging import default_contrast_limits, to_uint8_rgb
from ..segmentation import ObjectMask, Stage

__all__ = [
    "SAM2_CONFIGS",
    "build_video_predictor",
    "plane_prompts",
    "sam2_mask_propagation",
    "sam2_object_masks",
    "video_frames",
]

#: Short names of the configurations shipped in the ``sam2`` package.
SAM2_CONFIGS = {
    "tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
_IMG_MEAN = (0.485, 0.456, 0.406)
_IMG_STD = (0.229, 0.224, 0.225)
_LOADER_LOCK = threading.Lock()


def _float32_inputs(module, args, kwargs):
    def cast(value):
        if torch.is_tensor(value) and value.is_floating_point() and value.dtype != torch.float32:
            return value.float()
        return value

    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def _has_extension() -> bool:
    try:
        from sam2 import _C  # noqa: F401
    except ImportError:
        return False
    return True


def build_video_predictor(
    config: str = "tiny",
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    overrides: Sequence[str] = (),
):
    """SAM 2's video predictor for ``config`` (a short name or a config path) on ``device``.

    ``checkpoint`` None leaves the weights random (tests only). A checkpoint that
    is missing or does not fit the configuration raises one sentence.
    """
    from sam2.build_sam import build_sam2_video_predictor

    from .devices import resolve_device

    config_file = SAM2_CONFIGS.get(config, config)
    if checkpoint is not None and not os.path.isfile(checkpoint):
        raise FileNotFoundError(
            f"SAM 2 checkpoint {checkpoint} does not exist; download e.g. sam2.1_hiera_tiny.pt "
            "from the SAM 2 release and pass its path."
        )
    device = resolve_device(device)
    extra = [
        # SAM 2's own post-processing (build_sam2_video_predictor's defaults), but hole
        # filling only where its compiled extension exists (it is skipped with a warning otherwise)
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
        "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
        "++model.binarize_mask_from_pts_for_mem_enc=true",
        f"++model.fill_hole_area={8 if _has_extension() else 0}",
        *overrides,
    ]
    try:
        predictor = build_sam2_video_predictor(
            config_file,
            None if checkpoint is None else str(checkpoint),
            device=str(device),
            hydra_overrides_extra=extra,
            apply_postprocessing=False,
        )
    except Exception as err:  # noqa: BLE001  hydra, torch.load and load_state_dict raise many kinds
        raise ValueError(
            f"SAM 2 could not be built from configuration {config_file} and checkpoint {checkpoint} "
            f"({type(err).__name__}: {str(err)[:200]}); pass a SAM 2 checkpoint and the configuration "
            "it was released with."
        ) from None
    # SAM 2 stores its mask memory in bfloat16 for a CUDA autocast; without one the
    # float32 memory attention needs float32 inputs
    predictor.memory_attention.register_forward_pre_hook(_float32_inputs, with_kwargs=True)
    return predictor


def _spatial_stack(stack) -> tuple[int, int, int]:
    shape = tuple(stack.shape)
    if len(shape) == 3 or (len(shape) == 4 and shape[-1] in (3, 4)):
        return shape[:3]
    raise ValueError(
        f"SAM 2 propagates through one axis: give a (planes, rows, cols) stack or an RGB one, "
        f"not shape {shape}; pick the axis to propagate along first."
    )


def video_frames(stack, image_size: int, contrast_limits: tuple[float, float] | None = None) -> torch.Tensor:
    """``(planes, 3, image_size, image_size)`` float32: the stack as SAM 2 loads a video."""
    from PIL import Image

    _spatial_stack(stack)
    stack = np.asarray(stack)
    if contrast_limits is None:  # the whole stack's, as napari shows it
        contrast_limits = default_contrast_limits(stack, rgb=stack.ndim == 4)
    mean = torch.tensor(_IMG_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(_IMG_STD, dtype=torch.float32)[:, None, None]
    frames = torch.empty(len(stack), 3, image_size, image_size, dtype=torch.float32)
    for index, plane in enumerate(stack):
        rgb = to_uint8_rgb(plane, contrast_limits)
        resized = np.array(Image.fromarray(rgb).resize((image_size, image_size))) / 255.0
        frames[index] = (torch.from_numpy(resized).permute(2, 0, 1) - mean) / std
    return frames


def plane_prompts(
    fixations: Fixations,
    stack_shape: Sequence[int],
    object_ids: Iterable[int] | None = None,
) -> dict[int, dict[int, np.ndarray]]:
    """``{object_id: {plane: (K, 2) (x, y) points}}``, objects and planes ascending.

    ``fixations`` are 3D ``(plane, row, col)``; ``stack_shape`` is ``(planes, rows,
    cols)``. Raises ValueError when no chosen object has a fixation on the stack.
    """
    if fixations.ndim != 3:
        raise ValueError(
            f"propagating through a stack needs gaze with (plane, row, col) coordinates, "
            f"got {fixations.ndim}D gaze; record the gaze over the stack."
        )
    planes, rows, cols = (int(s) for s in stack_shape[:3])
    coords = fixations.coords
    with np.errstate(invalid="ignore"):
        inside = (
            np.isfinite(coords).all(axis=1)
            & (coords[:, 0] >= -0.5) & (coords[:, 0] < planes - 0.5)
            & (coords[:, 1] >= -0.5) & (coords[:, 1] < rows - 0.5)
            & (coords[:, 2] >= -0.5) & (coords[:, 2] < cols - 0.5)
            & (fixations.object_id != NO_OBJECT)
        )
    if object_ids is not None:
        inside &= np.isin(fixations.object_id, sorted({int(i) for i in object_ids}))
    prompts: dict[int, dict[int, np.ndarray]] = {}
    plane_of = np.round(np.where(inside, coords[:, 0], 0)).astype(np.int64)
    for object_id in sorted(set(fixations.object_id[inside].tolist())):
        own = inside & (fixations.object_id == object_id)
        prompts[int(object_id)] = {
            int(p): coords[own & (plane_of == p)][:, [2, 1]].astype(np.float32)
            for p in sorted(set(plane_of[own].tolist()))
        }
    if not prompts:
        raise ValueError(
            "the gaze holds no (chosen) object session with fixations on the stack; "
            "record one object per session or check the object ids."
        )
    return prompts


@contextlib.contextmanager
def _frames_from_memory(frames: torch.Tensor, height: int, width: int):
    """Make SAM 2's ``init_state`` take ``frames`` instead of reading a JPEG folder."""
    import sam2.sam2_video_predictor as video_module

    def load_video_frames(**kwargs):
        images = frames if kwargs.get("offload_video_to_cpu") else frames.to(kwargs["compute_device"])
        return images, height, width

    with _LOADER_LOCK:
        original = video_module.load_video_frames
        video_module.load_video_frames = load_video_frames
        try:
            yield
        finally:
            video_module.load_video_frames = original


def init_state(predictor, stack, contrast_limits: tuple[float, float] | None = None):
    """SAM 2's inference state for ``stack`` (frames from memory; see :func:`video_frames`)."""
    planes, rows, cols = _spatial_stack(stack)
    frames = video_frames(stack, predictor.image_size, contrast_limits)
    offload = predictor.device.type != "cpu"  # frames wait in host memory on a GPU
    with _frames_from_memory(frames, rows, cols):
        return predictor.init_state("<memory>", offload_video_to_cpu=offload)


def _autocast(device: torch.device):
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def sam2_object_masks(
    predictor,
    stack,
    fixations: Fixations,
    *,
    contrast_limits: tuple[float, float] | None = None,
    object_ids: Iterable[int] | None = None,
    stages: bool = False,
) -> Iterator[ObjectMask | Stage]:
    """Each object's mask on every plane of ``stack``, propagated from its gazed planes.

    See the module docstring for the order; inputs are checked when the
    generator starts.
    """
    planes, rows, cols = _spatial_stack(stack)
    prompts = plane_prompts(fixations, (planes, rows, cols), object_ids)
    if stages:
        yield Stage("preparing the frames", 0, planes)
    with torch.inference_mode(), _autocast(predictor.device):
        state = init_state(predictor, stack, contrast_limits)
    for k, (object_id, on_planes) in enumerate(prompts.items()):
        if stages:
            yield Stage(f"prompting object {k + 1} of {len(prompts)} (label {object_id})", 0, planes)
        with torch.inference_mode(), _autocast(predictor.device):
            for plane, points in on_planes.items():
                predictor.add_new_points_or_box(
                    state,
                    frame_idx=plane,
                    obj_id=object_id,
                    points=points,
                    labels=np.ones(len(points), np.int32),
                )
    yield from _propagated(predictor, state, planes, stages)


def _propagated(
    predictor, state, planes: int, stages: bool, start: int | None = None, reach: int | None = None
) -> Iterator[ObjectMask | Stage]:
    """Forward then backward from ``start`` (None: the first prompted plane), ``reach`` planes
    each way (None: to the ends); each plane once, ids ascending within it."""
    done: set[int] = set()
    for reverse in (False, True):
        # the autocast is entered around each step only, never across a yield to the caller
        steps = predictor.propagate_in_video(
            state, start_frame_idx=start, max_frame_num_to_track=reach, reverse=reverse
        )
        while True:
            with _autocast(predictor.device):
                step = next(steps, None)
            if step is None:
                break
            plane, ids, logits = step
            if plane in done:
                continue
            if stages:
                yield Stage(f"propagating: plane {plane}", len(done), planes)
            masks = (logits[:, 0] > 0).cpu().numpy()
            for index in np.argsort(np.asarray(ids), kind="stable"):
                yield ObjectMask(int(ids[index]), (int(plane),), masks[index])
            done.add(plane)


def sam2_mask_propagation(
    predictor,
    stack,
    mask: np.ndarray,
    plane: int,
    object_id: int,
    *,
    planes_each_way: int | None = None,
    contrast_limits: tuple[float, float] | None = None,
    stages: bool = False,
) -> Iterator[ObjectMask | Stage]:
    """One object's ``mask`` on ``plane`` carried through the stack by SAM 2's video predictor.

    The mask is SAM 2's prompt on ``plane`` (``add_new_mask``); SAM 2 propagates it
    forward, then backward, at most ``planes_each_way`` planes each way (None: to
    the ends). Yields one :class:`~napari_gazeseg.segmentation.ObjectMask` per plane
    reached other than ``plane`` itself (whose mask is the annotator's), upward
    planes first, as :func:`napari_gazeseg.stack_propagation.propagate_mask` does
    with SAM 1 (SAM 2 has no IoU stop: its memory follows the object).
    """
    planes, rows, cols = _spatial_stack(stack)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (rows, cols) or not mask.any():
        raise ValueError(
            f"object {object_id} has no mask of shape {(rows, cols)} on plane {plane}; segment it "
            "on this plane first."
        )
    if not 0 <= int(plane) < planes:
        raise ValueError(f"plane {plane} is not in a stack of {planes} planes.")
    if planes_each_way is not None and planes_each_way < 1:
        return
    if stages:
        yield Stage("preparing the frames", 0, planes)
    with torch.inference_mode(), _autocast(predictor.device):
        state = init_state(predictor, stack, contrast_limits)
        predictor.add_new_mask(state, frame_idx=int(plane), obj_id=int(object_id), mask=mask)
    for item in _propagated(predictor, state, planes, stages, int(plane), planes_each_way):
        if not (isinstance(item, ObjectMask) and item.slice_index == (int(plane),)):
            yield item
