"""The GradTrack model shipped in the package segments the demo's synthetic cells."""

from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor, default_checkpoint_path


def test_bundled_model_is_small_and_loads_without_a_path():
    assert default_checkpoint_path().stat().st_size < 8 * 2**20
    predictor = GradTrackPredictor.from_checkpoint(device="cpu")
    assert predictor.size == 128 and predictor.train_config.method == "gradtrack"


def test_bundled_model_segments_the_sample_cells():
    # the napari sample "synthetic cells": seed 0 is not among the training images (seeds (2024, i))
    scene = simulate_observer("cells", shape=(384, 384), n_objects=5, seed=0)
    mask = GradTrackPredictor.from_checkpoint(device="cpu").predict(scene.image)
    truth = scene.labels > 0
    dice = 2 * (mask & truth).sum() / (mask.sum() + truth.sum())
    assert mask.shape == truth.shape
    assert dice > 0.7
