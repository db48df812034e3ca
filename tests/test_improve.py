"""Human in the loop: Improve model learns from the accepted images of a series (GradTrack on CPU)."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
from conftest import image_folder

from napari_gazeseg.annotation import AnnotationSeries
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
from napari_gazeseg.models.improve import foreground_dice, improve_gradtrack

pytestmark = pytest.mark.slow


def test_improve_model_raises_dice_on_images_it_never_saw(tmp_path):
    # Polyps: outside the bundled model's domain (fluorescent cells), as a new user's series is.
    scenes = [simulate_observer("polyp", shape=(128, 128), n_objects=1, seed=s) for s in range(11)]
    src = image_folder(tmp_path / "series", [scene.image for scene in scenes[:8]], "p")
    series = AnnotationSeries(src)
    for k, scene in enumerate(scenes[:8]):
        series.accept(f"p{k}", scene.labels, scene.recording)
    result = improve_gradtrack(series, device="cpu")
    assert result.trained_on == tuple(f"p{k}" for k in range(6))
    assert result.held_out == ("p6", "p7")
    assert result.checkpoint.exists() and result.checkpoint.parent.parent == series.output / "models"
    unseen = scenes[8:]
    before = GradTrackPredictor.from_checkpoint(None, device="cpu")
    after = GradTrackPredictor.from_checkpoint(result.checkpoint, device="cpu")
    dice_before = np.mean([foreground_dice(before.predict(s.image), s.labels) for s in unseen])
    dice_after = np.mean([foreground_dice(after.predict(s.image), s.labels) for s in unseen])
    print(f"held-out accepted: {result.dice_before:.3f} -> {result.dice_after:.3f}; "
          f"unseen: {dice_before:.3f} -> {dice_after:.3f}")
    assert dice_after > dice_before + 0.1
    assert result.dice_after > result.dice_before
    row = json.loads(series.log_path.read_text().splitlines()[-1])
    assert row["state"] == "model" and row["dice_after"] == pytest.approx(result.dice_after)
    # the log's model row does not disturb the series' states
    assert AnnotationSeries(src).counts() == {"todo": 0, "accepted": 8, "skipped": 0}


def test_improve_model_needs_accepted_images(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    iio.imwrite(src / "a.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match="at least 2 accepted images"):
        improve_gradtrack(AnnotationSeries(src))
