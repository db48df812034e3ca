"""The LSL source against real pylsl outlets on this machine (loopback only)."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest
from collector import Collector

import pylsl

# before liblsl's first use: resolve on this machine only, IPv4 (the test machines have no network)
pylsl.set_config_content("[multicast]\nResolveScope = machine\n[ports]\nIPv6 = disable\n")

from napari_gazeseg.tracking.lsl import (  # noqa: E402
    Channel,
    ChannelMap,
    GazeStream,
    LslSource,
    find_gaze_streams,
    guess_channel_map,
    load_pylsl,
)
from napari_gazeseg.tracking.source import GazeSource, SourceError  # noqa: E402


def make_outlet(name=None, stream_type="Gaze", rate=600.0, channels=(("x", "pixels"), ("y", "pixels")),
                source_id=None, fmt="float32", eyes=None, types=None):
    """A real outlet whose description lists each channel's label and unit (and eye/type)."""
    name = name or f"gaze-{uuid.uuid4().hex[:8]}"
    info = pylsl.StreamInfo(name, stream_type, len(channels), rate, fmt,
                            source_id if source_id is not None else f"{name}-sid")
    described = info.desc().append_child("channels")
    for i, (label, unit) in enumerate(channels):
        channel = described.append_child("channel")
        channel.append_child_value("label", label)
        channel.append_child_value("unit", unit)
        if eyes:
            channel.append_child_value("eye", eyes[i])
        if types:
            channel.append_child_value("type", types[i])
    return pylsl.StreamOutlet(info)


def push_realtime(outlet, values: np.ndarray, rate: float, stop: threading.Event | None = None) -> np.ndarray:
    """Push ``values`` (N, C) at ``rate`` in real time, in small chunks with one time stamp per
    sample (``local_clock`` at the sample's due time); returns the time stamps pushed."""
    n = len(values)
    period = 1.0 / rate
    first = pylsl.local_clock()
    stamps = first + np.arange(n) * period
    sent = 0
    while sent < n and not (stop is not None and stop.is_set()):
        due = min(n, int((pylsl.local_clock() - first) / period) + 1)
        if due > sent:
            outlet.push_chunk(values[sent:due], stamps[sent:due].tolist())
            sent = due
        time.sleep(0.002)
    return stamps[:sent]


def wait_consumers(outlet, timeout=10.0) -> bool:
    """Poll ``have_consumers`` (``wait_for_consumers`` blocks liblsl's answers to resolve queries)."""
    deadline = time.monotonic() + timeout
    while not outlet.have_consumers() and time.monotonic() < deadline:
        time.sleep(0.01)
    return outlet.have_consumers()


def _stream(labels, units=None, types=None, eyes=None, name="s"):
    n = len(labels)
    channels = tuple(Channel(labels[i], (units or [""] * n)[i], (types or [""] * n)[i], (eyes or [""] * n)[i])
                     for i in range(n))
    return GazeStream(name, "Gaze", "sid", "host", 600.0, "float32", channels)


# -- the picker --------------------------------------------------------------------------------------
def test_picker_lists_gaze_streams_with_their_channel_descriptions():
    gaze = make_outlet(channels=(("x", "pixels"), ("y", "pixels"), ("valid", "")), rate=1200.0)
    tobii = make_outlet(stream_type="EyeTracking", channels=(
        ("x.left", "normalized"), ("y.left", "normalized"), ("x.right", "normalized"), ("y.right", "normalized")),
        types=("ScreenX", "ScreenY", "ScreenX", "ScreenY"), eyes=("left", "left", "right", "right"))
    eeg = make_outlet(stream_type="EEG", channels=(("Fz", "microvolts"),))
    mine = {gaze.get_info().name(), tobii.get_info().name(), eeg.get_info().name()}
    streams = [s for s in find_gaze_streams(timeout_s=1.0) if s.name in mine]
    assert [s.name for s in streams] == sorted([gaze.get_info().name(), tobii.get_info().name()])
    by_name = {s.name: s for s in streams}
    first = by_name[gaze.get_info().name()]
    assert first.labels == ["x", "y", "valid"] and [c.unit for c in first.channels] == ["pixels", "pixels", ""]
    assert first.source_id == f"{first.name}-sid" and first.nominal_rate_hz == 1200.0 and first.type == "Gaze"
    assert "1200 Hz" in first.describe() and "x [pixels]" in first.describe()
    second = by_name[tobii.get_info().name()]
    assert [c.eye for c in second.channels] == ["left", "left", "right", "right"]
    mapping = guess_channel_map(second)
    assert (mapping.x, mapping.y, mapping.units) == ((0, 2), (1, 3), "normalised")
    del gaze, tobii, eeg


# -- channel mapping ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "stream, kwargs, expected",
    [
        (_stream(["x", "y"], ["pixels", "pixels"]), {"screen_size_px": (1920, 1080)},
         dict(x=(0,), y=(1,), units="pixels", validity=(), confidence=None)),
        (_stream(["timestamp", "gaze_x", "gaze_y", "pupil"], ["s", "normalized", "normalized", "mm"]), {},
         dict(x=(1,), y=(2,), units="normalised")),
        (_stream(["BPOGX", "BPOGY", "BPOGV"]), {"units": "normalised"},  # Gazepoint: the user says the units
         dict(x=(0,), y=(1,), validity=(2,))),
        (_stream(["confidence", "norm_pos_x", "norm_pos_y"], ["normalized"] * 3), {},  # Pupil Labs
         dict(x=(1,), y=(2,), confidence=0, flip_y=True)),
        (_stream(["lx", "ly", "rx", "ry", "lv", "rv"], ["px"] * 4 + ["", ""],
                 ["ScreenX", "ScreenY", "ScreenX", "ScreenY", "Validity", "Validity"],
                 ["left", "left", "right", "right", "left", "right"]), {"screen_size_px": (800, 600)},
         dict(x=(0, 2), y=(1, 3), units="pixels", validity=(4, 5))),
        (_stream(["left_x", "left_y", "right_x", "right_y"], ["pixels"] * 4), {"raw": True},
         dict(x=(0, 2), y=(1, 3), units="pixels", screen_size_px=None)),
    ],
    ids=["x/y pixels", "gaze_x normalised", "gazepoint", "pupil labs", "xdf per eye", "per-eye labels raw"],
)
def test_channel_map_from_the_description(stream, kwargs, expected):
    mapping = guess_channel_map(stream, **kwargs)
    for key, value in expected.items():
        assert getattr(mapping, key) == value, key


@pytest.mark.parametrize(
    "stream, kwargs, message",
    [
        (_stream(["a", "b"]), {}, "no channels recognisable as screen x and y"),
        (_stream(["x", "y"]), {}, "does not say whether x is in pixels or normalised"),
        (_stream(["x", "y"], ["pixels", "pixels"]), {}, "give the tracked screen's size in pixels"),
    ],
    ids=["no x/y", "no units", "pixels without screen size"],
)
def test_channel_map_says_what_is_missing(stream, kwargs, message):
    with pytest.raises(SourceError, match=message):
        guess_channel_map(stream, **kwargs)


@pytest.mark.parametrize(
    "mapping, samples, display, valid",
    [
        (ChannelMap((0,), (1,), "pixels", (1000, 500)), [[250.0, 100.0]], [[0.25, 0.2]], [True]),
        (ChannelMap((0, 2), (1, 3), validity=(4, 5)), [[0.2, 0.4, 0.4, 0.6, 1, 1]], [[0.3, 0.5]], [True]),
        (ChannelMap((0, 2), (1, 3), validity=(4, 5)), [[0.2, 0.4, 0.4, 0.6, 0, 1]], [[0.4, 0.6]], [True]),
        (ChannelMap((0, 2), (1, 3), validity=(4, 5)), [[0.2, 0.4, 0.4, 0.6, 0, 0]], [[np.nan, np.nan]], [False]),
        (ChannelMap((0,), (1,), validity=(2,)), [[0.2, 0.4, 0]], [[np.nan, np.nan]], [False]),
        (ChannelMap((0,), (1,), confidence=2), [[0.2, 0.4, 0.59], [0.2, 0.4, 0.6]],
         [[np.nan, np.nan], [0.2, 0.4]], [False, True]),
        (ChannelMap((0,), (1,), flip_y=True), [[0.2, 0.25]], [[0.2, 0.75]], [True]),
        (ChannelMap((0,), (1,)), [[np.nan, 0.5]], [[np.nan, np.nan]], [False]),
    ],
    ids=["pixels", "two eyes", "right eye only", "no eye", "invalid flag", "confidence", "flip y", "NaN"],
)
def test_channel_map_apply(mapping, samples, display, valid):
    got, ok = mapping.apply(np.asarray(samples, float))
    np.testing.assert_allclose(got, display)
    assert ok.tolist() == valid


# -- real outlets -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [120.0, 600.0, 1200.0])
def test_every_pushed_sample_is_delivered_in_order_with_the_right_times(rate):
    outlet = make_outlet(rate=rate, channels=(("x", "normalized"), ("y", "normalized"), ("valid", "")))
    source = LslSource(outlet.get_info().name(), timeout_s=2.0)
    assert isinstance(source, GazeSource) and source.nominal_rate_hz == rate
    sink = Collector.of(source)
    assert wait_consumers(outlet)
    n = int(rate * 1.5)
    index = np.arange(n, dtype=float)
    values = np.column_stack([index / n, 1.0 - index / n, (index % 7 != 3)]).astype(np.float32)
    pushed = push_realtime(outlet, values, rate)
    assert sink.wait_for(n) == n
    source.stop()
    batch = sink.batch()
    assert len(batch) == n and source.samples_received == n and source.dropped == 0
    # in order: x is the sample index
    np.testing.assert_array_equal(batch.valid, values[:, 2] > 0)
    shown = batch.valid
    np.testing.assert_allclose(batch.display[shown], values[shown, :2].astype(float))
    assert np.isnan(batch.display[~shown]).all()
    # times: the outlet's stamps moved onto our clock by time_correction (about 0 on one machine)
    offsets = np.array(source.meta()["lsl"]["time_correction"]["records"])[:, 1]
    tolerance_us = 2 * np.abs(offsets).max() * 1e6 + 1
    np.testing.assert_allclose(batch.timestamp_us, pushed * 1e6, atol=max(tolerance_us, 2))
    np.testing.assert_allclose(np.diff(batch.timestamp_us), np.diff(pushed) * 1e6, atol=max(tolerance_us, 2))
    assert abs(source.now_us() - pylsl.local_clock() * 1e6) < 100_000
    del outlet


def test_pixels_are_normalised_by_the_screen_size_or_kept_raw():
    outlet = make_outlet(rate=200.0)  # x, y in pixels
    name = outlet.get_info().name()
    cooked = LslSource(name, screen_size_px=(1000, 500))
    raw = LslSource(name, raw=True)
    sinks = [Collector(), Collector()]
    cooked.start(sinks[0].on_batch, sinks[0].on_message)
    raw.start(sinks[1].on_batch, sinks[1].on_message)
    assert wait_consumers(outlet)
    time.sleep(0.3)  # both inlets connected
    values = np.array([[250.0, 100.0], [812.5, 499.75]], np.float32)
    push_realtime(outlet, values, 200.0)
    for sink in sinks:
        sink.wait_for(2)
    cooked.stop()
    raw.stop()
    np.testing.assert_allclose(sinks[0].batch().display, [[0.25, 0.2], [0.8125, 0.9995]])
    np.testing.assert_array_equal(sinks[1].batch().display, values.astype(float))
    assert raw.meta()["screen_units"] == "pixels" and cooked.meta()["screen_units"] == "normalised"
    del outlet


def test_a_vanished_outlet_is_reconnected_and_the_gap_counted():
    sid = f"tracker-{uuid.uuid4().hex[:8]}"
    name = f"gaze-{sid}"
    rate = 500.0
    values = np.column_stack([np.linspace(0, 1, 100), np.linspace(0, 1, 100)]).astype(np.float32)
    outlet = make_outlet(name=name, rate=rate, channels=(("x", "normalized"), ("y", "normalized")), source_id=sid)
    source = LslSource(name)
    sink = Collector.of(source)
    assert wait_consumers(outlet)
    first = push_realtime(outlet, values, rate)
    sink.wait_for(100)
    del outlet  # the tracker's app quits
    assert sink.wait_message("disappeared")
    time.sleep(0.3)
    outlet = make_outlet(name=name, rate=rate, channels=(("x", "normalized"), ("y", "normalized")), source_id=sid)
    assert sink.wait_message("is back")
    assert wait_consumers(outlet)
    second = push_realtime(outlet, values, rate)
    assert sink.wait_for(200) == 200
    source.stop()
    batch = sink.batch()
    assert len(batch) == 200 and np.all(np.diff(batch.timestamp_us) > 0)
    assert source.reconnects == 1
    gap_periods = (second[0] - first[-1]) * rate
    assert source.dropped == round(gap_periods) - 1 > 0
    assert source.meta()["lsl"]["dropped_estimate"] == source.dropped
    del outlet


def test_gaps_in_the_outlet_stamps_are_counted_as_dropped():
    rate = 100.0
    outlet = make_outlet(rate=rate, channels=(("x", "normalized"), ("y", "normalized")))
    source = LslSource(outlet.get_info().name())
    sink = Collector.of(source)
    assert wait_consumers(outlet)
    now = pylsl.local_clock()
    stamps = now + np.r_[np.arange(5), np.arange(15, 20)] / rate  # samples 5..14 never sent
    outlet.push_chunk(np.full((10, 2), 0.5, np.float32), stamps.tolist())
    sink.wait_for(10)
    source.stop()
    assert source.dropped == 10
    del outlet


def test_missing_stream_and_missing_pylsl_are_one_sentence(monkeypatch):
    import sys

    with pytest.raises(SourceError, match="No LSL stream named nobody-streams-this was found"):
        LslSource("nobody-streams-this", timeout_s=0.2)
    monkeypatch.setitem(sys.modules, "pylsl", None)
    with pytest.raises(SourceError, match="pip install pylsl"):
        load_pylsl()


# -- the outlet from the recorder ------------------------------------------------------------------------
def test_recorder_outlet_publishes_mapped_gaze_and_session_markers(tmp_path):
    from napari_gazeseg.gaze.formats import read_gaze
    from napari_gazeseg.gaze.recording import GazeRecording
    from napari_gazeseg.tracking.lsl import GazeOutlet
    from napari_gazeseg.tracking.recorder import GazeRecorder
    from napari_gazeseg.tracking.replay import ReplaySource

    n = 240
    t = np.arange(n) / 120.0
    played = GazeRecording(
        t=t, coords=np.column_stack([t * 10, t * 20]),
        object_id=np.repeat([0, 1, 0, 2], 60), meta={"sampling_rate_hz": 120.0},
    )
    from test_tracking_recorder import fixed_view  # 100 x 200 image at 5 screen px per pixel

    source = ReplaySource(played, speed=2.0, display_of=fixed_view().display_of)  # through the image
    path = tmp_path / "published.gaze.tsv"
    recorder = GazeRecorder(source, path, view=fixed_view())
    name = f"test-{uuid.uuid4().hex[:8]}"
    outlet = GazeOutlet(recorder, name=name)
    gaze_info = pylsl.resolve_byprop("name", f"{name} gaze", timeout=5.0)[0]
    marker_info = pylsl.resolve_byprop("name", f"{name} markers", timeout=5.0)[0]
    gaze_inlet = pylsl.StreamInlet(gaze_info, recover=False)
    marker_inlet = pylsl.StreamInlet(marker_info, recover=False)
    gaze_inlet.open_stream(5.0)
    marker_inlet.open_stream(5.0)
    assert wait_consumers(outlet.gaze) and wait_consumers(outlet.markers)
    full = gaze_inlet.info(5.0)
    assert GazeStream.from_info(gaze_info, full).labels == ["row", "col", "x", "y", "valid", "object_id"]
    lsl_start = pylsl.local_clock()
    recorder.start()
    recorder.start_object()
    while not source.finished:
        time.sleep(0.02)
        recorder.drain()
    recorder.stop_object()
    recorder.stop()
    received, stamps = [], []
    deadline = time.monotonic() + 5
    while len(received) < n and time.monotonic() < deadline:
        chunk, times = gaze_inlet.pull_chunk(timeout=0.2)
        received += chunk
        stamps += times
    markers, _ = marker_inlet.pull_chunk(timeout=1.0)
    outlet.close()
    on_file = read_gaze(path)
    received = np.asarray(received)
    assert len(received) == len(on_file) == n == outlet.samples_pushed
    np.testing.assert_array_equal(received[:, 5], on_file.object_id)  # the file's sessions, not ours
    np.testing.assert_array_equal(received[:, 2:4], on_file.screen)
    np.testing.assert_allclose(received[:, :2], played.coords, atol=1e-9)  # mapped back onto the image
    np.testing.assert_allclose(on_file.coords, played.coords, atol=1e-9)
    assert received[:, 4].all()
    np.testing.assert_allclose(np.diff(stamps), np.diff(on_file.t), atol=1e-6)
    # on the LSL clock (a 2x replay's clock runs ahead of the wall clock: within a second here)
    assert abs(stamps[0] - lsl_start) < 1.0
    assert [m[0] for m in markers] == ["object 1 start", "object 1 stop"]
