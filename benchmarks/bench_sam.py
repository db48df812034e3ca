"""Benchmark GazeSam against segment-anything's stock SamPredictor in the same run.

    python benchmarks/bench_sam.py                       # vit_b, random weights, CPU
    python benchmarks/bench_sam.py --model vit_h --device cuda --precision both
    python benchmarks/bench_sam.py --checkpoint ~/.cache/napari-gazeseg/sam/sam_vit_b_01ec64.pth
    python benchmarks/bench_sam.py --model tiny          # the tests' tiny SAM: a quick CPU run

Measures, on one image of ``--size`` (rows, cols):

* embedding: stock ``SamPredictor.set_image`` vs ``GazeSam.set_image`` cold (no
  cache), then GazeSam again from the memory cache and from the disk cache
  (a fresh GazeSam on the same cache folder): those two are *caching* (a lookup
  instead of a recomputation when a slice is shown again), not a faster
  embedding; with ``--precision bf16|both`` on a
  bf16-capable GPU also GazeSam's bfloat16 image encoder;
* decoding: stock ``SamPredictor.predict`` with the fixations as foreground points
  vs ``GazeSam.segment`` (same prompts), and a dense heatmap prompt (map, resize,
  decode);
* agreement: whether our fp32 masks equal the stock masks, and the IoU of the bf16
  masks with the fp32 ones.

Times are medians of ``--repeats`` runs (GPU work synchronised); ratios are
stock / ours (> 1: ours faster). Without ``--checkpoint`` the weights are random
(saved to a temporary file and loaded through the normal path): timings are
those of the real architecture, masks are meaningless.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import median_time
from segment_anything import SamPredictor, sam_model_registry

from napari_gazeseg.gaze.recording import Fixations
from napari_gazeseg.imaging import to_uint8_rgb
from napari_gazeseg.models.sam_gaze import GazeSam
from napari_gazeseg.models.sam_loading import resolve_device


def _scene(size: tuple[int, int], seed: int = 0):
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : size[0], 0 : size[1]]
    centre = np.array(size) * [0.45, 0.55]
    blob = np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * (min(size) / 8) ** 2))
    image = (3000 * blob + 400 * rng.random(size)).astype(np.uint16)
    coords = centre + rng.normal(0, min(size) / 20, (8, 2))
    fixations = Fixations(
        start=np.arange(8) * 0.3, duration=rng.uniform(0.1, 0.4, 8), coords=coords
    )
    return image, (0.0, 3400.0), fixations


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vit_b", choices=("vit_b", "vit_l", "vit_h", "tiny"))
    parser.add_argument(
        "--checkpoint", default=None, help="official checkpoint (default: random weights)"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "both"))
    parser.add_argument("--size", type=int, nargs=2, default=(768, 1024), metavar=("ROWS", "COLS"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decode-repeats", type=int, default=20)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    workdir = Path(tempfile.mkdtemp(prefix="bench-sam-"))
    checkpoint = args.checkpoint
    if args.model == "tiny":  # the tests' tiny SAM (tests/sam_tiny.py), registered as vit_tiny
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from sam_tiny import TINY_TYPE, write_tiny_checkpoint

        checkpoint, args.model = write_tiny_checkpoint(workdir), TINY_TYPE
    elif checkpoint is None:
        torch.manual_seed(0)
        checkpoint = workdir / f"random_{args.model}.pth"
        torch.save(sam_model_registry[args.model](checkpoint=None).state_dict(), checkpoint)
    image, limits, fixations = _scene(tuple(args.size))
    rgb = to_uint8_rgb(image, limits)
    points_xy = fixations.coords[:, ::-1]
    print(
        f"SAM {args.model} ({'random weights' if args.checkpoint is None else Path(checkpoint).name}) "
        f"on {device} ({torch.get_num_threads()} CPU threads), image {tuple(args.size)} uint16, "
        f"{len(fixations)} fixations, torch {torch.__version__}"
    )

    ours = GazeSam(
        args.model, checkpoint, str(device), cache_dir=workdir / "cache", embed_precision="float32"
    )
    stock = SamPredictor(ours.model)  # the very same weights

    def ours_cold():
        ours.cache.clear_memory()
        ours.cache.folder = None  # no disk either: a true cold embedding
        ours.set_image(image, limits)
        ours.cache.folder = workdir / "cache"

    rows = []
    stock_embed = median_time(lambda: stock.set_image(rgb), args.repeats, device)
    cold = median_time(ours_cold, args.repeats, device)
    rows.append(("embed: stock set_image", stock_embed, None))
    rows.append(("embed: GazeSam cold, fp32", cold, stock_embed / cold))
    ours.cache.clear_memory()
    ours.set_image(image, limits)  # a miss: computes once more and fills the disk cache
    memory = median_time(lambda: ours.set_image(image, limits), args.repeats, device)
    rows.append(("embed: GazeSam memory-cache hit (caching, no embedding)", memory, stock_embed / memory))
    fresh = GazeSam(
        args.model, checkpoint, str(device), cache_dir=workdir / "cache", embed_precision="float32"
    )

    def disk_hit():
        fresh.cache.clear_memory()
        fresh.set_image(image, limits)

    disk = median_time(disk_hit, args.repeats, device)
    rows.append(("embed: GazeSam disk-cache hit (caching, no embedding)", disk, stock_embed / disk))

    stock_masks, stock_scores, _ = stock.predict(
        point_coords=points_xy, point_labels=np.ones(len(points_xy))
    )
    stock_decode = median_time(
        lambda: stock.predict(point_coords=points_xy, point_labels=np.ones(len(points_xy))),
        args.decode_repeats,
        device,
    )
    ours.set_image(image, limits)
    ours_mask = ours.segment(fixations, multimask_output=True)
    ours_decode = median_time(
        lambda: ours.segment(fixations, multimask_output=True), args.decode_repeats, device
    )
    dense = median_time(
        lambda: ours.segment(fixations, prompt="heatmap_fixations_duration", multimask_output=True),
        args.decode_repeats,
        device,
    )
    rows.append(("decode: stock predict (points)", stock_decode, None))
    rows.append(("decode: GazeSam segment (fixations)", ours_decode, stock_decode / ours_decode))
    rows.append(("decode: GazeSam heatmap prompt (map+decode)", dense, stock_decode / dense))
    same = bool(np.array_equal(ours_mask, stock_masks[int(np.argmax(stock_scores))]))

    bf16_note = ""
    if args.precision in ("bf16", "both"):
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            half = GazeSam(args.model, checkpoint, str(device), embed_precision="bfloat16")

            def half_cold():
                half.cache.clear_memory()
                half.set_image(image, limits)

            bf16 = median_time(half_cold, args.repeats, device)
            rows.append(("embed: GazeSam cold, bf16 autocast", bf16, stock_embed / bf16))
            half.set_image(image, limits)
            bf16_note = f"; bf16 vs fp32 mask IoU {_iou(half.segment(fixations), ours_mask):.3f}"
        else:
            bf16_note = "; bf16 skipped (needs a CUDA GPU with bfloat16)"

    width = max(len(name) for name, _, _ in rows)
    print(f"{'measurement':<{width}}  {'median s':>10}  {'stock/ours':>10}")
    for name, seconds, ratio in rows:
        print(f"{name:<{width}}  {seconds:>10.4f}  {'' if ratio is None else f'{ratio:>10.2f}'}")
    print(
        "cache hits look the embedding up instead of computing it: their ratio to the stock\n"
        "set_image is what caching saves when a slice is shown again, not a faster computation."
    )
    print(f"fp32 masks equal stock SamPredictor: {same}{bf16_note}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
