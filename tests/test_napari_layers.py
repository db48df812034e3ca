"""Layer builders and their inverses, in a real napari viewer."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Vectors

from napari_gazeseg._napari.layers import (
    GAZESEG,
    fixations_from_layer,
    fixations_layer,
    gaze_layer,
    gaze_layers,
    heatmap_layer,
    heatmap_map,
    layer_kind,
    object_colors,
    placement_of,
    recording_from_layer,
    scanpath_layer,
    update_layer,
)
from napari_gazeseg.gaze.maps import blurred_gaze, gaze_heatmap
from napari_gazeseg.gaze.recording import GazeRecording

from conftest import make_recording


def _add(viewer, layer_data):
    return viewer._add_layer_from_data(*layer_data)[0]


def test_gaze_layer_holds_valid_samples_with_features(make_napari_viewer, recording_2d):
    viewer = make_napari_viewer()
    layer = _add(viewer, gaze_layer(recording_2d))
    valid = recording_2d.valid
    assert layer.name == "fixture2d gaze"
    np.testing.assert_array_equal(layer.data, recording_2d.coords[valid])
    assert list(layer.features.columns) == ["sample", "t", "object_id", "screen_x", "screen_y"]
    np.testing.assert_array_equal(layer.features["sample"], np.flatnonzero(valid))
    np.testing.assert_array_equal(layer.features["t"], recording_2d.t[valid])
    np.testing.assert_array_equal(layer.features["object_id"], recording_2d.object_id[valid])
    np.testing.assert_array_equal(layer.features["screen_y"], recording_2d.screen[valid, 1])
    entry = layer.metadata[GAZESEG]
    assert entry["kind"] == "gaze" and entry["meta"] == recording_2d.meta
    np.testing.assert_array_equal(entry["invalid"]["sample"], [5, 6, 7, 8, 9, 50, 100])


def test_gaze_colours_encode_time_and_borders_encode_objects(make_napari_viewer, recording_2d):
    viewer = make_napari_viewer()
    layer = _add(viewer, gaze_layer(recording_2d))
    face = layer.face_color
    # viridis: blue grows then falls, red rises at the end; first and last differ
    assert not np.allclose(face[0, :3], face[-1, :3])
    ids = layer.features["object_id"].to_numpy()
    border = layer.border_color
    for object_id in np.unique(ids):
        colours = np.unique(border[ids == object_id], axis=0)
        assert colours.shape[0] == 1
    assert len({tuple(border[ids == i][0]) for i in np.unique(ids)}) == len(np.unique(ids))
    np.testing.assert_allclose(border[ids == 1][0], object_colors(np.array([1]), 0.9)[0], atol=1e-6)


@pytest.mark.parametrize("fixture", ["recording_2d", "recording_3d"])
def test_recording_round_trip_through_layer_is_exact(make_napari_viewer, request, fixture):
    recording = request.getfixturevalue(fixture)
    viewer = make_napari_viewer()
    layer = _add(viewer, gaze_layer(recording))
    back = recording_from_layer(layer)
    assert back.equals(recording)
    # the valid sample 51 and the invalid sample 50 share a time and keep their order
    assert not back.valid[50] and back.valid[51]


def test_round_trip_without_screen_and_all_invalid(make_napari_viewer, recording_2d):
    no_screen = GazeRecording(
        t=recording_2d.t, coords=recording_2d.coords, object_id=recording_2d.object_id,
        meta=recording_2d.meta,
    )
    all_invalid = recording_2d.select(~recording_2d.valid)
    viewer = make_napari_viewer()
    for recording in (no_screen, all_invalid):
        layer = _add(viewer, gaze_layer(recording))
        assert recording_from_layer(layer).equals(recording)
    assert len(viewer.layers[-1].data) == 0


def test_moved_and_deleted_points_come_back_as_edited(make_napari_viewer, recording_2d):
    viewer = make_napari_viewer()
    layer = _add(viewer, gaze_layer(recording_2d))
    data = layer.data.copy()
    data[0] = [1.0, 2.0]
    layer.data = data
    layer.selected_data = {1}
    layer.remove_selected()
    back = recording_from_layer(layer)
    assert len(back) == len(recording_2d) - 1
    np.testing.assert_array_equal(back.coords[0], [1.0, 2.0])
    assert recording_2d.t[1] not in back.t


def test_fixations_layer_sizes_order_text_and_round_trip(make_napari_viewer, fixations_2d):
    viewer = make_napari_viewer()
    layer = _add(viewer, fixations_layer(fixations_2d))
    np.testing.assert_array_equal(layer.data, fixations_2d.coords)
    np.testing.assert_array_equal(layer.features["order"], np.arange(1, 10))
    np.testing.assert_array_equal(layer.features["duration"], fixations_2d.duration)
    assert (np.diff(layer.size) > 0).all()  # durations grow, so do the circles
    assert list(layer.text.view_text(np.arange(len(layer.data)))) == [str(i) for i in range(1, 10)]
    assert layer_kind(layer) == "fixations"
    assert fixations_from_layer(layer).equals(fixations_2d)


def test_scanpath_splits_by_object_and_plane(make_napari_viewer, fixations_2d, fixations_3d):
    """One Vectors segment per saccade inside a run of one object on one plane."""
    viewer = make_napari_viewer()
    flat = _add(viewer, scanpath_layer(fixations_2d))
    assert isinstance(flat, Vectors) and flat.vector_style == "line"
    coords = fixations_2d.coords
    leaves = np.array([0, 1, 4, 5, 6])  # runs 1-2-3 (object 1) and 5-6-7-8 (object 2)
    np.testing.assert_array_equal(flat.data[:, 0], coords[leaves])
    np.testing.assert_array_equal(flat.data[:, 0] + flat.data[:, 1], coords[leaves + 1])
    assert flat.length == 1.0
    np.testing.assert_array_equal(flat.features["from_fixation"], leaves + 1)
    np.testing.assert_array_equal(flat.features["object_id"], [1, 1, 2, 2, 2])
    np.testing.assert_array_equal(flat.features["first_fixation"], [1, 1, 5, 5, 5])
    np.testing.assert_array_equal(flat.features["n_fixations"], [3, 3, 4, 4, 4])
    np.testing.assert_allclose(flat.edge_color, object_colors(flat.features["object_id"], alpha=0.9))
    stack = _add(viewer, scanpath_layer(fixations_3d))
    assert stack.ndim == 3
    np.testing.assert_array_equal(stack.features["n_fixations"], [3, 3, 3, 3])
    assert (stack.data[:, 1, 0] == 0).all()  # each segment on its plane
    for plane in np.unique(np.round(stack.data[:, 0, 0])):  # napari shows each on its slice only
        viewer.dims.set_point(0, plane)
        on_slice = np.round(stack.data[:, 0, 0]) == plane
        shown = stack._view_data
        assert len(shown) == on_slice.sum()


def test_heatmap_layers_equal_the_maps(make_napari_viewer, recording_2d, fixations_2d):
    viewer = make_napari_viewer()
    layer = _add(
        viewer,
        heatmap_layer("fixations+duration", (64, 80), fixations=fixations_2d, kernel_size=30, sigma=5),
    )
    expected = gaze_heatmap(fixations_2d.coords, (64, 80), fixations_2d.duration, 30, 5)
    np.testing.assert_allclose(layer.data, expected, rtol=1e-6)
    assert layer.colormap.name == "inferno" and layer.blending == "additive"
    assert layer.contrast_limits == [0.0, pytest.approx(float(expected.max()), rel=1e-6)]
    blurred = heatmap_map("blurred", (64, 80), recording=recording_2d)
    np.testing.assert_allclose(
        blurred, blurred_gaze(recording_2d.coords[recording_2d.valid], (64, 80)), rtol=1e-6
    )
    with pytest.raises(ValueError, match="needs a gaze recording"):
        heatmap_map("gaze", (64, 80), fixations=fixations_2d)


def test_nd_heatmap_is_made_per_slice(fixations_3d):
    stack = heatmap_map("fixations", (4, 64, 80), fixations=fixations_3d, kernel_size=20, sigma=4)
    assert stack.shape == (4, 64, 80)
    assert stack[1].max() == 0.0  # no fixation on plane 1
    on_plane_2 = fixations_3d.on_slice(2).coords[:, 1:]
    np.testing.assert_allclose(stack[2], gaze_heatmap(on_plane_2, (64, 80), None, 20, 4), rtol=1e-6)


def test_nd_points_show_on_their_slice(make_napari_viewer, recording_3d):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 64, 80), np.uint8))
    layer = _add(viewer, gaze_layer(recording_3d))
    viewer.dims.set_point(0, 3)
    shown = layer.data[layer._view_indices]
    assert shown.shape[0] > 0 and (shown[:, 0] == 3).all()
    viewer.dims.set_point(0, 2)
    assert len(layer._view_indices) == 0  # nobody looked at plane 2


def test_layers_take_the_image_placement(make_napari_viewer, recording_3d, fixations_3d):
    viewer = make_napari_viewer()
    image = viewer.add_image(
        np.zeros((4, 64, 80), np.uint8), scale=(5.0, 0.5, 0.25), translate=(0, 10, -3)
    )
    built = gaze_layers(recording_3d, fixations_3d, **placement_of(image))
    layers = [_add(viewer, ld) for ld in built]
    assert [layer_kind(lay) for lay in layers] == ["heatmap", "gaze", "scanpath", "fixations"]
    assert len({lay.metadata[GAZESEG]["group"] for lay in layers}) == 1
    point = recording_3d.coords[0]
    for layer in layers:
        np.testing.assert_allclose(layer.data_to_world(point), image.data_to_world(point))
    assert layers[0].data.shape == (4, 64, 80)


def test_update_layer_replaces_contents_in_place(make_napari_viewer, fixations_2d):
    viewer = make_napari_viewer()
    points = _add(viewer, fixations_layer(fixations_2d))
    path = _add(viewer, scanpath_layer(fixations_2d))
    points.visible = path.visible = False  # hidden layers are updated too
    fewer = fixations_2d.select(np.arange(4))
    update_layer(points, fixations_layer(fewer))
    update_layer(path, scanpath_layer(fewer))
    assert viewer.layers[0] is points and len(viewer.layers) == 2
    assert not points.visible and points.name == "fixture2d fixations"
    assert fixations_from_layer(points).equals(fewer)
    assert len(path.data) == 2 and path.features["n_fixations"].tolist() == [3, 3]
    with pytest.raises(ValueError, match="cannot put"):
        update_layer(points, scanpath_layer(fewer))
    none = fixations_2d.select(np.zeros(len(fixations_2d), bool))
    update_layer(points, fixations_layer(none))
    update_layer(path, scanpath_layer(none))
    assert len(points.data) == 0 and len(path.data) == 0
    assert len(fixations_from_layer(points)) == 0


def test_plain_layers_are_refused_with_a_clear_sentence(make_napari_viewer, fixations_2d):
    viewer = make_napari_viewer()
    plain = viewer.add_points(np.zeros((3, 2)), name="clicks")
    with pytest.raises(ValueError, match="'clicks' is not a napari-gazeseg layer; pick a gaze"):
        recording_from_layer(plain)
    fixations = _add(viewer, fixations_layer(fixations_2d))
    with pytest.raises(ValueError, match="is a fixations layer; pick a gaze layer"):
        recording_from_layer(fixations)
    gaze = _add(viewer, gaze_layer(make_recording()))
    gaze.features = gaze.features.drop(columns=["screen_y"])
    with pytest.raises(ValueError, match="lost its gaze features \\(screen_y\\); open the gaze file again"):
        recording_from_layer(gaze)


def test_long_raw_gaze_starts_hidden(recording_2d, fixations_2d):
    from napari_gazeseg._napari.layers import RAW_GAZE_SHOWN_MAX

    def shown(recording):
        return {kw["metadata"][GAZESEG]["kind"] for _d, kw, _t in gaze_layers(recording, fixations_2d)
                if kw["visible"]}

    assert shown(recording_2d) == {"gaze", "scanpath", "fixations"}
    n = RAW_GAZE_SHOWN_MAX + 1
    long = GazeRecording(t=np.arange(n) / 120.0, coords=np.full((n, 2), 5.0), meta=recording_2d.meta)
    assert shown(long) == {"scanpath", "fixations"}
    assert shown(long.select(np.arange(n - 1))) == {"gaze", "scanpath", "fixations"}


# -- heatmaps of large images (issue 10, item 5) -----------------------------------------
@pytest.mark.parametrize(
    "shape, expected",
    [
        ((64, 80), (64, 80)),
        ((2048, 100), (2048, 100)),
        ((100_000, 100_000), (2048, 2048)),
        ((30_000, 20_000), (2048, 1366)),
        ((2049, 10), (2048, 10)),
        ((5, 3000, 3000), (5, 2048, 2048)),
        ((100, 1000, 1000), (100, 579, 579)),  # 2**25 pixels in all
        ((1, 1, 10**9), (1, 1, 2048)),
    ],
)
def test_heatmap_grid_is_bounded_and_covers_the_image_edge_to_edge(shape, expected):
    from napari_gazeseg._napari.layers import HEATMAP_MAX_PIXELS, HEATMAP_MAX_SIDE, heatmap_grid

    grid, pixel_size = heatmap_grid(shape)
    assert grid == expected
    assert max(grid[-2:]) <= HEATMAP_MAX_SIDE and np.prod(grid) <= HEATMAP_MAX_PIXELS
    # m heatmap pixels of pixel_size image pixels span exactly the n image pixels
    np.testing.assert_allclose(np.multiply(grid, pixel_size), shape, rtol=1e-12)
    assert all(size == 1.0 for size in pixel_size[:-2])


def _slide_fixations(shape=(100_000, 100_000)):
    from napari_gazeseg.gaze.recording import Fixations

    coords = np.array([[70_000.0, 30_000.0], [70_020.0, 30_010.0], [10_000.0, 90_000.0], [99_999.0, 0.0]])
    return Fixations(
        start=[0.0, 0.4, 0.8, 1.0], duration=[0.4, 0.4, 0.1, 0.05], coords=coords,
        meta={"image": {"name": "slide", "shape": list(shape)}},
    )


def test_heatmap_of_a_whole_slide_image_is_small_and_overlays_the_image(make_napari_viewer):
    import tracemalloc

    from napari.layers import Image

    fixations = _slide_fixations()
    placement = {"scale": (0.5, 0.25), "translate": (10.0, -20.0)}
    tracemalloc.start()
    try:
        data, kwargs, kind = heatmap_layer("fixations+duration", (100_000, 100_000), fixations=fixations, **placement)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20  # a full-size float64 map would be 74.5 GiB
    assert data.shape == (2048, 2048) and data.dtype == np.float32
    assert kwargs["metadata"][GAZESEG]["heatmap"]["pixel_size"] == [100_000 / 2048] * 2
    viewer = make_napari_viewer()
    # a tiny image with the slide's placement: same data -> world transform (a real
    # 100 000^2 image layer takes napari a minute to make)
    image = Image(np.zeros((2, 2), np.uint8), **placement)
    heat = _add(viewer, (data, kwargs, kind))
    # napari's extent runs from the first to the last pixel centre; add half a pixel each side
    half = np.array([-0.5, 0.5])[:, None] * np.asarray(heat.scale)
    slide_edges = [image.data_to_world((-0.5, -0.5)), image.data_to_world((99_999.5, 99_999.5))]
    np.testing.assert_allclose(heat.extent.world + half, slide_edges, rtol=1e-12, atol=1e-9)
    # the brightest heatmap pixel lies over the heaviest fixations, within one heatmap pixel
    peak_pixel = np.unravel_index(np.argmax(data), data.shape)
    peak_world = heat.data_to_world(peak_pixel)
    looked_at = image.data_to_world(fixations.coords[:2].mean(axis=0))
    np.testing.assert_allclose(peak_world, looked_at, atol=np.max(heat.scale))
    # and a heatmap pixel's centre maps to the image pixels it averages
    centre = image.world_to_data(heat.data_to_world((0, 0)))
    np.testing.assert_allclose(centre, [(100_000 / 2048 - 1) / 2] * 2)


def test_coarse_heatmap_samples_the_full_resolution_map():
    """Downsampled 4x, the map equals the full map at the heatmap pixel centres (to splatting)."""
    from napari_gazeseg._napari.layers import heatmap_grid

    fixations = _slide_fixations((4096, 4096))
    fixations.coords[:] = [[1000.0, 2001.5], [1003.5, 2003.5], [3000.5, 500.5], [4095.5, 0.0]]
    full = heatmap_map("fixations+duration", (4096, 4096), fixations=fixations, max_side=None)
    coarse = heatmap_map("fixations+duration", (4096, 4096), fixations=fixations, kernel_size=100, sigma=100 / 6)
    grid, size = heatmap_grid((4096, 4096))
    assert coarse.shape == grid == (2048, 2048) and size == (2.0, 2.0)
    # heatmap pixel i is centred on image coordinate 2 i + 0.5: average the two image pixels
    sampled = full.reshape(2048, 2, 2048, 2).mean(axis=(1, 3))
    assert np.abs(coarse - sampled).max() < 0.08 * full.max()
    assert np.unravel_index(np.argmax(coarse), coarse.shape) == tuple(
        np.array(np.unravel_index(np.argmax(sampled), sampled.shape))
    )


def test_updating_a_coarse_heatmap_keeps_its_placement(make_napari_viewer):
    fixations = _slide_fixations((30_000, 20_000))
    viewer = make_napari_viewer()
    layer = _add(viewer, heatmap_layer("fixations", (64, 80), fixations=make_recording_fixations()))
    update_layer(layer, heatmap_layer("fixations", (30_000, 20_000), fixations=fixations))
    assert layer.data.shape == (2048, 1366)
    np.testing.assert_allclose(layer.scale, [30_000 / 2048, 20_000 / 1366])
    np.testing.assert_allclose(
        layer.extent.world[1] - layer.extent.world[0] + np.asarray(layer.scale), [30_000, 20_000]
    )


def make_recording_fixations():
    from conftest import make_fixations

    return make_fixations(2)
