"""Screen -> image mapping against a real napari viewer (run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg.tracking.mapping import ViewNotMappableError, snapshot_view, viewer_camera

pytestmark = pytest.mark.gui


def _display_point_of_canvas_xy(transform, canvas_xy):
    """Normalised display (x, y) of a canvas pixel position, inverting the screen step."""
    return (np.asarray(canvas_xy, float) + transform.canvas_origin - transform.screen_origin) / transform.screen_size


def _napari_world_at(viewer, canvas_xy):
    """napari's own canvas -> world mapping (what a mouse event at that pixel reports)."""
    canvas = viewer.window._qt_viewer.canvas
    return np.asarray(canvas._map_canvas2world(tuple(canvas_xy), canvas.view))


@pytest.fixture
def viewer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(900, 700)
    qtbot.wait(50)
    return viewer


def test_screen_points_land_on_the_expected_pixels(viewer, qtbot):
    layer = viewer.add_image(np.zeros((200, 300)))
    for zoom in (0.5, 1.0, 3.0):
        for pan in ((0.0, 0.0), (40.0, -25.0)):
            viewer_camera(viewer).center = (100.0 + pan[0], 150.0 + pan[1])
            viewer_camera(viewer).zoom = zoom
            qtbot.wait(10)
            transform = snapshot_view(viewer, layer)
            # the canvas centre shows the camera centre; a pixel 30 right and 20 down is 30/zoom, 20/zoom away
            middle = transform.canvas_size / 2
            points = [middle, middle + [30.0, 20.0], middle - [12.0, 7.0]]
            coords, valid = transform.map(_display_point_of_canvas_xy(transform, points))
            expected = np.array(
                [
                    [100 + pan[0], 150 + pan[1]],
                    [100 + pan[0] + 20 / zoom, 150 + pan[1] + 30 / zoom],
                    [100 + pan[0] - 7 / zoom, 150 + pan[1] - 12 / zoom],
                ]
            )
            assert valid.all()
            np.testing.assert_allclose(coords, expected, atol=1e-6)
            # napari's own mouse mapping agrees
            for point, mapped in zip(points, coords):
                np.testing.assert_allclose(_napari_world_at(viewer, point), mapped, atol=1e-3)
            np.testing.assert_allclose(transform.display_of(coords), _display_point_of_canvas_xy(transform, points))


def test_layer_scale_and_translate_give_data_coordinates(viewer, qtbot):
    layer = viewer.add_image(np.zeros((100, 80)), scale=(0.5, 2.0), translate=(10.0, -20.0))
    viewer_camera(viewer).center = (30.0, 40.0)
    viewer_camera(viewer).zoom = 2.0
    qtbot.wait(20)
    transform = snapshot_view(viewer, layer)
    display = _display_point_of_canvas_xy(transform, [transform.canvas_size / 2 + [10.0, 4.0]])
    coords, valid = transform.map(display)
    world = np.array([30.0 + 4 / 2.0, 40.0 + 10 / 2.0])
    assert valid.all()
    np.testing.assert_allclose(coords[0], (world - [10.0, -20.0]) / [0.5, 2.0], atol=1e-6)
    np.testing.assert_allclose(coords[0], layer.world_to_data(world), atol=1e-6)


def test_points_off_the_image_or_off_the_canvas_are_invalid(viewer, qtbot):
    layer = viewer.add_image(np.zeros((50, 50)))
    viewer_camera(viewer).center = (25.0, 25.0)
    viewer_camera(viewer).zoom = 1.0
    qtbot.wait(20)
    transform = snapshot_view(viewer, layer)
    middle = transform.canvas_size / 2
    display = _display_point_of_canvas_xy(
        transform, [middle, middle + [200.0, 0.0], [-5.0, 10.0], [np.nan, np.nan]]
    )
    coords, valid = transform.map(display)
    assert valid.tolist() == [True, False, False, False]
    assert np.isnan(coords[1:]).all()


def test_the_slice_on_screen_of_a_3d_image(viewer, qtbot):
    layer = viewer.add_image(np.zeros((20, 64, 64)), scale=(2.0, 1.0, 1.0))
    viewer.dims.set_point(0, 14.0)  # world z 14 -> plane 7
    viewer_camera(viewer).center = (32.0, 32.0)
    viewer_camera(viewer).zoom = 4.0
    qtbot.wait(20)
    transform = snapshot_view(viewer, layer)
    display = _display_point_of_canvas_xy(transform, [transform.canvas_size / 2 + [8.0, -4.0]])
    coords, valid = transform.map(display)
    assert valid.all()
    np.testing.assert_allclose(coords[0], [7.0, 31.0, 34.0], atol=1e-6)
    viewer.dims.set_point(0, 30.0)
    coords, _ = snapshot_view(viewer, layer).map(display)
    assert coords[0, 0] == pytest.approx(15.0)


def test_the_3d_view_is_refused_with_a_clear_message(viewer):
    layer = viewer.add_image(np.zeros((5, 20, 20)))
    viewer.dims.ndisplay = 3
    with pytest.raises(ViewNotMappableError, match="2D"):
        snapshot_view(viewer, layer)


def test_rotated_layer_and_flipped_camera_agree_with_napari(viewer, qtbot):
    layer = viewer.add_image(np.zeros((80, 80)), rotate=30.0, translate=(5.0, 40.0))
    camera = viewer_camera(viewer)
    camera.center = tuple(layer.data_to_world((40.0, 40.0)))  # the image's middle
    camera.zoom = 2.0
    for orientation in (("down", "right"), ("up", "right"), ("down", "left")):
        camera.orientation2d = orientation
        qtbot.wait(10)
        transform = snapshot_view(viewer, layer)
        points = [transform.canvas_size / 2 + offset for offset in ([0.0, 0.0], [25.0, -15.0], [-20.0, 30.0])]
        coords, valid = transform.map(_display_point_of_canvas_xy(transform, points))
        assert valid.all()
        for point, mapped in zip(points, coords):
            world = _napari_world_at(viewer, point)
            np.testing.assert_allclose(mapped, layer.world_to_data(world), atol=1e-3)
