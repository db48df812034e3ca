"""Dense CRF with the real pydensecrf, and pseudo-masks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy import ndimage

from napari_gazeseg.gaze import dense_crf, pseudo_masks
from napari_gazeseg.gaze.crf import GAZEMEDSEG_THRESHOLDS, GRADTRACK_UNDER_ACTIVATION


def disk_scene(shape=(64, 72), centre=(30, 38), radius=15, blur=6.0):
    """A bright disk on a dark background and a blurry probability of it."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    disk = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 < radius**2
    image = np.where(disk, 200, 30).astype(np.uint8)
    prob = ndimage.gaussian_filter(disk.astype(float), blur)
    return image, prob / prob.max(), disk


def test_dense_crf_sharpens_a_blurry_probability_toward_the_disk_edge():
    image, prob, disk = disk_scene()
    refined = dense_crf(image, prob)
    assert refined.shape == disk.shape and refined.dtype == np.float64
    assert 0.0 <= refined.min() and refined.max() <= 1.0
    assert np.abs(refined - disk).mean() < 0.7 * np.abs(prob - disk).mean()
    wrong_before = int(((prob > 0.5) != disk).sum())
    wrong_after = int(((refined > 0.5) != disk).sum())
    assert wrong_before > 20 and wrong_after < wrong_before / 4
    edge = ndimage.binary_dilation(disk, iterations=2) & ~ndimage.binary_erosion(disk, iterations=2)
    step_before = prob[edge & disk].mean() - prob[edge & ~disk].mean()
    step_after = refined[edge & disk].mean() - refined[edge & ~disk].mean()
    assert step_after > 1.5 * step_before


def test_dense_crf_defaults_are_gazemedseg_crf_inference():
    # GazeMedSeg's crf_inference: unary_from_softmax, bilateral 80/13/compat 1, 10 iterations.
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    image, prob, _ = disk_scene()
    rgb = np.repeat(image[..., None], 3, axis=-1)
    probs = np.concatenate([1 - prob[None], prob[None]], axis=0)
    crf = dcrf.DenseCRF2D(prob.shape[1], prob.shape[0], 2)
    crf.setUnaryEnergy(unary_from_softmax(probs))
    crf.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.copy(rgb), compat=1)
    expected = np.array(crf.inference(10))[1].reshape(prob.shape)
    np.testing.assert_allclose(dense_crf(image, prob), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda im: np.repeat(im[..., None], 3, axis=-1), id="rgb"),
        pytest.param(lambda im: np.dstack([im, im, im, np.full_like(im, 255)]), id="rgba"),
        pytest.param(
            lambda im: np.where(im > 100, 255, 0).astype(np.uint16) * 200 + 1000, id="uint16"
        ),
        pytest.param(lambda im: np.where(im > 100, 1.0, -1.0), id="float"),
    ],
)
def test_dense_crf_accepts_grey_or_rgb_of_any_dtype(convert):
    image, prob, disk = disk_scene(shape=(40, 44), centre=(20, 22), radius=10, blur=4.0)
    refined = dense_crf(convert(image), prob)
    assert refined.shape == prob.shape
    assert ((refined > 0.5) != disk).sum() < ((prob > 0.5) != disk).sum()


def test_dense_crf_with_no_iterations_returns_the_probability_and_can_add_smoothness():
    image, prob, _ = disk_scene(shape=(30, 30), centre=(15, 15), radius=8, blur=3.0)
    np.testing.assert_allclose(dense_crf(image, prob, iterations=0), prob, atol=2e-5)
    smoothed = dense_crf(image, prob, smoothness_sxy=3.0)
    assert smoothed.shape == prob.shape and not np.allclose(smoothed, dense_crf(image, prob))


def test_dense_crf_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydensecrf", None)
    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)
    image, prob, _ = disk_scene(shape=(8, 8), centre=(4, 4), radius=2, blur=1.0)
    with pytest.raises(ImportError, match=r"pip install napari-gazeseg\[crf\]"):
        dense_crf(image, prob)


@pytest.mark.parametrize(
    "prob, message",
    [
        (np.full((8, 9), 0.5), "shape"),
        (np.full((8, 8), 1.2), r"\[0, 1\]"),
        (np.full((8, 8), np.nan), r"\[0, 1\]"),
    ],
)
def test_dense_crf_rejects_bad_probabilities(prob, message):
    with pytest.raises(ValueError, match=message):
        dense_crf(np.zeros((8, 8), np.uint8), prob)


@pytest.mark.parametrize(
    "thresholds, expected_keys",
    [
        (GRADTRACK_UNDER_ACTIVATION, [0.7]),
        ((0.7,), [0.7]),
        (GAZEMEDSEG_THRESHOLDS["kvasir"], [0.5, 0.3]),
        (GAZEMEDSEG_THRESHOLDS["nci-isbi"], [0.4, 0.2]),
        ([0.0, 1.0], [0.0, 1.0]),
    ],
)
def test_pseudo_masks_threshold_with_greater_or_equal(thresholds, expected_keys):
    vam = np.array([[0.0, 0.2, 0.3], [0.4, 0.5, 0.7], [0.69, 0.71, 1.0]])
    masks = pseudo_masks(vam, thresholds)
    assert list(masks) == expected_keys
    for t, mask in masks.items():
        assert mask.dtype == bool
        np.testing.assert_array_equal(mask, vam >= t)


def test_pseudo_masks_shrink_as_the_threshold_grows():
    _, prob, _ = disk_scene()
    masks = pseudo_masks(prob, (0.2, 0.3, 0.5, 0.7))
    sizes = [int(m.sum()) for m in masks.values()]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] > 0
    assert (masks[0.7] <= masks[0.2]).all()


@pytest.mark.parametrize(
    "vam, thresholds, message",
    [
        (np.zeros((3, 3)), (1.5,), "thresholds"),
        (np.zeros((3, 3)), (), "thresholds"),
        (np.zeros(3), (0.5,), "2D"),
        (np.full((3, 3), np.nan), (0.5,), "NaN"),
    ],
)
def test_pseudo_masks_reject_bad_input(vam, thresholds, message):
    with pytest.raises(ValueError, match=message):
        pseudo_masks(vam, thresholds)


@pytest.mark.parametrize(
    ("shape", "setting", "sxy"),
    [
        ((600, 600), "scaled", 80.0),  # GazeMedSeg's own scale: identical
        ((600, 600, 3), "scaled", 80.0),
        ((192, 192), "scaled", 25.6),
        ((300, 1200), "scaled", 80.0),  # same pixel count as 600 x 600
        ((1200, 1200), "scaled", 160.0),
        ((192, 192), "gazemedseg", 80.0),  # the published setting ignores the size
        ((4000, 3000), "gazemedseg", 80.0),
    ],
)
def test_crf_params_scale_the_spatial_width_with_the_image(shape, setting, sxy):
    from napari_gazeseg.gaze.crf import crf_params

    params = crf_params(shape, setting)
    assert params["sxy"] == pytest.approx(sxy)
    assert params["srgb"] == 13.0  # an intensity width: never scaled


def test_crf_params_unknown_setting_names_the_choices():
    from napari_gazeseg.gaze.crf import crf_params

    with pytest.raises(ValueError, match="gazemedseg, scaled"):
        crf_params((10, 10), "kvasir")


@pytest.mark.parametrize(("setting", "sxy"), [("gazemedseg", 80.0), ("scaled", 80.0 * 96 / 600)])
def test_the_crf_setting_reaches_the_supervision_maps(monkeypatch, setting, sxy):
    """`gazeseg train --crf` -> TrainConfig -> SupervisionParams -> dense_crf's kernel width."""
    import napari_gazeseg.gaze.crf as crf_module
    from napari_gazeseg.cli import build_parser
    from napari_gazeseg.commands.train import config_from_args
    from napari_gazeseg.gaze.simulate import simulate_observer
    from napari_gazeseg.models.gaze_supervision import SupervisionParams, supervision_targets

    args = build_parser().parse_args(["train", "data", "--out", "run", "--crf", setting, "--size", "32"])
    config = config_from_args(args)
    assert config.crf == setting
    params = SupervisionParams.from_train_config(config)
    seen = {}
    real = crf_module.dense_crf

    def spy(image, prob, **kwargs):
        seen.update(kwargs)
        return real(image, prob, **kwargs)

    monkeypatch.setattr(crf_module, "dense_crf", spy)
    scene = simulate_observer("polyp", shape=(96, 96), n_objects=1, seed=0)
    supervision_targets(scene.image, scene.recording, params)
    assert seen["sxy"] == pytest.approx(sxy)
