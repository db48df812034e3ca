"""Deleting layers while recording: the recording goes on, nothing is lost, napari keeps running."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from fakes import tobii_research as fake_tr
from napari_gazeseg._napari.record_widget import SOURCES, RecordGazeWidget
from napari_gazeseg.gaze.formats import read_gaze
from napari_gazeseg._napari._viewer import camera_of, snapshot_view

pytestmark = pytest.mark.gui


@pytest.fixture
def recording_widget(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 800)
    layer = viewer.add_image(np.random.default_rng(0).random((120, 160)), name="cells")
    camera_of(viewer).center = (60.0, 80.0)
    camera_of(viewer).zoom = 3.0
    qtbot.wait(50)
    tracker = fake_tr.EyeTracker(frequency=300.0, offset=(0.0, 0.0), noise_sd=0.0002)
    tracker.look_at(*snapshot_view(viewer, layer).display_of(np.array([[40.0, 90.0]]))[0])
    monkeypatch.setattr(fake_tr, "connected_trackers", [tracker])
    monkeypatch.setitem(sys.modules, "tobii_research", fake_tr)
    widget = RecordGazeWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.save_edit.setText(str(tmp_path / "live.gaze.tsv"))
    widget.source_box.setCurrentText(SOURCES[1])  # Tobii (tobii-research)
    widget.start_recording()
    widget.toggle_object()  # object 1
    qtbot.waitUntil(lambda: widget.live_layers.fixations is not None, timeout=5000)
    yield viewer, widget, tmp_path / "live.gaze.tsv"
    widget.stop_recording()


def _live(viewer):
    return [layer for layer in viewer.layers if " live " in layer.name]


def test_deleted_live_layers_come_back_and_the_file_is_whole(recording_widget, qtbot):
    viewer, widget, path = recording_widget
    assert _live(viewer)
    for layer in _live(viewer):
        viewer.layers.remove(layer)
    qtbot.waitUntil(lambda: len(_live(viewer)) >= 1, timeout=5000)  # the tail is drawn again
    qtbot.wait(300)
    recorder = widget.recorder
    widget.stop_recording()
    recording = read_gaze(path)
    assert len(recording) == recorder.samples_written > 0
    assert np.all(np.diff(recording.t) > 0)
    assert 1 in set(recording.object_id.tolist())


def test_deleting_every_layer_stops_nothing_but_the_drawing(recording_widget, qtbot):
    viewer, widget, path = recording_widget
    recorder = widget.recorder
    viewer.layers.select_all()
    viewer.layers.remove_selected()
    written = recorder.samples_written
    qtbot.waitUntil(lambda: recorder.samples_written > written + 60, timeout=5000)  # goes on
    assert widget.recorder is recorder
    widget.stop_recording()
    recording = read_gaze(path)
    assert len(recording) == recorder.samples_written
    assert np.all(np.diff(recording.t) > 0)
