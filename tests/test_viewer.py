"""_napari/_viewer.py: the viewer's answers, written once, in a real napari viewer.

Overlays drawn on an image with rotate, shear or an extra affine land on the
image's own pixels (their data -> world transform equals the image's at every
fixation), as the recording maps gaze through the image's full transform.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_fixations, make_recording
from napari.layers import Image, Layer

from napari_gazeseg._napari import _viewer
from napari_gazeseg._napari.layers import (
    GAZESEG,
    fixations_layer,
    gaze_layers,
    heatmap_layer,
    layer_kind,
    placement_of,
)

_SHEAR_AFFINE = np.array([[1.0, 0.3, 4.0], [0.1, 0.9, -2.0], [0.0, 0.0, 1.0]])
PLACEMENTS = {
    "rotated": {"rotate": 30.0, "translate": (5.0, 40.0)},
    "sheared": {"shear": [0.4], "scale": (2.0, 0.5)},
    "extra affine": {"affine": _SHEAR_AFFINE, "scale": (1.5, 1.5), "translate": (-3.0, 7.0)},
    "everything": {"rotate": -20.0, "shear": [0.25], "scale": (0.7, 1.3), "translate": (2.0, 3.0),
                   "affine": _SHEAR_AFFINE},
}


def _assert_on_the_image(layer, image, points):
    for point in np.asarray(points, dtype=np.float64):
        np.testing.assert_allclose(layer.data_to_world(point), image.data_to_world(point), atol=1e-9)


@pytest.mark.parametrize("name", list(PLACEMENTS))
def test_overlays_land_on_the_image_pixels_of_a_transformed_image(name):
    # napari's own layers (their transforms are the viewer's); the viewer tests follow
    image = Image(np.zeros((64, 80), np.uint8), **PLACEMENTS[name])
    recording, fixations = make_recording(2), make_fixations(2)
    layers = [Layer.create(*ld) for ld in gaze_layers(recording, fixations, **placement_of(image))]
    assert [layer_kind(lay) for lay in layers] == ["heatmap", "gaze", "scanpath", "fixations"]
    for layer in layers:
        _assert_on_the_image(layer, image, fixations.coords)


def test_a_2d_recording_and_a_coarse_heatmap_land_on_transformed_images():
    fixations = make_fixations(2)
    # a 2D recording over the displayed plane of a stack rotated in that plane
    rotate = np.eye(3)
    angle = np.deg2rad(35.0)
    rotate[1:, 1:] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    stack = Image(np.zeros((4, 64, 80)), rotate=rotate, scale=(3.0, 1.0, 2.0), translate=(0, 5, 6))
    layer = Layer.create(*fixations_layer(fixations, **placement_of(stack)))
    for point in fixations.coords:
        np.testing.assert_allclose(layer.data_to_world(point), stack.data_to_world([0.0, *point])[-2:], atol=1e-9)
    # a heatmap coarser than its (3000 x 2000, rotated) image covers it pixel for pixel
    big = Image(np.zeros((1, 1), np.uint8), rotate=40.0, translate=(10.0, -20.0))
    heat = Layer.create(*heatmap_layer("fixations", (3000, 2000), fixations=fixations, **placement_of(big)))
    size = np.asarray(heat.metadata[GAZESEG]["heatmap"]["pixel_size"])
    assert (size > 1).all()
    for pixel in ([0.0, 0.0], [100.0, 50.0], [2047.0, 1365.0]):
        np.testing.assert_allclose(
            heat.data_to_world(pixel), big.data_to_world(size * pixel + (size - 1) / 2), atol=1e-6
        )
    _viewer.place_layer(heat, big)  # placed again (the Gaze layers widget's image changed)
    for pixel in ([0.0, 0.0], [2047.0, 1365.0]):
        np.testing.assert_allclose(
            heat.data_to_world(pixel), big.data_to_world(size * pixel + (size - 1) / 2), atol=1e-6
        )


def test_existing_and_live_overlays_land_on_a_transformed_image(make_napari_viewer):
    from napari_gazeseg._napari.record_widget import LiveGazeLayers

    viewer = make_napari_viewer()
    recording, fixations = make_recording(2), make_fixations(2)
    for name in ("rotated", "sheared"):
        image = viewer.add_image(np.zeros((64, 80), np.uint8), name=name, **PLACEMENTS[name])
        # layers opened before the image was chosen, then put over it (Gaze layers widget)
        built = gaze_layers(None, fixations, image_shape=(64, 80), name=f"{name} file")
        for layer in [viewer.add_layer(Layer.create(*ld)) for ld in built]:
            _viewer.place_layer(layer, image)
            _assert_on_the_image(layer, image, fixations.coords)
        # the Record widget's live layers, and the full layers it leaves
        live = LiveGazeLayers(viewer, image, dict(recording.meta))
        live.add_samples(recording)
        live.set_fixations(1, fixations)
        live.refresh(force=True)
        for layer in (live.gaze, live.fixations, live.heatmap):
            _assert_on_the_image(layer, image, fixations.coords)
        live.finish(recording, fixations)
        for layer in (live.gaze, live.fixations, live.heatmap):
            _assert_on_the_image(layer, image, fixations.coords)


def test_shape_slice_placement_group_and_predicates():
    from napari.components import ViewerModel

    viewer = ViewerModel()  # napari's viewer without its window: layers, dims
    plain = viewer.add_image(np.zeros((4, 64, 80)), scale=(5.0, 0.5, 0.25), translate=(0, 10, -3))
    placement = _viewer.placement_of(plain)
    assert placement["scale"] == (5.0, 0.5, 0.25) and placement["translate"] == (0.0, 10.0, -3.0)
    np.testing.assert_array_equal(placement["affine"], np.eye(4))
    last = _viewer.placement_of(plain, 2)
    assert last["scale"] == (0.5, 0.25) and last["affine"].shape == (3, 3)

    rgb = viewer.add_image(np.zeros((40, 50, 3), np.uint8))
    stack = viewer.add_image(np.zeros((6, 40, 50), np.uint16), scale=(2.0, 1.0, 1.0), translate=(4.0, 0, 0))
    multiscale = viewer.add_image([np.zeros((8, 64, 64)), np.zeros((8, 32, 32))], multiscale=True)
    assert _viewer.image_data_shape(rgb) == (40, 50)
    assert _viewer.image_data_shape(stack) == (6, 40, 50)
    assert _viewer.image_data_shape(multiscale) == (8, 64, 64)
    assert _viewer.displayed_slice(viewer, rgb) == ()
    viewer.dims.set_point(0, 10.0)  # world 10 = stack plane (10 - 4) / 2 = 3
    assert _viewer.displayed_slice(viewer, stack) == (3,)
    assert _viewer.displayed_slice(viewer, multiscale) == (7,)  # clipped to the last plane

    labels = viewer.add_labels(np.zeros((64, 80), np.int32))
    first = [viewer.add_layer(Layer.create(*ld)) for ld in gaze_layers(make_recording(2), make_fixations(2))]
    other = [viewer.add_layer(Layer.create(*ld)) for ld in gaze_layers(None, make_fixations(2))[1:]]
    assert _viewer.recording_layers(viewer, first[-1]) == {layer_kind(lay): lay for lay in first}
    assert set(_viewer.recording_layers(viewer, other[0])) == {"scanpath", "fixations"}
    assert _viewer.recording_layers(viewer, rgb) == {} and _viewer.recording_layers(viewer, None) == {}
    assert _viewer.is_image(rgb) and not _viewer.is_image(first[0])  # a heatmap is ours
    assert _viewer.is_image(first[0], ours=True) and _viewer.is_image(first[0], ours=None)
    assert _viewer.is_labels(labels) and not _viewer.is_labels(rgb)
    assert _viewer.is_points(first[1]) and not _viewer.is_shapes(first[1])
