"""Time SAM 2 propagation through a stack (models/sam2_gaze.py), with SAM 2's own frame loading beside it.

    python benchmarks/bench_sam2.py                                   # hiera tiny, random weights, auto device
    python benchmarks/bench_sam2.py --config large --device cuda --planes 64 --objects 4
    python benchmarks/bench_sam2.py --checkpoint ~/.cache/napari-gazeseg/sam/sam2.1_hiera_tiny.pt
    python benchmarks/bench_sam2.py --small --device cpu --planes 6   # the tests' shallow model: a quick CPU run

Measures on a synthetic ``(planes, size, size)`` uint16 stack with ``--objects``
bright blocks, each looked at on two planes:

* frames: our in-memory frames (:func:`video_frames` + ``init_state``) against
  SAM 2's own path for the same stack (JPEG files written to a folder, then
  ``init_state(folder)``); ratio = SAM 2's / ours (> 1: ours faster);
* propagation: the whole :func:`sam2_object_masks` run (prompts, forward and
  backward), in seconds and in milliseconds per plane and object.

Without ``--checkpoint`` the weights are random: timings are the architecture's,
masks are meaningless. Medians of ``--repeats`` runs, GPU work synchronised.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import median_time

from napari_gazeseg.gaze.recording import Fixations  # noqa: E402
from napari_gazeseg.models.sam2_gaze import (  # noqa: E402
    build_video_predictor,
    init_state,
    sam2_object_masks,
)
from napari_gazeseg.segmentation import ObjectMask  # noqa: E402

SMALL = (
    "++model.image_size=128",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.memory_attention.num_layers=1",
)


def _scene(planes: int, size: int, objects: int):
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 200, (planes, size, size)).astype(np.uint16)
    rows = []
    for k in range(objects):
        r, c = (int(v) for v in rng.integers(size // 8, size - size // 4, 2))
        stack[:, r:r + size // 8, c:c + size // 8] += 3000
        for plane in (planes // 3, 2 * planes // 3):
            rows.append((plane, r + size // 16, c + size // 16, k + 1))
    coords = np.array([row[:3] for row in rows], float)
    fixations = Fixations(
        np.arange(len(rows), dtype=float), np.full(len(rows), 0.3), coords,
        np.array([row[3] for row in rows], np.int64), {},
    )
    return stack, fixations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--planes", type=int, default=32)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="the tests' shallow 128 px model")
    args = parser.parse_args()

    torch.manual_seed(0)
    predictor = build_video_predictor(args.config, args.checkpoint, args.device, SMALL if args.small else ())
    device = predictor.device
    stack, fixations = _scene(args.planes, args.size, args.objects)
    limits = (0.0, float(stack.max()))

    def ours():
        init_state(predictor, stack, limits)

    def sam2_own():
        from PIL import Image

        from napari_gazeseg.imaging import to_uint8_rgb

        with tempfile.TemporaryDirectory() as folder:
            for index, plane in enumerate(stack):
                Image.fromarray(to_uint8_rgb(plane, limits)).save(Path(folder) / f"{index:05d}.jpg", quality=95)
            predictor.init_state(folder, offload_video_to_cpu=device.type != "cpu")

    def propagate():
        masks = [m for m in sam2_object_masks(predictor, stack, fixations, contrast_limits=limits)
                 if isinstance(m, ObjectMask)]
        assert len(masks) == args.planes * args.objects

    ours()  # warm-up (kernels, allocator)
    t_ours = median_time(ours, args.repeats, device)
    t_own = median_time(sam2_own, args.repeats, device)
    t_prop = median_time(propagate, args.repeats, device)
    name = f"{args.config}{' (small)' if args.small else ''}, {'real' if args.checkpoint else 'random'} weights"
    print(f"SAM 2 {name} on {device}; stack {args.planes} x {args.size}^2, {args.objects} objects")
    print(f"frames: ours {t_ours * 1e3:.0f} ms, SAM 2's JPEG folder {t_own * 1e3:.0f} ms, ratio {t_own / t_ours:.2f}x")
    per = t_prop / (args.planes * args.objects) * 1e3
    print(f"propagation (prompts, forward, backward): {t_prop:.2f} s, {per:.1f} ms per plane and object")
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
