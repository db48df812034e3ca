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
(:func:`napari_gazeseg.segmentation.labels_from_gaze`), as in napari.

The segmentation itself is :mod:`napari_gazeseg.segmentation` (shared with the
napari widget). Before anything is loaded or written: label images already in
``OUT`` are refused unless ``--overwrite``; gaze whose meta names another image
(name or shape) is refused unless ``--force``; gaze largely off its image is
warned about. Masks that cannot be right (empty, covering most of the image) are
listed per object on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import add_shared, command_parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..segmentation import PROMPT_CHOICES

    parser = command_parser(
        subparsers, "segment",
        "segment a dataset folder's images from gaze (SAM) or with GradTrack", __doc__,
    )
    parser.add_argument("dataset", help="dataset folder with images/ and (for SAM) gaze/")
    parser.add_argument("--out", required=True, help="folder for the label images")
    parser.add_argument("--method", choices=("sam", "gradtrack"), default="sam")
    add_shared(
        parser, "--model-type", "--checkpoint",
        checkpoint="SAM base checkpoint (default: $GAZESEG_SAM_CHECKPOINT, $GAZESEG_SAM_DIR or "
        "the cache folder), or GradTrack's model.pt (default: the bundled model)",
    )
    parser.add_argument(
        "--finetuned", default=None, help="fine-tuned SAM gaze checkpoint from `gazeseg train-sam`"
    )
    parser.add_argument(
        "--prompt",
        default=None,
        help=f"SAM prompt: {', '.join(PROMPT_CHOICES)}, or another '+'-combination (default: what "
        "--finetuned was trained on, else fixations)",
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
    add_shared(
        parser, "--device", "--cache-dir", cache_dir="folder for SAM embeddings on disk (default: none)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace label images already in --out"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="segment even where the gaze says it was recorded on another image",
    )
    add_shared(parser, "--quiet")
    parser.set_defaults(func=run)
    return parser


def _contrast_limits(image: np.ndarray) -> tuple[float, float]:
    """Whole-image limits, as napari shows the image (every slice of a volume mapped alike)."""
    from ..imaging import default_contrast_limits, is_rgb

    return default_contrast_limits(image, rgb=is_rgb(image))


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
    from ..gaze.dataset import _read_image  # a file it cannot decode: one sentence naming it

    for path in _image_paths(dataset):
        yield path.stem, _read_image(path), None


def _image_paths(dataset: str) -> list[Path]:
    from ..gaze.dataset import IMAGE_SUFFIXES

    images_dir = Path(dataset) / "images"
    paths = sorted(p for p in images_dir.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"{images_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return paths


def _spatial_shape(image: np.ndarray) -> tuple[int, ...]:
    from ..imaging import is_rgb

    return image.shape[:-1] if is_rgb(image) else image.shape


def _check_outputs(out: Path, names: list[str], overwrite: bool) -> None:
    """Refuse an ``--out`` that is a file, or label images that exist, unless ``--overwrite``."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder for the label images.")
    existing = [
        out / f"{name}.{suffix}"
        for name in names
        for suffix in ("png", "tif")
        if (out / f"{name}.{suffix}").exists()
    ]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ValueError(
            f"{existing[0]}{more} already exists; pass --overwrite to replace, or another --out."
        )


def _check_gaze(dataset: str, force: bool) -> None:
    """Refuse gaze recorded on another image unless ``--force``; warn about gaze off the image."""
    from ..gaze.dataset import iter_dataset
    from ..segmentation import gaze_image_mismatch, off_image_warning

    mismatched = []
    for item in iter_dataset(dataset):
        shape = _spatial_shape(np.asarray(item.image))
        mismatch = gaze_image_mismatch(item.gaze.meta, item.name, shape, advice=None)
        if mismatch:
            mismatched.append(f"{item.name}: {mismatch[:-1]}")
        warning = off_image_warning(item.gaze, shape)
        if warning:
            print(f"gazeseg segment: warning: {item.name}: {warning}", file=sys.stderr, flush=True)
    if mismatched and not force:
        more = f" (and {len(mismatched) - 1} more images)" if len(mismatched) > 1 else ""
        raise ValueError(
            f"{mismatched[0]}{more}; pair each image with its own gaze, or pass --force to segment anyway."
        )


def _report_problems(name: str, masks) -> int:
    from ..segmentation import problems_of

    problems = problems_of(masks)
    for problem in problems:
        print(
            f"gazeseg segment: {name} {problem}: this cannot be right; check the image, the gaze and the model.",
            file=sys.stderr,
            flush=True,
        )
    return len(problems)


def _sam_labels(sam, item, args) -> tuple[np.ndarray, int]:
    """The label image of one dataset item and how many of its masks cannot be right."""
    from ..gaze.recording import GazeRecording
    from ..segmentation import fixations_of, paint_all, sam_object_masks

    image = np.asarray(item.image)
    recording = item.gaze if isinstance(item.gaze, GazeRecording) else None
    fixations = fixations_of(item.gaze)
    shape = _spatial_shape(image)
    if fixations.ndim != len(shape):
        raise ValueError(
            f"the gaze of {item.name} has {fixations.ndim}D coordinates but the image is "
            f"{len(shape)}D; pair each image with its own recording."
        )
    masks = list(
        sam_object_masks(
            sam,
            image,
            fixations,
            recording,
            prompt=args.prompt,
            mask=args.mask_choice,
            contrast_limits=_contrast_limits(image),
        )
    )
    return paint_all(masks, shape, overwrite=args.overwrite_objects), _report_problems(
        item.name, masks
    )


def _gradtrack_labels(predictor, name: str, image: np.ndarray, gaze) -> tuple[np.ndarray, int]:
    from ..segmentation import fixations_of, gradtrack_object_masks, paint_all

    fixations = None
    if gaze is not None:
        fixations = fixations_of(gaze)
        if fixations.ndim != 2:
            raise ValueError(
                f"the gaze of {name} has {fixations.ndim}D coordinates; GradTrack segments 2D images."
            )
        if not len(fixations.object_ids):
            print(
                f"gazeseg segment: {name}: the gaze holds no object session; its label image is empty.",
                file=sys.stderr,
                flush=True,
            )
            return np.zeros(_spatial_shape(image), np.uint8), 1
    masks = list(
        gradtrack_object_masks(predictor, image, fixations, contrast_limits=_contrast_limits(image))
    )
    dtype = np.uint8 if gaze is None else np.int32
    return paint_all(masks, _spatial_shape(image), dtype=dtype), _report_problems(name, masks)


def _say(args, text: str) -> None:
    if not args.quiet:
        print(f"gazeseg segment: {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.per_object and args.method != "gradtrack":
        raise ValueError("--per-object is for --method gradtrack; SAM labels every object already.")
    # every input is checked before anything is loaded or written
    out = Path(args.out)
    _check_outputs(out, [path.stem for path in _image_paths(args.dataset)], args.overwrite)
    if args.method == "sam" or args.per_object:
        _check_gaze(args.dataset, args.force)
    if args.method == "sam":
        from ..models.sam_gaze import parse_mask_choice

        parse_mask_choice(args.mask_choice)

    written = problems = 0
    if args.method == "sam":
        from ..gaze.dataset import iter_dataset
        from ..models.sam_gaze import GazeSam

        _say(args, f"loading SAM {args.model_type} ...")
        sam = GazeSam(
            args.model_type, args.checkpoint, args.device, args.finetuned, cache_dir=args.cache_dir
        )
        out.mkdir(parents=True, exist_ok=True)
        for item in tqdm(
            iter_dataset(args.dataset), desc="segment (SAM)", disable=args.quiet, unit="image"
        ):
            labels, found = _sam_labels(sam, item, args)
            _write_labels(labels, out, item.name)
            written, problems = written + 1, problems + found
    else:
        from ..models.gradtrack_predict import GradTrackPredictor
        from ..segmentation import BUNDLED_GRADTRACK_CARD

        _say(args, "loading GradTrack ...")
        predictor = GradTrackPredictor.from_checkpoint(args.checkpoint, args.device)
        if args.checkpoint is None:
            print(f"gazeseg segment: {BUNDLED_GRADTRACK_CARD}", file=sys.stderr, flush=True)
        out.mkdir(parents=True, exist_ok=True)
        images = _gradtrack_inputs(args.dataset, args.per_object)
        for name, image, gaze in tqdm(
            images, desc="segment (GradTrack)", disable=args.quiet, unit="image"
        ):
            labels, found = _gradtrack_labels(predictor, name, image, gaze)
            _write_labels(labels, out, name)
            written, problems = written + 1, problems + found
    flagged = f"; {problems} masks cannot be right (listed above)" if problems else ""
    print(f"wrote {written} label images to {out}{flagged}", flush=True)
    return 0
