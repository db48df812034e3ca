"""One fixation-detector configuration (``gaze.fixations.FixationDetector``) and where it is used.

Defaults come from the detector functions' signatures, the name registry round
trips through ``meta["detector"]``, unknown names are refused in one sentence,
and the Gaze layers widget shows the detector of the recording the user picks.
"""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

from napari_gazeseg._napari._gaze_compute import FixationSettings
from napari_gazeseg._napari.gaze_layers_widget import GazeLayersWidget
from napari_gazeseg._napari.layers import gaze_layers, layer_kind
from napari_gazeseg.gaze.fixations import (
    DETECTORS,
    FixationDetector,
    detect_fixations_idt,
    detect_fixations_ivt,
)
from napari_gazeseg.gaze.simulate import simulate_observer


@pytest.fixture(scope="module")
def scene():
    return simulate_observer("cells", shape=(96, 112), n_objects=1, seed=5)


def _signature_defaults(function) -> dict:
    parameters = list(inspect.signature(function).parameters.values())[1:]  # after the recording
    return {p.name: p.default for p in parameters if p.name != "eyes"}  # eyes: data, not settings


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_defaults_are_the_detector_signatures(method):
    function = {"ivt": detect_fixations_ivt, "idt": detect_fixations_idt}[method]
    assert DETECTORS[method] is function
    detector = FixationDetector(method)
    assert detector.params == _signature_defaults(function)
    for name, value in _signature_defaults(function).items():
        assert getattr(detector, name) == value
    assert FixationDetector() == FixationDetector("ivt")


def test_widget_settings_default_to_the_signatures():
    settings = FixationSettings()
    assert settings.detector == FixationDetector("ivt")
    assert FixationSettings(method="I-DT").detector == FixationDetector("idt")
    assert FixationSettings.of(FixationDetector("ivt")) == settings


DETECTOR_CASES = [
    FixationDetector(),
    FixationDetector("ivt", velocity_threshold=80, min_duration=0.1, merge_max_gap=None, noise_reduction=None),
    FixationDetector("ivt", velocity_window=None, gap_fill_max=0.1, noise_window=5, merge_max_angle=1.0),
    FixationDetector("idt"),
    FixationDetector("idt", dispersion_threshold=1.5, min_duration=0.2),
]


@pytest.mark.parametrize("detector", DETECTOR_CASES, ids=repr)
def test_registry_round_trip_through_meta(detector, recording_2d):
    assert FixationDetector.from_meta(detector.to_meta()) == detector
    assert pickle.loads(pickle.dumps(detector)) == detector
    assert hash(FixationDetector(detector.method, **detector.params)) == hash(detector)
    found = detector.detect(recording_2d)  # the recording has screen geometry: thresholds in degrees
    direct = DETECTORS[detector.method](recording_2d, **detector.params)
    np.testing.assert_array_equal(found.start, direct.start)
    np.testing.assert_array_equal(found.coords, direct.coords)
    assert found.meta["detector"] == direct.meta["detector"]
    assert FixationDetector.from_meta(found.meta["detector"]) == detector
    assert detector(recording_2d).meta["detector"] == direct.meta["detector"]  # callable as a detector


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: FixationDetector("hmm"), "fixation detector 'hmm' is unknown; choose one of ivt, idt"),
        (lambda: FixationDetector("I-VT"), "'I-VT' is unknown"),  # display names are the widget's
        (lambda: FixationDetector("ivt", dispersion_threshold=1.0), "not a parameter of the ivt"),
        (lambda: FixationDetector("idt", velocity_threshold=30.0), "not a parameter of the idt"),
        (lambda: FixationDetector("ivt", eyes=None), "'eyes' is not a parameter"),
        (lambda: FixationDetector("ivt", velocity_threshold="fast"), "not a valid velocity_threshold"),
        (lambda: FixationDetector("idt", dispersion_threshold=None), "not a valid dispersion_threshold"),
        (lambda: FixationDetector.from_meta({"name": "Tobii Pro Lab"}), "'Tobii Pro Lab' is unknown"),
        (lambda: FixationDetector.from_meta({"method": "hand-made"}), "does not name a fixation detector"),
    ],
)
def test_unknown_names_are_refused_in_one_sentence(make, match):
    with pytest.raises(ValueError, match=match) as raised:
        make()
    message = str(raised.value)
    assert message.endswith(".") and "\n" not in message and message.count(". ") == 0


def test_a_detector_is_immutable():
    detector = FixationDetector()
    with pytest.raises(AttributeError):
        detector.velocity_threshold = 10.0
    assert detector.replace(velocity_threshold=10.0).velocity_threshold == 10.0
    assert detector.velocity_threshold == 30.0


def _add_recording(viewer, scene, fixations, name):
    for layer_data in gaze_layers(scene.recording, fixations, name=name):
        viewer._add_layer_from_data(*layer_data)
    return next(layer for layer in viewer.layers if layer_kind(layer) == "gaze" and layer.name.startswith(name))


def _shown(widget) -> dict:
    """What the fixation sliders show, in the detectors' units (seconds, degrees)."""
    return {
        "method": widget._method.currentText(),
        "velocity_threshold": widget._velocity.value(),
        "min_duration": widget._min_duration.value() / 1000,
        "merge_max_gap": widget._merge_gap.value() / 1000,
        "merge_max_angle": widget._merge_angle.value(),
        "dispersion_threshold": widget._dispersion.value(),
        "idt_min_duration": widget._idt_min_duration.value() / 1000,
    }


def test_gaze_layers_sliders_follow_the_picked_layers_detector(make_napari_viewer, scene):
    viewer = make_napari_viewer()
    viewer.add_image(scene.image, name="cells")
    plain = _add_recording(viewer, scene, detect_fixations_ivt(scene.recording), "plain")
    tuned = {
        "ivt": _add_recording(viewer, scene, detect_fixations_ivt(
            scene.recording, velocity_threshold=80.0, min_duration=0.1, merge_max_gap=0.05, merge_max_angle=1.0
        ), "ivt"),
        "idt": _add_recording(
            viewer, scene, detect_fixations_idt(scene.recording, dispersion_threshold=2.0, min_duration=0.15), "idt"
        ),
    }
    expected = {
        "ivt": {"method": "I-VT", "velocity_threshold": 80.0, "min_duration": 0.1, "merge_max_gap": 0.05,
                "merge_max_angle": 1.0},
        "idt": {"method": "I-DT", "dispersion_threshold": 2.0, "idt_min_duration": 0.15},
    }
    widget = GazeLayersWidget(viewer)
    widget._source.set_current_layer(plain)
    defaults = _shown(widget)
    assert defaults["velocity_threshold"] == 30.0 and defaults["method"] == "I-VT"
    for method, layer in tuned.items():
        widget._source.set_current_layer(layer)
        shown = _shown(widget)
        assert {key: shown[key] for key in expected[method]} == pytest.approx(expected[method]), method
        assert widget._dispersion.isVisibleTo(widget) == (method == "idt")  # the method's rows shown
        widget._source.set_current_layer(plain)  # back to a recording with I-VT's defaults
        assert _shown(widget) == defaults


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], FixationDetector()),
        (["--velocity-threshold", "80", "--no-merge", "--noise", "none"],
         FixationDetector(velocity_threshold=80.0, merge_max_gap=None, noise_reduction=None)),
        (["--min-duration", "0", "--no-gap-fill", "--px-per-degree", "30"],
         FixationDetector(min_duration=None, gap_fill_max=None, px_per_degree=30.0)),
        (["--method", "idt"], FixationDetector("idt")),
        (["--method", "idt", "--dispersion-threshold", "2", "--min-duration", "0.2"],
         FixationDetector("idt", dispersion_threshold=2.0, min_duration=0.2)),
    ],
)
def test_cli_options_make_the_detector(options, expected):
    from napari_gazeseg.cli import build_parser
    from napari_gazeseg.commands.fixations import _detector

    args = build_parser().parse_args(["fixations", "in.tsv", "-o", "out.csv", *options])
    assert _detector(args) == expected


@pytest.mark.parametrize(
    "detector",
    [FixationDetector(velocity_threshold=80.0, min_duration=0.1), FixationDetector("idt", dispersion_threshold=1.5)],
    ids=repr,
)
def test_live_fixations_run_the_detector_given(detector):
    from napari_gazeseg.tracking.live_fixations import LiveFixations

    rec = simulate_observer("cells", shape=(64, 64), n_objects=1, seed=2).recording
    rec = rec.select(rec.object_id == 1)
    live = LiveFixations(1, detector)
    for start in range(0, len(rec), 37):
        live.add(rec.select(np.arange(len(rec))[start : start + 37]))
    assert (live._stream is not None) == (detector.method == "ivt")  # I-VT streams, I-DT is rerun
    found, expected = live.fixations(), detector.detect(rec)
    np.testing.assert_allclose(found.start, expected.start)
    np.testing.assert_allclose(found.duration, expected.duration)
    assert FixationDetector.from_meta(found.meta["detector"]) == detector


def test_gradtrack_supervision_detects_with_the_detector_given(scene, tmp_path):
    from napari_gazeseg.models.gaze_supervision import (
        SupervisionParams,
        cached_targets,
        supervision_targets,
    )

    idt = FixationDetector("idt", dispersion_threshold=1.5)
    params = SupervisionParams(size=32, beta=2.0, detector=idt)
    expected = supervision_targets(scene.image, idt.detect(scene.recording), SupervisionParams(size=32, beta=2.0))
    for got in (supervision_targets(scene.image, scene.recording, params),
                cached_targets(scene.image, scene.recording, params, cache_dir=tmp_path)):
        assert set(got) == set(expected)
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])
    default = supervision_targets(scene.image, scene.recording, SupervisionParams(size=32, beta=2.0))
    assert any(not np.array_equal(default[name], expected[name]) for name in expected)  # I-DT was used


def test_a_detector_read_back_from_pixel_fixations_finds_them_again(recording_2d):
    """Without screen geometry the meta holds the px_per_degree used: reading it back repeats the run."""
    from napari_gazeseg.gaze.recording import GazeRecording

    meta = {k: v for k, v in recording_2d.meta.items() if k != "screen"}
    rec = GazeRecording(recording_2d.t, recording_2d.coords, recording_2d.valid, None, recording_2d.object_id, meta)
    with pytest.warns(UserWarning, match="image pixels"):
        found = FixationDetector(velocity_threshold=400.0).detect(rec)
    again = FixationDetector.from_meta(found.meta["detector"])
    assert again.velocity_threshold == 400.0 and again.px_per_degree == found.meta["detector"]["px_per_degree"]
    assert len(found) > 0
    np.testing.assert_array_equal(again.detect(rec).start, found.start)
