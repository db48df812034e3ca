"""Which part of GradTrack earns its Dice: ablations over the same data seeds.

    OMP_NUM_THREADS=1 python benchmarks/gradtrack_ablations.py --json ablations.json
    OMP_NUM_THREADS=1 python benchmarks/gradtrack_ablations.py --variants no_ta ta2 ta4 --kind cells

Each variant is ``benchmarks/gradtrack_synthetic.py`` with GradTrack alone and one
setting changed (the rest as the reduced CPU run), on the same data seeds and
network seeds as the baseline rows, which are trained once in the same run:
GradTrack as published and the GazeMedSeg-style baseline. The table gives each
variant's Dice (mean and spread over data seeds of the network-seed means) and its
difference from full GradTrack *paired by data seed*, so a change smaller than the
data-to-data spread is not read as an effect.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import gradtrack_synthetic as bench  # noqa: E402

#: name -> (description, extra arguments of gradtrack_synthetic.py)
VARIANTS = {
    "no_ta": ("without Track Attention (plain U-Net, GradTrack's loss)", ["--ta-blocks"]),
    "ta2": ("Track Attention at block 2 only", ["--ta-blocks", "2"]),
    "ta4": ("Track Attention at block 4 only", ["--ta-blocks", "4"]),
    "beta_half": ("track maps with beta / 2", ["--beta-scale", "0.5"]),
    "beta_double": ("track maps with beta x 2", ["--beta-scale", "2.0"]),
    "tau_0.1": ("tau 0.1 (paper 0.25)", ["--tau", "0.1"]),
    "tau_0.5": ("tau 0.5", ["--tau", "0.5"]),
    "pseudo_0.5": ("pseudo-mask threshold 0.5 (paper 0.7)", ["--pseudo-threshold", "0.5"]),
    "pseudo_0.9": ("pseudo-mask threshold 0.9", ["--pseudo-threshold", "0.9"]),
    "crf_scaled": ("dense CRF scaled to the image size", ["--crf", "scaled"]),
    "size_128": ("training size 128 px (default 64)", ["--size", "128"]),
    "epochs_60": ("60 epochs (default 30)", ["--epochs", "60"]),
    "ratios_approach_free": ("track ratios 0.5 / 0.75 / 0.75 (output without the approach)",
                             ["--track-ratios", "0.5", "0.75", "0.75"]),
    "ratios_shifted": ("track ratios 0.25 / 0.5 / 0.75", ["--track-ratios", "0.25", "0.5", "0.75"]),
}
DEFAULT_VARIANTS = ["no_ta", "ta2", "ta4", "beta_half", "tau_0.5", "pseudo_0.5", "crf_scaled"]


def print_table(rows, full) -> list[dict]:
    """Each row's Dice (at 0.5 and at the validation threshold) and its difference to full
    GradTrack, paired by data seed."""
    print("\nDice over data seeds (mean, std of the network-seed means); difference to full GradTrack "
          "paired by data seed (mean, std, data seeds ahead)")
    print(f"{'variant':<58}{'at 0.5':>7}{'std':>6}{'diff':>8}{'std':>6}{'ahead':>6}"
          f"{'val thr':>9}{'std':>6}{'diff':>8}{'std':>6}{'ahead':>6}")
    table = []
    for label, values in rows:
        line, entry = f"{label:<58}", {"variant": label}
        for key in ("dice", "dice_val_threshold"):
            diff = values[key] - full[key]
            n = len(diff)
            sd = float(diff.std(ddof=1)) if n > 1 else 0.0
            spread = float(values[key].std(ddof=1)) if n > 1 else 0.0
            mark = "*" if n > 1 and sd > 0 and abs(diff.mean()) > 2 * sd / np.sqrt(n) else " "
            width = 7 if key == "dice" else 9
            line += (f"{values[key].mean():>{width}.2f}{spread:>6.2f}{diff.mean():>+7.2f}{mark}{sd:>6.2f}"
                     f"{int((diff > 0).sum()):>4}/{n}")
            entry[key] = values[key].tolist()
            entry[f"{key}_diff_to_gradtrack"] = diff.tolist()
        print(line)
        table.append(entry)
    print("* the paired difference exceeds twice its standard error over data seeds")
    return table


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--json", default=None)
    args, common = parser.parse_known_args(argv)
    print(f"baseline: GradTrack and GazeMedSeg-style, {' '.join(common) or 'defaults'}", flush=True)
    base = bench.main(common + ["--methods", "gazemedseg", "gradtrack"])
    results = {"baseline": base, "variants": {}}

    def by_seed(report, method="gradtrack", key="dice"):
        return np.array([np.mean(r["methods"][method][key]) for r in report["per_data_seed"].values()])

    def rows_of(report, method="gradtrack"):
        return {key: by_seed(report, method, key) for key in ("dice", "dice_val_threshold")}

    full = rows_of(base)
    rows = [("GradTrack (as published)", full), ("GazeMedSeg-style", rows_of(base, "gazemedseg"))]
    for name in args.variants:
        description, extra = VARIANTS[name]
        print(f"\nvariant {name}: {description}", flush=True)
        report = bench.main(common + extra + ["--methods", "gradtrack"])
        results["variants"][name] = report
        rows.append((description, rows_of(report)))
        if args.json:  # after every variant, so that an interrupted run keeps what it measured
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    table = print_table(rows, full)
    results["table"] = table
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
