"""What keeps redraws of long recordings cheap: fixation numbers hidden above a count,
vispy's text layout remembered per string, and in-place updates that leave
unchanged settings alone (benchmarks/bench_gaze_layers.py measures the time)."""

from __future__ import annotations

import dataclasses

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


def test_an_update_in_place_sets_only_the_settings_that_changed(fixations_2d):
    layer = Layer.create(*scanpath_layer(fixations_2d, image_shape=(400, 400)))
    widths = []
    layer.events.edge_width.connect(lambda event: widths.append(layer.edge_width))
    moved = fixations_2d.coords.copy()
    moved[:, 0] += 1.0
    update_layer(layer, scanpath_layer(dataclasses.replace(fixations_2d, coords=moved), image_shape=(400, 400)))
    assert widths == []  # same width: napari is not asked to redraw (and re-thumbnail) for it
    np.testing.assert_array_equal(layer.data[:, 0], scanpath_layer(fixations_2d)[0][:, 0] + [1.0, 0.0])
    update_layer(layer, scanpath_layer(fixations_2d, image_shape=(4000, 4000)))
    assert widths == [10.0] and layer.edge_width == 10.0
