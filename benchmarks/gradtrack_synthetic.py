"""GradTrack against its gaze baselines and full supervision on synthetic observer data.

Table 1 of the GradTrack paper, on images drawn by ``simulate_observer`` with the
simulated observer's gaze as the only annotation: every method trains the same
U-Net (GradTrack adds Track Attention) with the same budget (epochs, batch,
optimiser, augmentation), over several seeds, and is scored by Dice against the
ground-truth masks of held-out images (at the training resolution).

Paper scale (a GPU: several hundred images, 224 x 224, 100 epochs)::

    python benchmarks/gradtrack_synthetic.py --kind polyp --n-images 900 --n-test 100 \\
        --size 224 --epochs 100 --base-channels 32 --max-channels 512 --device cuda

Reduced CPU run (the default), see ``docs/perf/gradtrack.md`` for its results::

    python benchmarks/gradtrack_synthetic.py

Dice is reported twice: with the argmax (threshold 0.5) for every method, as
in the paper, and with the decision threshold each run picks on a small
validation set with masks (``--n-val``), which is what ``gazeseg train``
stores in ``model.pt``. Also printed: the Dice of each method's training labels
against the truth (how good the supervision itself is) and the seconds per
epoch and per image.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from napari_gazeseg.gaze.simulate import simulate_dataset
from napari_gazeseg.models.gaze_supervision import SupervisionParams, samples_from_items
from napari_gazeseg.models.gradtrack_train import TrainConfig, dice_scores, fit, predict_logits, resolve_device

METHODS = [
    ("vam", "VAM", "vam_soft"),
    ("vam_crf", "VAM + D-CRF", "vam_crf_soft"),
    ("gazemedseg", "GazeMedSeg-style", "gazemedseg_1"),
    ("gradtrack", "GradTrack", "pseudo_mask"),
    ("supervised", "U-Net (full supervision)", "mask"),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", default="polyp", choices=("polyp", "cells", "organ"))
    parser.add_argument("--n-images", type=int, default=96, help="training images")
    parser.add_argument("--n-test", type=int, default=32, help="held-out test images")
    parser.add_argument("--n-val", type=int, default=16,
                        help="validation images with masks, used only to pick each run's decision threshold")
    parser.add_argument("--scene-size", type=int, default=192, help="side of the simulated images (pixels)")
    parser.add_argument("--objects", type=int, default=1, help="objects per image")
    parser.add_argument("--size", type=int, default=64, help="training side (pixels)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--base-channels", type=int, default=8)
    parser.add_argument("--max-channels", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=[m[0] for m in METHODS])
    parser.add_argument("--gaze", choices=("recording", "fixations"), default="recording",
                        help="train from the tracker samples (I-VT fixations) or the observer's true fixations")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", default=None, help="gaze-map cache (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--time-paper-network", type=int, default=0, metavar="STEPS",
                        help="also time STEPS training steps of the paper's network (224 px, 32..512, batch 8)")
    return parser.parse_args(argv)


def _supervision_quality(samples, target: str) -> float:
    truth = samples.targets[:, samples.channel("mask")] > 0.5
    label = samples.targets[:, samples.channel(target)] > 0
    return float(dice_scores(label, truth).mean())


def time_paper_network(steps: int, device: torch.device) -> float:
    """Seconds per training step (batch 8, 224 x 224, GradTrack loss) of the full network."""
    from napari_gazeseg.models.gradtrack_losses import method_loss
    from napari_gazeseg.models.gradtrack_train import build_model

    config = TrainConfig(device=str(device))
    model = build_model(config).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.99, nesterov=True)
    images = torch.randn(8, 3, 224, 224, device=device)
    names = SupervisionParams().target_names(with_mask=False)
    targets = {name: (torch.rand(8, 224, 224, device=device) > 0.8).float() for name in names}
    durations = []
    for step in range(steps + 1):
        begun = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            outputs = model(images)
        loss, _ = method_loss("gradtrack", outputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up
            durations.append(time.perf_counter() - begun)
    return float(np.median(durations))


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = resolve_device(args.device)
    scale = args.size / 224.0
    params = SupervisionParams(size=args.size, beta=10.0 * scale)
    total = args.n_images + args.n_test + args.n_val
    started = time.perf_counter()
    scenes = simulate_dataset(total, kind=args.kind, shape=(args.scene_size, args.scene_size), seed=1234, n_objects=args.objects)
    items = ((s.name, s.image, s.labels, getattr(s, args.gaze)) for s in scenes)
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache_dir or Path(scratch) / "cache"
        samples = samples_from_items(items, params, cache)
        prepare_s = time.perf_counter() - started
        held_out = args.n_images + args.n_test
        train, test = samples.subset(range(args.n_images)), samples.subset(range(args.n_images, held_out))
        val = samples.subset(range(held_out, total)) if args.n_val else None
        truth = test.targets[:, test.channel("mask")] > 0.5
        results, calibrated, seconds_per_epoch = {}, {}, []
        for method in args.methods:
            scores, scores_calibrated = [], []
            for seed in args.seeds:
                config = TrainConfig(
                    method=method, size=args.size, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, momentum=args.momentum, base_channels=args.base_channels,
                    max_channels=args.max_channels, beta=params.beta, seed=seed,
                    device=str(device), progress=False,
                )
                out_dir = Path(scratch) / f"{method}_{seed}"
                seconds = []
                result = fit(train, config, out_dir, val, on_epoch_end=lambda m: seconds.append(m["seconds"]))
                foreground = torch.softmax(predict_logits(result.model, test.images, device), dim=1)[:, 1]
                threshold = result.metrics.get("val_threshold", 0.5)
                scores.append(100 * float(dice_scores(foreground > 0.5, truth).mean()))
                scores_calibrated.append(100 * float(dice_scores(foreground > threshold, truth).mean()))
                seconds_per_epoch.append(float(np.mean(seconds)))
                print(f"  {method:<11} seed {seed}: Dice {scores[-1]:.2f} % at 0.5, {scores_calibrated[-1]:.2f} % "
                      f"at {threshold:.2f}  ({np.mean(seconds):.2f} s/epoch)", flush=True)
            results[method], calibrated[method] = scores, scores_calibrated
    rows = []
    print()
    print(f"{args.kind}: {args.n_images} training / {args.n_test} test / {args.n_val} validation images, {args.size} px, "
          f"{args.epochs} epochs, channels {args.base_channels}..{args.max_channels}, seeds {args.seeds}, {device}")
    print(f"{'Method':<26}{'Supervision':<13}{'Dice mean':>10}{'Std':>7}{'at val thr':>12}{'Std':>7}{'label Dice':>12}")
    for method, title, target in METHODS:
        if method not in results:
            continue
        scores, tuned = np.array(results[method]), np.array(calibrated[method])
        quality = 100 * _supervision_quality(train, target)
        supervision = "Full" if method == "supervised" else "Gaze"
        spread = (lambda v: v.std(ddof=1) if len(v) > 1 else 0.0)
        print(f"{title:<26}{supervision:<13}{scores.mean():>10.2f}{spread(scores):>7.2f}"
              f"{tuned.mean():>12.2f}{spread(tuned):>7.2f}{quality:>12.2f}")
        rows.append({"method": method, "dice": scores.tolist(), "dice_val_threshold": tuned.tolist(), "label_dice": quality})
    per_epoch = float(np.mean(seconds_per_epoch))
    per_image = per_epoch / args.n_images
    print(f"\nsupervision maps: {prepare_s:.1f} s for {total} images ({1000 * prepare_s / total:.0f} ms/image, simulation included)")
    print(f"training: {per_epoch:.2f} s/epoch, {1000 * per_image:.1f} ms per image-step on {device} "
          f"(torch threads {torch.get_num_threads()})")
    paper_step = None
    if args.time_paper_network:
        paper_step = time_paper_network(args.time_paper_network, device)
        epoch_900 = paper_step * 900 / 8
        print(f"paper network (224 px, 32..512, batch 8): {paper_step:.2f} s/step on {device}; "
              f"900 images x 100 epochs would take {epoch_900 * 100 / 3600:.1f} h here")
    report = {"paper_network_seconds_per_step": paper_step, "args": vars(args), "device": str(device), "rows": rows, "seconds_per_epoch": per_epoch,
              "ms_per_image_step": 1000 * per_image, "prepare_seconds": prepare_s}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
