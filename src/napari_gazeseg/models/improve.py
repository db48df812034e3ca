"""Human in the loop: a model that learns from the images of a series already accepted.

:func:`improve_gradtrack` trains a GradTrack-family U-Net on the accepted images
of an :class:`~napari_gazeseg.annotation.AnnotationSeries` and reports how much it
changed on accepted images it did not train on:

* ``supervision="masks"`` (default, as Cellpose 2.0 retrains on corrections): the
  accepted masks, which the annotator checked and corrected, are the labels
  (``method="supervised"``);
* ``supervision="gaze"``: GradTrack from the gaze alone (the paper's method),
  for series whose masks were not corrected.

The run fine-tunes the current model (the bundled one, or ``base``): the same
network, starting from its weights. The last
``holdout`` accepted images (at least one) are held out: Dice of the
current model (the bundled one, or ``base``) and of the new one against their
accepted masks are measured on them. The new ``model.pt`` goes to
``OUTPUT/models/STAMP/``, and a ``{"state": "model", ...}`` row to the series log.
Nothing else in the series is touched.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["ImproveResult", "improve_gradtrack", "foreground_dice"]


@dataclass(frozen=True)
class ImproveResult:
    """What :func:`improve_gradtrack` measured and wrote."""

    checkpoint: Path
    dice_before: float
    dice_after: float
    trained_on: tuple[str, ...]
    held_out: tuple[str, ...]

    @property
    def gain(self) -> float:
        return self.dice_after - self.dice_before

    def sentence(self) -> str:
        return (
            f"New model: Dice {100 * self.dice_after:.1f} % on {len(self.held_out)} held-out accepted "
            f"image(s), was {100 * self.dice_before:.1f} % ({100 * self.gain:+.1f} points); "
            f"trained on {len(self.trained_on)}."
        )


def foreground_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two foreground masks (1.0 when both are empty)."""
    pred, truth = np.asarray(pred) > 0, np.asarray(truth) > 0
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(pred, truth).sum() / total)


def _grey2d(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] not in (3, 4):
        raise ValueError(
            "Improve model learns from 2D images; this series holds stacks (annotate them "
            "plane by plane)."
        )
    return image


def improve_gradtrack(
    series,
    *,
    supervision: str = "masks",
    base: str | Path | None = None,
    holdout: int | None = None,
    epochs: int = 40,
    lr: float = 0.01,
    seed: int = 0,
    device: str = "auto",
    on_epoch: Callable[[int, int], None] | None = None,
) -> ImproveResult:
    """Train on the accepted images of ``series``; measure before/after on held-out ones."""
    from ..gaze.dataset import _read_mask
    from .gaze_supervision import SupervisionParams, samples_from_items
    from .gradtrack_predict import GradTrackPredictor
    from .gradtrack_train import TrainConfig, fit

    if supervision not in ("masks", "gaze"):
        raise ValueError(f"supervision must be 'masks' or 'gaze', got {supervision!r}.")
    accepted = [e for e in series.images if e.state == "accepted"]
    if len(accepted) < 2:
        raise ValueError(
            f"Improve model needs at least 2 accepted images, the series has {len(accepted)}; "
            "accept more first."
        )
    n_hold = max(1, math.ceil(0.25 * len(accepted)) if holdout is None else int(holdout))
    if n_hold >= len(accepted):
        raise ValueError(f"holding out {n_hold} of {len(accepted)} accepted images leaves none to train on.")
    train_entries, held_entries = accepted[:-n_hold], accepted[-n_hold:]

    def item(entry):
        from ..gaze.formats import read_gaze

        files = entry.row["files"]
        image = _grey2d(series.read_image(entry.name))
        mask = _read_mask(series.output / files["mask"])
        gaze = read_gaze(series.output / files["gaze"]) if "gaze" in files else None
        return entry.name, image, mask, gaze

    train_items = [item(e) for e in train_entries]
    if supervision == "gaze":
        missing = [name for name, _, _, gaze in train_items if gaze is None]
        if missing:
            raise ValueError(
                f"{missing[0]} was accepted without gaze; learn from the masks instead."
            )
    else:  # the masks are the labels; gaze (if any) only feeds maps the method does not use
        train_items = [
            (n, im, m, g if g is not None else _empty_fixations(im)) for n, im, m, g in train_items
        ]
    held_items = [item(e) for e in held_entries]

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = series.output / "models" / stamp
    from dataclasses import replace

    from .gradtrack_predict import default_checkpoint_path
    from .gradtrack_train import read_checkpoint

    base_path = Path(base) if base is not None else default_checkpoint_path()
    base_checkpoint = read_checkpoint(base_path)
    # Fine-tune the current model: same network plan, its weights as the start.
    config = replace(
        base_checkpoint.train_config,
        method="supervised" if supervision == "masks" else "gradtrack",
        ta_blocks=tuple(base_checkpoint.track_attention_blocks),
        init_checkpoint=str(base_path),
        epochs=epochs, batch_size=min(8, len(train_items)), lr=lr, momentum=0.9,
        seed=seed, device=device, progress=False, val_fraction=0.0,
        mixed_precision=True, half_precision_weights=False,
    )
    params = SupervisionParams.from_train_config(config)
    samples = samples_from_items(train_items, params, series.output / ".gazeseg-cache" / "gradtrack")
    done = [0]

    def step(metrics):
        done[0] += 1
        if on_epoch is not None:
            on_epoch(done[0], epochs)

    fit(samples, config, out_dir, None, on_epoch_end=step)
    checkpoint = out_dir / "model.pt"

    before = GradTrackPredictor.from_checkpoint(base_path, device=device)
    after = GradTrackPredictor.from_checkpoint(checkpoint, device=device)
    dice_before = float(np.mean([foreground_dice(before.predict(im), m) for _, im, m, _ in held_items]))
    dice_after = float(np.mean([foreground_dice(after.predict(im), m) for _, im, m, _ in held_items]))
    result = ImproveResult(
        checkpoint=checkpoint, dice_before=dice_before, dice_after=dice_after,
        trained_on=tuple(e.name for e in train_entries), held_out=tuple(e.name for e in held_entries),
    )
    series._append({
        "state": "model", "time": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "model": str(checkpoint.relative_to(series.output)), "supervision": supervision,
        "base": str(base) if base is not None else "bundled",
        "dice_before": dice_before, "dice_after": dice_after,
        "trained_on": list(result.trained_on), "held_out": list(result.held_out), "epochs": epochs,
    })
    return result


def _empty_fixations(image):
    from ..gaze.recording import Fixations

    rows, cols = np.asarray(image).shape[:2]
    # One fixation at the centre: the supervision maps need some gaze; a supervised run ignores them.
    return Fixations(start=[0.0], duration=[0.2], coords=[[rows / 2, cols / 2]],
                     meta={"image": {"shape": [rows, cols]}})
