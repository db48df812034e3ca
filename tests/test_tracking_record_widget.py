"""The "Record gaze" widget in a real napari viewer (run under xvfb-run)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt
from qtpy.QtGui import QCursor

from fakes import tobii_research as fake_tr
from napari_gazeseg._napari.record_widget import SOURCES, RecordGazeWidget
from napari_gazeseg.gaze.formats import read_gaze, write_gaze
from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg._napari._viewer import camera_of, snapshot_view

pytestmark = pytest.mark.gui


@pytest.fixture
def viewer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1200, 800)
    viewer.add_image(np.random.default_rng(0).random((120, 160)), name="cells")
    camera_of(viewer).center = (60.0, 80.0)
    camera_of(viewer).zoom = 3.0
    qtbot.wait(50)
    return viewer


@pytest.fixture
def widget(viewer, qtbot, tmp_path):
    widget = RecordGazeWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.save_edit.setText(str(tmp_path / "widget.gaze.tsv"))
    # the dock's layout settles (the canvas may narrow) before a test snapshots the view
    canvas, size = _canvas(viewer), None
    for _ in range(40):
        qtbot.wait(50)
        if canvas.geometry() == size:
            break
        size = canvas.geometry()
    yield widget
    widget.stop_recording()


def _canvas(viewer):
    return viewer.window._qt_viewer.canvas.native


def test_missing_sdk_or_tracker_is_one_sentence_and_napari_keeps_running(viewer, widget, monkeypatch):
    widget.source_box.setCurrentText(SOURCES[1])  # Tobii (tobii-research)
    monkeypatch.setitem(sys.modules, "tobii_research", None)
    widget.start_recording()
    assert widget.recorder is None
    assert "pip install tobii-research" in widget.status_label.text()
    monkeypatch.setitem(sys.modules, "tobii_research", fake_tr)
    monkeypatch.setattr(fake_tr, "connected_trackers", [])
    widget.start_recording()
    assert widget.recorder is None
    assert widget.status_label.text().startswith("No Tobii eye tracker was found")
    # the widget is back where it started, so the user can pick a source and try again
    assert widget.source_box.isEnabled() and widget.record_button.text().startswith("Start recording")
    assert not widget.object_button.isEnabled() and "cells" in viewer.layers


def test_tobii_recording_with_hotkeys_live_layers_and_file(viewer, widget, qtbot, monkeypatch, tmp_path):
    tracker = fake_tr.EyeTracker(frequency=300.0, offset=(0.0, 0.0), noise_sd=0.0002)
    monkeypatch.setattr(fake_tr, "connected_trackers", [tracker])
    monkeypatch.setitem(sys.modules, "tobii_research", fake_tr)
    layer = viewer.layers["cells"]
    view = snapshot_view(viewer, layer)
    target = view.display_of(np.array([[40.0, 90.0]]))[0]
    tracker.look_at(*target)
    widget.source_box.setCurrentText(SOURCES[1])  # Tobii (tobii-research)
    qtbot.keyClick(_canvas(viewer), Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)  # start recording
    assert widget.recorder is not None
    qtbot.wait(200)
    qtbot.keyClick(_canvas(viewer), Qt.Key.Key_G)  # object 1
    assert widget.recorder.current_object == 1
    qtbot.waitUntil(lambda: widget.live_layers.fixations is not None, timeout=5000)
    qtbot.keyClick(_canvas(viewer), Qt.Key.Key_G)  # end object 1
    qtbot.wait(100)
    live = widget.live_layers
    np.testing.assert_allclose(np.median(live.gaze.data, axis=0), [40.0, 90.0], atol=0.5)
    np.testing.assert_allclose(live.fixations.data[0], [40.0, 90.0], atol=0.5)
    qtbot.keyClick(_canvas(viewer), Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)  # stop
    assert widget.recorder is None
    # the live layers now hold the whole recording, as the plugin's gaze layers
    assert live.gaze.metadata["gazeseg"]["kind"] == "gaze"
    assert set(live.gaze.features["object_id"]) == {0, 1}
    assert live.heatmap.data.shape == (120, 160)
    assert np.unravel_index(np.argmax(live.heatmap.data), (120, 160)) == (40, 90)
    recording = read_gaze(tmp_path / "widget.gaze.tsv")
    assert set(np.unique(recording.object_id)) == {0, 1}
    assert recording.meta["image"] == {"shape": [120, 160], "name": "cells"}
    assert recording.meta["screen"]["distance_mm"] == 650.0
    assert "Hz" in widget.quality_label.text()


def test_cursor_source_follows_the_pointer(viewer, widget, qtbot, tmp_path):
    layer = viewer.layers["cells"]
    canvas = _canvas(viewer)
    view = snapshot_view(viewer, layer)
    target = view.display_of(np.array([[30.0, 100.0]]))[0] * view.screen_size + view.screen_origin
    QCursor.setPos(QPoint(int(round(target[0])), int(round(target[1]))))
    qtbot.wait(50)
    if (QCursor.pos().x(), QCursor.pos().y()) != (int(round(target[0])), int(round(target[1]))):
        pytest.skip("this X server does not let the test move the pointer")
    widget.source_box.setCurrentText(SOURCES[3])
    widget.start_recording()
    qtbot.wait(400)
    widget.stop_recording()
    recording = read_gaze(tmp_path / "widget.gaze.tsv")
    assert recording.meta["source"] == "cursor"
    assert len(recording) >= 20
    np.testing.assert_allclose(np.nanmedian(recording.coords, axis=0), [30.0, 100.0], atol=1.0 / 3.0 + 0.01)
    assert canvas.isVisible()


def test_replay_of_a_file_without_screen_coordinates(viewer, widget, qtbot, tmp_path):
    t = np.arange(60) / 60.0
    original = GazeRecording(
        t=t,
        coords=np.column_stack([50 + 20 * t, 70 + 20 * t]),  # near the centre: on the canvas
        meta={"sampling_rate_hz": 60.0, "image": {"shape": [120, 160], "name": "cells"}},
    )
    write_gaze(original, tmp_path / "original.gaze.tsv")
    widget.source_box.setCurrentText(SOURCES[4])
    widget.replay_edit.setText(str(tmp_path / "original.gaze.tsv"))
    widget.speed_box.setValue(4.0)
    widget.start_recording()
    source = widget.recorder.source
    assert source.wait(timeout=5.0)
    widget.stop_recording()
    replayed = read_gaze(tmp_path / "widget.gaze.tsv")
    assert len(replayed) == len(original)
    # a second recording in the same session gets layers of its own
    first_layers = widget.live_layers
    widget.save_edit.setText(str(tmp_path / "again.gaze.tsv"))
    widget.start_recording()
    assert widget.recorder.source.wait(timeout=5.0)
    widget.stop_recording()
    assert len(read_gaze(tmp_path / "again.gaze.tsv")) == len(original)
    assert widget.live_layers.gaze is not first_layers.gaze
    assert first_layers.gaze in viewer.layers and widget.live_layers.gaze in viewer.layers
    np.testing.assert_allclose(replayed.t - replayed.t[0], original.t, atol=1e-6)  # original timing
    np.testing.assert_allclose(replayed.coords, original.coords, atol=1e-6)


def test_calibration_from_the_widget_goes_into_the_recording(viewer, widget, qtbot, monkeypatch, tmp_path):
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_gazeseg.tracking.calibration_dialog import CalibrationDialog

    tracker = fake_tr.EyeTracker(frequency=300.0, offset=(0.04, 0.0), noise_sd=0.0)
    monkeypatch.setattr(fake_tr, "connected_trackers", [tracker])
    monkeypatch.setitem(sys.modules, "tobii_research", fake_tr)
    widget.source_box.setCurrentText(SOURCES[1])  # Tobii (tobii-research)
    widget.calibration_timing = {"settle_ms": 30, "collect_ms": 100}

    def drive_dialog():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, CalibrationDialog):
            QTimer.singleShot(20, drive_dialog)
            return
        dialog.target_shown.connect(tracker.look_at)
        dialog.report_ready.connect(lambda report: dialog.accept_calibration())
        dialog.start()

    QTimer.singleShot(0, drive_dialog)
    widget.calibrate()  # modal: returns when the dialog is accepted
    assert widget.calibration_label.text().startswith("Calibrated: accuracy 0.0")
    widget.start_recording()
    qtbot.wait(100)
    widget.stop_recording()
    meta = read_gaze(tmp_path / "widget.gaze.tsv").meta
    assert meta["calibration"]["status"] == fake_tr.CALIBRATION_STATUS_SUCCESS
    assert meta["validation"]["accuracy_deg"] < 0.05  # the offset was calibrated away
    assert len(meta["validation"]["points"]) == 5


# -- a user's recordings are never replaced; hotkeys live and die with the panel (issue 10) ----
CURSOR = "Mouse cursor"
#: The tobii-research source, by its name (the list of sources grows).
TOBII = next(name for name in SOURCES if "tobii" in name.lower() and "titta" not in name.lower())


def _answer_next_question(button_text: str, asked: list) -> None:
    """Click ``button_text`` in the next modal question box (driven by a timer, as a user)."""
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication, QMessageBox

    def answer():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        asked.append(box.text())
        for button in box.buttons():
            if button.text() == button_text:
                button.click()
                return
        raise AssertionError(f"no button {button_text!r} in {[b.text() for b in box.buttons()]}")

    QTimer.singleShot(0, answer)


def _record_briefly(widget, qtbot, ms: int = 150):
    widget.source_box.setCurrentText(SOURCES[3])  # the cursor: wherever it is
    widget.start_recording()
    assert widget.recorder is not None, widget.status_label.text()
    path = widget.recorder.path
    qtbot.wait(ms)
    widget.stop_recording()
    return path


def test_recordings_with_the_default_path_never_share_a_file(viewer, widget, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    widget.save_edit.setText("")
    first = _record_briefly(widget, qtbot)
    first_text = first.read_text()
    second = _record_briefly(widget, qtbot)
    assert first != second and first.parent == second.parent == tmp_path / "home" / "gazeseg-recordings"
    assert first.name.startswith("cells-") and second.name.startswith("cells-")
    assert first.read_text() == first_text and len(read_gaze(second)) > 0


def test_an_existing_save_to_file_asks_and_is_never_replaced(viewer, widget, qtbot, tmp_path):
    existing = tmp_path / "widget.gaze.tsv"
    write_gaze(GazeRecording(t=[0.0, 0.1], coords=[[1.0, 2.0], [3.0, 4.0]]), existing)
    before = existing.read_bytes()
    asked = []
    _answer_next_question("Cancel", asked)
    widget.source_box.setCurrentText(SOURCES[3])
    widget.start_recording()
    assert widget.recorder is None and "widget.gaze.tsv" in asked[0]
    assert existing.read_bytes() == before
    _answer_next_question("Record to a new file", asked)
    path = _record_briefly(widget, qtbot)
    assert path.parent == tmp_path and path.name.startswith("widget-") and path != existing
    assert existing.read_bytes() == before and len(read_gaze(path)) > 0


def test_save_to_does_not_carry_one_images_path_to_the_next(viewer, widget, qtbot, tmp_path):
    first = _record_briefly(widget, qtbot)
    assert first == tmp_path / "widget.gaze.tsv"
    first_text = first.read_text()
    viewer.add_image(np.zeros((50, 60)), name="tissue")
    widget.image_box.setCurrentText("tissue")
    second = _record_briefly(widget, qtbot)
    assert second.parent == tmp_path and second.name.startswith("tissue-")  # the folder stays, the name not
    assert first.read_text() == first_text
    assert read_gaze(second).meta["image"]["name"] == "tissue"


def test_closing_the_panel_unbinds_g_and_shift_g(viewer, widget, qtbot, tmp_path):
    viewer.window.remove_dock_widget(widget)
    qtbot.wait(50)
    qtbot.keyClick(_canvas(viewer), Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(_canvas(viewer), Qt.Key.Key_G)
    qtbot.wait(50)
    assert widget.recorder is None
    assert not (tmp_path / "widget.gaze.tsv").exists()
    # a new panel binds them again
    again = RecordGazeWidget(viewer)
    viewer.window.add_dock_widget(again)
    again.save_edit.setText(str(tmp_path / "again.gaze.tsv"))
    again.source_box.setCurrentText(SOURCES[3])
    qtbot.keyClick(_canvas(viewer), Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    try:
        assert again.recorder is not None
    finally:
        again.stop_recording()


def test_closing_the_panel_while_recording_stops_cleanly_and_says_where(viewer, widget, qtbot, monkeypatch, tmp_path):
    from napari.utils.notifications import notification_manager

    tracker = fake_tr.EyeTracker(frequency=300.0, offset=(0.0, 0.0), noise_sd=0.0002)
    tracker.look_at(*snapshot_view(viewer, viewer.layers["cells"]).display_of(np.array([[40.0, 90.0]]))[0])
    monkeypatch.setattr(fake_tr, "connected_trackers", [tracker])
    monkeypatch.setitem(sys.modules, "tobii_research", fake_tr)
    said = []
    notification_manager.notification_ready.connect(lambda note: said.append(str(note.message)))
    widget.source_box.setCurrentText(TOBII)
    widget.start_recording()
    recorder = widget.recorder
    widget.toggle_object()
    qtbot.waitUntil(lambda: widget.live_layers.fixations is not None, timeout=5000)
    viewer.window.remove_dock_widget(widget)
    assert widget.recorder is None and not recorder.recording
    on_file = read_gaze(tmp_path / "widget.gaze.tsv")
    assert len(on_file) == tracker.samples_sent  # flushed and closed: every sample
    assert set(np.unique(on_file.object_id)) == {0, 1}  # the open object session was ended
    assert widget.live_layers.gaze.metadata["gazeseg"]["kind"] == "gaze"  # layers final
    assert any(str(tmp_path / "widget.gaze.tsv") in text for text in said)


# -- the source list (TittaPy, tobii-research, LSL, cursor, replay) -------------------------------------
def test_source_list_and_one_sentence_per_absent_backend(viewer, widget, monkeypatch):
    import re

    from napari_gazeseg._napari import record_widget as rw

    assert [widget.source_box.itemText(i) for i in range(widget.source_box.count())] == [
        "Tobii (TittaPy)", "Tobii (tobii-research)", "LSL stream", "Mouse cursor", "Replay",
    ]
    assert widget.source_box.currentText() == rw.SOURCE_CURSOR
    for module in ("TittaPy_v2", "tobii_research", "pylsl"):
        monkeypatch.setitem(sys.modules, module, None)
    for choice, install in ((rw.SOURCE_TITTA, "pip install tittapy==2.1.0"),
                            (rw.SOURCE_TOBII_RESEARCH, "pip install tobii-research==2.1.0"),
                            (rw.SOURCE_LSL, "pip install pylsl")):
        widget.source_box.setCurrentText(choice)
        note = widget.source_note.text()
        assert install in note and note.endswith(".") and not re.search(r"[.;]\s+[A-Z]", note), note  # one sentence
        widget.start_recording()
        assert widget.recorder is None and install in widget.status_label.text()
    widget.source_box.setCurrentText(rw.SOURCE_CURSOR)
    assert widget.source_note.text() == ""


def test_recording_through_titta_from_the_widget(viewer, widget, qtbot, monkeypatch, tmp_path):
    from fakes import tittapy_v2 as fake_titta
    from napari_gazeseg._napari import record_widget as rw

    device = fake_titta.Device(frequency=600.0, offset=(0.0, 0.0), noise_sd=0.0)
    monkeypatch.setattr(fake_titta, "connected_devices", [device])
    monkeypatch.setitem(sys.modules, "TittaPy_v2", fake_titta)
    widget.source_box.setCurrentText(rw.SOURCE_TITTA)
    assert widget.source_note.text() == ""
    qtbot.wait(50)  # the panel's layout settles: the canvas is where it will be
    view = snapshot_view(viewer, viewer.layers["cells"], widget._screen())
    device.look_at(*view.display_of(np.array([[40.0, 90.0]]))[0])
    widget.start_recording()
    assert widget.recorder is not None
    qtbot.wait(400)
    widget.stop_recording()
    recording = read_gaze(tmp_path / "widget.gaze.tsv")
    assert len(recording) == device.samples_sent and recording.meta["backend"].startswith("TittaPy")
    np.testing.assert_allclose(np.median(recording.coords, axis=0), [40.0, 90.0], atol=0.5)


def test_lsl_stream_found_chosen_and_recorded_over_the_image(viewer, widget, qtbot, tmp_path):
    import pylsl

    from napari_gazeseg._napari import record_widget as rw
    from test_tracking_lsl import make_outlet, push_realtime, wait_consumers

    outlet = make_outlet(rate=300.0, channels=(("x", "normalized"), ("y", "normalized")))
    widget.source_box.setCurrentText(rw.SOURCE_LSL)
    widget.find_lsl_streams()
    qtbot.waitUntil(lambda: widget.lsl_box.findText(outlet.get_info().name()) >= 0, timeout=10_000)
    widget.lsl_box.setCurrentIndex(widget.lsl_box.findText(outlet.get_info().name()))
    qtbot.wait(50)
    widget.start_recording()
    assert widget.recorder is not None, widget.status_label.text()
    assert wait_consumers(outlet)
    view = snapshot_view(viewer, viewer.layers["cells"], widget._screen())
    point = view.display_of(np.array([[30.0, 100.0]]))[0]
    push_realtime(outlet, np.tile(point, (150, 1)).astype(np.float32), 300.0)
    qtbot.waitUntil(lambda: widget.recorder.samples_written >= 150, timeout=10_000)
    widget.stop_recording()
    recording = read_gaze(tmp_path / "widget.gaze.tsv")
    assert len(recording) == 150 and recording.meta["source"] == "lsl"
    np.testing.assert_allclose(np.median(recording.coords, axis=0), [30.0, 100.0], atol=0.05)
    assert pylsl.local_clock() > 0
    del outlet


def test_replay_asks_which_stimulus_and_stops_at_the_end(viewer, widget, qtbot, tmp_path):
    from napari_gazeseg._napari import record_widget as rw
    from napari_gazeseg.gaze.formats import write_gazemedseg_csv
    from napari_gazeseg.gaze.recording import Fixations

    def fixations(name, row):
        return Fixations(start=[0.0, 0.3], duration=[0.2, 0.2], coords=[[row, 50.0], [row, 60.0]],
                         meta={"image": {"name": name, "shape": [120, 160]}})

    path = tmp_path / "gazemedseg.csv"
    write_gazemedseg_csv({"a.png": fixations("a.png", 30.0), "b.png": fixations("b.png", 70.0)}, path)
    widget.source_box.setCurrentText(rw.SOURCE_REPLAY)
    widget.replay_edit.setText(str(path))
    widget.replay_edit.editingFinished.emit()
    assert [widget.stimulus_box.itemText(i) for i in range(2)] == ["a.png", "b.png"]
    assert widget.stimulus_box.isEnabled()
    widget.stimulus_box.setCurrentText("b.png")
    widget.speed_box.setValue(4.0)
    widget.start_recording()
    assert widget.recorder is not None, widget.status_label.text()
    qtbot.waitUntil(lambda: widget.recorder is None, timeout=10_000)  # stops by itself at the end
    assert "The replayed file has ended" in widget.status_label.text()
    recording = read_gaze(tmp_path / "widget.gaze.tsv")
    assert len(recording) == 48  # two fixations of 0.2 s at 120 Hz
    np.testing.assert_allclose(recording.coords[:24], [[70.0, 50.0]] * 24, atol=1e-6)  # through the image
    assert set(np.unique(recording.object_id)) == {1}  # the file's session, kept


def test_save_folder_removed_while_recording_is_told_and_the_recording_goes_on(viewer, widget, qtbot, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = tmp_path / "stick"
    folder.mkdir()
    widget.save_edit.setText(str(folder / "slide.gaze.tsv"))
    widget.source_box.setCurrentText(CURSOR)
    widget.start_recording()
    qtbot.wait(200)
    shutil.rmtree(folder)
    qtbot.waitUntil(lambda: "disappeared" in widget.status_label.text(), timeout=3000)
    moved_to = widget.recorder.path
    assert moved_to.parent == tmp_path / "home" / "gazeseg-recordings" and str(moved_to) in widget.status_label.text()
    qtbot.wait(150)
    widget.stop_recording()  # no FileNotFoundError: the whole recording is in the fallback file
    assert widget.status_label.text().startswith("Saved") and str(moved_to) in widget.status_label.text()
    assert len(read_gaze(moved_to)) == len(widget.live_layers.gaze.data) > 0


def test_titta_sampling_rate_chosen_in_the_widget(viewer, widget, qtbot, monkeypatch, tmp_path):
    from fakes import tittapy_v2 as fake_titta
    from napari_gazeseg._napari import record_widget as rw

    device = fake_titta.Device(frequency=600.0, supported_frequencies=(60.0, 300.0, 600.0, 1200.0))
    monkeypatch.setattr(fake_titta, "connected_devices", [device])
    monkeypatch.setitem(sys.modules, "TittaPy_v2", fake_titta)
    widget.source_box.setCurrentText(rw.SOURCE_TITTA)
    assert widget.tobii_rate_box.isEnabled()
    widget.tobii_rate_box.setCurrentText("250")
    widget.start_recording()
    assert widget.recorder is None
    assert "cannot sample at 250 Hz; choose one of 60, 300, 600, 1200 Hz" in widget.status_label.text()
    widget.tobii_rate_box.setCurrentText("1200")
    widget.start_recording()
    assert widget.recorder is not None
    qtbot.wait(200)
    widget.stop_recording()
    recording = read_gaze(tmp_path / "widget.gaze.tsv")
    assert recording.meta["sampling_rate_hz"] == 1200.0 == device.frequency
    assert np.all(np.abs(np.diff(recording.t) * 1e6 - 1e6 / 1200) <= 1.0)


def test_a_renamed_image_is_still_the_one_recorded_on(viewer, widget, qtbot, tmp_path):
    """The Image box follows a rename in the layer list (it listed the old name, and
    Start recording then said no image was open)."""
    viewer.layers["cells"].name = "cells, stained"
    qtbot.wait(20)
    assert [widget.image_box.itemText(i) for i in range(widget.image_box.count())] == ["cells, stained"]
    path = _record_briefly(widget, qtbot)
    assert read_gaze(path).meta["image"]["name"] == "cells, stained"
