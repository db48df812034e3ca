"""The TittaPy backend: its table against the real installed TittaPy, the stand-in
against the same table, then the adapter, recorder and calibration dialog over the stand-in."""

from __future__ import annotations

import enum
import inspect
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from collector import Collector, stream_then_blink
from fakes import tittapy_v2 as fake
from napari_gazeseg.tracking import titta as expected
from napari_gazeseg.tracking.source import GazeSource, SourceError
from napari_gazeseg.tracking.titta import TittaSource, gaze_to_batch, load_titta

if sys.version_info >= (3, 11):  # the wheels start at 3.11; `make test` installs it there
    import TittaPy_v2 as real
else:  # pragma: no cover
    real = pytest.importorskip(expected.TITTA_MODULE)


# -- the table against the real module -------------------------------------------------------
def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current] if current.strip() else parts


def _parameters(function, name: str) -> tuple[str, ...]:
    """Parameter names of a pybind11 function from its docstring signature (first overload),
    or of a Python function from ``inspect``; ``self`` dropped."""
    try:
        names = tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        for line in (function.__doc__ or "").splitlines():
            match = re.match(rf"\s*(?:\d+\.\s*)?{re.escape(name)}\((.*)\)\s*->", line)
            if match:
                names = tuple(p.split(":")[0].split("=")[0].strip() for p in _split_top_level(match.group(1)))
                break
        else:
            raise AssertionError(f"no signature for {name}")
    return tuple(n for n in names if n != "self")


def _library_bytes() -> bytes:
    return Path(real.__file__).read_bytes()


def test_real_titta_version_and_functions():
    from importlib.metadata import version

    assert version(expected.TITTA_DISTRIBUTION) == expected.TITTA_VERSION
    assert load_titta() is real
    for name, parameters in expected.FUNCTIONS.items():
        assert callable(getattr(real, name)), name
        assert _parameters(getattr(real, name), name) == parameters, name
    assert isinstance(real.get_system_timestamp(), int)


def test_real_find_all_eye_trackers_runs_and_returns_a_list():
    trackers = real.find_all_eye_trackers()
    assert isinstance(trackers, list)
    for tracker in trackers:  # a machine with a tracker: the keys we read
        assert set(expected.TRACKER_KEYS) <= set(tracker)


def test_real_eyetracker_properties_methods_streams_and_enums():
    for name in expected.EYETRACKER_PROPERTIES:
        assert isinstance(inspect.getattr_static(real.EyeTracker, name), property), name
    for name, parameters in expected.EYETRACKER_METHODS.items():
        assert _parameters(getattr(real.EyeTracker, name), name) == parameters, name
    assert set(expected.STREAMS) <= set(real.EyeTracker.stream.__members__)
    for enum_name, members in expected.ENUMS.items():
        assert set(members) <= set(getattr(real, enum_name).__members__), enum_name


def test_real_dictionary_keys_are_compiled_into_the_module():
    """No tracker here to produce a dictionary: the keys (or, for the gaze stream, whose keys
    the wrapper concatenates, their parts) must be string constants of the binary."""
    binary = _library_bytes()
    for key in (expected.TIME_SYNC_KEYS + expected.NOTIFICATION_KEYS + expected.STREAM_ERROR_KEYS
                + expected.CALIBRATION_RESULT_KEYS + expected.TRACKER_KEYS
                + ("position_on_display_area_x", "samples_left", "samples_right", "_validity", "points")):
        assert key.encode() in binary, key
    for part in ("system_time_stamp", "left", "right", "_gaze_point_", "on_display_area", "_x", "_y",
                 "valid", "_pupil_", "diameter"):
        assert part.encode() in binary, part


def test_real_connection_to_an_absent_tracker_is_one_sentence():
    with pytest.raises(RuntimeError, match="Cannot get eye tracker"):
        real.EyeTracker("tet-tcp://127.0.0.1")
    with pytest.raises(SourceError, match="Could not connect to the Tobii eye tracker at tet-tcp://127.0.0.1"):
        TittaSource(address="tet-tcp://127.0.0.1", titta_module=real)
    if not real.find_all_eye_trackers():
        with pytest.raises(SourceError, match="No Tobii eye tracker was found"):
            TittaSource(titta_module=real)


# -- the stand-in against the same table (and against the real enums) ----------------------------
def test_stand_in_has_the_real_shape():
    for name, parameters in expected.FUNCTIONS.items():
        assert _parameters(getattr(fake, name), name) == parameters, name
    for name in expected.EYETRACKER_PROPERTIES:
        assert isinstance(inspect.getattr_static(fake.EyeTracker, name), property), name
    for name, parameters in expected.EYETRACKER_METHODS.items():
        assert _parameters(getattr(fake.EyeTracker, name), name) == parameters, name
    # every enum of the stand-in has exactly the real members and values
    for name, value in vars(fake).items():
        if isinstance(value, type) and issubclass(value, enum.Enum):
            real_enum = getattr(real, name)
            assert {m: int(v.value) for m, v in real_enum.__members__.items()} == {
                m: v.value for m, v in value.__members__.items()
            }, name
    for name in ("stream", "buffer_side"):
        assert {m: int(v.value) for m, v in getattr(real.EyeTracker, name).__members__.items()} == {
            m: v.value for m, v in getattr(fake.EyeTracker, name).__members__.items()
        }
    assert set(expected.GAZE_KEYS) <= set(fake.STREAM_KEYS["gaze"])
    assert tuple(fake.STREAM_KEYS["time_sync"]) == expected.TIME_SYNC_KEYS
    assert tuple(fake.STREAM_KEYS["notification"]) == expected.NOTIFICATION_KEYS
    assert fake.__version__ == real.__version__


# -- the adapter over the stand-in --------------------------------------------------------------------
@pytest.fixture
def device(monkeypatch):
    device = fake.Device(frequency=600.0, offset=(0.0, 0.0), noise_sd=0.0)
    monkeypatch.setattr(fake, "connected_devices", [device])
    return device


def _gaze(left, right, left_valid=True, right_valid=True):
    data = {"system_time_stamp": np.array([5_000_000])}
    for eye, point, ok, pupil in (("left", left, left_valid, 3.0), ("right", right, right_valid, 4.0)):
        data[f"{eye}_gaze_point_on_display_area_x"] = np.array([point[0]], np.float32)
        data[f"{eye}_gaze_point_on_display_area_y"] = np.array([point[1]], np.float32)
        data[f"{eye}_gaze_point_valid"] = np.array([ok])
        data[f"{eye}_pupil_diameter"] = np.array([pupil if ok else np.nan], np.float32)
        data[f"{eye}_pupil_valid"] = np.array([ok])
    return data


@pytest.mark.parametrize(
    "left, right, left_valid, right_valid, display, pupil",
    [
        ((0.25, 0.5), (0.75, 1.0), True, True, (0.5, 0.75), 3.5),
        ((0.25, 0.5), (0.75, 1.0), True, False, (0.25, 0.5), 3.0),
        ((0.25, 0.5), (0.75, 1.0), False, True, (0.75, 1.0), 4.0),
        ((np.nan, np.nan), (np.nan, np.nan), False, False, (np.nan, np.nan), np.nan),
        ((np.nan, 0.5), (0.75, 1.0), True, True, (0.75, 1.0), 3.5),  # a valid flag with a NaN point
    ],
    ids=["both", "left only", "right only", "none", "left NaN"],
)
def test_gaze_arrays_become_a_batch(left, right, left_valid, right_valid, display, pupil):
    batch = gaze_to_batch(_gaze(left, right, left_valid, right_valid))
    np.testing.assert_allclose(batch.display[0], display)
    np.testing.assert_allclose(batch.pupil_mm[0], pupil)
    assert batch.timestamp_us.tolist() == [5_000_000]
    assert batch.valid[0] == np.isfinite(display).all()


def test_stream_is_pulled_off_the_caller_thread_with_every_sample_and_tracker_times(device):
    source = TittaSource(titta_module=fake)
    assert isinstance(source, GazeSource)
    assert source.nominal_rate_hz == 600.0
    sink = stream_then_blink(source, device)
    batch = sink.batch()
    assert threading.get_ident() not in sink.threads[:-1]  # only the remainder at stop() is ours
    assert len(batch) == device.samples_sent > 300
    steps = np.diff(batch.timestamp_us)
    assert np.all(steps > 0)
    np.testing.assert_allclose(np.median(steps), 1e6 / 600.0, rtol=0.01)
    open_eyes = batch.valid
    np.testing.assert_allclose(batch.display[open_eyes], [[0.25, 0.75]] * open_eyes.sum(), atol=1e-6)
    assert not batch.valid[-1] and np.isnan(batch.display[-1]).all()
    meta = source.meta()
    assert meta["time_synchronization"]["records"] and meta["backend"] == "TittaPy 2.1.0"
    assert meta["tracker"]["serial_number"] == device.serial_number
    assert abs(source.now_us() - fake.get_system_timestamp()) < 1_000_000
    assert not source.tracker.is_recording("gaze")


def test_sampling_rate_choice(device):
    source = TittaSource(frequency=1200.0, titta_module=fake)
    assert source.nominal_rate_hz == 1200.0 == device.frequency
    with pytest.raises(SourceError, match=r"cannot sample at 250 Hz; choose one of 60, 120, 300, 600, 1200 Hz"):
        source.set_frequency(250.0)
    assert source.supported_frequencies == [60.0, 120.0, 300.0, 600.0, 1200.0]


def test_connection_loss_stream_errors_and_notifications_become_sentences(device):
    source = TittaSource(titta_module=fake)
    sink = Collector.of(source)
    device.lose_connection()
    device.restore_connection()
    device.raise_stream_error()
    device.overflow()
    deadline = time.monotonic() + 5
    while len(sink.messages) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    source.stop()
    text = "\n".join(sink.messages)
    assert "connection was lost" in text and "restored" in text
    assert "stream error (connection_lost from stream_pump): Connection lost" in text
    assert "stream error (internal_error from subscription_gaze_data): Stream lost" in text
    assert "buffer overflowed" in text
    kinds = [n["type"] for n in source.meta()["notifications"]]
    assert kinds[:3] == ["connection_lost", "connection_restored", "stream_buffer_overflow"]


def test_no_tracker_and_no_titta_are_one_clear_sentence(monkeypatch):
    monkeypatch.setattr(fake, "connected_devices", [])
    with pytest.raises(SourceError, match="No Tobii eye tracker was found"):
        TittaSource(titta_module=fake)
    monkeypatch.setitem(sys.modules, "TittaPy_v2", None)
    with pytest.raises(SourceError, match=r"pip install tittapy==2\.1\.0"):
        load_titta()


def test_backend_choice_prefers_titta_then_tobii_research(monkeypatch, device):
    from fakes import tobii_research as fake_tr
    from napari_gazeseg.tracking import tobii

    monkeypatch.setitem(sys.modules, "TittaPy_v2", fake)
    monkeypatch.setitem(sys.modules, "tobii_research", fake_tr)
    monkeypatch.setattr(fake_tr, "connected_trackers", [fake_tr.EyeTracker(frequency=300.0)])
    assert tobii.tobii_backends() == {"titta": None, "tobii-research": None}
    assert isinstance(tobii.open_tobii_source(), TittaSource)
    assert isinstance(tobii.open_tobii_source("tobii-research"), tobii.TobiiSource)
    monkeypatch.setitem(sys.modules, "TittaPy_v2", None)
    status = tobii.tobii_backends()
    assert status["tobii-research"] is None and "pip install tittapy" in status["titta"]
    assert isinstance(tobii.open_tobii_source(), tobii.TobiiSource)
    monkeypatch.setitem(sys.modules, "tobii_research", None)
    with pytest.raises(SourceError, match=r"No Tobii backend is installed; install one with `pip install napari-gazeseg\[tobii\]`"):
        tobii.open_tobii_source()


def test_recorder_writes_every_titta_sample(device, tmp_path, qtbot):
    from napari_gazeseg.gaze.formats import read_gaze
    from napari_gazeseg.tracking.recorder import GazeRecorder

    source = TittaSource(frequency=1200.0, titta_module=fake)
    recorder = GazeRecorder(source, tmp_path / "titta.gaze.tsv", view=None)
    recorder.start()
    qtbot.wait(300)
    recorder.start_object()
    qtbot.wait(300)
    recorder.stop()
    on_file = read_gaze(tmp_path / "titta.gaze.tsv")
    assert len(on_file) == device.samples_sent == recorder.samples_written > 300
    assert np.all(np.abs(np.diff(on_file.t) * 1e6 - 1e6 / 1200) <= 1.0)  # none lost, none twice
    assert set(np.unique(on_file.object_id)) == {0, 1}
    assert on_file.meta["backend"] == "TittaPy 2.1.0" and on_file.meta["sampling_rate_hz"] == 1200.0
    assert recorder.report().lost == 0


@pytest.mark.gui
def test_calibration_dialog_drives_titta(device, qtbot):
    from qtpy.QtWidgets import QDialog

    from napari_gazeseg.gaze.geometry import ScreenGeometry
    from napari_gazeseg.tracking.calibration import VALIDATION_POINTS
    from napari_gazeseg.tracking.calibration_dialog import CalibrationDialog

    geometry = ScreenGeometry.default()
    device.offset = np.array([0.05, 0.0])  # uncalibrated error; calibration removes it
    source = TittaSource(frequency=300.0, titta_module=fake)
    dialog = CalibrationDialog(source, None, geometry.directions, settle_ms=50, collect_ms=150)
    qtbot.addWidget(dialog)
    dialog.target_shown.connect(lambda x, y: device.look_at(x + 0.01, y))
    dialog.show()
    with qtbot.waitSignal(dialog.report_ready, timeout=20_000):
        dialog.start()
    expected_deg = [geometry.visual_angle_deg(np.array(p), np.array(p) + [0.01, 0.0]) for p in VALIDATION_POINTS]
    np.testing.assert_allclose([p.accuracy_deg for p in dialog.report.points], expected_deg, rtol=1e-3)
    dialog.accept_calibration()
    assert dialog.result() == QDialog.DialogCode.Accepted
    calibration = dialog.result_meta["calibration"]
    assert calibration["status"] == "success" and calibration["backend"] == "TittaPy"
    assert len(calibration["points"]) == 5 and all(p["eye_samples_used"] == 16 for p in calibration["points"])
    assert not source.tracker.is_in_calibration_mode()


@pytest.mark.gui
def test_titta_calibration_without_eyes_says_what_to_do(device, qtbot):
    from napari_gazeseg.gaze.geometry import ScreenGeometry
    from napari_gazeseg.tracking.calibration_dialog import CalibrationDialog

    device.close_eyes()
    source = TittaSource(titta_module=fake)
    dialog = CalibrationDialog(source, None, ScreenGeometry.default().directions, settle_ms=20, collect_ms=50)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.start()
    qtbot.waitUntil(lambda: "calibrate again" in dialog._text, timeout=10_000)
    assert dialog.report is None and not source.tracker.is_in_calibration_mode()
    dialog.reject()
