"""Screen -> image mapping against a real napari viewer (run under xvfb-run)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_gazeseg._napari._viewer import camera_of, snapshot_view
from napari_gazeseg.tracking.mapping import ViewNotMappableError, ViewTransform

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
            camera_of(viewer).center = (100.0 + pan[0], 150.0 + pan[1])
            camera_of(viewer).zoom = zoom
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
    camera_of(viewer).center = (30.0, 40.0)
    camera_of(viewer).zoom = 2.0
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
    camera_of(viewer).center = (25.0, 25.0)
    camera_of(viewer).zoom = 1.0
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
    camera_of(viewer).center = (32.0, 32.0)
    camera_of(viewer).zoom = 4.0
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
    camera = camera_of(viewer)
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


# -- screens that are not at the desktop's origin ----------------------------------------
# Qt's global coordinates span all monitors: a second monitor right of a 1920 x 1080
# primary starts at x = 1920, one left of it at a negative x, and napari's canvas sits
# wherever its window is. The tracker reports gaze normalised to its own monitor.
MONITORS = {
    "primary": (0.0, 0.0, 1920.0, 1080.0),
    "right of the primary": (1920.0, 0.0, 2560.0, 1440.0),
    "left of the primary": (-2560.0, -360.0, 2560.0, 1440.0),
    "above the primary": (0.0, -1200.0, 1920.0, 1200.0),
    "portrait, offset": (3840.0, 180.0, 1080.0, 1920.0),
}


def _transform_on(monitor, canvas_offset=(300.0, 200.0)):
    x, y, width, height = MONITORS[monitor]
    return ViewTransform(
        screen_origin=np.array([x, y]),
        screen_size=np.array([width, height]),
        canvas_origin=np.array([x, y]) + canvas_offset,  # napari's canvas on that monitor
        canvas_size=np.array([800.0, 600.0]),
        center=np.array([50.0, 60.0]),
        zoom=2.0,
        flip=np.array([1.0, 1.0]),
        world_point=np.array([0.0, 0.0]),
        displayed=np.array([0, 1]),
        world_to_data=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        data_shape=np.array([200.0, 300.0]),
    )


@pytest.mark.parametrize("canvas_offset", [(0.0, 0.0), (300.0, 200.0), (911.0, 47.0)])
@pytest.mark.parametrize("monitor", sorted(MONITORS))
def test_gaze_on_any_monitor_maps_through_that_monitors_origin(monitor, canvas_offset):
    transform = _transform_on(monitor, canvas_offset)
    x, y, width, height = MONITORS[monitor]
    # Canvas pixels (x, y) 400 + 20 and 300 + 10: 20 and 10 canvas px right of and below
    # the canvas middle, i.e. (10, 5) world units at zoom 2 from the centre (50, 60).
    canvas_xy = np.array([[420.0, 310.0], [400.0, 300.0], [0.0, 0.0]])
    global_xy = np.array([x, y]) + np.asarray(canvas_offset) + canvas_xy
    display = (global_xy - [x, y]) / [width, height]
    coords, valid = transform.map(display)
    assert valid.tolist() == [True, True, False]  # the last is off the image's top-left corner
    np.testing.assert_allclose(coords[:2], [[55.0, 70.0], [50.0, 60.0]], atol=1e-9)
    np.testing.assert_allclose(transform.display_of(coords[:2]), display[:2], atol=1e-12)


@pytest.mark.parametrize("monitor", sorted(set(MONITORS) - {"primary"}))
def test_gaze_reported_on_the_wrong_monitor_falls_off_the_canvas(monitor):
    # The canvas is on the primary monitor; the tracker is mounted on another one.
    on_primary = _transform_on("primary")
    x, y, width, height = MONITORS[monitor]
    elsewhere = ViewTransform(**{**on_primary.__dict__, "screen_origin": np.array([x, y]), "screen_size": np.array([width, height])})
    centre_of_canvas = (on_primary.canvas_origin + on_primary.canvas_size / 2) / [1920.0, 1080.0]
    assert on_primary.map(centre_of_canvas)[1].all()
    coords, valid = elsewhere.map(centre_of_canvas)
    assert not valid.any() and np.isnan(coords).all()


class _SecondMonitor:
    """What the mapping and the cursor source read of a QScreen: a monitor right of the
    primary (a second monitor the test machine does not have)."""

    def __init__(self, x=1920, y=0, width=2560, height=1440, ratio=1.0):
        from qtpy.QtCore import QRect

        self._geometry = QRect(x, y, width, height)
        self._ratio = ratio

    def geometry(self):
        return self._geometry

    def devicePixelRatio(self):
        return self._ratio


def test_a_moved_window_and_a_second_monitor_agree_with_napari(viewer, qtbot):
    layer = viewer.add_image(np.zeros((200, 300)))
    viewer.window._qt_window.move(137, 91)  # napari away from the screen's corner
    qtbot.wait(50)
    camera = camera_of(viewer)
    camera.center, camera.zoom = (100.0, 150.0), 2.0
    qtbot.wait(10)
    monitor = _SecondMonitor()
    transform = snapshot_view(viewer, layer, screen=monitor)
    assert transform.canvas_origin.tolist() != [0.0, 0.0]
    assert transform.screen_origin.tolist() == [1920.0, 0.0]
    points = [transform.canvas_size / 2 + offset for offset in ([0.0, 0.0], [25.0, -15.0], [-40.0, 30.0])]
    # Where those canvas pixels are on the desktop, normalised to the second monitor.
    global_xy = np.asarray(points) + transform.canvas_origin
    display = (global_xy - [1920.0, 0.0]) / [2560.0, 1440.0]
    coords, valid = transform.map(display)
    assert valid.all()
    for point, mapped in zip(points, coords):
        np.testing.assert_allclose(mapped, _napari_world_at(viewer, point), atol=1e-3)


def test_the_cursor_on_a_second_monitor_lands_on_the_image(viewer, qtbot):
    # The whole chain: cursor source normalises by the monitor, mapping adds it back.
    from napari_gazeseg.tracking.mouse import CursorSource

    layer = viewer.add_image(np.zeros((200, 300)))
    viewer.window._qt_window.move(60, 40)
    qtbot.wait(50)
    camera = camera_of(viewer)
    camera.center, camera.zoom = (80.0, 120.0), 1.5
    qtbot.wait(10)
    monitor = _SecondMonitor(x=-1280, y=-200, width=1280, height=1024)
    transform = snapshot_view(viewer, layer, screen=monitor)
    pointer = tuple(transform.canvas_origin + transform.canvas_size / 2 + [30.0, 12.0])
    batches = []
    source = CursorSource(screen=monitor, rate_hz=200.0, cursor_position=lambda: pointer)
    source.start(batches.append, lambda message: None)
    qtbot.waitUntil(lambda: sum(map(len, batches)) >= 5, timeout=5000)
    source.stop()
    coords, valid = transform.map(batches[0].display)
    assert valid.all()
    np.testing.assert_allclose(coords, [[80.0 + 12 / 1.5, 120.0 + 30 / 1.5]] * len(coords), atol=1e-9)
