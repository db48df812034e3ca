"""``gazeseg record``: headless recording from LSL, Tobii (TittaPy stand-in) and replay;
Ctrl-C, the end of a replayed file, files never replaced; and the replay source's fixes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import pylsl

pylsl.set_config_content("[multicast]\nResolveScope = machine\n[ports]\nIPv6 = disable\n")

from napari_gazeseg.cli import main  # noqa: E402
from napari_gazeseg.gaze.formats import read_gaze, write_gaze  # noqa: E402
from napari_gazeseg.gaze.recording import Fixations, GazeRecording  # noqa: E402
from napari_gazeseg.tracking.replay import ReplaySource, SeveralStimuliError, samples_from_fixations  # noqa: E402
from napari_gazeseg.tracking.source import SampleBatch, SourceError  # noqa: E402
from test_tracking_lsl import make_outlet, push_realtime, wait_consumers  # noqa: E402

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def record_only(monkeypatch):
    """``gazeseg`` with the record command alone: the others import torch (seconds per process)."""
    from napari_gazeseg import cli

    monkeypatch.setattr(cli, "COMMANDS", ("record",))


def _recording(n=300, rate=100.0, objects=True) -> GazeRecording:
    t = np.arange(n) / rate
    screen = np.column_stack([np.linspace(0.1, 0.9, n), np.full(n, 0.5)])
    screen[20] = np.nan
    ids = np.repeat([0, 1, 0, 2], [n // 4, n // 4, n // 4, n - 3 * (n // 4)]) if objects else None
    return GazeRecording(
        t=t, coords=np.column_stack([t * 10, t * 20]), screen=screen, object_id=ids,
        meta={"sampling_rate_hz": rate, "image": {"name": "cells", "shape": [100, 100]}},
    )


def test_lsl_pixels_are_written_unchanged_to_the_screen_columns(tmp_path, capsys):
    outlet = make_outlet(rate=600.0, channels=(("x", "pixels"), ("y", "pixels"), ("valid", "")))
    name = outlet.get_info().name()
    n = 600
    values = np.column_stack([
        np.arange(n) * 1.25 + 0.5, 1079.75 - np.arange(n) * 0.5, np.arange(n) % 50 != 7,
    ]).astype(np.float32)
    pushed = []
    out = tmp_path / "lsl.gaze.tsv"

    def pusher():  # once the recorder has opened its file and its inlet (the picker's is gone)
        deadline = time.monotonic() + 20
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if wait_consumers(outlet):
            time.sleep(0.2)
            pushed.append(push_realtime(outlet, values, 600.0))

    thread = threading.Thread(target=pusher)
    thread.start()
    assert main(["record", "--source", "lsl", "--stream", name, "--seconds", "3", "--out", str(out)]) == 0
    thread.join()
    recording = read_gaze(out)
    ok = values[:, 2] > 0
    assert len(recording) == n
    np.testing.assert_array_equal(recording.screen[ok], values[ok, :2].astype(np.float64))  # unchanged
    assert np.isnan(recording.screen[~ok]).all()
    np.testing.assert_allclose(np.diff(recording.t), np.diff(pushed[0]), atol=1e-4)
    assert recording.meta["screen_units"] == "pixels" and recording.meta["lsl"]["name"] == name
    assert "stopped at 3 s: 600 samples" in capsys.readouterr().out


def test_lsl_list_and_missing_stream(capsys, tmp_path):
    outlet = make_outlet(rate=120.0, channels=(("x", "normalized"), ("y", "normalized")))
    assert main(["record", "--source", "lsl", "--list"]) == 0
    assert outlet.get_info().name() in capsys.readouterr().out
    assert main(["record", "--source", "lsl", "--stream", "nobody", "--out", str(tmp_path / "a.gaze.tsv")]) == 2
    assert "no LSL stream named nobody was found" in capsys.readouterr().err
    assert not (tmp_path / "a.gaze.tsv").exists()
    del outlet


def test_tobii_through_titta_records_every_sample(tmp_path, monkeypatch):
    from fakes import tittapy_v2 as fake

    device = fake.Device(frequency=300.0)
    monkeypatch.setattr(fake, "connected_devices", [device])
    monkeypatch.setitem(sys.modules, "TittaPy_v2", fake)
    out = tmp_path / "tobii.gaze.tsv"
    assert main(["record", "--source", "tobii", "--rate", "1200", "--seconds", "0.5", "--out", str(out)]) == 0
    recording = read_gaze(out)
    assert len(recording) == device.samples_sent > 300
    assert recording.meta["sampling_rate_hz"] == 1200.0 and recording.meta["backend"].startswith("TittaPy")
    assert np.all(np.abs(np.diff(recording.t) * 1e6 - 1e6 / 1200) <= 1.0)


def test_replay_to_the_end_keeps_sessions_and_says_so(tmp_path, capsys):
    source_file = tmp_path / "old.gaze.tsv"
    original = _recording()
    write_gaze(original, source_file)
    out = tmp_path / "copy.gaze.tsv"
    assert main(["record", "--source", "replay", "--replay", str(source_file), "--speed", "10",
                 "--lsl-outlet", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "stopped at the end of the replayed file" in captured.out
    assert "has ended after 300 samples" in captured.err
    copy = read_gaze(out)
    assert len(copy) == len(original)
    np.testing.assert_array_equal(copy.object_id, original.object_id)  # sessions kept
    np.testing.assert_allclose(copy.t - copy.t[0], original.t, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(copy.screen), np.isnan(original.screen))


def test_an_existing_file_is_never_replaced(tmp_path, capsys):
    source_file = tmp_path / "old.gaze.tsv"
    write_gaze(_recording(), source_file)
    before = source_file.read_bytes()
    code = main(["record", "--source", "replay", "--replay", str(source_file), "--out", str(source_file)])
    assert code == 2 and "already exists and gaze files are never replaced" in capsys.readouterr().err
    assert source_file.read_bytes() == before


def test_ctrl_c_stops_cleanly_with_every_sample_written(tmp_path):
    source_file = tmp_path / "long.gaze.tsv"
    write_gaze(_recording(n=6000, objects=False), source_file)  # 60 s at 100 Hz
    out = tmp_path / "interrupted.gaze.tsv"
    env = dict(os.environ, PYTHONPATH=str(TESTS.parent / "src"))
    # the record command alone (the whole CLI imports torch for other commands: seconds more)
    script = (
        "import argparse, sys; from napari_gazeseg.commands import record; "
        "p = argparse.ArgumentParser(); record.add_parser(p.add_subparsers()); "
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "record", "--source", "replay", "--replay", str(source_file),
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "stopped at Ctrl-C" in stdout
    recording = read_gaze(out)
    written = int(stdout.split("stopped at Ctrl-C: ")[1].split(" samples")[0])
    assert len(recording) == written >= 100
    np.testing.assert_allclose(np.diff(recording.t), 0.01, atol=1e-6)  # complete: no gap, no repeat


# -- the replay source ------------------------------------------------------------------------------
def _collect(source, timeout=10.0):
    batches, messages = [], []
    source.start(batches.append, messages.append)
    source.wait(timeout)
    source.stop()
    return SampleBatch.concatenate(batches), messages


def test_replay_maps_through_the_image_unless_asked_for_the_screen():
    recording = _recording(n=50)

    def display_of(coords):  # the image as it is on screen now: 1 px = 0.01 of the screen
        return coords[:, ::-1] / 100.0

    through_image, _ = _collect(ReplaySource(recording, speed=20.0, display_of=display_of))
    np.testing.assert_allclose(through_image.display, display_of(recording.coords))
    as_seen, _ = _collect(ReplaySource(recording, speed=20.0, display_of=display_of, mode="screen"))
    np.testing.assert_array_equal(as_seen.display[~np.isnan(as_seen.display[:, 0])],
                                  recording.screen[~np.isnan(recording.screen[:, 0])])
    with pytest.raises(SourceError, match="needs the image on screen"):
        ReplaySource(recording, mode="image")


def test_replay_end_is_reported_and_sessions_travel_with_the_samples():
    recording = _recording(n=40)
    source = ReplaySource(recording, speed=20.0)
    batch, messages = _collect(source)
    assert source.finished and messages == ["The replayed file has ended after 40 samples; the replay stopped."]
    np.testing.assert_array_equal(batch.object_id, recording.object_id)


def test_a_file_with_several_stimuli_asks_which(tmp_path):
    from napari_gazeseg.gaze.formats import write_gazemedseg_csv

    def fixations(name, x):
        return Fixations(start=[0.0, 0.3], duration=[0.25, 0.2], coords=[[10.0, x], [20.0, x + 5]],
                         meta={"image": {"name": name, "shape": [64, 80]}})

    path = tmp_path / "fixations.csv"
    write_gazemedseg_csv({"a.png": fixations("a.png", 10.0), "b.png": fixations("b.png", 40.0)}, path)
    with pytest.raises(SeveralStimuliError, match=r"holds gaze for 2 stimuli \(a.png, b.png\); choose which") as info:
        ReplaySource(path)
    assert info.value.stimuli == ["a.png", "b.png"]
    source = ReplaySource(path, stimulus="b.png", speed=10.0, display_of=lambda c: c[:, ::-1] / 100.0)
    batch, _ = _collect(source)  # the GazeMedSeg CSV (fixations only) replays as held fixations
    assert len(batch) == 30 + 24  # 0.25 s and 0.2 s at 120 Hz
    np.testing.assert_allclose(batch.display[0], [0.40, 0.10], atol=1e-9)
    with pytest.raises(SourceError, match="has no stimulus c.png"):
        ReplaySource(path, stimulus="c.png")


def test_samples_from_fixations_hold_each_fixation():
    fixations = Fixations(start=[0.0, 0.5], duration=[0.1, 0.05], coords=[[1.0, 2.0], [3.0, 4.0]], object_id=[1, 2])
    samples = samples_from_fixations(fixations, rate_hz=100.0)
    assert len(samples) == 10 + 5
    np.testing.assert_allclose(samples.t[:3], [0.0, 0.01, 0.02])
    assert samples.object_id.tolist() == [1] * 10 + [2] * 5
    np.testing.assert_allclose(samples.coords[-1], [3.0, 4.0])


def test_a_slow_cursor_reports_the_rate_it_really_achieved(qapp):
    from napari_gazeseg.tracking.mouse import CursorSource

    def slow_position():  # a busy X server: each reading takes 10 ms
        time.sleep(0.01)
        return (100.0, 100.0)

    source = CursorSource(rate_hz=200.0, cursor_position=slow_position)
    batches, messages = [], []
    source.start(batches.append, messages.append)
    time.sleep(0.6)
    source.stop()
    batch = SampleBatch.concatenate(batches)
    achieved = (len(batch) - 1) / ((batch.timestamp_us[-1] - batch.timestamp_us[0]) / 1e6)
    assert source.achieved_rate_hz == pytest.approx(achieved)
    assert achieved < 110  # at most one reading per 10 ms
    assert len(messages) == 1 and f"read {achieved:.0f} times a second, not the 200 asked" in messages[0]
    steps = np.diff(batch.timestamp_us)
    assert np.all(steps >= 10_000)  # stamped when read: no made-up samples in between
