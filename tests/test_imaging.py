"""imaging.py: images as napari shows them (contrast limits, 8-bit levels, readable text).

``default_contrast_limits`` is held equal to what a real napari ``Image`` layer
picks; the fixation-number colouring is checked on images whose answer is known.
"""

import numpy as np
import pytest

from napari_gazeseg.imaging import (
    default_contrast_limits,
    display_levels,
    label_colors_at,
    to_uint8_rgb,
)


def _random(shape, dtype, low, high, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, shape).astype(dtype)


def _with(image, index, value):
    image = image.copy()
    image[index] = value
    return image


def _big_stack():
    # 11 planes of 1000 x 1000 (> 10 million values): napari looks at planes 0, 5 and 10
    stack = np.zeros((11, 1000, 1000), np.float32)
    stack[3] = 9.0  # a plane napari does not look at
    stack[5, 0, 0] = 2.0
    stack[10, 999, 999] = -1.0
    return stack


def _big_rgb():
    # one 2D RGB image of more than 10 million values: napari looks at a central 62 x 62 patch
    image = np.full((2100, 1700, 3), 100, np.uint16)
    image[0, 0, 0] = 60_000  # outside the patch
    image[1050, 850, 1] = 7
    return image


IMAGES = {
    "uint8 grey": _random((40, 50), np.uint8, 20, 90),
    "uint8 RGB": _random((40, 50, 3), np.uint8, 20, 90),
    "uint8 RGBA": _random((40, 50, 4), np.uint8, 0, 255),
    "uint16 grey": _random((40, 50), np.uint16, 300, 4000),
    "uint16 stack": _random((3, 40, 50), np.uint16, 300, 4000),
    "uint16 RGB": _random((40, 50, 3), np.uint16, 300, 4000),
    "int16 negative": _random((40, 50), np.int16, -1000, -10),
    "float grey": _random((40, 50), np.float32, -0.3, 0.7),
    "float stack": _random((4, 30, 35), np.float64, 2.0, 5.0),
    "float RGB": _random((40, 50, 3), np.float32, 0.1, 0.6),
    "float with NaN and inf": _with(_with(_random((40, 50), np.float64, 1, 2), (3, 4), np.nan), (5, 6), np.inf),
    "all NaN": np.full((40, 50), np.nan),
    "constant uint8": np.full((40, 50), 7, np.uint8),
    "constant uint16": np.full((40, 50), 1000, np.uint16),
    "constant float": np.full((40, 50), 0.5, np.float32),
    "constant negative": np.full((40, 50), -3.0),
    "constant zero stack": np.zeros((3, 40, 50)),
    "large stack": _big_stack(),
    "large RGB": _big_rgb(),
}


@pytest.mark.parametrize("name", list(IMAGES))
def test_default_contrast_limits_are_what_a_napari_image_layer_picks(name):
    from napari.layers import Image

    image = IMAGES[name]
    layer = Image(image)
    assert default_contrast_limits(image) == pytest.approx(tuple(layer.contrast_limits), rel=1e-6)
    assert default_contrast_limits(image, rgb=layer.rgb) == pytest.approx(
        tuple(layer.contrast_limits), rel=1e-6
    )


@pytest.mark.parametrize(
    ("values", "limits", "levels"),
    [
        ([0.0, 0.5, 1.0], (0, 1), [0, 128, 255]),  # 127.5 rounds half to even: 128
        ([-1.0, 2.0, np.nan, np.inf, -np.inf], (0, 1), [0, 255, 0, 255, 0]),
        ([100, 1100, 2100], (100, 2100), [0, 128, 255]),
        ([10, 20], (5, 5), [0, 0]),  # limits that do not increase
        ([0, 128, 255], (0, 255), [0, 128, 255]),
        ([0, 64, 255], (0, 128), [0, 128, 255]),
    ],
)
def test_display_levels(values, limits, levels):
    dtype = np.uint8 if limits in ((0, 255), (0, 128)) else None
    out = display_levels(np.array(values, dtype=dtype), limits)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, levels)


def test_uint8_on_its_full_range_is_not_copied():
    image = _random((5, 6), np.uint8, 0, 255)
    assert display_levels(image, (0, 255)) is image


@pytest.mark.parametrize("name", ["uint16 grey", "float grey", "constant float", "constant uint16", "uint8 RGB"])
def test_to_uint8_rgb_defaults_to_napari_s_limits(name):
    image = IMAGES[name]
    limits = default_contrast_limits(image)
    expected = display_levels(image, limits)
    if expected.ndim == 2:
        expected = np.repeat(expected[..., None], 3, axis=-1)
    np.testing.assert_array_equal(to_uint8_rgb(image), expected)


def test_a_constant_image_looks_as_napari_shows_it():
    # napari shows a constant 0.5 on (0, 1): mid grey, not black
    assert to_uint8_rgb(np.full((4, 4), 0.5))[0, 0, 0] == 128
    assert to_uint8_rgb(np.full((4, 4), 1000, np.uint16))[0, 0, 0] == 255


def test_fixation_numbers_contrast_with_the_image_under_them():
    black, white = [0, 0, 0, 1], [1, 1, 1, 1]
    dark = np.zeros((300, 400), np.uint16)
    dark[100:140, 50:90] = 4000  # one bright cell
    points = np.array([[120.0, 70.0], [250.0, 300.0], [-5.0, 399.4]])
    np.testing.assert_array_equal(label_colors_at(dark, points), [black, white, white])
    bright_rgb = np.full((600, 500, 3), 230, np.uint8)
    np.testing.assert_array_equal(label_colors_at(bright_rgb, points[:1]), [black])
    np.testing.assert_array_equal(label_colors_at(bright_rgb, points[:1], (0, 10_000)), [white])
    stack = np.zeros((5, 64, 64))
    stack[3] = 1.0  # only plane 3 is bright
    on_planes = np.array([[3.0, 10.0, 10.0], [1.0, 10.0, 10.0]])
    np.testing.assert_array_equal(label_colors_at(stack, on_planes), [black, white])


def test_fixation_numbers_on_a_constant_image_follow_napari_s_limits():
    # napari shows a constant 0.9 on (0, 1): bright, so the numbers are black
    points = np.array([[5.0, 5.0]])
    np.testing.assert_array_equal(label_colors_at(np.full((20, 20), 0.9), points), [[0, 0, 0, 1]])


class _LazyArray:
    """An array napari could show that is not a numpy array (as dask or zarr): windows only."""

    def __init__(self, data):
        self._data = data
        self.shape, self.dtype, self.ndim, self.size = data.shape, data.dtype, data.ndim, data.size

    def __getitem__(self, key):
        return self._data[key]


@pytest.mark.parametrize(
    ("shape", "limits"),
    [((120, 90), None), ((4, 70, 110), (0.2, 0.8)), ((80, 60, 3), None), ((50, 40, 4), (10, 200))],
)
def test_fixation_number_colours_in_memory_equal_the_window_by_window_reading(shape, limits):
    rng = np.random.default_rng(4)
    image = rng.random(shape) if limits != (10, 200) else rng.integers(0, 256, shape).astype(np.uint8)
    image = np.where(rng.random(shape) < 0.5, image, image * 0.3).astype(image.dtype)
    rgb = shape[-1] in (3, 4)
    spatial = shape[:-1] if rgb else shape
    points = rng.uniform(-8, max(spatial) + 8, size=(300, len(spatial)))
    points[:5] = np.nan  # lost samples
    points[5, -2:] = [0, 0]  # corners
    points[6, -2:] = [spatial[-2] - 1, spatial[-1] - 1]
    fast = label_colors_at(image, points, limits)
    windowed = label_colors_at(_LazyArray(image), points, limits)
    np.testing.assert_array_equal(fast, windowed)
    assert 0 < (fast[:, 0] == 0).sum() < len(points)  # both colours occur
