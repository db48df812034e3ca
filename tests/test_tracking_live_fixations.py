"""Live fixations: equal to the batch I-VT detector at every step, with bounded work per step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_gazeseg.gaze.fixations import detect_fixations_idt, detect_fixations_ivt
from napari_gazeseg.gaze.recording import GazeRecording
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.tracking.live_fixations import LiveFixations, ivt_parameters_of


def session(rate_hz=300.0, seed=0, screen=True, ndim=2) -> GazeRecording:
    """One object session of a simulated observer, with blinks, saccades and a pause."""
    rec = simulate_observer("cells", shape=(128, 128), n_objects=3, rate_hz=rate_hz, seed=seed).recording
    rec = GazeRecording(t=rec.t, coords=rec.coords, valid=rec.valid, screen=rec.screen, object_id=np.ones(len(rec), int), meta=dict(rec.meta))
    t = rec.t.copy()
    t[len(t) // 2 :] += 0.2  # a pause: the timestamps jump (a session break inside the object)
    coords = rec.coords
    if ndim == 3:  # the user scrolls: planes 0, 2, 1 in thirds
        plane = np.repeat([0.0, 2.0, 1.0], [len(t) // 3, len(t) // 3, len(t) - 2 * (len(t) // 3)])
        coords = np.column_stack([plane, coords])
    meta = dict(rec.meta)
    if not screen:
        meta.pop("screen", None)
    return GazeRecording(
        t=t, coords=coords, valid=rec.valid, screen=rec.screen if screen else None,
        object_id=rec.object_id, meta=meta,
    )


def stare(rate_hz: float, seconds: float) -> GazeRecording:
    """A long steady look: one fixation the whole time (tiny noise)."""
    n = int(seconds * rate_hz)
    rng = np.random.default_rng(1)
    screen = 0.5 + rng.normal(0, 0.0002, (n, 2))
    coords = np.column_stack([60 + 400 * (screen[:, 1] - 0.5), 60 + 400 * (screen[:, 0] - 0.5)])
    rec = simulate_observer("cells", shape=(64, 64), rate_hz=rate_hz, seed=0).recording
    return GazeRecording(t=np.arange(n) / rate_hz, coords=coords, screen=screen, object_id=np.ones(n, int), meta=dict(rec.meta))


class IVT:
    """An I-VT detector with parameters, saying so (as the Gaze layers settings do)."""

    def __init__(self, **params):
        self.ivt_parameters = params

    def __call__(self, recording):
        return detect_fixations_ivt(recording, **self.ivt_parameters)


def chunks(n: int, seed: int):
    """Random batch sizes, as the recorder's UI ticks deliver them (1 to 40 samples)."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < n:
        stop = min(n, start + int(rng.integers(1, 41)))
        yield np.arange(start, stop)
        start = stop


def assert_same(live, batch):
    assert len(live) == len(batch)
    np.testing.assert_array_equal(live.start, batch.start)
    np.testing.assert_array_equal(live.duration, batch.duration)
    np.testing.assert_array_equal(live.object_id, batch.object_id)
    np.testing.assert_allclose(live.coords, batch.coords, rtol=1e-12, atol=1e-9)  # the open one: running sums
    assert live.meta["detector"] == batch.meta["detector"]


PARAMETERS = {
    "defaults": {},
    "no merging": {"merge_max_gap": None},
    "keep short ones": {"min_duration": None},
    "no noise filter": {"noise_reduction": None},
    "no gap fill": {"gap_fill_max": None},
    "mean filter, wide window": {"noise_reduction": "mean", "noise_window": 5, "velocity_window": 0.05},
    "strict": {"velocity_threshold": 10.0, "merge_max_angle": 0.1, "gap_fill_max": 0.2},
}


@pytest.mark.parametrize("params", PARAMETERS.values(), ids=PARAMETERS.keys())
def test_live_ivt_equals_the_batch_detector_after_every_batch(params):
    rec = session()
    live = LiveFixations(1, IVT(**params))
    for index in chunks(len(rec), seed=len(params)):
        live.add(rec.select(index))
        assert_same(live.fixations(), detect_fixations_ivt(rec.select(np.arange(index[-1] + 1)), **params))
    assert len(live.fixations()) >= 5


@pytest.mark.parametrize(
    ("name", "rec"),
    [("pixels (no screen geometry)", session(screen=False)), ("3D, scrolling planes", session(ndim=3)),
     ("1200 Hz", session(rate_hz=1200.0, seed=3))],
    ids=["pixels", "3d", "1200hz"],
)
def test_live_ivt_equals_batch_in_pixels_in_3d_and_at_1200_hz(name, rec):
    live = LiveFixations(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pixel mode says so, once per batch run
        for k, index in enumerate(chunks(len(rec), seed=7)):
            live.add(rec.select(index))
            if k % 15 == 0 or index[-1] == len(rec) - 1:
                assert_same(live.fixations(), detect_fixations_ivt(rec.select(np.arange(index[-1] + 1))))


def test_a_long_stare_costs_the_same_per_batch_as_a_short_one():
    """Half a minute at 1200 Hz in 25 ms ticks: the filter never reruns over more than the new
    samples plus a fixed context (the open fixation grows to 36 000 samples), and the
    result is still the batch detector's. Timings: benchmarks/bench_live_fixations.py."""
    rate = 1200.0
    rec = stare(rate, 30.0)
    live = LiveFixations(1)
    tick = int(rate * 0.025)
    windows = []
    for start in range(0, len(rec), tick):
        live.add(rec.select(np.arange(start, min(start + tick, len(rec)))))
        windows.append(live._stream.last_window)
    assert max(windows) <= tick + 2 * (0.075 + 0.002) * rate + 40  # new samples + context, not the stare
    result = live.fixations()
    assert len(result) == 1 and result.duration[0] == pytest.approx(30.0, abs=0.01)
    assert_same(result, detect_fixations_ivt(rec))


def test_other_detectors_are_rerun_and_ivt_is_recognised():
    class Settings:
        ivt_parameters = {"velocity_threshold": 20.0}

        def detect(self, recording):
            return detect_fixations_ivt(recording, **self.ivt_parameters)

    assert ivt_parameters_of(None) == {}
    assert ivt_parameters_of(Settings().detect) == {"velocity_threshold": 20.0}
    assert ivt_parameters_of(detect_fixations_idt) is None
    rec = session()
    live = LiveFixations(1, Settings().detect)
    for index in chunks(len(rec), seed=3):
        live.add(rec.select(index))
    assert live._stream is not None
    assert_same(live.fixations(), detect_fixations_ivt(rec, velocity_threshold=20.0))
    idt = LiveFixations(1, detect_fixations_idt)
    for index in chunks(len(rec), seed=3):
        idt.add(rec.select(index))
    assert idt._stream is None and len(idt.fixations()) > 0
