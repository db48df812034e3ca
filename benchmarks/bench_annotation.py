"""A simulated annotator on an image series: time per object and corrections, before and after Improve model.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_annotation.py [--kind polyp] [--n 20]

The annotator is the simulated observer (``simulate_observer``): on each image it
looks at every object in one object session, as a user of the Annotate series
panel does with the G hotkey. Its recording is replayed into the segmentation
core (GradTrack, one label per object looked at: what the panel paints live),
and every object's mask is compared with the truth. An object *needs a
correction* when its Dice is below 0.9; the simulated user then corrects it
(the true mask is accepted, as brush and eraser would make it).

The first half of the series is annotated with the bundled model (zero-shot);
then one **Improve model** step fine-tunes it on those accepted images
(``models.improve.improve_gradtrack``), and the second half is annotated with the
new model. Printed per half: seconds per object (the observer's looking time
per object session, plus the model's compute time per object on this machine),
the mean object Dice, and the share of objects that needed a correction.

There is no click-based annotator in the same run to compare with: the paper
(SAM meets Gaze) reports gaze faster than clicking; here we report only our own
figures. The looking time is the simulator's, not a person's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from napari_gazeseg.annotation import AnnotationSeries
from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
from napari_gazeseg.models.improve import foreground_dice, improve_gradtrack
from napari_gazeseg.segmentation import gradtrack_object_masks

GOOD = 0.9


def annotate(series: AnnotationSeries, scenes, predictor, names) -> dict:
    looking, compute, dice, corrected = [], [], [], []
    for name in names:
        scene = scenes[name]
        rec = scene.recording
        fixations = detect_fixations_ivt(rec)
        started = time.perf_counter()
        masks = list(gradtrack_object_masks(predictor, scene.image, fixations))
        seconds = time.perf_counter() - started
        labels = np.zeros(scene.labels.shape, np.int32)
        for m in masks:
            truth = scene.labels == m.object_id
            d = foreground_dice(m.mask, truth)
            dice.append(d)
            corrected.append(d < GOOD)
            t = rec.t[rec.object_id == m.object_id]
            looking.append(float(t.max() - t.min()) if t.size else 0.0)
            compute.append(seconds / max(len(masks), 1))
            labels[truth if d < GOOD else m.mask] = m.object_id
        series.accept(name, labels, rec, corrections=int(sum(corrected[-len(masks):])))
    return {"objects": len(dice), "seconds_per_object": float(np.mean(looking) + np.mean(compute)),
            "looking_s": float(np.mean(looking)), "compute_s": float(np.mean(compute)),
            "dice": float(np.mean(dice)), "corrected": float(np.mean(corrected))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="polyp", choices=("polyp", "cells"))
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=100)
    args = parser.parse_args()
    objects = 1 if args.kind == "polyp" else 3
    scenes = {}
    with tempfile.TemporaryDirectory() as scratch:
        src = Path(scratch) / "series"
        src.mkdir()
        for k in range(args.n):
            scene = simulate_observer(args.kind, shape=(192, 192), n_objects=objects, seed=args.seed + k)
            name = f"{args.kind}{k:02d}"
            scenes[name] = scene
            iio.imwrite(src / f"{name}.png", scene.image)
        series = AnnotationSeries(src)
        names = [e.name for e in series.images]
        half = args.n // 2
        bundled = GradTrackPredictor.from_checkpoint(None, device="cpu")
        first = annotate(series, scenes, bundled, names[:half])
        started = time.perf_counter()
        result = improve_gradtrack(series, epochs=args.epochs, device="cpu")
        improve_s = time.perf_counter() - started
        improved = GradTrackPredictor.from_checkpoint(result.checkpoint, device="cpu")
        second = annotate(series, scenes, improved, names[half:])
    print(f"{args.kind}: {args.n} images, {objects} object(s) each, simulated observer at 120 Hz, GradTrack on CPU")
    print(f"{'':<34}{'objects':>8}{'s/object':>10}{'looking':>9}{'compute':>9}{'Dice':>7}{'corrected':>11}")
    for label, r in (("zero-shot (bundled model)", first), ("after one Improve model step", second)):
        print(f"{label:<34}{r['objects']:>8}{r['seconds_per_object']:>10.2f}{r['looking_s']:>9.2f}"
              f"{r['compute_s']:>9.3f}{r['dice']:>7.3f}{100 * r['corrected']:>10.0f}%")
    print(f"Improve model: {improve_s:.0f} s ({args.epochs} epochs on {len(result.trained_on)} images); "
          f"{result.sentence()}")


if __name__ == "__main__":
    main()
