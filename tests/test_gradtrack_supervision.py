"""GradTrack supervision maps: content, resolution, sessions, the on-disk cache."""

import numpy as np
import pytest

from napari_gazeseg.gaze.maps import track_maps
from napari_gazeseg.gaze.recording import Fixations
from napari_gazeseg.models import gaze_supervision
from napari_gazeseg.models.gaze_supervision import (
    SupervisionParams,
    cached_targets,
    samples_from_items,
    supervision_targets,
)
from napari_gazeseg.models.gradtrack_train import TrainConfig


def _disk_image(shape=(120, 160), centre=(60, 80), radius=25):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    disk = np.hypot(rows - centre[0], cols - centre[1]) <= radius
    return (40 + 160 * disk).astype(np.uint8), disk


def _fixations(points, object_id=1, start=0.0):
    points = np.asarray(points, dtype=float)
    n = len(points)
    return Fixations(
        start=start + 0.3 * np.arange(n), duration=np.full(n, 0.25), coords=points, object_id=np.full(n, object_id)
    )


def test_maps_have_the_training_size_and_nest_as_their_thresholds_do():
    image, disk = _disk_image()
    gaze = _fixations([[10, 10], [50, 70], [60, 80], [62, 84], [58, 78]])
    params = SupervisionParams(size=64, beta=3.0)
    maps = supervision_targets(image, gaze, params, mask=disk.astype(np.uint8))
    assert tuple(maps) == params.target_names(with_mask=True)
    for name, values in maps.items():
        assert values.shape == (64, 64) and values.dtype == np.float32
        assert 0 <= values.min() and values.max() <= 1, name
    # the last half of the track is part of the whole track
    assert np.all(maps["track_100"] >= maps["track_50"]) and (maps["track_100"] > maps["track_50"]).any()
    # 0.7 (GradTrack) within 0.5 within 0.3 (GazeMedSeg levels) of the same CRF map
    assert np.all(maps["pseudo_mask"] <= maps["gazemedseg_0"]) and np.all(maps["gazemedseg_0"] <= maps["gazemedseg_1"])
    assert maps["pseudo_mask"].any()
    soft = maps["vam_soft"]
    assert soft[soft > 0].min() >= 0.5
    # the conservative pseudo-mask lies on the object the observer looked at
    assert (maps["pseudo_mask"] * maps["mask"]).sum() / maps["pseudo_mask"].sum() > 0.9


def test_fixations_are_scaled_with_pixel_centres_at_integers():
    image, _ = _disk_image(shape=(300, 400))
    centre = [(300 - 1) / 2, (400 - 1) / 2]  # the image centre -> (31.5, 31.5) at 64 x 64
    maps = supervision_targets(image, _fixations([centre]), SupervisionParams(size=64, beta=3.0))
    track = maps["track_100"]
    peak = track.max()
    assert track[31, 31] == track[32, 32] == track[31, 32] == track[32, 31] == pytest.approx(peak)


def test_reverse_truncation_applies_to_each_object_session():
    image, _ = _disk_image(shape=(100, 100))
    first = _fixations([[20, 20], [22, 22], [24, 24], [25, 25]], object_id=1)
    second = _fixations([[75, 75], [76, 76], [77, 77], [78, 78]], object_id=2, start=5.0)
    cue = _fixations([[50, 10]], object_id=0, start=4.0)
    gaze = Fixations.concatenate([first, cue, second])
    maps = supervision_targets(image, gaze, SupervisionParams(size=100, beta=3.0))
    # the last half of *each* session is kept, not only of the whole track
    assert maps["track_50"][25, 25] > 0.9 and maps["track_50"][78, 78] > 0.9
    assert maps["track_50"][20, 20] == 0 and maps["track_100"][20, 20] > 0.9
    # fixations outside any session (the cue) are left out
    assert maps["track_100"][50, 10] == 0




# one inspection: an approach from far away (its first quarter), then fixations on the object
_APPROACH = [[10, 90], [40, 60]]
_ON_OBJECT = [[70, 30], [72, 28], [71, 31], [69, 29], [70, 30], [71, 29]]


@pytest.mark.parametrize(
    "ratios, output_reaches_approach",
    [
        ((0.5, 0.75, 1.0), True),  # the paper's set: the output's map covers the whole track
        ((0.5, 0.75, 0.75), False),  # approach-free: the output's map leaves the first quarter out
        ((0.25, 0.5, 0.75), False),
    ],
)
def test_track_ratio_sets_choose_the_truncation_of_each_map(ratios, output_reaches_approach):
    image, _ = _disk_image(shape=(100, 100))
    gaze = _fixations(_APPROACH + _ON_OBJECT)  # 8 fixations, 2 of them the approach
    maps = supervision_targets(image, gaze, SupervisionParams(size=100, beta=3.0, track_ratios=ratios))
    for name, ratio in zip(("track_50", "track_75", "track_100"), ratios):
        expected = track_maps(gaze, (100, 100), ratios=(ratio,), beta=3.0, tau=0.25)[ratio]
        np.testing.assert_allclose(maps[name], expected, atol=1e-6, err_msg=name)
    assert (maps["track_100"][10, 90] > 0) == output_reaches_approach
    assert (maps["track_100"][25, 75] > 0) == output_reaches_approach  # the approach's saccade
    assert maps["track_100"][70, 30] > 0.9


@pytest.mark.parametrize("ratios", [(0.5, 0.75), (0.5, 0.75, 1.5), (0.0, 0.5, 1.0)])
def test_track_ratio_sets_are_three_ratios_in_0_1(ratios):
    with pytest.raises(ValueError, match="track_ratios"):
        SupervisionParams(track_ratios=ratios)
    with pytest.raises(ValueError, match="track_ratios"):
        TrainConfig(track_ratios=ratios)


def test_cache_keys_of_the_papers_ratio_set_are_unchanged_and_other_sets_miss(tmp_path):
    image, disk = _disk_image()
    gaze = _fixations([[50, 70], [60, 80]])
    paper = SupervisionParams(size=32, beta=2.0)
    # the key this entry had before ratio sets existed: caches users already have stay valid
    assert gaze_supervision._digest(image, gaze, disk, paper) == (
        "85d65dca43a4a57e04e22bcbef7f968d4f19bcf948ce65842afe0f2b2f976278"
    )
    cached_targets(image, gaze, paper, disk, tmp_path)
    other = SupervisionParams(size=32, beta=2.0, track_ratios=(0.5, 0.75, 0.75))
    cached_targets(image, gaze, other, disk, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2


@pytest.mark.parametrize(
    "argv, ratios", [([], (0.5, 0.75, 1.0)), (["--track-ratios", "0.5", "0.75", "0.75"], (0.5, 0.75, 0.75))]
)
def test_gazeseg_train_carries_the_ratio_set_to_the_maps(argv, ratios):
    from napari_gazeseg.cli import build_parser
    from napari_gazeseg.commands.train import config_from_args

    config = config_from_args(build_parser().parse_args(["train", "data", "--out", "run", *argv]))
    config = TrainConfig.from_dict(config.to_dict())  # as stored in a checkpoint
    assert SupervisionParams.from_train_config(config).track_ratios == ratios


def test_cache_is_reused_and_keyed_by_the_parameters(tmp_path, monkeypatch):
    image, disk = _disk_image()
    gaze = _fixations([[50, 70], [60, 80]])
    params = SupervisionParams(size=32, beta=2.0)
    first = cached_targets(image, gaze, params, disk, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def no_recompute(*args, **kwargs):
        raise AssertionError("the cached maps should have been read")

    monkeypatch.setattr(gaze_supervision, "supervision_targets", no_recompute)
    again = cached_targets(image, gaze, params, disk, tmp_path)
    assert sorted(again) == sorted(first)
    for name in first:
        np.testing.assert_array_equal(again[name], first[name])
    monkeypatch.undo()
    cached_targets(image, gaze, SupervisionParams(size=32, beta=3.0), disk, tmp_path)
    cached_targets(image, _fixations([[50, 70]]), params, disk, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_samples_mark_missing_masks_and_reject_3d_gaze():
    image, disk = _disk_image()
    gaze = _fixations([[50, 70], [60, 80]])
    params = SupervisionParams(size=32, beta=2.0)
    samples = samples_from_items([("a", image, disk, gaze), ("b", image, None, gaze)], params)
    assert samples.images.shape == (2, 3, 32, 32) and samples.names == ("a", "b")
    mask = samples.targets[:, samples.channel("mask")]
    assert mask[0].max() == 1 and (mask[1] == -1).all()
    volume_gaze = Fixations(start=[0.0], duration=[0.2], coords=[[3.0, 50.0, 70.0]])
    with pytest.raises(ValueError, match="one 2D slice"):
        samples_from_items([("c", image, None, volume_gaze)], params)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _drop_a_map(path):
    with np.load(path) as stored:
        maps = {name: stored[name] for name in stored.files}
    maps.pop("track_50")
    np.savez(path, **maps)


def _map_change(change):
    def rewrite(path):
        with np.load(path) as stored:
            maps = {name: stored[name] for name in stored.files}
        maps["pseudo_mask"] = change(maps["pseudo_mask"])
        np.savez(path, **maps)

    return rewrite


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b""),
        lambda path: path.write_bytes(b"PK\x03\x04 not really a zip"),
        _truncate,
        _drop_a_map,
        _map_change(lambda values: values[:5]),
        _map_change(lambda values: values.astype(np.float64)),
        _map_change(lambda values: np.full_like(values, np.nan)),
        _map_change(lambda values: values * 40),
    ],
    ids=["empty", "not a zip", "truncated", "a map missing", "wrong shape", "wrong type", "NaN", "out of range"],
)
def test_a_damaged_cache_entry_is_a_miss_and_is_rewritten(tmp_path, damage):
    image, disk = _disk_image()
    gaze = _fixations([[50, 70], [60, 80]])
    params = SupervisionParams(size=32, beta=2.0)
    first = cached_targets(image, gaze, params, disk, tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    damage(entry)
    again = cached_targets(image, gaze, params, disk, tmp_path)
    assert sorted(again) == sorted(first)
    for name in first:
        np.testing.assert_array_equal(again[name], first[name])
    with np.load(entry) as stored:  # the entry was made whole again
        assert sorted(stored.files) == sorted(first)
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]
