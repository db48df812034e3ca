"""Per-image supervision for GradTrack and its baselines, made once and cached on disk.

For every training image this module turns the gaze into the maps the losses
need, all at the training resolution ``size x size`` (float32, in [0, 1]):

=================  ==========================================================
name               content
=================  ==========================================================
``track_50``       gaze-track map ``G^50%`` (eq. 1-2, beta, tau), supervises P^2
``track_75``       ``G^75%``, supervises P^4
``track_100``      ``G^100%``, supervises the output P^6
``pseudo_mask``    GradTrack's under-activation pseudo-mask: dense-CRF-refined
                   VAM above ``pseudo_threshold`` (0.7)
``vam_soft``       baseline "VAM": the VAM (max 1), values below 0.5 set to 0
                   (sigma: GazeMedSeg's 70 px on 768 px, scaled to the image)
``vam_crf_soft``   baseline "VAM + D-CRF": the CRF-refined VAM, below 0.5 set to 0
``gazemedseg_i``   GazeMedSeg-style pseudo-masks of the CRF-refined VAM, one
                   per threshold (Kvasir-SEG's 0.5 and 0.3)
``mask``           the ground truth (label image > 0) when the dataset has it;
                   all -1 for images without a mask (then never used)
=================  ==========================================================

The science lives in :mod:`napari_gazeseg.gaze` (``track_maps``,
``visual_attention_map``, ``dense_crf``, ``pseudo_masks``); this module only
decides *which* fixations and *which* resolution:

* Resolution: track maps are made directly at ``size x size`` from fixations
  scaled to it (pixel centres at integers: ``p' = (p + 0.5) * size / n - 0.5``),
  so ``beta`` (10) and ``tau`` mean what they mean in the paper, whose images
  are 224 x 224. The VAM and its dense-CRF refinement are made, as GazeMedSeg
  makes them, at the image's own resolution (the CRF's kernel widths are pixels
  of the original image) and then resized: soft maps bilinearly, hard masks
  bilinearly and thresholded at 0.5.
* Sessions: a recording with per-object sessions (object ids 1, 2, ...) is one
  inspection per object, so the reverse truncation (the last 50 / 75 / 100 % of
  the track) applies to each session's fixations and the per-object maps are
  combined by their pixel-wise maximum; fixations outside any session (object
  id 0) are left out. Without sessions the whole track is one inspection.
* Ratio set: the names above are the maps' roles; ``track_ratios`` sets the
  reverse-truncation ratio of each (the paper's ``(0.5, 0.75, 1.0)``, the
  default). ``(0.5, 0.75, 0.75)`` (:data:`APPROACH_FREE_RATIOS`) supervises the
  output with the last three quarters of each inspection, leaving out its
  first quarter, where an observer approaches the object from elsewhere:
  around small objects that approach band lies on the background (benchmark:
  ``docs/perf/gradtrack.md``).
* Recordings (raw samples) are turned into fixations by
  ``SupervisionParams.detector`` (a
  :class:`~napari_gazeseg.gaze.fixations.FixationDetector`; default the
  Tobii-style I-VT filter with its defaults).

The cache holds one ``.npz`` per image under ``cache_dir``, named by a SHA-256
of the image, the fixations, the mask and every parameter, so changing any of
them makes new maps and never reuses stale ones. An entry that cannot be read,
lacks a map or holds one of the wrong shape, type or range (a damaged file) is
a miss: the maps are made again and the entry rewritten (atomically).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..gaze.fixations import FixationDetector
from ..gaze.maps import GAZEMEDSEG_CANVAS, GAZEMEDSEG_SIGMA, track_maps, visual_attention_map
from ..gaze.recording import NO_OBJECT, Fixations, GazeRecording
from ..imaging import to_uint8_rgb
from .gradtrack_data import SampleSet, prepare_image, resize_map_array

__all__ = [
    "SupervisionParams",
    "TRACK_RATIOS",
    "APPROACH_FREE_RATIOS",
    "fixations_for_training",
    "supervision_targets",
    "cached_targets",
    "samples_from_items",
    "load_folder_samples",
]

#: Reverse-truncation ratios of the track maps and their target names (the paper's ratio set).
TRACK_RATIOS = {0.5: "track_50", 0.75: "track_75", 1.0: "track_100"}
#: A ratio set whose output map leaves out the first quarter of each inspection (the approach).
APPROACH_FREE_RATIOS = (0.5, 0.75, 0.75)
#: Bump when the maps made here change, so old cache files are not reused.
CACHE_VERSION = 2


@dataclass(frozen=True)
class SupervisionParams:
    """Parameters of the supervision maps (lengths in pixels at ``size``)."""

    size: int = 224
    beta: float = 10.0
    tau: float = 0.25
    pseudo_threshold: float = 0.7
    gazemedseg_thresholds: tuple[float, ...] = (0.5, 0.3)
    soft_label_floor: float = 0.5
    vam_sigma: float | None = None
    crf: str = "gazemedseg"
    #: truncation ratios of the maps named ``track_50``, ``track_75``, ``track_100`` (their roles)
    track_ratios: tuple[float, float, float] = tuple(TRACK_RATIOS)
    #: finds the fixations of raw recordings (None: I-VT with its defaults); cache keys
    #: hold the fixations themselves, so the detector is left out of them
    detector: FixationDetector | None = None

    def __post_init__(self) -> None:
        ratios = tuple(float(r) for r in self.track_ratios)
        if len(ratios) != len(TRACK_RATIOS) or any(not 0 < r <= 1 for r in ratios):
            raise ValueError(
                f"track_ratios must be three truncation ratios in (0, 1] (P^2, P^4, output), got {self.track_ratios}."
            )
        object.__setattr__(self, "track_ratios", ratios)

    def vam_sigma_for(self, shape: tuple[int, int]) -> float:
        """VAM sigma in pixels of an image of ``shape``: ``vam_sigma``, else GazeMedSeg's
        Kvasir-SEG sigma (70 px on its 768 px canvas) scaled to the mean image side."""
        if self.vam_sigma is not None:
            return float(self.vam_sigma)
        return GAZEMEDSEG_SIGMA["kvasir"] * (shape[0] + shape[1]) / 2 / GAZEMEDSEG_CANVAS

    @classmethod
    def from_train_config(cls, config) -> "SupervisionParams":
        return cls(
            size=config.size,
            beta=config.beta,
            tau=config.tau,
            pseudo_threshold=config.pseudo_threshold,
            gazemedseg_thresholds=tuple(config.gazemedseg_thresholds),
            vam_sigma=config.vam_sigma,
            crf=getattr(config, "crf", "gazemedseg"),
            track_ratios=tuple(getattr(config, "track_ratios", tuple(TRACK_RATIOS))),
        )

    def target_names(self, with_mask: bool) -> tuple[str, ...]:
        names = [*TRACK_RATIOS.values(), "pseudo_mask", "vam_soft", "vam_crf_soft"]
        names += [f"gazemedseg_{i}" for i in range(len(self.gazemedseg_thresholds))]
        return tuple(names + ["mask"]) if with_mask else tuple(names)


def fixations_for_training(
    gaze: GazeRecording | Fixations, detector: FixationDetector | None = None
) -> Fixations:
    """The 2D fixations of a recording (``detector``, default I-VT) or of a fixation list, checked."""
    if isinstance(gaze, GazeRecording):
        gaze = (detector or FixationDetector()).detect(gaze)
    if not isinstance(gaze, Fixations):
        raise ValueError(f"expected gaze samples or fixations, got {type(gaze).__name__}.")
    if gaze.ndim != 2:
        raise ValueError(
            f"GradTrack trains on 2D images but the gaze has {gaze.ndim}D coordinates; "
            "export one 2D slice per image."
        )
    return gaze


def _scaled(fixations: Fixations, shape: tuple[int, int], size: int) -> Fixations:
    scale = np.array([size / shape[0], size / shape[1]])
    return Fixations(
        start=fixations.start,
        duration=fixations.duration,
        coords=(fixations.coords + 0.5) * scale - 0.5,
        object_id=fixations.object_id,
        meta=fixations.meta,
    )


def _inspections(fixations: Fixations) -> list[Fixations]:
    """One fixation track per object session; the whole track without sessions."""
    ids = fixations.object_ids
    if ids.size == 0:
        return [fixations] if len(fixations) else []
    return [fixations.for_object(int(i)) for i in ids if int(i) != NO_OBJECT]


def _soft_label(values: np.ndarray, floor: float) -> np.ndarray:
    return np.where(values >= floor, values, 0.0)


def supervision_targets(
    image: np.ndarray,
    gaze: GazeRecording | Fixations,
    params: SupervisionParams,
    mask: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """All supervision maps of one image (see the module table), ``(size, size)`` float32."""
    from ..gaze.crf import crf_params, dense_crf, pseudo_masks

    image = np.asarray(image)
    rgb = to_uint8_rgb(image)
    shape = rgb.shape[:2]
    size = params.size
    grid = (size, size)
    fixations = fixations_for_training(gaze, params.detector)
    scaled = _scaled(fixations, shape, size)
    ratios = sorted(set(params.track_ratios))
    tracks = {ratio: np.zeros(grid) for ratio in ratios}
    for inspection in _inspections(scaled):
        for ratio, values in track_maps(
            inspection, grid, ratios=ratios, beta=params.beta, tau=params.tau
        ).items():
            tracks[ratio] = np.maximum(tracks[ratio], values)
    vam = np.zeros(shape)
    sigma = params.vam_sigma_for(shape)
    for inspection in _inspections(fixations):
        vam = np.maximum(vam, visual_attention_map(inspection, shape, sigma=sigma))
    refined = dense_crf(rgb, vam, **crf_params(shape, params.crf))
    targets = {name: tracks[ratio] for ratio, name in zip(params.track_ratios, TRACK_RATIOS.values())}
    under = pseudo_masks(refined, params.pseudo_threshold)[params.pseudo_threshold]
    targets["pseudo_mask"] = resize_map_array(under, size, binary=True)
    targets["vam_soft"] = _soft_label(resize_map_array(vam, size), params.soft_label_floor)
    targets["vam_crf_soft"] = _soft_label(resize_map_array(refined, size), params.soft_label_floor)
    levels = pseudo_masks(refined, params.gazemedseg_thresholds)
    for index, threshold in enumerate(params.gazemedseg_thresholds):
        targets[f"gazemedseg_{index}"] = resize_map_array(levels[threshold], size, binary=True)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape[:2] != shape:
            raise ValueError(f"the mask's shape {mask.shape} differs from the image's {shape}; pair them correctly.")
        targets["mask"] = resize_map_array(mask > 0, size, binary=True)
    return {name: np.asarray(values, dtype=np.float32) for name, values in targets.items()}


def _digest(image: np.ndarray, fixations: Fixations, mask: np.ndarray | None, params: SupervisionParams) -> str:
    hasher = hashlib.sha256()
    described = asdict(params)
    del described["detector"]  # the fixations it found are hashed below
    if params.track_ratios == tuple(TRACK_RATIOS):  # the paper's set: keys of existing caches stay valid
        del described["track_ratios"]
    hasher.update(json.dumps({"version": CACHE_VERSION, **described}, sort_keys=True).encode())
    for array in (image, fixations.start, fixations.duration, fixations.coords, fixations.object_id):
        array = np.ascontiguousarray(array)
        hasher.update(f"{array.dtype.str}{array.shape}".encode())
        hasher.update(array.tobytes())
    if mask is not None:
        mask = np.ascontiguousarray(mask)
        hasher.update(f"mask{mask.dtype.str}{mask.shape}".encode())
        hasher.update(mask.tobytes())
    return hasher.hexdigest()


def cached_targets(
    image: np.ndarray,
    gaze: GazeRecording | Fixations,
    params: SupervisionParams,
    mask: np.ndarray | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """:func:`supervision_targets`, read from or written to ``cache_dir`` when given."""
    if cache_dir is None:
        return supervision_targets(image, gaze, params, mask)
    fixations = fixations_for_training(gaze, params.detector)
    image = np.asarray(image)
    path = Path(cache_dir) / f"{_digest(image, fixations, mask, params)}.npz"
    if path.exists():
        stored = _read_entry(path, params.target_names(mask is not None), params.size)
        if stored is not None:
            return stored
    targets = supervision_targets(image, fixations, params, mask)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(temporary, **targets)
        os.replace(temporary, path)
    except BaseException:  # Ctrl-C or disk full: no half entry left behind
        temporary.unlink(missing_ok=True)
        raise
    return targets


def _read_entry(path: Path, names: tuple[str, ...], size: int) -> dict[str, np.ndarray] | None:
    """A cache entry's maps, or None (a miss) when it is damaged in any way."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            maps = {name: stored[name] for name in names}
    except Exception:  # noqa: BLE001  zip, zlib, format or missing-key errors all mean a damaged entry
        return None
    for values in maps.values():
        if (
            values.shape != (size, size)
            or values.dtype != np.float32
            or not np.all((values >= -1) & (values <= 1))  # -1 marks "no mask"; NaN fails too
        ):
            return None
    return maps


def samples_from_items(
    items: Iterable[tuple[str, np.ndarray, np.ndarray | None, GazeRecording | Fixations]],
    params: SupervisionParams,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> SampleSet:
    """A :class:`SampleSet` from ``(name, image, mask or None, gaze)`` items.

    The ``mask`` target is present when any image has a mask; images without
    one get -1 there.
    """
    items = list(items)
    if not items:
        raise ValueError("there are no images with gaze to train on; check the dataset folder.")
    with_mask = any(mask is not None for _, _, mask, _ in items)
    names = params.target_names(with_mask)
    images, targets = [], []
    iterator = items
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(items, desc="gaze maps", unit="image", leave=False)
    for name, image, mask, gaze in iterator:
        maps = cached_targets(image, gaze, params, mask, cache_dir)
        if with_mask and "mask" not in maps:
            maps["mask"] = np.full((params.size, params.size), -1.0, dtype=np.float32)
        images.append(prepare_image(image, params.size))
        targets.append(torch.from_numpy(np.stack([maps[n] for n in names])))
    return SampleSet(torch.stack(images), torch.stack(targets), names, tuple(item[0] for item in items))


def load_folder_samples(
    folder: str | os.PathLike,
    params: SupervisionParams,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> SampleSet:
    """Samples of a dataset folder (``images/``, ``gaze/``, optional ``masks/``).

    ``cache_dir`` defaults to ``FOLDER/.gazeseg-cache/gradtrack``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no dataset folder at {folder}; create one with `gazeseg simulate` or pass its path.")
    from ..gaze.dataset import iter_dataset

    cache_dir = folder / ".gazeseg-cache" / "gradtrack" if cache_dir is None else cache_dir
    items = ((item.name, item.image, item.mask, item.gaze) for item in iter_dataset(folder))
    return samples_from_items(items, params, cache_dir, progress)
