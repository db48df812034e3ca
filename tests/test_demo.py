"""``make demo``: the sample segmented from gaze, with its screenshot and label image written."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def test_demo_writes_screenshot_and_one_label_per_object(tmp_path):
    import imageio.v3 as iio
    import tifffile

    from napari_gazeseg.gaze.simulate import simulate_observer

    done = subprocess.run(
        [sys.executable, "-m", "napari_gazeseg.demo", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    screenshot = iio.imread(tmp_path / "screenshot.png")
    assert screenshot.ndim == 3 and screenshot.shape[0] > 400 and screenshot.std() > 10
    labels = tifffile.imread(tmp_path / "labels.tif")
    truth = simulate_observer("cells", shape=(384, 384), n_objects=5, seed=0).labels
    assert labels.shape == truth.shape
    assert set(np.unique(labels).tolist()) == {0, 1, 2, 3, 4, 5}
    printed = {int(i): float(d) for i, d in re.findall(r"object (\d+): Dice ([\d.]+)", done.stdout)}
    assert sorted(printed) == [1, 2, 3, 4, 5]
    for object_id, dice in printed.items():
        overlap = 2 * np.sum((labels == object_id) & (truth == object_id))
        assert dice == pytest.approx(overlap / (np.sum(labels == object_id) + np.sum(truth == object_id)), abs=1e-3)
        assert dice > 0.8
    assert "screenshot.png" in done.stdout and "labels.tif" in done.stdout
