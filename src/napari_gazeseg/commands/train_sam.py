"""``gazeseg train-sam``: fine-tune SAM's prompt encoder and mask decoder on gaze prompts.

    gazeseg train-sam DATASET --out runs/sam-fixations [--prompt fixations] [--model-type vit_b]

``DATASET`` holds ``images/``, ``masks/`` (label images: the targets) and ``gaze/``.
Writes ``OUT/model.pt`` (prompt encoder + mask decoder only; use it with
``gazeseg segment --finetuned OUT/model.pt`` or the widget's fine-tuned field),
``OUT/last.pt`` (``--resume`` continues from it) and ``OUT/metrics.jsonl``.
An ``OUT`` that already holds a run is refused unless ``--resume`` or
``--overwrite`` says what to do with it. Runs on the GPU when there is one (``--device auto``), else on the CPU.

Several GPUs (or CPU processes): ``torchrun --nproc_per_node N -m
napari_gazeseg.cli train-sam DATASET --out OUT``; the ranks share out the
embeddings and each step's objects, and train the model one process trains
(see :mod:`napari_gazeseg.models.sam_finetune`); only rank 0 writes and reports.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from . import add_shared, command_parser
from .train import add_run_folder_arguments, check_run_folder, interrupted_note


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..segmentation import PROMPT_CHOICES

    parser = command_parser(
        subparsers, "train-sam", "fine-tune SAM's prompt encoder and mask decoder on gaze prompts",
        __doc__,
    )
    parser.add_argument("dataset", help="dataset folder with images/, masks/ and gaze/")
    parser.add_argument(
        "--out", required=True, help="output folder for model.pt, last.pt, metrics.jsonl"
    )
    add_shared(
        parser, "--model-type", "--checkpoint",
        checkpoint="base SAM checkpoint (default: searched as in docs/sam.md)",
    )
    parser.add_argument(
        "--prompt",
        default="fixations",
        help=f"prompt type to train: {', '.join(PROMPT_CHOICES)}, or another '+'-combination",
    )
    parser.add_argument(
        "--epochs", type=int, default=55, help="epochs (paper: 55 Cellpose 500, 75 PascalVOC)"
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default 8e-4 dense, 2e-4 points/boxes)",
    )
    parser.add_argument("--warmup-steps", type=int, default=30, help="linear warm-up steps")
    parser.add_argument(
        "--epoch-decay", type=float, default=0.95, help="learning-rate factor per epoch"
    )
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument(
        "--max-objects", type=int, default=16, help="objects of one image decoded per step"
    )
    parser.add_argument(
        "--box-margin", type=float, default=0.0, help="pixels added around the gaze box"
    )
    add_shared(
        parser, "--device", "--cache-dir",
        cache_dir="embedding cache (default DATASET/.gazeseg-cache/sam)",
    )
    parser.add_argument("--seed", type=int, default=0)
    add_run_folder_arguments(parser)
    add_shared(parser, "--quiet", quiet="no progress bars")
    parser.set_defaults(func=run, interrupted=interrupted_note)
    return parser


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..models.sam_finetune import SamFinetuneConfig, finetune_sam

    config = SamFinetuneConfig(
        dataset=args.dataset,
        out=args.out,
        model_type=args.model_type,
        checkpoint=args.checkpoint,
        prompt=args.prompt,
        epochs=args.epochs,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        epoch_decay=args.epoch_decay,
        weight_decay=args.weight_decay,
        max_objects=args.max_objects,
        box_margin=args.box_margin,
        device=args.device,
        cache_dir=args.cache_dir,
        seed=args.seed,
    )
    check_run_folder(args.out, args.resume, args.overwrite, resume_needs_last=True)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun rank 0 reports for all
        args.quiet = True
    bars: dict[str, tqdm] = {}

    def on_embed(done: int, total: int) -> None:
        bar = bars.setdefault(
            "embed", tqdm(total=total, desc="embeddings", unit="image", disable=args.quiet)
        )
        bar.update(done - bar.n)

    def on_step(epoch: int, step: int, steps: int, loss: float) -> None:
        name = f"epoch {epoch + 1}"
        if name not in bars:
            for bar in bars.values():
                bar.close()
            bars[name] = tqdm(total=steps, desc=name, unit="step", disable=args.quiet)
        bar = bars[name]
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")

    def on_epoch(metrics: dict) -> None:
        if not args.quiet:
            tqdm.write(
                json.dumps(
                    {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
                )
            )

    path = finetune_sam(config, args.resume, on_step, on_epoch, on_embed)
    for bar in bars.values():
        bar.close()
    if not args.quiet or int(os.environ.get("RANK", "0")) == 0:
        print(f"wrote {Path(path)}", flush=True)
    return 0
