"""``gazeseg segment``: label images from images and gaze, without a GUI.

    gazeseg segment DATASET --out OUT [--method sam] [--model-type vit_b] [--prompt fixations]
    gazeseg segment DATASET --out OUT --method gradtrack [--checkpoint model.pt] [--per-object]

``DATASET`` is a dataset folder (``images/`` and, for SAM, ``gaze/``; see
:mod:`napari_gazeseg.gaze.dataset`). Writes one label image per image,
``OUT/NAME.png`` for 2D images (``OUT/NAME.tif`` for nD), uint8 when the ids fit,
else uint16. With SAM every gaze session's object becomes its own label id (an
object's pixels never overwrite an earlier object's unless ``--overwrite-objects``);
GradTrack segments the whole image as label 1; with ``--per-object`` each
foreground component a gaze session looked at becomes that session's object id
(:func:`napari_gazeseg.models.gaze_instances.labels_from_gaze`), as in napari.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "segment",
        help="segment a dataset folder's images from gaze (SAM) or with GradTrack",
        description=__doc__.split("\n\n")[0].replace("``", ""),
    )
    parser.add_argument("dataset", help="dataset folder with images/ and (for SAM) gaze/")
    parser.add_argument("--out", required=True, help="folder for the label images")
    parser.add_argument("--method", choices=("sam", "gradtrack"), default="sam")
    parser.add_argument("--model-type", default="vit_b", help="SAM model: vit_b, vit_l or vit_h")
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="SAM base checkpoint (default: $GAZESEG_SAM_CHECKPOINT, $GAZESEG_SAM_DIR or the cache folder), "
        "or GradTrack's model.pt (default: the bundled model)",
    )
    parser.add_argument(
        "--finetuned", default=None, help="fine-tuned SAM gaze checkpoint from `gazeseg train-sam`"
    )
    parser.add_argument(
        "--prompt",
        default=None,
        help="SAM prompt: fixations, fixations+box, heatmap_gaze, heatmap_fixations, "
        "heatmap_fixations_duration, blurred_gaze, or '+'-combinations (default: what --finetuned "
        "was trained on, else fixations)",
    )
    parser.add_argument(
        "--mask-choice",
        default="best",
        choices=("best", "0", "1", "2", "single"),
        help="which of SAM's three masks: best-scoring, an index, or 'single' (one-mask output)",
    )
    parser.add_argument(
        "--overwrite-objects",
        action="store_true",
        help="later objects may take earlier ones' pixels",
    )
    parser.add_argument(
        "--per-object",
        action="store_true",
        help="GradTrack: label each foreground component with the gaze session looking at it "
        "(needs gaze/); without it the whole foreground is label 1",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--cache-dir", default=None, help="folder for SAM embeddings on disk (default: none)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def _contrast_limits(image: np.ndarray) -> tuple[float, float] | None:
    """Whole-image limits (so every slice of a volume is mapped alike); None keeps uint8."""
    if image.dtype == np.uint8:
        return None
    finite = image[np.isfinite(image)] if image.dtype.kind == "f" else image
    return (float(finite.min()), float(finite.max())) if finite.size else None


def _write_labels(labels: np.ndarray, out: Path, name: str) -> Path:
    import imageio.v3 as iio

    largest = int(labels.max(initial=0))
    dtype = np.uint8 if largest <= 255 else np.uint16 if largest <= 65535 else np.uint32
    png = labels.ndim == 2 and dtype != np.uint32  # PNG holds at most 16 bits
    path = out / f"{name}.{'png' if png else 'tif'}"
    iio.imwrite(path, labels.astype(dtype))
    return path


def _gradtrack_inputs(dataset: str, per_object: bool):
    """``(name, image, gaze or None)`` for each image of the dataset (gaze only when per object)."""
    if per_object:
        from ..gaze.dataset import iter_dataset

        for item in iter_dataset(dataset):
            yield item.name, np.asarray(item.image), item.gaze
        return
    import imageio.v3 as iio

    from ..gaze.dataset import IMAGE_SUFFIXES

    images_dir = Path(dataset) / "images"
    paths = sorted(p for p in images_dir.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"{images_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    for path in paths:
        yield path.stem, np.asarray(iio.imread(path)), None


def _per_object(mask: np.ndarray, gaze, name: str) -> np.ndarray:
    from ..models.gaze_instances import labels_from_gaze
    from ..models.object_gaze import fixations_of

    fixations = fixations_of(gaze)
    if fixations.ndim != 2:
        raise ValueError(
            f"the gaze of {name} has {fixations.ndim}D coordinates; GradTrack segments 2D images."
        )
    return labels_from_gaze(mask, fixations.coords, fixations.object_id)


def _sam_labels(sam, item, args) -> np.ndarray:
    from ..gaze.recording import GazeRecording
    from ..imaging import is_rgb
    from ..models.mask_labels import paint_mask
    from ..models.object_gaze import fixations_of, objects_in

    image = np.asarray(item.image)
    spatial_shape = image.shape[:-1] if is_rgb(image) else image.shape
    recording = item.gaze if isinstance(item.gaze, GazeRecording) else None
    fixations = fixations_of(item.gaze)
    if fixations.ndim != len(spatial_shape):
        raise ValueError(
            f"the gaze of {item.name} has {fixations.ndim}D coordinates but the image is "
            f"{len(spatial_shape)}D; pair each image with its own recording."
        )
    limits = _contrast_limits(image)
    labels = np.zeros(spatial_shape, dtype=np.int32)
    multimask = None if args.mask_choice == "best" else args.mask_choice != "single"
    choice = int(args.mask_choice) if args.mask_choice.isdigit() else None
    for obj in objects_in(fixations, recording):
        if len(obj.fixations) == 0 and (obj.recording is None or not obj.recording.valid.any()):
            continue
        sam.set_image(image[obj.slice_index], limits, obj.slice_index or None)
        mask = sam.segment(obj.fixations, obj.recording, args.prompt, multimask, choice)
        paint_mask(labels[obj.slice_index], mask, obj.object_id, args.overwrite_objects)
    return labels


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.per_object and args.method != "gradtrack":
        raise ValueError("--per-object is for --method gradtrack; SAM labels every object already.")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    if args.method == "sam":
        from ..gaze.dataset import iter_dataset
        from ..models.sam_gaze import GazeSam

        sam = GazeSam(
            args.model_type, args.checkpoint, args.device, args.finetuned, cache_dir=args.cache_dir
        )
        for item in tqdm(
            iter_dataset(args.dataset), desc="segment (SAM)", disable=args.quiet, unit="image"
        ):
            _write_labels(_sam_labels(sam, item, args), out, item.name)
            written += 1
    else:
        from ..models.gradtrack_predict import GradTrackPredictor

        predictor = GradTrackPredictor.from_checkpoint(args.checkpoint, args.device)
        images = _gradtrack_inputs(args.dataset, args.per_object)
        for name, image, gaze in tqdm(
            images, desc="segment (GradTrack)", disable=args.quiet, unit="image"
        ):
            mask = predictor.predict(image, _contrast_limits(image))
            labels = mask.astype(np.uint8) if gaze is None else _per_object(mask, gaze, name)
            _write_labels(labels, out, name)
            written += 1
    print(f"wrote {written} label images to {out}", flush=True)
    return 0
