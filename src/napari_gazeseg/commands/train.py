"""``gazeseg train``: train GradTrack (or a baseline) on a dataset folder.

    gazeseg train DATASET --out runs/gradtrack [--method gradtrack] [--epochs 100] ...

``DATASET`` holds ``images/``, ``gaze/`` and optionally ``masks/`` (used only to
report validation Dice, and as labels for ``--method supervised``). Writes
``OUT/model.pt`` (load it with ``GradTrackPredictor.from_checkpoint`` or
``gazeseg segment --method gradtrack --checkpoint OUT/model.pt``),
``OUT/last.pt`` (``--resume`` continues from it) and ``OUT/metrics.jsonl``.
An ``OUT`` that already holds a run is refused unless ``--resume`` (continue
it) or ``--overwrite`` (start again there) says what to do with it.

Several GPUs (or CPU processes): ``torchrun --nproc_per_node N -m
napari_gazeseg.cli train DATASET --out OUT`` (``--batch-size`` is per process).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import fields
from pathlib import Path

from ..models.gradtrack_methods import METHODS

_DEFAULTS = {
    "method": "gradtrack",
    "size": 224,
    "epochs": 100,
    "batch_size": 8,
    "lr": 0.01,
    "momentum": 0.99,
    "weight_decay": 3e-5,
    "base_channels": 32,
    "max_channels": 512,
    "beta": 10.0,
    "tau": 0.25,
    "pseudo_threshold": 0.7,
    "crf": "gazemedseg",
    "seed": 0,
    "device": "auto",
    "val_fraction": 0.2,
    "num_workers": 0,
}


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train GradTrack (or a baseline) from gaze on a dataset folder",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("dataset", help="dataset folder with images/, gaze/ and optional masks/")
    parser.add_argument("--out", required=True, help="output folder for model.pt, last.pt, metrics.jsonl")
    parser.add_argument("--method", choices=METHODS, default=_DEFAULTS["method"],
                        help="gradtrack, a gaze baseline (vam, vam_crf, gazemedseg) or supervised (needs masks)")
    parser.add_argument("--size", type=int, default=_DEFAULTS["size"], help="training side in pixels (paper: 224)")
    parser.add_argument("--epochs", type=int, default=_DEFAULTS["epochs"])
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS["batch_size"], help="images per step and process")
    parser.add_argument("--lr", type=float, default=_DEFAULTS["lr"], help="initial learning rate (poly decay 0.9)")
    parser.add_argument("--momentum", type=float, default=_DEFAULTS["momentum"],
                        help="SGD Nesterov momentum (nnU-Net 0.99; 0.9 is steadier on tiny data)")
    parser.add_argument("--weight-decay", type=float, default=_DEFAULTS["weight_decay"])
    parser.add_argument("--base-channels", type=int, default=_DEFAULTS["base_channels"])
    parser.add_argument("--max-channels", type=int, default=_DEFAULTS["max_channels"])
    parser.add_argument("--beta", type=float, default=_DEFAULTS["beta"], help="track-map decay in pixels at --size")
    parser.add_argument("--tau", type=float, default=_DEFAULTS["tau"], help="track-map field-of-view threshold")
    parser.add_argument("--pseudo-threshold", type=float, default=_DEFAULTS["pseudo_threshold"],
                        help="threshold of the CRF-refined VAM for GradTrack's pseudo-mask")
    parser.add_argument("--crf", choices=("gazemedseg", "scaled"), default=_DEFAULTS["crf"],
                        help="dense-CRF setting of the pseudo-masks: GazeMedSeg's as published (default), "
                        "or its spatial width scaled to the image size (docs/gradtrack.md)")
    parser.add_argument("--track-ratios", type=float, nargs=3, default=[0.5, 0.75, 1.0], metavar=("P2", "P4", "OUT"),
                        help="truncation ratios of the track maps supervising decoder blocks 2, 4 and the output "
                        "(paper: 0.5 0.75 1.0; 0.5 0.75 0.75 leaves out each object's approach, docs/gradtrack.md)")
    parser.add_argument("--seed", type=int, default=_DEFAULTS["seed"])
    parser.add_argument("--device", default=_DEFAULTS["device"], help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-mixed-precision", action="store_true", help="train in float32 on GPUs too")
    parser.add_argument("--no-augmentation", action="store_true")
    parser.add_argument("--val-fraction", type=float, default=_DEFAULTS["val_fraction"],
                        help="fraction of the images with masks held out for validation Dice")
    parser.add_argument("--num-workers", type=int, default=_DEFAULTS["num_workers"], help="DataLoader workers")
    parser.add_argument("--half-weights", action="store_true", help="store model.pt weights in float16")
    parser.add_argument("--cache-dir", default=None, help="where gaze maps are cached (default DATASET/.gazeseg-cache)")
    add_run_folder_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run, interrupted=interrupted_note)
    return parser


#: Files a training run writes into --out.
RUN_FILES = ("model.pt", "last.pt", "metrics.jsonl")


def add_run_folder_arguments(parser: argparse.ArgumentParser) -> None:
    """``--resume`` and ``--overwrite``: the two explicit ways into an --out holding a run."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/last.pt")
    choice.add_argument("--overwrite", action="store_true", help="start again in an OUT that holds a run")


def check_run_folder(out: str | os.PathLike, resume: bool, overwrite: bool, resume_needs_last: bool = False) -> None:
    """Refuse, in one sentence, an ``--out`` whose run would be replaced without an explicit choice.

    ``--out`` (or a folder above it) being a file is refused; a folder holding any
    of :data:`RUN_FILES` needs ``resume`` or ``overwrite``; ``resume`` into a
    folder with outputs but no ``last.pt`` is refused (it would restart and replace
    them), and so is ``resume`` without ``last.pt`` at all when ``resume_needs_last``.
    """
    out = Path(out)
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(
                    f"{folder} is a file, not a folder; pass a folder for --out (model.pt, last.pt, metrics.jsonl)."
                )
            break
    existing = [name for name in RUN_FILES if (out / name).exists()]
    has_last = (out / "last.pt").exists()
    if resume:
        if not has_last and (existing or resume_needs_last):
            held = f"holds {', '.join(existing)} but " if existing else ""
            raise FileNotFoundError(
                f"{out} {held}has no last.pt to resume from; start without --resume"
                f"{' and with --overwrite' if existing else ''} or pick another --out."
            )
        return
    if existing and not overwrite:
        raise ValueError(
            f"{out} already holds a training run ({', '.join(existing)}); pass --resume to continue it, "
            "--overwrite to replace it, or pick another --out."
        )


def interrupted_note(args: argparse.Namespace) -> str:
    """What ``gazeseg`` says after Ctrl-C (after "interrupted; ")."""
    return f"the finished epochs are in {args.out}: run the same command with --resume to continue."


def config_from_args(args: argparse.Namespace):
    from ..models.gradtrack_train import TrainConfig

    values = {
        "method": args.method,
        "size": args.size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "base_channels": args.base_channels,
        "max_channels": args.max_channels,
        "beta": args.beta,
        "tau": args.tau,
        "pseudo_threshold": args.pseudo_threshold,
        "crf": args.crf,
        "track_ratios": tuple(args.track_ratios),
        "seed": args.seed,
        "device": args.device,
        "mixed_precision": not args.no_mixed_precision,
        "augmentation": not args.no_augmentation,
        "val_fraction": args.val_fraction,
        "num_workers": args.num_workers,
        "progress": not args.quiet,
        "half_precision_weights": args.half_weights,
    }
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in values.items() if k in known})


def run(args: argparse.Namespace) -> int:
    from ..models.gradtrack_train import train_from_folder

    config = config_from_args(args)
    check_run_folder(args.out, args.resume, args.overwrite)
    is_main = int(os.environ.get("RANK", "0")) == 0

    def report(metrics: dict) -> None:
        if not args.quiet:
            print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}), flush=True)

    result = train_from_folder(args.dataset, config, args.out, args.cache_dir, args.resume, report)
    if is_main:
        print(f"wrote {os.path.join(args.out, 'model.pt')}", flush=True)
        if not result.metrics:
            print("nothing to do: the run in --out already finished its epochs.", flush=True)
    return 0
