"""Cursor and replay sources without a viewer."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg.tracking.mouse import CursorSource
from napari_gazeseg.tracking.replay import ReplaySource
from napari_gazeseg.tracking.source import GazeSource, SampleBatch, SourceError


def _collect(source, until):
    batches, done = [], threading.Event()

    def on_batch(batch):
        batches.append(batch)
        if sum(map(len, batches)) >= until:
            done.set()

    source.start(on_batch, lambda message: None)
    done.wait(10.0)
    source.stop()
    return SampleBatch.concatenate(batches)


def test_cursor_positions_are_normalised_by_the_screen_at_the_nominal_rate(qapp):
    from qtpy.QtGui import QGuiApplication

    geometry = QGuiApplication.primaryScreen().geometry()
    point = (geometry.x() + 0.25 * geometry.width(), geometry.y() + 0.5 * geometry.height())
    source = CursorSource(rate_hz=200.0, cursor_position=lambda: point)
    assert isinstance(source, GazeSource)
    batch = _collect(source, until=60)
    assert len(batch) >= 60 and batch.valid.all()
    np.testing.assert_allclose(batch.display, [[0.25, 0.5]] * len(batch))
    assert np.all(np.diff(batch.timestamp_us) > 0)
    with pytest.raises(ValueError, match="positive"):
        CursorSource(rate_hz=0.0)


def _recording(screen=True):
    t = np.arange(50) / 100.0
    display = np.column_stack([np.linspace(0.1, 0.9, 50), np.full(50, 0.5)])
    display[10] = np.nan  # a blink
    return GazeRecording(
        t=t,
        coords=np.column_stack([t * 10, t * 20]),
        screen=display if screen else None,
        meta={"sampling_rate_hz": 100.0},
    )


def test_replay_keeps_the_original_timing_at_any_speed():
    recording = _recording()
    source = ReplaySource(recording, speed=10.0)
    batch = _collect(source, until=len(recording))
    assert len(batch) == len(recording)
    np.testing.assert_array_equal(np.diff(batch.timestamp_us), np.round(np.diff(recording.t) * 1e6))
    np.testing.assert_array_equal(batch.display[~np.isnan(batch.display[:, 0])], recording.screen[~np.isnan(recording.screen[:, 0])])
    assert batch.valid.tolist() == [i != 10 for i in range(50)]
    assert source.nominal_rate_hz == 100.0


def test_replay_without_screen_coordinates_needs_a_view():
    with pytest.raises(SourceError, match="no screen coordinates"):
        ReplaySource(_recording(screen=False))
    source = ReplaySource(_recording(screen=False), speed=20.0, display_of=lambda coords: coords[:, ::-1] / 100.0)
    batch = _collect(source, until=50)
    np.testing.assert_allclose(batch.display[1], [0.002, 0.001])
    with pytest.raises(ValueError, match="positive"):
        ReplaySource(_recording(), speed=0.0)
