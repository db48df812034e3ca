"""The synthetic observer: scenes, the observer's plan, eye kinematics and tracker error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_gazeseg.gaze.geometry import ScreenGeometry
from napari_gazeseg.gaze.recording import Fixations, GazeRecording
from napari_gazeseg.gaze.simulate import (
    FIXATION,
    LOST,
    PHASES,
    SACCADE,
    ImagePlacement,
    ObserverModel,
    SimulatedScene,
    simulate_dataset,
    simulate_observer,
)

KINDS = ("cells", "polyp", "organ")
NO_LOSS = {"blink_interval_s": None, "track_loss_interval_s": None}


@pytest.fixture(scope="module")
def long_scene() -> SimulatedScene:
    """About two minutes of gaze over 24 cells: enough fixations to measure the tracker error."""
    return simulate_observer("cells", shape=(384, 384), n_objects=24, seed=11)


def _phase(name: str) -> int:
    return PHASES.index(name)


def _inside(labels: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Label id under each (row, col) position."""
    index = np.round(coords).astype(int)
    return labels[index[:, 0], index[:, 1]]


def _screen_px(scene: SimulatedScene, screen: np.ndarray) -> np.ndarray:
    return scene.geometry.normalised_to_px(screen)


def _true_screen(scene: SimulatedScene, coords: np.ndarray) -> np.ndarray:
    """Normalised screen positions of image coordinates, through the recorded placement."""
    return scene.geometry.px_to_normalised(scene.placement.image_to_screen_px(coords))


# -- the data it returns --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_scene_has_the_documented_types_and_meta(kind):
    scene = simulate_observer(kind, shape=(96, 128), n_objects=2, seed=1)
    assert scene.image.dtype == np.uint8 and scene.labels.dtype == np.int32
    assert scene.image.shape == ((96, 128, 3) if kind == "polyp" else (96, 128))
    assert scene.labels.shape == (96, 128)
    rec = scene.recording
    assert isinstance(rec, GazeRecording) and isinstance(scene.fixations, Fixations)
    assert rec.meta["source"] == "simulated"
    assert rec.meta["sampling_rate_hz"] == 120.0
    assert rec.meta["image"] == {"shape": [96, 128], "name": scene.name}
    assert ScreenGeometry.from_meta(rec.meta) == ScreenGeometry.default()
    assert rec.meta["simulation"]["kind"] == kind
    assert rec.meta["simulation"]["observer"]["accuracy_deg"] == 0.4
    assert scene.sample_kind.shape == (len(rec),) and scene.sample_kind.dtype == np.int8
    assert scene.fixation_phase.shape == (len(scene.fixations),)
    assert scene.fixations.meta == rec.meta


def test_same_seed_same_scene_other_seed_other_scene():
    first, again = (
        simulate_observer("polyp", shape=(64, 64), n_objects=2, seed=5) for _ in range(2)
    )
    assert np.array_equal(first.image, again.image) and np.array_equal(first.labels, again.labels)
    assert first.recording.equals(again.recording) and first.fixations.equals(again.fixations)
    assert np.array_equal(first.sample_kind, again.sample_kind)
    other = simulate_observer("polyp", shape=(64, 64), n_objects=2, seed=6)
    assert not np.array_equal(first.image, other.image)
    assert not np.array_equal(first.fixations.coords[:3], other.fixations.coords[:3])


# -- the scenes ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_object_is_one_blob_that_stands_out_from_its_surroundings(kind):
    scene = simulate_observer(kind, shape=(160, 160), n_objects=3, seed=2)
    labels = scene.labels
    assert np.array_equal(np.unique(labels), [0, 1, 2, 3])
    values = scene.image.astype(float)  # grey levels, or RGB per pixel
    for object_id in (1, 2, 3):
        mask = labels == object_id
        assert ndimage.label(mask)[1] == 1
        assert mask.sum() > 40
        ring = ndimage.binary_dilation(mask, iterations=4) & ~ndimage.binary_dilation(
            mask, iterations=1
        )
        ring &= labels == 0
        # mean colour inside and just outside differ clearly (grey levels out of 255)
        contrast = np.linalg.norm(np.atleast_1d(values[mask].mean(0) - values[ring].mean(0)))
        assert contrast > 12, (object_id, contrast)


def test_cells_are_not_segmented_by_one_global_threshold():
    """Uneven lighting, dim cells, haze and bright debris: even the best global threshold errs."""
    best_iou = []
    for seed in range(4):
        scene = simulate_observer("cells", shape=(256, 256), n_objects=6, seed=seed)
        truth = scene.labels > 0
        best_iou.append(
            max(
                np.sum((scene.image > level) & truth) / np.sum((scene.image > level) | truth)
                for level in range(1, 255)
            )
        )
    assert np.mean(best_iou) < 0.9


def test_too_many_objects_for_the_image_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer objects or a larger shape"):
        simulate_observer("cells", shape=(48, 48), n_objects=40)
    with pytest.raises(ValueError, match="unknown scene kind"):
        simulate_observer("brain")


# -- the observer ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_session_tours_its_object_and_ends_inside_it(kind):
    for seed in range(3):
        scene = simulate_observer(kind, shape=(128, 128), n_objects=3, seed=seed)
        fixations, phase = scene.fixations, scene.fixation_phase
        sessions = [object_id for object_id in fixations.object_id if object_id]
        assert sorted(set(sessions)) == [1, 2, 3]
        assert np.all(
            np.diff(fixations.object_id[fixations.object_id > 0]) >= 0
        )  # one session each
        assert np.all(fixations.object_id[phase == _phase("cue")] == 0)
        for object_id in (1, 2, 3):
            mine = fixations.object_id == object_id
            looked_at = _inside(scene.labels, fixations.coords[mine])
            tour = phase[mine] == _phase("tour")
            assert np.mean(looked_at[tour] == object_id) >= 0.8
            assert np.all(looked_at[-2:] == object_id)  # the decisive ones
            assert phase[mine][-1] == _phase("decisive")


def test_the_tour_goes_from_the_centre_outwards():
    scene = simulate_observer("organ", shape=(160, 160), n_objects=3, seed=4)
    for object_id in (1, 2, 3):
        mask = scene.labels == object_id
        depth = ndimage.distance_transform_edt(mask)
        tour = scene.fixations.coords[
            (scene.fixations.object_id == object_id) & (scene.fixation_phase == 1)
        ]
        index = np.round(tour).astype(int)
        depth_along_tour = depth[index[:, 0], index[:, 1]]
        assert depth_along_tour[0] > depth_along_tour[-1]
        assert np.corrcoef(np.arange(len(tour)), depth_along_tour)[0, 1] < -0.5


def test_recording_sessions_follow_the_fixations():
    scene = simulate_observer("cells", shape=(128, 128), n_objects=3, seed=0)
    rec, fixations = scene.recording, scene.fixations
    for object_id in (1, 2, 3):
        mine = fixations.for_object(object_id)
        samples = rec.for_object(object_id)
        # a session runs from the saccade after its cue to the end of its last fixation
        assert samples.t[-1] < mine.end[-1] and samples.t[0] < mine.start[0]
        assert samples.t[0] >= fixations.end[fixations.start < mine.start[0]][-1]
    assert set(np.unique(rec.object_id)) == {0, 1, 2, 3}


def test_fixation_durations_follow_the_gamma_model(long_scene):
    durations = long_scene.fixations.duration[long_scene.fixation_phase != _phase("cue")]
    ordinary = long_scene.fixations.duration[np.isin(long_scene.fixation_phase, [0, 1])]
    assert durations.min() > 0.08
    assert 0.22 < ordinary.mean() < 0.28
    assert np.median(ordinary) < ordinary.mean()  # right-skewed


# -- timing and eye movements ----------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [120.0, 1200.0])
def test_samples_lie_exactly_on_the_sampling_grid(rate_hz):
    scene = simulate_observer("cells", shape=(96, 96), n_objects=2, rate_hz=rate_hz, seed=1)
    rec = scene.recording
    assert np.array_equal(rec.t, np.arange(len(rec)) / rate_hz)
    assert rec.sampling_rate_hz == rate_hz
    assert rec.t[-1] < scene.fixations.end[-1] <= rec.t[-1] + 1 / rate_hz
    # fixation samples lie within the true fixations, the others outside
    fixations = scene.fixations
    which = np.searchsorted(fixations.start, rec.t, side="right") - 1
    during = rec.t < fixations.end[which]
    seen = scene.sample_kind != LOST
    assert np.array_equal(during[seen], scene.sample_kind[seen] == FIXATION)


def test_saccades_follow_the_main_sequence():
    geometry = ScreenGeometry.default()
    scene = simulate_observer(
        "cells",
        shape=(256, 256),
        n_objects=4,
        rate_hz=1200.0,
        seed=2,
        observer=ObserverModel(accuracy_deg=0, precision_deg=0, **NO_LOSS),
    )
    fixations = scene.fixations
    screen = _true_screen(scene, fixations.coords)
    amplitude = geometry.visual_angle_deg(screen[:-1], screen[1:])
    gap = fixations.start[1:] - fixations.end[:-1]
    np.testing.assert_allclose(gap, 0.0022 * amplitude + 0.021, rtol=1e-9)

    # noise-free samples: peak velocities of hundreds of deg/s, growing with amplitude,
    # reached before mid-saccade in large saccades and at about mid-saccade in small ones
    rec = scene.recording
    speed = geometry.visual_angle_deg(rec.screen[:-1], rec.screen[1:]) * rec.sampling_rate_hz
    peaks, peak_times = [], []
    for i in range(len(amplitude)):
        during = (rec.t[:-1] >= fixations.end[i]) & (rec.t[1:] <= fixations.start[i + 1])
        fastest = np.flatnonzero(during)[np.argmax(speed[during])]
        peaks.append(speed[fastest])
        middle_of_step = rec.t[fastest] + 0.5 / rec.sampling_rate_hz
        peak_times.append((middle_of_step - fixations.end[i]) / gap[i])
    peaks, peak_times = np.array(peaks), np.array(peak_times)
    large = amplitude > 5
    assert large.sum() > 5 and np.all((peaks[large] > 200) & (peaks[large] < 900))
    assert np.corrcoef(amplitude[large], peaks[large])[0, 1] > 0.8
    big, small = amplitude > 12, (amplitude > 1) & (amplitude < 2)
    assert big.sum() >= 2 and small.sum() >= 10
    assert np.all(peak_times[big] < 0.45)
    assert np.all(np.abs(peak_times[small] - 0.5) < 0.05)
    still = (scene.sample_kind[:-1] == FIXATION) & (scene.sample_kind[1:] == FIXATION)
    assert np.all(speed[still] < 1e-3)


# -- tracker error and data loss ---------------------------------------------------------


def test_accuracy_and_precision_match_the_requested_degrees(long_scene):
    """Tobii's definitions: accuracy is the angle from the target to the mean gaze of a
    fixation; precision the RMS of the angles between consecutive fixation samples."""
    geometry = long_scene.geometry
    rec, fixations = long_scene.recording, long_scene.fixations
    which = np.searchsorted(fixations.start, rec.t, side="right") - 1
    fixating = long_scene.sample_kind == FIXATION

    errors = []
    for index in range(len(fixations)):
        samples = rec.screen[fixating & (which == index)]
        if len(samples) >= 10:
            target = _true_screen(long_scene, fixations.coords[index : index + 1])
            errors.append(geometry.visual_angle_deg(samples.mean(axis=0, keepdims=True), target)[0])
    assert len(errors) > 200
    assert np.mean(errors) == pytest.approx(0.4, abs=0.03)

    pairs = fixating[:-1] & fixating[1:] & (which[:-1] == which[1:])
    steps = geometry.visual_angle_deg(rec.screen[:-1][pairs], rec.screen[1:][pairs])
    assert np.sqrt(np.mean(steps**2)) == pytest.approx(0.23, rel=0.03)


def test_precision_holds_at_1200_hz_and_other_settings():
    observer = ObserverModel(accuracy_deg=1.0, precision_deg=0.5)
    scene = simulate_observer(
        "organ", shape=(128, 128), n_objects=2, rate_hz=1200.0, seed=3, observer=observer
    )
    rec = scene.recording
    fixating = scene.sample_kind == FIXATION
    pairs = fixating[:-1] & fixating[1:]
    steps = scene.geometry.visual_angle_deg(rec.screen[:-1][pairs], rec.screen[1:][pairs])
    assert np.sqrt(np.mean(steps**2)) == pytest.approx(0.5, rel=0.05)
    assert rec.meta["simulation"]["observer"]["precision_deg"] == 0.5


def test_blinks_and_track_loss_are_plausible(long_scene):
    rec, kind = long_scene.recording, long_scene.sample_kind
    lost = kind == LOST
    assert 0.02 < lost.mean() < 0.12
    starts = np.flatnonzero(np.diff(lost.astype(int)) == 1) + 1
    stops = np.flatnonzero(np.diff(lost.astype(int)) == -1) + 1
    lengths = (stops - starts[: len(stops)]) / rec.sampling_rate_hz
    blinks = lengths[lengths >= 0.09]
    assert rec.duration / 8 < len(blinks) < rec.duration / 2  # about one every 4 s
    assert blinks.max() <= 0.31
    assert np.all(np.isnan(rec.screen[lost])) and not rec.valid[lost].any()


def test_no_loss_when_blinks_and_track_loss_are_off():
    scene = simulate_observer(
        "cells", shape=(96, 96), n_objects=2, seed=0, observer=ObserverModel(**NO_LOSS)
    )
    assert not (scene.sample_kind == LOST).any()


# -- coordinates ---------------------------------------------------------------------


def test_valid_means_seen_and_on_the_image(long_scene):
    rec, kind = long_scene.recording, long_scene.sample_kind
    rows, cols = long_scene.labels.shape
    coords = long_scene.placement.screen_px_to_image(_screen_px(long_scene, rec.screen))
    on_image = (
        (coords[:, 0] > -0.5)
        & (coords[:, 0] < rows - 0.5)
        & (coords[:, 1] > -0.5)
        & (coords[:, 1] < cols - 0.5)
    )
    assert np.array_equal(rec.valid, (kind != LOST) & on_image)
    assert set(np.unique(kind)) == {FIXATION, SACCADE, LOST}


def test_screen_and_image_coordinates_agree_through_the_placement(long_scene):
    rec = long_scene.recording
    placement = long_scene.placement
    mapped = placement.screen_px_to_image(_screen_px(long_scene, rec.screen))
    np.testing.assert_allclose(mapped[rec.valid], rec.coords[rec.valid], atol=1e-9)
    # the image is centred and fills 80 % of the screen height
    geometry = long_scene.geometry
    corners = placement.image_to_screen_px(np.array([[-0.5, -0.5], [383.5, 383.5]]))
    np.testing.assert_allclose(
        corners.mean(axis=0), [geometry.width_px / 2, geometry.height_px / 2]
    )
    assert corners[1, 1] - corners[0, 1] == pytest.approx(0.8 * geometry.height_px)
    assert ImagePlacement.from_meta(rec.meta) == placement
    # at the screen centre one degree spans about 41 screen px, i.e. 41 / scale image px
    assert long_scene.image_px_per_degree == pytest.approx(
        geometry.px_per_degree() * 384 / (0.8 * geometry.height_px)
    )


def test_pixel_centres_sit_at_integers():
    placement = ImagePlacement.centred((4, 4), (40, 40), fraction=1.0)
    # pixel (0, 0) covers screen px [0, 10) in x and y; its centre is at 5
    np.testing.assert_allclose(
        placement.image_to_screen_px(np.array([[0.0, 0.0], [3.0, 1.0]])), [[5, 5], [15, 35]]
    )
    np.testing.assert_allclose(placement.screen_px_to_image(np.array([[0.0, 0.0]])), [[-0.5, -0.5]])


# -- a user's image and labels -----------------------------------------------------------


def test_observer_over_a_given_image_and_labels():
    from skimage import data, filters, measure, morphology

    coins = data.coins()
    labels = measure.label(
        morphology.remove_small_objects(coins > filters.threshold_otsu(coins), max_size=200)
    )
    scene = simulate_observer(image=coins, labels=labels, object_ids=[3, 1], seed=0, name="coins")
    assert np.array_equal(scene.image, coins)
    assert scene.recording.meta["image"] == {"shape": list(coins.shape), "name": "coins"}
    ids = scene.fixations.object_id[scene.fixations.object_id > 0]
    assert ids[0] == 3 and ids[-1] == 1 and set(ids) == {1, 3}
    for object_id in (1, 3):
        decisive = scene.fixations.coords[
            (scene.fixations.object_id == object_id) & (scene.fixation_phase == 2)
        ]
        assert np.all(_inside(labels, decisive) == object_id)


def test_given_image_errors_say_what_to_do():
    labels = np.zeros((64, 64), np.int32)
    labels[10:20, 10:20] = 1
    with pytest.raises(ValueError, match="both image and labels"):
        simulate_observer(labels=labels)
    with pytest.raises(ValueError, match="match the image"):
        simulate_observer(image=np.zeros((32, 32)), labels=labels)
    with pytest.raises(ValueError, match=r"\[2\] are not in the label image"):
        simulate_observer(image=np.zeros((64, 64)), labels=labels, object_ids=[1, 2])
    with pytest.raises(ValueError, match="name each object once"):
        simulate_observer(image=np.zeros((64, 64)), labels=labels, object_ids=[1, 1])
    with pytest.raises(ValueError, match="no objects"):
        simulate_observer(image=np.zeros((64, 64)), labels=np.zeros((64, 64), int))


def test_one_pixel_objects_are_looked_at():
    labels = np.zeros((40, 40), np.int32)
    labels[5, 30] = 1
    labels[20:23, 8:10] = 2
    scene = simulate_observer(image=np.zeros((40, 40), np.uint8), labels=labels, seed=2)
    for object_id in (1, 2):
        decisive = scene.fixations.coords[
            (scene.fixations.object_id == object_id) & (scene.fixation_phase == 2)
        ]
        assert np.all(_inside(labels, decisive) == object_id)


# -- datasets ---------------------------------------------------------------------------


def test_simulate_dataset_gives_distinct_reproducible_scenes():
    scenes = list(simulate_dataset(3, "organ", (64, 64), seed=7, n_objects=1))
    assert [s.name for s in scenes] == ["organ_0000", "organ_0001", "organ_0002"]
    assert not np.array_equal(scenes[0].image, scenes[1].image)
    again = next(simulate_dataset(1, "organ", (64, 64), seed=7, n_objects=1))
    assert np.array_equal(again.image, scenes[0].image) and again.recording.equals(
        scenes[0].recording
    )
    assert not np.array_equal(
        next(simulate_dataset(1, "organ", (64, 64), seed=8, n_objects=1)).image, again.image
    )
    with pytest.raises(ValueError, match="at least 1"):
        simulate_dataset(0)
