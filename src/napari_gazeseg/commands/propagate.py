"""``gazeseg propagate``: label stacks from gaze on a few planes, propagated by SAM 2.

    gazeseg propagate DATASET --out OUT --checkpoint sam2.1_hiera_tiny.pt [--config tiny]

``DATASET`` is a dataset folder whose ``images/`` hold 3D stacks or time series
(``(planes, rows, cols)`` TIFF, grey or RGB) and whose ``gaze/`` holds gaze with
``(plane, row, col)`` coordinates. Each object session's fixations become point
prompts on the planes they were made on; SAM 2's video predictor propagates
every object through the other planes, both ways
(:mod:`napari_gazeseg.models.sam2_gaze`). Writes ``OUT/NAME.tif``: one label
stack per image, each object its session's id. Label stacks already in ``OUT``
are refused unless ``--overwrite``. ``--config`` names the SAM 2.1 configuration
the checkpoint was released with (tiny, small, base_plus, large, or a config path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "propagate",
        help="segment 3D stacks or time series from gaze on a few planes with SAM 2",
        description=__doc__.split("\n\n")[0].replace("``", ""),
    )
    parser.add_argument("dataset", help="dataset folder with images/ (stacks) and gaze/")
    parser.add_argument("--out", required=True, help="folder for the label stacks")
    parser.add_argument(
        "--checkpoint", required=True, help="SAM 2 checkpoint, e.g. sam2.1_hiera_tiny.pt"
    )
    parser.add_argument(
        "--config", default="tiny", help="SAM 2.1 configuration: tiny, small, base_plus, large or a path"
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change SAM 2's configuration (hydra syntax, e.g. ++model.image_size=512); repeatable",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace label stacks already in --out"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def _stacks(dataset: str):
    from ..gaze.dataset import iter_dataset
    from ..imaging import is_rgb
    from ..segmentation import fixations_of

    for item in iter_dataset(dataset):
        image = np.asarray(item.image)
        spatial = image.shape[:-1] if is_rgb(image) else image.shape
        if len(spatial) != 3:
            raise ValueError(
                f"{item.image_path.name} has shape {image.shape}; gazeseg propagate needs 3D stacks "
                "(planes, rows, cols); use gazeseg segment for 2D images."
            )
        yield item.name, image, fixations_of(item.gaze)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..models.sam2_gaze import build_video_predictor, sam2_object_masks
    from ..segmentation import ObjectMask, paint_all
    from .segment import _check_outputs, _contrast_limits, _image_paths, _write_labels

    out = Path(args.out)
    names = [path.stem for path in _image_paths(args.dataset)]
    _check_outputs(out, names, args.overwrite)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(
            f"SAM 2 checkpoint {args.checkpoint} does not exist; download e.g. sam2.1_hiera_tiny.pt "
            "from the SAM 2 release and pass its path."
        )
    if not args.quiet:
        print(f"gazeseg propagate: loading SAM 2 ({args.config}) ...", file=sys.stderr, flush=True)
    predictor = build_video_predictor(args.config, args.checkpoint, args.device, args.override)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, image, fixations in tqdm(
        _stacks(args.dataset), total=len(names), desc="propagate (SAM 2)", disable=args.quiet, unit="stack"
    ):
        masks = sam2_object_masks(predictor, image, fixations, contrast_limits=_contrast_limits(image))
        labels = paint_all((m for m in masks if isinstance(m, ObjectMask)), image.shape[:3])
        path = _write_labels(labels, out, name)
        written += 1
        if not args.quiet:
            print(f"gazeseg propagate: {path}", file=sys.stderr, flush=True)
    print(f"wrote {written} label stacks to {out}", flush=True)
    return 0
