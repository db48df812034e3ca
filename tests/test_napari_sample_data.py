"""File > Open Sample: both samples through npe2 into a real viewer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg._napari.layers import GAZESEG, fixations_from_layer, layer_kind, recording_from_layer
from napari_gazeseg._napari.sample_data import segment_ihc_glands

PLUGIN = "napari-gazeseg"


@pytest.mark.parametrize(
    "key, name, image_shape",
    [
        ("synthetic_cells", "synthetic cells", (384, 384)),
        ("skimage_cells", "immunohistochemistry", (512, 512, 3)),
    ],
)
def test_sample_opens_image_truth_and_gaze_layers(make_napari_viewer, key, name, image_shape):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, key)
    names = [layer.name for layer in viewer.layers]
    assert names == [
        name, f"{name} ground truth", f"{name} heatmap", f"{name} gaze", f"{name} scanpath",
        f"{name} fixations",
    ]
    image, truth = viewer.layers[name], viewer.layers[f"{name} ground truth"]
    assert image.data.shape == image_shape and image.rgb == (len(image_shape) == 3)
    assert truth.data.shape == image_shape[:2] and not truth.visible
    recording = recording_from_layer(viewer.layers[f"{name} gaze"])
    fixations = fixations_from_layer(viewer.layers[f"{name} fixations"])
    # 120 Hz, with blinks or track loss, one session per labelled object
    assert recording.sampling_rate_hz == 120.0
    assert 0 < (~recording.valid).sum() < 0.2 * len(recording)
    ids = np.unique(truth.data)
    np.testing.assert_array_equal(recording.object_ids, ids[ids > 0])
    # the observer looked at the objects: every object has fixations inside its mask
    for object_id in recording.object_ids:
        pixels = np.round(fixations.for_object(object_id).coords).astype(int)
        assert (truth.data[pixels[:, 0], pixels[:, 1]] == object_id).any()
    heatmap = viewer.layers[f"{name} heatmap"]
    assert heatmap.data.shape == image_shape[:2] and heatmap.data.max() > 0
    groups = {layer.metadata[GAZESEG]["group"] for layer in viewer.layers if layer_kind(layer)}
    assert len(groups) == 1
    # fixation numbers read on the image: black where it is bright, white where it is dark
    numbers = viewer.layers[f"{name} fixations"].text.color.array
    black = (numbers[:, :3] == 0).all(axis=1)
    assert len(numbers) == len(fixations) and black.any()
    assert not black.all()  # white on dark background or dark brown stain


def test_truth_colours_match_the_gaze_colours_of_each_object(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic_cells")
    truth = viewer.layers["synthetic cells ground truth"]
    fixations = viewer.layers["synthetic cells fixations"]
    ids = fixations.features["object_id"].to_numpy()
    for object_id in np.unique(ids[ids > 0]):
        border = fixations.border_color[ids == object_id][0]
        np.testing.assert_allclose(truth.colormap.map(np.array([object_id]))[0], border, atol=1e-6)


def test_ihc_glands_are_separate_large_objects():
    from skimage import data

    labels = segment_ihc_glands(data.immunohistochemistry())
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    assert len(ids) >= 4 and areas.min() > 5000
    np.testing.assert_array_equal(ids, np.arange(1, len(ids) + 1))
    # the round gland at the bottom centre is one object of its own
    bottom = labels[400, 310]
    assert bottom > 0 and labels[200, 100] not in (0, bottom)
