"""``gazeseg metrics``: gaze metrics over areas of interest (AOIs), one CSV row per AOI.

Examples::

    gazeseg metrics data/ -o metrics.csv                  # a dataset folder: AOIs from masks/
    gazeseg metrics reader1.gaze.tsv reader2.gaze.tsv --aoi lesions.tif -o metrics.csv
    gazeseg metrics data/ --by-object --radius-px 10 -o metrics.csv

Rows are image x AOI x recording (x object session with ``--by-object``); the
columns use Tobii Pro Lab's metric names (see ``docs/metrics.md`` and
:mod:`napari_gazeseg.gaze.aoi`). Gaze samples get fixations from the Tobii I-VT
filter with its default settings; fixation files are used as they are.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import command_parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = command_parser(
        subparsers, "metrics",
        "AOI gaze metrics (Tobii Pro Lab's set) over label masks, written as CSV",
        "Compute time to first fixation, dwell, visits, revisits and the other Tobii Pro "
        "Lab AOI metrics for every AOI (each label of a mask) and every recording, and "
        "write them as one CSV.",
    )
    parser.add_argument(
        "inputs", type=Path, nargs="+", metavar="DATASET|GAZE",
        help="a dataset folder (images/, gaze/, masks/) or gaze files",
    )
    parser.add_argument(
        "--aoi", type=Path, default=None, metavar="LABELS",
        help="label image (tif/png) whose labels are the AOIs; for a dataset the default is "
        "its masks/ folder",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="CSV")
    parser.add_argument("--overwrite", action="store_true", help="replace CSV when it exists")
    parser.add_argument(
        "--by-object", action="store_true",
        help="one row per object session too (times from the session's start)",
    )
    parser.add_argument(
        "--radius-px", type=float, default=0.0, metavar="PX",
        help="a fixation also hits an AOI within this many image pixels (default 0)",
    )
    parser.set_defaults(func=run)
    return parser


def _fixations_of(gaze):
    from napari_gazeseg.gaze.recording import Fixations
    from napari_gazeseg.segmentation import fixations_of  # I-VT with its defaults

    return (None if isinstance(gaze, Fixations) else gaze), fixations_of(gaze)


def _read_labels(path: Path):
    from napari_gazeseg.gaze.dataset import _read_mask

    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass a label image with --aoi.")
    return _read_mask(path)


def run(args: argparse.Namespace) -> int:
    from napari_gazeseg.gaze.aoi import AOISet, metrics_table, write_metrics_csv
    from napari_gazeseg.gaze.dataset import iter_dataset
    from napari_gazeseg.gaze.formats import read_gaze_all

    if args.output.exists() and not args.overwrite:
        raise ValueError(f"{args.output} already exists; choose another file or pass --overwrite.")
    if args.output.resolve() in {p.resolve() for p in args.inputs}:
        raise ValueError(f"{args.output} is one of the inputs; write the metrics elsewhere.")
    if not args.radius_px >= 0:
        raise ValueError(f"--radius-px must be >= 0, got {args.radius_px}.")
    fixed_aois = AOISet.from_labels(_read_labels(args.aoi)) if args.aoi is not None else None

    rows: list[dict] = []
    for path in args.inputs:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; pass a dataset folder or gaze files.")
        if path.is_dir():
            for item in iter_dataset(path):
                aois = fixed_aois
                if aois is None:
                    if item.mask is None:
                        print(f"{item.name}: no mask in {path / 'masks'}, skipped")
                        continue
                    aois = AOISet.from_labels(item.mask)
                table = metrics_table(
                    {item.gaze_path.name: _fixations_of(item.gaze)}, aois,
                    by_object=args.by_object, radius_px=args.radius_px,
                )
                rows += [{"Image": item.name, **row} for row in table]
                print(f"{item.name}: {len(aois)} AOIs")
        else:
            if fixed_aois is None:
                raise ValueError(f"{path} is a gaze file; say which AOIs with --aoi LABELS.")
            for name, gaze in read_gaze_all(path).items():
                table = metrics_table(
                    {path.name: _fixations_of(gaze)}, fixed_aois,
                    by_object=args.by_object, radius_px=args.radius_px,
                )
                rows += [{"Image": str(name), **row} for row in table]
                print(f"{path.name} ({name}): {len(fixed_aois)} AOIs")
    if not rows:
        raise ValueError("no AOI was found in the inputs; give masks or --aoi LABELS.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_metrics_csv(rows, args.output, overwrite=args.overwrite)
    print(f"wrote {len(rows)} rows to {args.output}")
    return 0
