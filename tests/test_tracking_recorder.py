"""The recorder: file, signals, object sessions, busy UI, a killed process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from fakes import tobii_research as fake_tr
from napari_gazeseg.gaze.formats import read_gaze
from napari_gazeseg.gaze.geometry import ScreenGeometry
from napari_gazeseg.gaze.recording import Fixations
from napari_gazeseg.tracking.mapping import ViewTransform
from napari_gazeseg.tracking.recorder import GazeRecorder, new_recording_path
from napari_gazeseg.tracking.tobii import TobiiSource

TESTS = Path(__file__).parent


def fixed_view(shape=(100, 200)) -> ViewTransform:
    """A 1000 x 500 px screen, all canvas, showing the image at 5 px per pixel, centred.

    Display (0.25, 0.3) -> pixel (29.5, 49.5); (0.75, 0.6) -> (59.5, 149.5).
    """
    return ViewTransform(
        screen_origin=np.zeros(2),
        screen_size=np.array([1000.0, 500.0]),
        canvas_origin=np.zeros(2),
        canvas_size=np.array([1000.0, 500.0]),
        center=np.array([50.0, 100.0]) - 0.5,
        zoom=5.0,
        flip=np.ones(2),
        world_point=np.zeros(2),
        displayed=np.array([0, 1]),
        world_to_data=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        data_shape=np.asarray(shape, float),
    )


def test_fixed_view_maps_as_documented():
    coords, valid = fixed_view().map(np.array([[0.5, 0.5], [0.0005, 0.001], [1.5, 0.5]]))
    np.testing.assert_allclose(coords[:2], [[49.5, 99.5], [-0.4, -0.4]])
    assert valid.tolist() == [True, True, False]
    np.testing.assert_allclose(fixed_view().display_of(coords[:2]), [[0.5, 0.5], [0.0005, 0.001]])


@pytest.fixture
def tracker(monkeypatch):
    tracker = fake_tr.EyeTracker(frequency=300.0, offset=(0.0, 0.0), noise_sd=0.0005)
    monkeypatch.setattr(fake_tr, "connected_trackers", [tracker])
    return tracker


def test_recording_with_object_sessions_reaches_file_and_signals(tracker, tmp_path, qtbot):
    added, objects, fixation_events = [], [], []
    source = TobiiSource(sdk_module=fake_tr)
    path = tmp_path / "session.gaze.tsv"
    meta = {"image": {"shape": [100, 200], "name": "cells"}, "screen": ScreenGeometry.default().to_meta()}
    recorder = GazeRecorder(source, path, fixed_view(), meta=meta)
    recorder.samples_added.connect(added.append)
    recorder.object_started.connect(lambda i: objects.append(("start", i)))
    recorder.object_stopped.connect(lambda i: objects.append(("stop", i)))
    recorder.fixations_changed.connect(lambda i, f: fixation_events.append((i, f)))
    tracker.look_at(0.25, 0.3)  # image pixel (29.5, 49.5)
    recorder.start()
    try:
        qtbot.wait(300)
        assert recorder.start_object() == 1
        qtbot.wait(500)
        tracker.look_at(0.75, 0.6)  # image pixel (59.5, 149.5)
        qtbot.wait(500)
        recorder.stop_object()
        tracker.look_at(1.2, 0.5)  # off the screen area shown: invalid, screen kept
        qtbot.wait(200)
        tracker.close_eyes()  # a blink: invalid for the tracker too
        qtbot.wait(100)
        tracker.close_eyes(False)
        assert recorder.toggle_object() == 2
        tracker.look_at(0.5, 0.5)
        qtbot.wait(400)
    finally:
        recorder.stop()

    assert objects == [("start", 1), ("stop", 1), ("start", 2), ("stop", 2)]
    on_file = read_gaze(path)
    emitted = type(on_file).concatenate(added)
    assert len(on_file) == len(emitted) == tracker.samples_sent == recorder.samples_written
    np.testing.assert_array_equal(on_file.t, emitted.t)
    assert np.all(np.diff(on_file.t) > 0)
    assert on_file.object_id[0] == 0 and set(np.unique(on_file.object_id)) == {0, 1, 2}
    ids = on_file.object_id
    assert np.all(np.diff(ids[ids > 0]) >= 0)  # sessions in order, not interleaved
    off = on_file.screen[:, 0] > 1.0
    assert off.any() and not on_file.valid[off].any()
    first = on_file.for_object(1)
    np.testing.assert_allclose(np.median(first.coords[first.t < first.t[0] + 0.4], axis=0), [29.5, 49.5], atol=0.5)
    assert on_file.meta["tracker"]["serial_number"] == tracker.serial_number
    assert on_file.meta["image"]["name"] == "cells"
    assert on_file.meta["sampling_rate_hz"] == 300.0
    # live fixations of object 1: one at each place looked at
    last_for_1 = [f for i, f in fixation_events if i == 1][-1]
    assert isinstance(last_for_1, Fixations) and len(last_for_1) >= 2
    np.testing.assert_allclose(last_for_1.coords[0], [29.5, 49.5], atol=1.0)
    np.testing.assert_allclose(last_for_1.coords[-1], [59.5, 149.5], atol=1.0)
    report = recorder.report()
    assert report.samples == len(on_file) and report.lost == 0
    blink = np.isnan(on_file.screen[:, 0])
    assert blink.any()
    assert report.valid_fraction == pytest.approx(1.0 - blink.mean())  # the tracker's validity


@pytest.mark.slow
def test_1200_hz_for_60_s_with_a_busy_ui_loses_nothing(tmp_path, qtbot):
    """At least 60 s of source time at 1200 Hz; the UI thread sleeps 0.4 s of every 0.5 s."""
    tracker = fake_tr.EyeTracker(frequency=1200.0)
    source = TobiiSource(tracker=tracker, sdk_module=fake_tr)
    path = tmp_path / "stress.gaze.tsv"
    recorder = GazeRecorder(source, path, fixed_view())
    emitted = []
    recorder.samples_added.connect(lambda batch: emitted.append(len(batch)))
    recorder.start()
    begin = time.monotonic()
    while time.monotonic() - begin < 61.0:
        time.sleep(0.4)  # the UI thread is busy
        qtbot.wait(100)
    recorder.stop()
    on_file = read_gaze(path)
    steps_us = np.round(np.diff(on_file.t) * 1e6)
    assert on_file.duration >= 60.0
    assert len(on_file) == tracker.samples_sent == sum(emitted)
    # every sample, in order, none twice: consecutive samples are exactly one period apart
    assert np.all(np.abs(steps_us - 1e6 / 1200) <= 1.0)


CRASH_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from fakes import tobii_research as fake_tr
    from napari_gazeseg.tracking.recorder import GazeRecorder
    from napari_gazeseg.tracking.tobii import TobiiSource
    from test_tracking_recorder import fixed_view

    tracker = fake_tr.EyeTracker(frequency=600.0)
    recorder = GazeRecorder(TobiiSource(tracker=tracker, sdk_module=fake_tr), {path!r}, fixed_view())
    recorder.start()
    print(time.time(), flush=True)
    time.sleep(600)
    """
)


def test_a_killed_recording_reads_back_complete_up_to_the_last_second(tmp_path):
    path = tmp_path / "killed.gaze.tsv"
    script = CRASH_SCRIPT.format(tests=str(TESTS), path=str(path))
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent / "src"))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    started = float(process.stdout.readline())
    time.sleep(2.5)
    killed_at = time.time()
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a torn last line is dropped with a warning
        recording = read_gaze(path)
    recorded_s = killed_at - started
    assert recording.t[-1] >= recorded_s - 1.0
    steps_us = np.round(np.diff(recording.t) * 1e6)
    assert np.all(np.abs(steps_us - 1e6 / 600) <= 1.0)  # complete: no gap, no repeat


def test_a_source_that_fails_to_start_leaves_nothing_running(tmp_path, qtbot):
    class BrokenTracker(fake_tr.EyeTracker):
        def subscribe_to(self, subscription_type, callback, as_dictionary=False):
            raise RuntimeError("the tracker refused the subscription")

    source = TobiiSource(tracker=BrokenTracker(), sdk_module=fake_tr)
    recorder = GazeRecorder(source, tmp_path / "broken.gaze.tsv", fixed_view())
    with pytest.raises(RuntimeError, match="refused"):
        recorder.start()
    assert not recorder.recording
    assert len(read_gaze(tmp_path / "broken.gaze.tsv")) == 0


def test_a_file_that_cannot_be_written_stops_the_recording_with_a_message(tracker, tmp_path, qtbot, monkeypatch):
    from napari_gazeseg.gaze.formats import native

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    source = TobiiSource(sdk_module=fake_tr)
    recorder = GazeRecorder(source, tmp_path / "full.gaze.tsv", fixed_view())
    messages, finished = [], []
    recorder.message.connect(messages.append)
    recorder.finished.connect(lambda: finished.append(True))
    recorder.start()
    monkeypatch.setattr(native.NativeGazeWriter, "append", disk_full)
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    assert not recorder.recording
    assert "full.gaze.tsv" in messages[-1] and "disk is full" in messages[-1] and "record again" in messages[-1]


# -- a user's data is never lost (issue 10, items 1, 3, 4) -----------------------------------
def test_new_recording_paths_are_unique_and_named_after_the_image(tmp_path):
    import datetime

    now = datetime.datetime(2026, 12, 1, 16, 5, 7)
    first = new_recording_path("cells 1/b", tmp_path, now=now)
    assert first == tmp_path / "cells_1_b-20261201-160507.gaze.tsv"
    first.write_text("")
    second = new_recording_path("cells 1/b", tmp_path, now=now)
    assert second == tmp_path / "cells_1_b-20261201-160507-2.gaze.tsv"
    (tmp_path / "cells_1_b-20261201-160507-2.gaze.json").write_text("{}")  # a lone sidecar counts
    assert new_recording_path("cells 1/b", tmp_path, now=now).name == "cells_1_b-20261201-160507-3.gaze.tsv"
    assert new_recording_path("", tmp_path, now=now).name == "image-20261201-160507.gaze.tsv"


def test_the_recorder_refuses_an_existing_file_in_one_sentence(tracker, tmp_path, qtbot):
    from napari_gazeseg.gaze.formats import write_gaze
    from napari_gazeseg.gaze.recording import GazeRecording

    path = tmp_path / "earlier.gaze.tsv"
    write_gaze(GazeRecording(t=[0.0, 0.1], coords=[[1.0, 2.0], [3.0, 4.0]]), path)
    before = path.read_bytes()
    recorder = GazeRecorder(TobiiSource(sdk_module=fake_tr), path, fixed_view())
    with pytest.raises(FileExistsError, match=r"earlier\.gaze\.tsv already exists") as refused:
        recorder.start()
    assert "\n" not in str(refused.value) and not recorder.recording
    assert path.read_bytes() == before
    assert not tracker._subscriptions.get(fake_tr.EYETRACKER_GAZE_DATA)  # the tracker was never started


def test_a_second_recorder_on_the_same_path_is_refused_and_the_first_goes_on(tmp_path, qtbot):
    tracker = fake_tr.EyeTracker(frequency=600.0)
    path = tmp_path / "shared.gaze.tsv"
    first = GazeRecorder(TobiiSource(tracker=tracker, sdk_module=fake_tr), path, fixed_view())
    first.start()
    try:
        qtbot.wait(300)
        other = fake_tr.EyeTracker(frequency=600.0, serial_number="SECOND")
        second = GazeRecorder(TobiiSource(tracker=other, sdk_module=fake_tr), path, fixed_view())
        with pytest.raises(OSError, match=r"shared\.gaze\.tsv is being written by another recording"):
            second.start()
        assert not second.recording and other.samples_sent == 0
        qtbot.wait(300)
    finally:
        first.stop()
    on_file = read_gaze(path)
    assert len(on_file) == tracker.samples_sent and on_file.meta["tracker"]["serial_number"] != "SECOND"
    assert np.all(np.abs(np.round(np.diff(on_file.t) * 1e6) - 1e6 / 600) <= 1.0)  # one recording, whole


def test_output_folder_removed_mid_recording_goes_on_into_a_fallback_file(tmp_path, qtbot):
    import shutil

    tracker = fake_tr.EyeTracker(frequency=600.0)
    folder = tmp_path / "usb-stick"
    path = folder / "slide.gaze.tsv"
    fallback_dir = tmp_path / "fallback"
    recorder = GazeRecorder(
        TobiiSource(tracker=tracker, sdk_module=fake_tr), path, fixed_view(), fallback_dir=fallback_dir
    )
    messages, finished = [], []
    recorder.message.connect(messages.append)
    recorder.finished.connect(lambda: finished.append(True))
    recorder.start()
    try:
        qtbot.wait(300)
        shutil.rmtree(folder)
        qtbot.waitUntil(lambda: bool(messages), timeout=3000)  # told at once (the next flush)
        assert recorder.recording and not finished
        assert recorder.path.parent == fallback_dir and recorder.path.name.startswith("slide")
        assert str(path) in messages[0] and str(recorder.path) in messages[0]
        qtbot.wait(300)
    finally:
        recorder.stop()
    on_file = read_gaze(recorder.path)
    assert len(on_file) == tracker.samples_sent  # everything, from the first sample on
    assert np.all(np.abs(np.round(np.diff(on_file.t) * 1e6) - 1e6 / 600) <= 1.0)
    assert not folder.exists()  # the user's removal is respected
