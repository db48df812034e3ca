"""``gazeseg simulate``: write a dataset folder of synthetic images, masks and gaze.

Example::

    gazeseg simulate --kind polyp --n 20 --shape 256 256 --seed 0 data/polyps
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import command_parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = command_parser(
        subparsers, "simulate",
        "write synthetic images, masks and simulated gaze to a dataset folder",
        "Draw synthetic images with ground-truth masks and simulate an annotator "
        "inspecting each object with an eye tracker. Writes OUT_DIR/images/NAME.png, "
        "OUT_DIR/masks/NAME.png and OUT_DIR/gaze/NAME.gaze.tsv (+ .json).",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to write")
    parser.add_argument("--kind", choices=("cells", "polyp", "organ"), default="cells")
    parser.add_argument("--n", type=int, default=10, help="number of images (default 10)")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=2,
        default=(256, 256),
        metavar=("ROWS", "COLS"),
        help="image size in pixels",
    )
    parser.add_argument("--objects", type=int, default=3, help="objects per image (default 3)")
    parser.add_argument(
        "--rate", type=float, default=120.0, help="tracker sampling rate in Hz (default 120)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace files already in OUT_DIR")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from napari_gazeseg.gaze.dataset import write_dataset
    from napari_gazeseg.gaze.simulate import simulate_dataset

    scenes = simulate_dataset(
        args.n, args.kind, tuple(args.shape), args.seed, n_objects=args.objects, rate_hz=args.rate
    )
    for scene in scenes:
        try:
            write_dataset([scene], args.out_dir, overwrite=args.overwrite)
        except FileExistsError as err:
            raise ValueError(
                f"{err.filename} already exists; write to another folder or pass --overwrite."
            ) from None
        rec = scene.recording
        print(
            f"{scene.name}: {len(rec.object_ids)} objects, {rec.duration:.1f} s of gaze, "
            f"{len(scene.fixations)} fixations"
        )
    print(
        f"wrote {args.n} {args.kind} images of {args.shape[0]} x {args.shape[1]} px with gaze at "
        f"{args.rate:g} Hz to {args.out_dir}: images/NAME.png, masks/NAME.png, "
        "gaze/NAME.gaze.tsv (+ .gaze.json)"
    )
    return 0
