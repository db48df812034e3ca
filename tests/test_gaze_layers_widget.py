"""The Gaze layers widget in a real viewer: pickers, show/hide, in-place recomputation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import answer_recording_picker

from napari_gazeseg._napari.gaze_layers_widget import GazeLayersWidget
from napari_gazeseg._napari.layers import (
    GAZESEG,
    gaze_layer,
    gaze_layers,
    heatmap_map,
    layer_kind,
    scanpath_layer,
)
from napari_gazeseg.gaze.fixations import detect_fixations_idt, detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def scene():
    return simulate_observer("cells", shape=(160, 192), n_objects=2, seed=3)


def _open_scene(viewer, scene, **kwargs):
    viewer.add_image(scene.image, name="cells", **kwargs)
    fixations = detect_fixations_ivt(scene.recording)
    for layer_data in gaze_layers(scene.recording, fixations, name="cells"):
        viewer._add_layer_from_data(*layer_data)
    return {layer_kind(layer): layer for layer in viewer.layers if layer_kind(layer)}


def _change_and_wait(qtbot, widget, change):
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        change()


def test_widget_picks_the_image_and_gaze_layer(make_napari_viewer, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    assert widget._image.current_layer() is viewer.layers["cells"]
    assert widget._source.current_layer() is layers["gaze"]  # not its fixations layer
    assert widget.group_layers() == layers
    # the checkboxes mirror the layers: the heatmap starts hidden
    assert [box.isChecked() for box in widget._show.values()] == [True, True, True, False]
    assert not widget._screen_box.isVisibleTo(widget)  # the recording has its screen geometry


def test_show_boxes_toggle_layer_visibility(make_napari_viewer, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    widget._show["fixations"].setChecked(False)
    widget._show["heatmap"].setChecked(True)
    assert not layers["fixations"].visible and layers["heatmap"].visible
    widget._show["fixations"].setChecked(True)
    assert layers["fixations"].visible
    layers["scanpath"].visible = False  # the eye in the layer list
    assert not widget._show["scanpath"].isChecked()


def test_velocity_change_updates_fixations_in_place(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    before = list(viewer.layers)
    _change_and_wait(qtbot, widget, lambda: widget._velocity.setValue(120.0))
    assert list(viewer.layers) == before  # same layer objects, none added
    expected = detect_fixations_ivt(scene.recording, velocity_threshold=120.0)
    assert len(expected) != len(detect_fixations_ivt(scene.recording))
    np.testing.assert_array_equal(layers["fixations"].data, expected.coords)
    np.testing.assert_array_equal(layers["fixations"].features["duration"], expected.duration)
    assert layers["fixations"].metadata[GAZESEG]["meta"]["detector"]["velocity_threshold"] == 120.0
    # the heatmap is made of fixations weighted by duration, so it follows them
    np.testing.assert_allclose(
        layers["heatmap"].data,
        heatmap_map("fixations+duration", scene.image.shape, fixations=expected),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(layers["scanpath"].data, scanpath_layer(expected)[0])  # follows them too


def test_a_burst_of_changes_ends_with_the_last_one(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        for value in (40.0, 60.0, 80.0, 150.0):
            widget._velocity.setValue(value)
    qtbot.waitUntil(lambda: widget._worker is None, timeout=WAIT_MS)
    expected = detect_fixations_ivt(scene.recording, velocity_threshold=150.0)
    np.testing.assert_array_equal(layers["fixations"].data, expected.coords)


def test_idt_method_and_its_parameters(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    _change_and_wait(qtbot, widget, lambda: widget._method.setCurrentText("I-DT"))
    assert widget._dispersion.isVisibleTo(widget) and not widget._velocity.isVisibleTo(widget)
    _change_and_wait(qtbot, widget, lambda: widget._dispersion.setValue(2.0))
    expected = detect_fixations_idt(scene.recording, dispersion_threshold=2.0, min_duration=0.1)
    np.testing.assert_array_equal(layers["fixations"].data, expected.coords)


def test_heatmap_kind_and_kernel_recompute_only_the_heatmap(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    fixations_data = layers["fixations"].data.copy()
    _change_and_wait(qtbot, widget, lambda: widget._heatmap_kind.setCurrentIndex(0))  # gaze samples
    _change_and_wait(qtbot, widget, lambda: widget._kernel.setValue(40))
    expected = heatmap_map("gaze", scene.image.shape, recording=scene.recording, kernel_size=40,
                           sigma=100 / 6)
    np.testing.assert_allclose(layers["heatmap"].data, expected, rtol=1e-6)
    assert layers["heatmap"].contrast_limits[1] == pytest.approx(float(expected.max()), rel=1e-6)
    np.testing.assert_array_equal(layers["fixations"].data, fixations_data)
    _change_and_wait(qtbot, widget, lambda: widget._heatmap_kind.setCurrentIndex(3))  # blurred
    assert not widget._kernel.isEnabled()
    blurred = heatmap_map("blurred", scene.image.shape, recording=scene.recording)
    np.testing.assert_allclose(layers["heatmap"].data, blurred, rtol=1e-6)


def test_a_lone_gaze_layer_gets_its_layers_once(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    image = viewer.add_image(scene.image, name="cells", scale=(0.5, 0.5), translate=(3, 4))
    with qtbot.waitSignal(viewer.layers.events.inserted):
        viewer._add_layer_from_data(*gaze_layer(scene.recording, name="cells"))
    widget = GazeLayersWidget(viewer)
    qtbot.waitUntil(lambda: {"fixations", "scanpath"} <= set(widget.group_layers()), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: widget._worker is None, timeout=WAIT_MS)
    n_layers = len(viewer.layers)
    _change_and_wait(qtbot, widget, lambda: widget._velocity.setValue(50.0))
    assert len(viewer.layers) == n_layers
    for layer in widget.group_layers().values():
        np.testing.assert_allclose(layer.scale, image.scale)
        np.testing.assert_allclose(layer.translate, image.translate)
    _change_and_wait(qtbot, widget, lambda: widget._show["heatmap"].setChecked(True))
    heatmap = widget.group_layers()["heatmap"]
    assert viewer.layers.index(heatmap) == viewer.layers.index(image) + 1  # right above the image
    assert heatmap.data.shape == scene.image.shape


def test_picking_an_image_places_the_layers_on_it(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    other = viewer.add_image(np.zeros((80, 96)), name="half size", scale=(2.0, 2.0))
    _change_and_wait(qtbot, widget, lambda: widget._image.set_current_layer(other))
    for layer in layers.values():
        np.testing.assert_allclose(layer.scale, (2.0, 2.0))
    assert layers["heatmap"].data.shape == (80, 96)
    np.testing.assert_array_equal(layers["fixations"].text.color.array[:, :3], 1.0)  # on black
    bright = viewer.add_image(np.full((80, 96), 200, np.uint8), contrast_limits=(0, 255))
    _change_and_wait(qtbot, widget, lambda: widget._image.set_current_layer(bright))
    np.testing.assert_array_equal(layers["fixations"].text.color.array[:, :3], 0.0)
    _change_and_wait(qtbot, widget, lambda: widget._velocity.setValue(150.0))  # fewer fixations
    assert len(layers["fixations"].text.color.array) == len(layers["fixations"].data)
    np.testing.assert_array_equal(layers["fixations"].text.color.array[:, :3], 0.0)


def test_fixation_numbers_are_coloured_off_the_ui_thread(make_napari_viewer, qtbot, scene, monkeypatch):
    """A slider move reads the image for the numbers' colours in the worker, not on the UI thread."""
    import threading

    from napari_gazeseg._napari import _gaze_compute, gaze_layers_widget, layers as layers_module

    threads = []

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return layers_module.label_colors_at(*args, **kwargs)

    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    bright = viewer.add_image(np.full(scene.image.shape, 200, np.uint8), contrast_limits=(0, 255))
    _change_and_wait(qtbot, widget, lambda: widget._image.set_current_layer(bright))
    monkeypatch.setattr(_gaze_compute, "label_colors_at", spy)
    monkeypatch.setattr(gaze_layers_widget, "label_colors_at", spy)
    _change_and_wait(qtbot, widget, lambda: widget._velocity.setValue(150.0))
    assert threads and threading.main_thread() not in threads
    np.testing.assert_array_equal(layers["fixations"].text.color.array[:, :3], 0.0)  # black on bright


def test_open_file_adds_its_layers_over_the_image(make_napari_viewer, qtbot, tmp_path, scene):
    from napari_gazeseg.gaze.formats import write_gaze

    path = tmp_path / "cells.gaze.tsv"
    write_gaze(scene.recording, path)
    viewer = make_napari_viewer()
    image = viewer.add_image(scene.image, name="cells", scale=(2.0, 2.0))
    widget = GazeLayersWidget(viewer)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.open_file(str(path))
    source = widget._source.current_layer()
    assert layer_kind(source) == "gaze" and source.name == "cells_3 gaze"
    assert set(widget.group_layers()) == {"gaze", "fixations", "scanpath", "heatmap"}
    for layer in widget.group_layers().values():
        np.testing.assert_allclose(layer.scale, image.scale)
    assert widget._status.text() == "Opened cells.gaze.tsv: 1 recording(s)."
    assert not any("Pro Lab" in layer.name for layer in viewer.layers)  # only for Pro Lab exports


def test_a_broken_file_is_reported_in_one_sentence(make_napari_viewer, qtbot, tmp_path, scene):
    from napari_gazeseg.gaze.formats import write_gaze

    path = tmp_path / "broken.gaze.tsv"
    write_gaze(scene.recording, path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + ["0.5\tnot a row"] + lines[4:]) + "\n")
    viewer = make_napari_viewer()
    widget = GazeLayersWidget(viewer)
    with qtbot.waitSignal(widget.failed, timeout=WAIT_MS) as blocker:
        widget.open_file(str(path))
    assert "broken.gaze.tsv, line 4" in blocker.args[0]
    assert widget._status.text() == blocker.args[0]
    assert len(viewer.layers) == 0


def test_opening_a_sample_while_the_widget_is_open_gives_one_layer_per_kind(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = GazeLayersWidget(viewer)
    viewer.open_sample("napari-gazeseg", "synthetic_cells")
    qtbot.wait(3 * 150)  # past the debounce: anything scheduled has started
    qtbot.waitUntil(lambda: widget._worker is None, timeout=WAIT_MS)
    kinds = [layer_kind(layer) for layer in viewer.layers if layer_kind(layer)]
    assert sorted(kinds) == ["fixations", "gaze", "heatmap", "scanpath"]
    assert widget._source.current_layer() is viewer.layers["synthetic cells gaze"]
    assert widget._status.text().startswith("synthetic cells gaze: ")


def test_a_fixation_only_source_tunes_its_heatmap(make_napari_viewer, qtbot, fixations_2d):
    from napari_gazeseg._napari.layers import fixations_layer

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 80)), name="image")
    viewer._add_layer_from_data(*scanpath_layer(fixations_2d, group="report"))
    source = viewer._add_layer_from_data(*fixations_layer(fixations_2d, group="report"))[0]
    widget = GazeLayersWidget(viewer)
    assert widget._source.current_layer() is source
    assert not widget._fixation_box.isEnabled() and not widget._show["gaze"].isEnabled()
    _change_and_wait(qtbot, widget, lambda: widget._show["heatmap"].setChecked(True))
    heatmap = widget.group_layers()["heatmap"]
    _change_and_wait(qtbot, widget, lambda: widget._sigma.setValue(4.0))
    assert widget.group_layers()["heatmap"] is heatmap
    np.testing.assert_allclose(
        heatmap.data,
        heatmap_map("fixations+duration", (64, 80), fixations=fixations_2d, sigma=4.0),
        rtol=1e-6,
    )


def test_a_volume_gets_a_heatmap_per_plane(make_napari_viewer, qtbot, scene):
    from napari_gazeseg.gaze.recording import GazeRecording

    flat = scene.recording
    plane = np.where(flat.object_id == 2, 3, 1).astype(float)  # object 2 lies on plane 3
    recording = GazeRecording(
        t=flat.t, coords=np.column_stack([plane, flat.coords]), valid=flat.valid, screen=flat.screen,
        object_id=flat.object_id, meta={**flat.meta, "image": {"shape": [4, 160, 192], "name": "stack"}},
    )
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 160, 192), np.uint8), name="stack")
    viewer._add_layer_from_data(*gaze_layer(recording))
    widget = GazeLayersWidget(viewer)
    qtbot.waitUntil(lambda: "fixations" in widget.group_layers(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: widget._worker is None, timeout=WAIT_MS)
    fixations = detect_fixations_ivt(recording)
    assert set(np.unique(fixations.coords[:, 0])) == {1.0, 3.0}
    np.testing.assert_array_equal(widget.group_layers()["fixations"].data, fixations.coords)
    _change_and_wait(qtbot, widget, lambda: widget._show["heatmap"].setChecked(True))
    heatmap = widget.group_layers()["heatmap"]
    assert heatmap.data.shape == (4, 160, 192) and heatmap.data[[0, 2]].max() == 0
    np.testing.assert_allclose(
        heatmap.data, heatmap_map("fixations+duration", (4, 160, 192), fixations=fixations), rtol=1e-6
    )


def test_a_superseded_job_hands_its_work_to_the_next(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    widget = GazeLayersWidget(viewer)
    widget._show["heatmap"].setChecked(True)
    widget._velocity.setValue(110.0)
    widget._debounce.stop()
    widget._start_job()  # recomputes fixations (and the heatmap made from them) ...
    widget._kernel.setValue(30)
    widget._debounce.stop()
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget._start_job()  # ... but is superseded by a kernel change before its results arrive
    expected = detect_fixations_ivt(scene.recording, velocity_threshold=110.0)
    np.testing.assert_array_equal(layers["fixations"].data, expected.coords)
    np.testing.assert_allclose(
        layers["heatmap"].data,
        heatmap_map("fixations+duration", scene.image.shape, fixations=expected, kernel_size=30),
        rtol=1e-6,
    )


def test_the_plugins_menu_docks_the_widget_with_the_viewer(make_napari_viewer, scene):
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-gazeseg", "Gaze layers")
    assert isinstance(widget, GazeLayersWidget)
    assert widget._source.current_layer() is layers["gaze"]


# -- issue 12: several recordings, Pro Lab's own fixations, entered screen geometry ---

def _pro_lab_export(path, names=None):
    """A Pro Lab export of 'cells' then 'polyp', two Pro Lab fixations on each (30 samples)."""
    from test_formats_tobii import CELLS, CURRENT, POLYP, export, on_screen, sample

    targets = {"cells": (CELLS, [(50.0, 60.0), (200.0, 300.0)]), "polyp": (POLYP, [(10.0, 20.0), (40.0, 80.0)])}
    rows, index = [], 0
    for block, (media, points) in enumerate(targets.values()):
        for target in points:
            index += 1
            at = on_screen(media, *target)
            for i in range(30):
                time_ms = 1000.0 * block + 250.0 * (index - 1) + i * 1000 / 120
                rows.append(sample(time_ms, media, at, index=index, fixation=at, duration=250))
    return export(path, rows, names or CURRENT)


def test_a_file_of_several_recordings_asks_which_and_opens_only_those(make_napari_viewer, qtbot, tmp_path):
    from napari_gazeseg.gaze.formats import read_gaze_all

    path = _pro_lab_export(tmp_path / "export.tsv")
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((50, 100)), name="polyp")
    widget = GazeLayersWidget(viewer)
    seen = answer_recording_picker([])  # Cancel: nothing opens
    widget.open_file(str(path))
    qtbot.waitUntil(lambda: widget._status.text() == "Opened nothing from export.tsv.", timeout=WAIT_MS)
    assert seen == {"listed": ["cells", "polyp"], "preselected": ["polyp"]}  # the image's recording
    assert [layer.name for layer in viewer.layers] == ["polyp"]
    answer_recording_picker(["polyp"])
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.open_file(str(path))
    names = [layer.name for layer in viewer.layers]
    assert names == ["polyp", "polyp heatmap", "polyp gaze", "polyp scanpath", "polyp fixations",
                     "polyp Pro Lab fixations"]
    assert widget._source.current_layer() is viewer.layers["polyp gaze"]
    # Pro Lab's own fixations: their own layer and group, apart from ours
    theirs = read_gaze_all(path, what="fixations")["polyp"]
    layer = viewer.layers["polyp Pro Lab fixations"]
    np.testing.assert_allclose(layer.data, [[10.0, 20.0], [40.0, 80.0]], atol=1e-9)
    np.testing.assert_array_equal(layer.data, theirs.coords)
    np.testing.assert_array_equal(layer.features["duration"], theirs.duration)
    assert layer.metadata[GAZESEG]["classified_by"] == "Tobii Pro Lab"
    assert layer.metadata[GAZESEG]["group"] != viewer.layers["polyp fixations"].metadata[GAZESEG]["group"]
    assert widget.group_layers()["fixations"] is viewer.layers["polyp fixations"]
    assert "Pro Lab's own fixations" in widget._status.text()


def test_screen_fields_give_ivt_its_geometry_in_degrees(make_napari_viewer, qtbot, tmp_path):
    """A Pro Lab export without millimetres: the entered screen makes I-VT work in degrees."""
    from test_formats_tobii import CURRENT, export, geometry_rows

    from napari_gazeseg._napari.layers import recording_from_layer
    from napari_gazeseg.gaze.formats import read_gaze

    # 3 fixations 12 degrees apart; the columns in mm and the eye distance are left out
    path = export(tmp_path / "export.tsv", geometry_rows([(150.0, 60.0), (150.0, 230.0), (40.0, 230.0)]), CURRENT)
    recording = read_gaze(path)
    assert "screen" not in recording.meta and recording.screen is not None
    viewer = make_napari_viewer()
    widget = GazeLayersWidget(viewer)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.open_file(str(path))
    assert widget._status.text().endswith(
        "It has no screen geometry, so the fixation thresholds are in image pixels; "
        "enter the screen below for degrees."
    )
    assert widget._screen_box.isVisibleTo(widget)
    assert (widget._screen_width_px.value(), widget._screen_height_px.value()) == (1920, 1080)  # from the file
    assert widget.entered_screen() is None
    widget._screen_width_mm.setValue(527.0)
    widget._screen_height_mm.setValue(296.5)
    _change_and_wait(qtbot, widget, lambda: widget._screen_distance.setValue(650.0))
    screen = {"width_px": 1920, "height_px": 1080, "width_mm": 527.0, "height_mm": 296.5, "distance_mm": 650.0}
    gaze = viewer.layers["cells gaze"]
    assert gaze.metadata[GAZESEG]["meta"]["screen"] == screen  # the recording's meta has it now
    assert recording_from_layer(gaze).meta["screen"] == screen
    recording.meta["screen"] = screen
    expected = detect_fixations_ivt(recording)
    assert expected.meta["detector"]["units"] == "deg" and len(expected) == 3
    fixations = viewer.layers["cells fixations"]
    np.testing.assert_array_equal(fixations.data, expected.coords)
    assert fixations.metadata[GAZESEG]["meta"]["detector"]["units"] == "deg"
    assert widget._status.text() == (
        "3 fixations by I-VT in degrees, on a 527 × 296.5 mm, 1920 × 1080 px screen at 650 mm (as entered)."
    )
    assert widget._screen_box.isVisibleTo(widget)  # still there to correct
    _change_and_wait(qtbot, widget, lambda: widget._screen_distance.setValue(0.0))  # cleared again
    assert "screen" not in gaze.metadata[GAZESEG]["meta"]
    assert "converted to image pixels" in widget._status.text()


def test_deleting_the_widget_while_its_worker_runs(make_napari_viewer, qtbot, scene, monkeypatch):
    """Its results arrive after the widget is gone: dropped, no 'wrapped C/C++ object has been deleted'."""
    import threading

    from napari_gazeseg._napari import gaze_layers_widget

    gate = threading.Event()
    real = gaze_layers_widget.compute_layers

    def held(job):
        gate.wait(WAIT_MS / 1000)
        yield from real(job)

    monkeypatch.setattr(gaze_layers_widget, "compute_layers", held)
    viewer = make_napari_viewer()
    layers = _open_scene(viewer, scene)
    before = layers["fixations"].data.copy()
    widget = GazeLayersWidget(viewer)
    widget._velocity.setValue(120.0)
    qtbot.waitUntil(lambda: widget._worker is not None, timeout=WAIT_MS)
    worker = widget._worker
    with qtbot.waitSignal(widget.destroyed, timeout=WAIT_MS):
        widget.deleteLater()
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        gate.set()
    qtbot.wait(100)  # the queued slots have run
    np.testing.assert_array_equal(layers["fixations"].data, before)  # the results were dropped
