"""GradTrack against its gaze baselines and full supervision on synthetic observer data.

Table 1 of the GradTrack paper, on images drawn by ``simulate_observer`` with the
simulated observer's gaze as the only annotation: every method trains the same
U-Net (GradTrack adds Track Attention) with the same budget (epochs, batch,
optimiser, augmentation), over several seeds, and is scored by Dice against the
ground-truth masks of held-out images (at the training resolution).

Paper scale (a GPU: several hundred images, 224 x 224, 100 epochs)::

    python benchmarks/gradtrack_synthetic.py --kind polyp --n-images 900 --n-test 100 \\
        --size 224 --epochs 100 --base-channels 32 --max-channels 512 --device cuda

Reduced CPU run (the default: 3 data seeds x 3 network seeds), see
``docs/perf/gradtrack.md`` for its results::

    OMP_NUM_THREADS=1 python benchmarks/gradtrack_synthetic.py --json polyp.json

Each data seed draws its own images and gaze; every method is trained with each
network seed on each data set. The table gives the mean and spread over data
sets, and GradTrack minus each baseline *paired by data seed*, so that a lead
smaller than the data-to-data spread is not mistaken for an advantage.
Ablations: ``--ta-blocks`` (none, 2, 4), ``--beta``, ``--tau``,
``--pseudo-threshold``, ``--size``, ``--epochs``, ``--crf``, ``--track-ratios``.

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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="network seeds")
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[1234, 9876, 4242],
                        help="seeds of the simulated images and gaze (one data set each)")
    parser.add_argument("--crf", default="gazemedseg", choices=("gazemedseg", "scaled"),
                        help="dense-CRF setting of the pseudo-masks (see napari_gazeseg.gaze.crf)")
    parser.add_argument("--ta-blocks", type=int, nargs="*", default=None,
                        help="decoder blocks with Track Attention for gradtrack (default 2 4; none: ablation)")
    parser.add_argument("--beta", type=float, default=None, help="track-map beta at --size (default 10 * size/224)")
    parser.add_argument("--beta-scale", type=float, default=1.0, help="multiply the default beta (ablations)")
    parser.add_argument("--tau", type=float, default=0.25, help="track-map tau")
    parser.add_argument("--pseudo-threshold", type=float, default=0.7, help="GradTrack pseudo-mask threshold")
    parser.add_argument("--track-ratios", type=float, nargs=3, default=[0.5, 0.75, 1.0], metavar=("P2", "P4", "OUT"),
                        help="truncation ratios of the track maps supervising P^2, P^4 and the output "
                             "(paper 0.5 0.75 1.0; 0.5 0.75 0.75 leaves each inspection's approach out)")
    parser.add_argument("--methods", nargs="+", default=[m[0] for m in METHODS])
    parser.add_argument("--gaze", choices=("recording", "fixations"), default="recording",
                        help="train from the tracker samples (I-VT fixations) or the observer's true fixations")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", default=None, help="gaze-map cache (default: a temporary folder)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--merge", nargs="+", default=None, metavar="[LABEL=]FILE",
                        help="train nothing: print the tables of --json files of this script or of "
                             "gradtrack_ablations.py together (methods of a LABEL= file or of an ablation "
                             "variant become METHOD:LABEL; the same method in several files, e.g. other "
                             "network seeds, is pooled)")
    parser.add_argument("--reference", default="gradtrack",
                        help="the method compared with every other one, paired by data seed (e.g. gradtrack:LABEL)")
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


def run_data_seed(args, data_seed: int, device, params) -> dict:
    """Every method x network seed on one simulated data set: Dice lists and label Dice."""
    total = args.n_images + args.n_test + args.n_val
    started = time.perf_counter()
    scenes = simulate_dataset(total, kind=args.kind, shape=(args.scene_size, args.scene_size), seed=data_seed,
                              n_objects=args.objects)
    items = ((s.name, s.image, s.labels, getattr(s, args.gaze)) for s in scenes)
    out: dict = {"methods": {}, "seconds_per_epoch": []}
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(args.cache_dir) / f"data{data_seed}" if args.cache_dir else Path(scratch) / "cache"
        samples = samples_from_items(items, params, cache)
        out["prepare_seconds"] = time.perf_counter() - started
        held_out = args.n_images + args.n_test
        train, test = samples.subset(range(args.n_images)), samples.subset(range(args.n_images, held_out))
        val = samples.subset(range(held_out, total)) if args.n_val else None
        truth = test.targets[:, test.channel("mask")] > 0.5
        for method in args.methods:
            scores, scores_calibrated = [], []
            for seed in args.seeds:
                config = TrainConfig(
                    method=method, size=args.size, epochs=args.epochs, batch_size=args.batch_size,
                    lr=args.lr, momentum=args.momentum, base_channels=args.base_channels,
                    max_channels=args.max_channels, beta=params.beta, tau=params.tau,
                    pseudo_threshold=params.pseudo_threshold, crf=params.crf, track_ratios=params.track_ratios,
                    ta_blocks=None if args.ta_blocks is None else tuple(args.ta_blocks),
                    seed=seed, device=str(device), progress=False,
                )
                out_dir = Path(scratch) / f"{method}_{seed}"
                seconds = []
                result = fit(train, config, out_dir, val, on_epoch_end=lambda m: seconds.append(m["seconds"]))
                foreground = torch.softmax(predict_logits(result.model, test.images, device), dim=1)[:, 1]
                threshold = result.metrics.get("val_threshold", 0.5)
                scores.append(100 * float(dice_scores(foreground > 0.5, truth).mean()))
                scores_calibrated.append(100 * float(dice_scores(foreground > threshold, truth).mean()))
                out["seconds_per_epoch"].append(float(np.mean(seconds)))
                print(f"  data {data_seed} {method:<11} seed {seed}: Dice {scores[-1]:.2f} % at 0.5, "
                      f"{scores_calibrated[-1]:.2f} % at {threshold:.2f}  ({np.mean(seconds):.2f} s/epoch)", flush=True)
            target = dict((m, t) for m, _, t in METHODS)[method]
            out["methods"][method] = {
                "dice": scores, "dice_val_threshold": scores_calibrated,
                "label_dice": 100 * _supervision_quality(train, target),
            }
    return out


def paired(per_seed: dict[int, dict], a: str, b: str, key: str = "dice") -> dict:
    """GradTrack (``a``) minus a baseline (``b``), paired by data seed (network-seed means)."""
    from scipy import stats

    diffs = np.array([np.mean(r["methods"][a][key]) - np.mean(r["methods"][b][key])
                      for r in per_seed.values() if a in r["methods"] and b in r["methods"]])
    n = diffs.size
    sd = float(diffs.std(ddof=1)) if n > 1 else 0.0
    p = float(stats.ttest_1samp(diffs, 0.0).pvalue) if n > 1 and sd > 0 else float("nan")
    return {"mean": float(diffs.mean()), "std": sd, "per_seed": diffs.tolist(),
            "ahead": int((diffs > 0).sum()), "n": n, "p": p,
            # "exceeds its spread": the mean difference is larger than its standard error twice over
            "exceeds_spread": bool(n > 1 and abs(diffs.mean()) > 2 * sd / np.sqrt(n))}


def _method_title(key: str) -> str:
    method, _, label = key.partition(":")
    title = {m: t for m, t, _ in METHODS}.get(method, method)
    return f"{title} [{label}]" if label else title


def merge_reports(specs: list[str]) -> tuple[dict, dict]:
    """Per-data-seed results of several ``--json`` files (see ``--merge``) and the first one's arguments."""
    merged: dict = {}
    first_args = None
    for spec in specs:
        label, _, path = spec.rpartition("=")
        data = json.loads(Path(path).read_text())
        if "per_data_seed" in data:
            reports = [(label, data)]
        else:  # gradtrack_ablations.py: the baseline and one report per variant
            reports = [(label, data["baseline"])] + [(label or name, r) for name, r in data["variants"].items()]
        for name, report in reports:
            first_args = first_args or report["args"]
            for seed, result in report["per_data_seed"].items():
                into = merged.setdefault(int(seed), {"methods": {}, "seconds_per_epoch": [], "prepare_seconds": []})
                into["seconds_per_epoch"] += result["seconds_per_epoch"]
                into["prepare_seconds"].append(result["prepare_seconds"])
                for method, values in result["methods"].items():
                    key = f"{method}:{name}" if name else method
                    if key in into["methods"]:  # other network seeds of the same run
                        for field in ("dice", "dice_val_threshold"):
                            into["methods"][key][field] = into["methods"][key][field] + values[field]
                    else:
                        into["methods"][key] = dict(values)
    for result in merged.values():
        result["prepare_seconds"] = float(np.mean(result["prepare_seconds"]))
    return merged, first_args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.merge:
        return summarize(args, *merge_reports(args.merge), device)
    scale = args.size / 224.0
    beta = 10.0 * scale * args.beta_scale if args.beta is None else args.beta
    params = SupervisionParams(size=args.size, beta=beta, tau=args.tau, pseudo_threshold=args.pseudo_threshold,
                               crf=args.crf, track_ratios=tuple(args.track_ratios))
    per_seed = {}
    for data_seed in args.data_seeds:
        per_seed[data_seed] = run_data_seed(args, data_seed, device, params)
    return summarize(args, per_seed, None, device)


def summarize(args, per_seed: dict, merged_args: dict | None, device) -> dict:
    """Print and return the tables of ``per_seed`` (trained now, or merged from files)."""
    present = [key for r in per_seed.values() for key in r["methods"]]
    keys = [m for m, _, _ in METHODS if m in present]
    keys += sorted({k for k in present if k not in keys}, key=present.index)
    if merged_args is not None:
        runs = max(len(m["dice"]) for r in per_seed.values() for m in r["methods"].values())
        described = argparse.Namespace(**{"track_ratios": (0.5, 0.75, 1.0), **merged_args,
                                          "data_seeds": sorted(per_seed), "seeds": f"(up to {runs} a method)"})
        print(f"merged from {' '.join(args.merge)}")
    else:
        described = args
    print()
    d = described
    print(f"{d.kind}: {d.n_images} training / {d.n_test} test / {d.n_val} validation images, {d.size} px, "
          f"{d.epochs} epochs, channels {d.base_channels}..{d.max_channels}, network seeds {d.seeds}, "
          f"data seeds {d.data_seeds}, CRF {d.crf}, TA blocks {d.ta_blocks or 'default'}, "
          f"track ratios {tuple(d.track_ratios)}, {device}")
    print("Mean and std over data seeds of each data seed's mean over network seeds; "
          "'net std': mean over data seeds of the std over network seeds.")
    print(f"{'Method':<40}{'Dice at 0.5':>12}{'std':>7}{'net std':>9}{'at val thr':>12}{'std':>7}{'label Dice':>12}")
    rows = []
    for method in keys:
        title = _method_title(method)
        by_seed = [r["methods"][method] for r in per_seed.values() if method in r["methods"]]
        at05 = np.array([np.mean(m["dice"]) for m in by_seed])
        tuned = np.array([np.mean(m["dice_val_threshold"]) for m in by_seed])
        net_std = float(np.mean([np.std(m["dice"], ddof=1) if len(m["dice"]) > 1 else 0.0 for m in by_seed]))
        label = float(np.mean([m["label_dice"] for m in by_seed]))
        spread = (lambda v: float(v.std(ddof=1)) if len(v) > 1 else 0.0)
        print(f"{title:<40}{at05.mean():>12.2f}{spread(at05):>7.2f}{net_std:>9.2f}{tuned.mean():>12.2f}"
              f"{spread(tuned):>7.2f}{label:>12.2f}")
        rows.append({"method": method, "dice_mean": float(at05.mean()), "dice_std": spread(at05),
                     "dice_network_std": net_std, "dice_val_threshold_mean": float(tuned.mean()),
                     "dice_val_threshold_std": spread(tuned), "label_dice": label,
                     "dice_by_data_seed": at05.tolist(), "dice_val_threshold_by_data_seed": tuned.tolist()})
    comparisons = {}
    reference = args.reference
    if reference in keys:
        print(f"\nPaired by data seed: {_method_title(reference)} minus each other method (Dice points)")
        print(f"{'other method':<40}{'at 0.5':>10}{'std':>7}{'ahead':>8}{'p':>8}{'at val thr':>12}{'std':>7}{'ahead':>8}")
        for method in keys:
            if method == reference:
                continue
            title = _method_title(method)
            d05, dvt = paired(per_seed, reference, method), paired(per_seed, reference, method, "dice_val_threshold")
            comparisons[method] = {"at_0.5": d05, "at_val_threshold": dvt}
            mark = lambda d: "*" if d["exceeds_spread"] else " "  # noqa: E731
            print(f"{title:<40}{d05['mean']:>+9.2f}{mark(d05)}{d05['std']:>7.2f}{d05['ahead']:>5}/{d05['n']}"
                  f"{d05['p']:>8.3f}{dvt['mean']:>+11.2f}{mark(dvt)}{dvt['std']:>7.2f}{dvt['ahead']:>5}/{dvt['n']}")
        print("* the mean difference exceeds twice its standard error over data seeds")
    seconds = [s for r in per_seed.values() for s in r["seconds_per_epoch"]]
    per_epoch = float(np.mean(seconds)) if seconds else float("nan")
    prepare = float(np.mean([r["prepare_seconds"] for r in per_seed.values()]))
    total = d.n_images + d.n_test + d.n_val
    print(f"\nsupervision maps: {prepare:.1f} s per data set of {total} images (simulation included)")
    print(f"training: {per_epoch:.2f} s/epoch, {1000 * per_epoch / d.n_images:.1f} ms per image-step "
          + (f"on {device} (torch threads {torch.get_num_threads()})" if merged_args is None else "(as recorded)"))
    paper_step = None
    if args.time_paper_network:
        paper_step = time_paper_network(args.time_paper_network, device)
        epoch_900 = paper_step * 900 / 8
        print(f"paper network (224 px, 32..512, batch 8): {paper_step:.2f} s/step on {device}; "
              f"900 images x 100 epochs would take {epoch_900 * 100 / 3600:.1f} h here")
    report = {"args": vars(args), "device": str(device), "rows": rows, "paired": comparisons,
              "per_data_seed": {str(k): v for k, v in per_seed.items()}, "seconds_per_epoch": per_epoch,
              "prepare_seconds": prepare, "paper_network_seconds_per_step": paper_step}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
