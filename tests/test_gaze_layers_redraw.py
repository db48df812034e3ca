"""What keeps redraws of long recordings cheap: fixation numbers hidden above a count,
vispy's text layout remembered per string, and in-place updates that leave
unchanged settings alone (benchmarks/bench_gaze_layers.py measures the time)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from napari.layers import Layer

from napari_gazeseg._napari import _text_layout_cache
from napari_gazeseg._napari import layers as gazeseg_layers
from napari_gazeseg._napari.gaze_layers_widget import GazeLayersWidget
from napari_gazeseg._napari.layers import (
    fixations_layer,
    gaze_layers,
    layer_kind,
    scanpath_layer,
    update_layer,
)
from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def scene():
    return simulate_observer("cells", shape=(160, 192), n_objects=2, seed=3)


@pytest.mark.parametrize(("limit_minus_count", "shown"), [(-1, False), (0, True), (5, True)])
def test_fixation_numbers_start_hidden_above_the_limit(monkeypatch, fixations_2d, limit_minus_count, shown):
    monkeypatch.setattr(gazeseg_layers, "FIXATION_NUMBERS_SHOWN_MAX", len(fixations_2d) + limit_minus_count)
    layer = Layer.create(*fixations_layer(fixations_2d))
    assert layer.text.visible is shown
    assert list(layer.text.view_text(np.arange(len(layer.data)))) == [str(i) for i in range(1, 10)]


def test_numbers_switched_on_stay_on_through_a_slider_move(make_napari_viewer, qtbot, scene, monkeypatch):
    fixations = detect_fixations_ivt(scene.recording)
    monkeypatch.setattr(gazeseg_layers, "FIXATION_NUMBERS_SHOWN_MAX", len(fixations) - 1)  # a "long" recording
    viewer = make_napari_viewer()
    viewer.add_image(scene.image, name="cells")
    for layer_data in gaze_layers(scene.recording, fixations, name="cells"):
        viewer._add_layer_from_data(*layer_data)
    numbers = next(layer for layer in viewer.layers if layer_kind(layer) == "fixations")
    assert not numbers.text.visible
    numbers.text.visible = True  # the user's "display text" box
    widget = GazeLayersWidget(viewer)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget._velocity.setValue(120.0)
    expected = detect_fixations_ivt(scene.recording, velocity_threshold=120.0)
    np.testing.assert_array_equal(numbers.data, expected.coords)
    assert numbers.text.visible
    assert list(numbers.text.view_text(np.arange(len(expected)))) == [str(i) for i in range(1, len(expected) + 1)]


def test_text_layout_cache_lays_out_each_string_once_and_draws_the_same(make_napari_viewer, monkeypatch):
    from vispy.visuals.text import text as vispy_text

    vispy_layout = getattr(vispy_text._text_to_vbo, "__wrapped__", vispy_text._text_to_vbo)
    laid_out = []

    def counted(text, *args):
        laid_out.append(text)
        return vispy_layout(text, *args)

    monkeypatch.setattr(vispy_text, "_text_to_vbo", counted)  # restored after the test
    assert _text_layout_cache.install() and _text_layout_cache.installed()
    viewer = make_napari_viewer()
    points = np.column_stack([np.arange(40) * 4.0 + 10, (np.arange(40) % 7) * 20.0 + 10])
    features = pd.DataFrame({"order": np.arange(1, 41)})
    layer = viewer.add_points(points, features=features, text={"string": "{order}", "color": "white"}, size=3)
    first = viewer.screenshot(canvas_only=True)
    assert sorted(laid_out, key=int) == [str(i) for i in range(1, 41)]
    laid_out.clear()
    layer.features = features.iloc[::-1].reset_index(drop=True)  # new text: every string again ...
    viewer.screenshot(canvas_only=True)
    layer.features = features
    cached = viewer.screenshot(canvas_only=True)
    assert laid_out == []  # ... all of them remembered
    np.testing.assert_array_equal(cached, first)
    monkeypatch.setattr(vispy_text, "_text_to_vbo", counted)  # vispy's own layout, uncached
    layer.features = features.iloc[::-1].reset_index(drop=True)
    viewer.screenshot(canvas_only=True)
    layer.features = features
    np.testing.assert_array_equal(viewer.screenshot(canvas_only=True), cached)
    assert len(laid_out) == 80


@pytest.mark.parametrize("build", [scanpath_layer, fixations_layer])
def test_an_update_in_place_refreshes_napari_once(qtbot, fixations_2d, build):
    """Each setter would re-slice, redraw and re-thumbnail the layer: an update does it once
    (a scanpath's thumbnail, a Python loop in napari, on the event loop's next turn)."""
    layer = Layer.create(*build(fixations_2d, image_shape=(400, 400)))
    redraws, thumbnails, data_events, widths = [], [], [], []
    if build is scanpath_layer:
        layer.events.edge_width.connect(lambda event: widths.append(1))  # the controls' width box
    layer.events.set_data.connect(lambda event: redraws.append(1))
    layer.events.thumbnail.connect(lambda event: thumbnails.append(1))
    layer.events.data.connect(lambda event: data_events.append(event.action))
    fewer = fixations_2d.select(np.arange(len(fixations_2d) - 1))
    update_layer(layer, build(fewer, image_shape=(4000, 4000)))
    assert (len(redraws), len(thumbnails), data_events) == (1, int(build is fixations_layer), ["changed"])
    qtbot.waitUntil(lambda: len(thumbnails) == 1, timeout=5000)
    qtbot.wait(50)
    assert (len(redraws), len(thumbnails)) == (1, 1)
    fresh = Layer.create(*build(fewer, image_shape=(4000, 4000)))
    np.testing.assert_array_equal(layer.data, fresh.data)
    np.testing.assert_array_equal(layer.thumbnail, fresh.thumbnail)
    assert len(widths) == (build is scanpath_layer)  # changed with the image size, announced once
    key = "edge_width" if build is scanpath_layer else "size"
    np.testing.assert_allclose(getattr(layer, key), getattr(fresh, key))  # changed with the image size


def test_an_update_in_place_draws_what_a_fresh_layer_draws(make_napari_viewer, fixations_2d):
    """The batched update (one refresh) leaves the canvas as building the layers anew does,
    numbers shown in per-fixation colours included."""
    fewer = fixations_2d.select(np.arange(len(fixations_2d) - 1))

    def built(fixations, shade):
        colors = np.tile([shade, shade, shade, 1.0], (len(fixations), 1))
        return [scanpath_layer(fixations, image_shape=(160, 192)),
                fixations_layer(fixations, image_shape=(160, 192), text_color=colors)]

    viewer = make_napari_viewer()
    viewer.add_image(np.full((160, 192), 0.5), contrast_limits=(0, 1))
    updated = [viewer.add_layer(Layer.create(*data)) for data in built(fixations_2d, 1.0)]
    viewer.screenshot(canvas_only=True)
    for layer, data in zip(updated, built(fewer, 0.0)):
        update_layer(layer, data)
    after_update = viewer.screenshot(canvas_only=True)
    np.testing.assert_array_equal(updated[1].text.color.array[:, :3], 0.0)  # the new numbers' colours
    for layer in updated:
        viewer.layers.remove(layer)
    for data in built(fewer, 0.0):
        viewer.add_layer(Layer.create(*data))
    np.testing.assert_array_equal(after_update, viewer.screenshot(canvas_only=True))


def test_a_slider_move_updates_each_layer_on_a_turn_of_its_own(make_napari_viewer, qtbot, scene):
    """The fixations', scanpath's and heatmap's updates each get a turn of the event loop
    (and so a paint) of their own: done in one turn, with one paint, they were a slider
    move's largest UI block (benchmarks/bench_gaze_layers.py). ``updated`` comes after all."""
    from qtpy.QtCore import QTimer

    viewer = make_napari_viewer()
    viewer.add_image(scene.image, name="cells")
    fixations = detect_fixations_ivt(scene.recording)
    for layer_data in gaze_layers(scene.recording, fixations, name="cells", visible=("fixations", "scanpath", "heatmap")):
        viewer._add_layer_from_data(*layer_data)
    widget = GazeLayersWidget(viewer)
    qtbot.waitUntil(lambda: widget._worker is None, timeout=WAIT_MS)
    layers = widget.group_layers()
    ticks = [0]
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    updated_at: dict[str, int] = {}
    for kind in ("fixations", "scanpath", "heatmap"):
        layers[kind].events.data.connect(lambda event, kind=kind: updated_at.setdefault(kind, ticks[0]))
    ticker.start()
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget._velocity.setValue(120.0)
    ticker.stop()
    assert sorted(updated_at) == ["fixations", "heatmap", "scanpath"]
    assert len(set(updated_at.values())) == 3, updated_at  # three turns, not one or two
    expected = detect_fixations_ivt(scene.recording, velocity_threshold=120.0)
    np.testing.assert_array_equal(layers["fixations"].data, expected.coords)  # all in before ``updated``
