"""``gazeseg embed``: compute a dataset's SAM embeddings ahead of time, on one machine or many.

    gazeseg embed DATASET [--model-type vit_b] [--cache-dir DIR]
    torchrun --nproc_per_node 4 -m napari_gazeseg.cli embed DATASET --cache-dir /shared/cache

Fills the embedding cache (default ``DATASET/.gazeseg-cache/sam``, the folder
``gazeseg train-sam`` reads) with one entry per image of ``DATASET/images``
(per plane for 3D stacks), keyed as ``train-sam`` and ``GazeSam.embed`` look
them up (no contrast limits). Entries already there are kept. Under
``torchrun`` (``RANK``/``WORLD_SIZE`` set) rank ``r`` of ``n`` embeds every
``n``-th image starting at ``r``: the ranks together fill the same cache as one
process, each entry written once and atomically. Each rank picks its GPU by
``LOCAL_RANK`` when ``--device auto`` finds CUDA.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import add_shared, command_parser


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = command_parser(
        subparsers, "embed",
        "precompute the SAM embedding cache of a dataset folder (shards under torchrun)", __doc__,
    )
    parser.add_argument("dataset", help="dataset folder with images/")
    add_shared(
        parser, "--model-type", "--checkpoint", "--cache-dir", "--device",
        checkpoint="SAM checkpoint (default: searched as in docs/sam.md)",
        cache_dir="embedding cache (default DATASET/.gazeseg-cache/sam)",
    )
    parser.add_argument(
        "--precision", default="auto", choices=("auto", "float32", "bfloat16"),
        help="image encoder precision (auto: bfloat16 on GPUs that support it)",
    )
    add_shared(parser, "--quiet")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from ..models.embed_ahead import dataset_images, embed_images, rank_and_world, shard
    from ..models.sam_gaze import GazeSam

    rank, world = rank_and_world()
    paths = shard(dataset_images(args.dataset), rank, world)
    cache_dir = args.cache_dir or str(Path(args.dataset) / ".gazeseg-cache" / "sam")
    device = args.device
    if device == "auto" and world > 1 and torch.cuda.is_available():
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    sam = GazeSam(
        args.model_type,
        args.checkpoint,
        device,
        cache_dir=cache_dir,
        memory_cache_size=1,
        embed_precision=args.precision,
    )
    where = f"rank {rank} of {world}: " if world > 1 else ""
    bar = tqdm(total=len(paths), desc=f"{where}embeddings", unit="image", disable=args.quiet)
    report = embed_images(sam, paths, lambda done, total: bar.update(done - bar.n))
    bar.close()
    print(
        f"{where}{report.computed} embeddings computed, {report.cached} already cached "
        f"({len(paths)} images) in {cache_dir}",
        flush=True,
    )
    return 0
