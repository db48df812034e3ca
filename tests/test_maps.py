"""Gaze maps against independent reference implementations written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from napari_gazeseg.gaze import Fixations, maps
from napari_gazeseg.gaze.maps import blurred_gaze, gaze_heatmap, track_maps, visual_attention_map


# -- references -------------------------------------------------------------------
def naive_heatmap(points, shape, weights=None, kernel_size=100, sigma=100 / 6):
    """The documented definition, evaluated on every pixel for every point."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    weights = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=float)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape)
    before = kernel_size // 2

    def g(offset):
        inside = (offset >= -before) & (offset < kernel_size - before)
        return np.where(inside, np.exp(-(offset**2) / (2 * sigma**2)), 0.0)

    for (r, c), w in zip(points, weights):
        if not (math.isfinite(r) and math.isfinite(c)):
            continue
        pr, pc = math.floor(r + 0.5), math.floor(c + 0.5)
        out += w * g(rows - pr) * g(cols - pc)
    return out


def point_segment_distance(p, a, b):
    """Distance from point p to segment a-b, scalar code."""
    ab = (b[0] - a[0], b[1] - a[1])
    ap = (p[0] - a[0], p[1] - a[1])
    length2 = ab[0] ** 2 + ab[1] ** 2
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, (ap[0] * ab[0] + ap[1] * ab[1]) / length2))
    closest = (a[0] + t * ab[0], a[1] + t * ab[1])
    return math.hypot(p[0] - closest[0], p[1] - closest[1])


def brute_force_track_map(track, shape, beta, tau):
    """G of eq. (2) with D of eq. (1) computed pixel by pixel."""
    segments = list(zip(track[:-1], track[1:])) or [(track[0], track[0])]
    out = np.zeros(shape)
    for r in range(shape[0]):
        for c in range(shape[1]):
            d = min(point_segment_distance((r, c), a, b) for a, b in segments)
            attention = math.exp(-d / beta)
            out[r, c] = attention if attention > tau else 0.0
    return out


@pytest.fixture(params=["direct", "fft"])
def heatmap_path(request, monkeypatch):
    """Force gaze_heatmap down one of its two summation paths."""
    cost = 10**12 if request.param == "direct" else -1
    monkeypatch.setattr(maps, "_FFT_COST_PER_PX", cost)
    return request.param


# -- gaze_heatmap -----------------------------------------------------------------
HEATMAP_CASES = [
    # shape, kernel_size, sigma, n_points, margin outside the image, weighted
    ((64, 80), 100, 100 / 6, 40, 60, True),
    ((50, 50), 100, 100 / 6, 3, 0, False),
    ((31, 17), 7, 2.0, 25, 5, True),
    ((20, 30), 8, 3.0, 30, 10, False),
    ((1, 40), 5, 1.0, 10, 3, True),
    ((40, 1), 1, 1.0, 12, 2, True),
    ((9, 11), 30, 4.0, 200, 25, True),
]


@pytest.mark.parametrize("shape, kernel_size, sigma, n_points, margin, weighted", HEATMAP_CASES)
def test_heatmap_equals_naive_kernel_sum(
    heatmap_path, shape, kernel_size, sigma, n_points, margin, weighted
):
    rng = np.random.default_rng(n_points + kernel_size)
    points = np.column_stack(
        [
            rng.uniform(-margin, shape[0] + margin, n_points),
            rng.uniform(-margin, shape[1] + margin, n_points),
        ]
    )
    weights = rng.uniform(0.05, 0.9, n_points) if weighted else None
    fast = gaze_heatmap(points, shape, weights, kernel_size=kernel_size, sigma=sigma)
    reference = naive_heatmap(points, shape, weights, kernel_size, sigma)
    assert fast.shape == shape and fast.dtype == np.float64
    np.testing.assert_allclose(fast, reference, rtol=1e-4, atol=0)
    np.testing.assert_array_equal(fast == 0, reference == 0)


def test_heatmap_default_path_choice_matches_naive_for_few_and_many_points():
    rng = np.random.default_rng(7)
    for n_points in (2, 400):
        points = rng.normal(30, 25, (n_points, 2))
        weights = rng.uniform(0.1, 0.5, n_points)
        np.testing.assert_allclose(
            gaze_heatmap(points, (60, 50), weights),
            naive_heatmap(points, (60, 50), weights),
            rtol=1e-4,
        )


@pytest.mark.parametrize(
    "kernel_size, sigma, weights, separable",
    [
        (100, 100 / 6, np.full(300, 0.3), False),  # FFT accurate
        (31, 2.0, np.full(300, 0.3), True),  # kernel edge exp(-225/8)**2: FFT rounding would show
        (21, 5.0, np.r_[1e9, np.full(299, 1e-3)], True),  # weights over 12 orders of magnitude
    ],
)
def test_heatmap_falls_back_to_direct_convolution_when_fft_rounding_could_show(
    monkeypatch, kernel_size, sigma, weights, separable
):
    monkeypatch.setattr(maps, "_FFT_COST_PER_PX", -1)
    calls = []
    original = maps._splat_separable
    monkeypatch.setattr(maps, "_splat_separable", lambda *args: calls.append(1) or original(*args))
    points = np.random.default_rng(kernel_size).uniform(-10, 50, (300, 2))
    heat = gaze_heatmap(points, (40, 45), weights, kernel_size=kernel_size, sigma=sigma)
    reference = naive_heatmap(points, (40, 45), weights, kernel_size, sigma)
    assert bool(calls) == separable
    np.testing.assert_allclose(heat, reference, rtol=1e-4, atol=0)
    np.testing.assert_array_equal(heat == 0, reference == 0)


def test_heatmap_kernel_placement_for_an_even_size():
    # kernel_size 4: the peak on the point's pixel, 2 pixels before it, 1 after.
    heat = gaze_heatmap([[10.0, 10.0]], (20, 20), kernel_size=4, sigma=1.0)
    rows, cols = np.nonzero(heat)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 11, 8, 11)
    assert heat[10, 10] == 1.0
    assert heat[8, 10] == pytest.approx(math.exp(-2.0))


@pytest.mark.parametrize(
    "point, pixel",
    [
        ((2.5, 3.49), (3, 3)),
        ((-0.5, 0.49), (0, 0)),
        ((4.499, 1.5), (4, 2)),
        ((-0.51, 2.0), (-1, 2)),
    ],
)
def test_heatmap_puts_a_point_on_the_pixel_that_contains_it(point, pixel):
    heat = gaze_heatmap([point], (6, 6), kernel_size=3, sigma=0.5)
    expected = naive_heatmap([pixel], (6, 6), kernel_size=3, sigma=0.5)
    np.testing.assert_allclose(heat, expected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(heat == 0, expected == 0)


def test_heatmap_ignores_nan_points_and_scales_with_weights():
    points = np.array([[5.0, 5.0], [np.nan, 3.0], [12.0, np.inf], [20.0, 8.0]])
    weights = np.array([0.2, 5.0, 5.0, 0.4])
    heat = gaze_heatmap(points, (30, 30), weights, kernel_size=11, sigma=2.0)
    clean = gaze_heatmap(points[[0, 3]], (30, 30), weights[[0, 3]], kernel_size=11, sigma=2.0)
    np.testing.assert_array_equal(heat, clean)
    doubled = gaze_heatmap(points, (30, 30), 2 * weights, kernel_size=11, sigma=2.0)
    np.testing.assert_allclose(doubled, 2 * heat, rtol=1e-12)


def test_heatmap_of_a_point_outside_keeps_the_part_of_its_kernel_inside():
    # A point 3 px above the image: row 0 sees the kernel 3 px from its peak.
    heat = gaze_heatmap([[-3.0, 4.0]], (5, 9), kernel_size=11, sigma=2.0)
    assert heat[0, 4] == pytest.approx(math.exp(-9 / 8))
    assert heat[2, 4] == pytest.approx(math.exp(-25 / 8))
    assert not gaze_heatmap([[-6.0, 4.0]], (5, 9), kernel_size=11, sigma=2.0).any()
    assert not gaze_heatmap(np.empty((0, 2)), (5, 9)).any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"points": [[1, 2, 3]], "shape": (5, 5)}, "shape \\(K, 2\\)"),
        ({"points": [[1, 2]], "shape": (5,)}, "two positive integers"),
        ({"points": [[1, 2]], "shape": (5, 0)}, "two positive integers"),
        ({"points": [[1, 2]], "shape": (5, 5), "weights": [-1.0]}, "non-negative"),
        ({"points": [[1, 2]], "shape": (5, 5), "weights": [1.0, 2.0]}, "2 entries"),
        ({"points": [[1, 2]], "shape": (5, 5), "kernel_size": 0}, "kernel_size"),
        ({"points": [[1, 2]], "shape": (5, 5), "sigma": 0}, "sigma"),
    ],
)
def test_heatmap_rejects_bad_input_with_one_clear_sentence(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gaze_heatmap(**kwargs)


# -- blurred_gaze -------------------------------------------------------------------
def reference_blurred_gaze(points, shape, radius=3, sigma=5.0, pad=20):
    """Blur the gaze mask of a canvas much larger than the image, then crop."""
    canvas = np.zeros((shape[0] + 2 * pad, shape[1] + 2 * pad))
    for r, c in points:
        if math.isfinite(r) and math.isfinite(c):
            i, j = math.floor(r + 0.5) + pad, math.floor(c + 0.5) + pad
            if 0 <= i < canvas.shape[0] and 0 <= j < canvas.shape[1]:
                canvas[i, j] = 1.0
    blurred = ndimage.gaussian_filter(canvas, sigma, radius=radius, mode="constant")
    return blurred[pad : pad + shape[0], pad : pad + shape[1]]


@pytest.mark.parametrize(
    "shape, radius, sigma, margin",
    [((32, 24), 3, 5.0, 0), ((32, 24), 3, 5.0, 6), ((10, 40), 1, 0.7, 4), ((15, 15), 0, 1.0, 2)],
)
def test_blurred_gaze_equals_blurring_the_gaze_mask_of_a_larger_canvas(
    shape, radius, sigma, margin
):
    rng = np.random.default_rng(radius)
    points = rng.uniform(-margin, np.array(shape) + margin, (60, 2))
    points[::7] = np.nan
    out = blurred_gaze(points, shape, radius, sigma)
    np.testing.assert_allclose(
        out, reference_blurred_gaze(points, shape, radius, sigma), atol=1e-12
    )


def test_blurred_gaze_range_isolated_pixel_and_full_coverage():
    g = np.exp(-(np.arange(-3, 4) ** 2) / 50.0)
    single = blurred_gaze([[10.2, 9.8], [9.9, 10.1]], (21, 21))  # two points, one pixel
    assert single.max() == pytest.approx((g.max() / g.sum()) ** 2)
    assert single.argmax() == np.ravel_multi_index((10, 10), (21, 21))
    rows, cols = np.mgrid[-3:13, -3:11]
    full = blurred_gaze(np.column_stack([rows.ravel(), cols.ravel()]), (10, 8))
    np.testing.assert_allclose(full, 1.0, rtol=1e-12)
    assert 0.0 <= single.min() and full.max() <= 1.0
    assert not blurred_gaze([[-4.0, 2.0]], (10, 8)).any()


# -- visual_attention_map -------------------------------------------------------------
def test_vam_is_duration_weighted_and_normalised():
    fixations = Fixations(
        start=[0.0, 0.5, 1.0], duration=[0.2, 0.6, 0.3], coords=[[10, 10], [40, 60], [70, 20]]
    )
    vam = visual_attention_map(fixations, (80, 90), sigma=5.0)
    assert vam.shape == (80, 90) and vam.max() == 1.0 and vam.min() >= 0.0
    assert np.unravel_index(vam.argmax(), vam.shape) == (40, 60)
    assert vam[10, 10] == pytest.approx(0.2 / 0.6) and vam[70, 20] == pytest.approx(0.3 / 0.6)
    as_arrays = visual_attention_map(fixations.coords, (80, 90), 5.0, weights=fixations.duration)
    np.testing.assert_array_equal(vam, as_arrays)


def test_vam_uses_the_last_two_columns_of_nd_fixations():
    fixations_3d = Fixations(start=[0, 1], duration=[0.3, 0.3], coords=[[4, 10, 12], [4, 30, 5]])
    fixations_2d = Fixations(start=[0, 1], duration=[0.3, 0.3], coords=[[10, 12], [30, 5]])
    np.testing.assert_array_equal(
        visual_attention_map(fixations_3d, (40, 40), 3.0),
        visual_attention_map(fixations_2d, (40, 40), 3.0),
    )


@pytest.mark.parametrize("mode", ["image", "gazemedseg"])
@pytest.mark.parametrize(
    "points, weights",
    [(np.empty((0, 2)), None), ([[5.0, 5.0]], [0.0]), ([[np.nan, 1.0]], [1.0])],
)
def test_vam_without_attention_is_all_zero(mode, points, weights):
    vam = visual_attention_map(points, (20, 30), 4.0, weights=weights, mode=mode)
    assert vam.shape == (20, 30) and not vam.any()


def test_vam_gazemedseg_mode_properties():
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(0, 529, 20), rng.uniform(0, 621, 20)])
    durations = rng.uniform(0.1, 0.4, 20)
    durations[4] = 3.0
    vam = visual_attention_map(
        points, (529, 621), maps.GAZEMEDSEG_SIGMA["kvasir"], weights=durations, mode="gazemedseg"
    )
    assert vam.shape == (529, 621) and vam.dtype == np.float64
    assert 0.0 <= vam.min() < 0.01 and vam.max() > 0.99
    peak = np.array(np.unravel_index(vam.argmax(), vam.shape))
    assert np.hypot(*(peak - points[4])) < 30


@pytest.mark.parametrize(
    "coordinate, size, canvas_index",
    [
        (10.0, 384, 20),
        (100.0, 1536, 49),
        (0.0, 768, 0),
        (1.0, 768, 1),
        (2.0, 768, 1),
        (767.0, 768, 767),
    ],
)
def test_gazemedseg_canvas_pixel_is_round_of_normalised_times_canvas_minus_one(
    coordinate, size, canvas_index
):
    pixels, on_image = maps._gazemedseg_canvas_pixels(
        np.array([[coordinate, 5.0]]), (size, 10), 768
    )
    assert on_image.tolist() == [True] and pixels[0, 0] == canvas_index


def keys_cubic(x, a=-0.75):
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def reference_resize_cubic(image, shape):
    """Pixel-by-pixel bicubic resize with half-pixel centres and clamped borders."""
    out = np.zeros(shape)
    for i in range(shape[0]):
        sr = (i + 0.5) * image.shape[0] / shape[0] - 0.5
        for j in range(shape[1]):
            sc = (j + 0.5) * image.shape[1] / shape[1] - 0.5
            total = 0.0
            for m in range(math.floor(sr) - 1, math.floor(sr) + 3):
                for n in range(math.floor(sc) - 1, math.floor(sc) + 3):
                    pixel = image[
                        min(max(m, 0), image.shape[0] - 1), min(max(n, 0), image.shape[1] - 1)
                    ]
                    total += keys_cubic(sr - m) * keys_cubic(sc - n) * pixel
            out[i, j] = total
    return out


@pytest.mark.parametrize(
    "source, target", [((12, 9), (17, 5)), ((8, 8), (8, 8)), ((5, 13), (2, 30))]
)
def test_cubic_resize_equals_keys_cubic_convolution(source, target):
    image = np.random.default_rng(sum(target)).random(source)
    resized = maps._resize_cubic(image, target)
    np.testing.assert_allclose(resized, reference_resize_cubic(image, target), atol=1e-12)
    np.testing.assert_allclose(maps._resize_cubic(np.full(source, 0.4), target), 0.4, atol=1e-12)


def test_vam_gazemedseg_mode_matches_gazemedseg_recipe_with_opencv():
    import cv2  # opencv-python-headless is in the test extra: a missing cv2 fails, not skips
    rng = np.random.default_rng(5)
    shape = (352, 568)
    points = np.column_stack([rng.uniform(-0.5, 351.5, 23), rng.uniform(-0.5, 567.5, 23)])
    durations = rng.uniform(50, 700, 23)
    canvas = np.zeros((768, 768), np.float32)
    for (r, c), d in zip(points, durations):
        canvas[round((r + 0.5) / shape[0] * 768) - 1, round((c + 0.5) / shape[1] * 768) - 1] += d
    canvas = ndimage.gaussian_filter(canvas, 50)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    expected = cv2.resize(canvas, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    vam = visual_attention_map(points, shape, 50, weights=durations, mode="gazemedseg")
    np.testing.assert_allclose(vam, np.clip(expected, 0, 1), atol=1e-5)


def test_vam_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode must be"):
        visual_attention_map([[1.0, 1.0]], (5, 5), 2.0, mode="gaussian")


# -- track_maps ------------------------------------------------------------------------
TRACK_CASES = [
    # track (row, col) in time order, shape, beta, tau
    ([[5.0, 6.0]], (12, 15), 10.0, 0.25),
    ([[2.0, 2.0], [9.0, 13.0]], (12, 15), 10.0, 0.25),
    ([[1.0, 1.0], [1.0, 13.0], [10.0, 13.0], [10.0, 1.0]], (12, 15), 3.0, 0.25),
    ([[3.3, 4.7], [3.3, 4.7], [8.1, 2.2]], (12, 15), 4.0, 0.1),
    ([[-8.0, -5.0], [20.0, 30.0]], (12, 15), 5.0, 0.3),
    ([[-30.0, 7.0], [-25.0, 9.0]], (12, 15), 10.0, 0.25),
    ([[0.0, 0.0], [11.0, 14.0], [0.0, 14.0], [6.0, 3.5], [6.5, 3.0]], (12, 15), 15.0, 0.25),
    ([[2.0, 2.0], [9.0, 11.0], [4.0, 12.0]], (9, 13), 2.0, 0.0),
    ([[2.0, 2.0], [9.0, 11.0]], (9, 13), 50.0, 0.9),
    ([[4.0, 0.5], [4.0, 0.5]], (1, 7), 2.0, 0.25),
]


@pytest.mark.parametrize("track, shape, beta, tau", TRACK_CASES)
def test_track_maps_equal_brute_force_per_pixel_distance(track, shape, beta, tau):
    track = np.asarray(track)
    ratios = (0.5, 0.75, 1.0)
    maps_by_ratio = track_maps(track, shape, ratios, beta, tau)
    assert list(maps_by_ratio) == list(ratios)
    for ratio, g in maps_by_ratio.items():
        kept = track[len(track) - math.ceil(ratio * len(track)) :]
        np.testing.assert_allclose(
            g, brute_force_track_map(kept, shape, beta, tau), rtol=1e-12, atol=0
        )
        assert ((g == 0) | ((g > tau) & (g <= 1))).all()


@settings(max_examples=40, deadline=None)
@given(
    track=st.lists(
        st.tuples(st.floats(-15, 35, allow_nan=False), st.floats(-15, 35, allow_nan=False)),
        min_size=1,
        max_size=6,
    ),
    shape=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    beta=st.floats(0.5, 20),
    tau=st.sampled_from([0.0, 0.05, 0.25, 0.5]),
)
def test_track_maps_equal_brute_force_on_random_tracks(track, shape, beta, tau):
    g = track_maps(np.array(track), shape, (1.0,), beta, tau)[1.0]
    np.testing.assert_allclose(
        g, brute_force_track_map(track, shape, beta, tau), rtol=1e-12, atol=0
    )


@pytest.mark.parametrize(
    "n_fixations, ratio, kept",
    [(4, 0.5, 2), (3, 0.5, 2), (10, 0.7, 7), (4, 0.75, 3), (1, 0.5, 1), (7, 1.0, 7)],
)
def test_reverse_truncation_keeps_the_last_ceil_ratio_fixations(n_fixations, ratio, kept):
    track = np.column_stack([np.arange(n_fixations) * 10.0 + 5, np.full(n_fixations, 5.0)])
    shape = (n_fixations * 10 + 10, 11)
    g = track_maps(track, shape, (ratio,), beta=1.0, tau=0.5)[ratio]
    reached_rows = np.flatnonzero(g[:, 5])
    assert reached_rows.min() == (n_fixations - kept) * 10 + 5
    assert reached_rows.max() == (n_fixations - 1) * 10 + 5


def test_track_maps_from_fixations_follow_start_time_and_nest():
    fixations = Fixations(
        start=[2.0, 0.0, 1.0, 3.0], duration=[0.2] * 4, coords=[[30, 30], [5, 5], [5, 40], [40, 8]]
    )
    by_time = np.array([[5, 5], [5, 40], [30, 30], [40, 8]], dtype=float)
    from_fixations = track_maps(fixations, (48, 50))
    from_array = track_maps(by_time, (48, 50))
    for ratio in (0.5, 0.75, 1.0):
        np.testing.assert_array_equal(from_fixations[ratio], from_array[ratio])
    assert (from_fixations[0.5] <= from_fixations[0.75]).all()
    assert (from_fixations[0.75] <= from_fixations[1.0]).all()
    assert (from_fixations[0.5] < from_fixations[1.0]).any()


def test_track_maps_of_no_fixations_are_zero_and_shared_keeps_are_independent():
    empty = track_maps(np.empty((0, 2)), (6, 7))
    assert list(empty) == [0.5, 0.75, 1.0] and not any(g.any() for g in empty.values())
    same = track_maps(np.array([[3.0, 3.0]]), (6, 7), ratios=(0.5, 1.0))
    np.testing.assert_array_equal(same[0.5], same[1.0])
    assert same[0.5] is not same[1.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beta": 0.0}, "beta"),
        ({"tau": 1.0}, "tau"),
        ({"tau": -0.1}, "tau"),
        ({"ratios": (0.0, 1.0)}, "ratios"),
        ({"ratios": (1.5,)}, "ratios"),
        ({"fixations": np.array([[1.0, np.nan]])}, "finite"),
        ({"fixations": np.array([[1e300, 2.0], [3.0, 4.0]])}, "image data coordinates"),
        ({"shape": (4, 4, 4)}, "two positive integers"),
    ],
)
def test_track_maps_reject_bad_input(kwargs, message):
    arguments = {"fixations": np.array([[1.0, 2.0]]), "shape": (5, 5)} | kwargs
    with pytest.raises(ValueError, match=message):
        track_maps(**arguments)


# -- one vocabulary and one dispatcher for the SAM-meets-Gaze maps ------------------------
#: canonical name -> (the Gaze layers' alias, made of raw samples, shaped by kernel_size/sigma)
MAP_TABLE = {
    "heatmap_gaze": ("gaze", True, True),
    "heatmap_fixations": ("fixations", False, True),
    "heatmap_fixations_duration": ("fixations+duration", False, True),
    "blurred_gaze": ("blurred", True, False),
}


def direct_map(kind, points_2d, durations, shape, kernel_size, sigma):
    """What each caller computed by hand before the dispatcher (the old code paths)."""
    if kind == "heatmap_gaze":
        return gaze_heatmap(points_2d, shape, None, kernel_size, sigma)
    if kind == "heatmap_fixations":
        return gaze_heatmap(points_2d, shape, None, kernel_size, sigma)
    if kind == "heatmap_fixations_duration":
        return gaze_heatmap(points_2d, shape, durations, kernel_size, sigma)
    return blurred_gaze(points_2d, shape)


def test_the_vocabulary_is_one_table():
    assert maps.GAZE_MAPS == tuple(MAP_TABLE)
    assert maps.GAZE_MAP_ALIASES == {alias: name for name, (alias, _, _) in MAP_TABLE.items()}
    assert maps.HEATMAP_SPELLINGS == tuple(alias for alias, _, _ in MAP_TABLE.values())


@pytest.mark.parametrize("spelling", [*MAP_TABLE, *(alias for alias, _, _ in MAP_TABLE.values())])
def test_every_spelling_names_its_map(spelling):
    name = spelling if spelling in MAP_TABLE else maps.GAZE_MAP_ALIASES[spelling]
    _alias, raw, kernel = MAP_TABLE[name]
    assert maps.canonical_map(spelling) == name
    assert maps.needs_raw_gaze(spelling) is raw
    assert maps.map_uses_kernel(spelling) is kernel


@pytest.mark.parametrize("kind", ["heatmap", "fixations duration", "fixations+box", "", "Gaze"])
def test_unknown_maps_are_refused_in_one_sentence(kind, recording_2d):
    with pytest.raises(ValueError, match="is unknown; choose one of heatmap_gaze") as raised:
        maps.gaze_map(kind, (64, 80), recording=recording_2d)
    assert str(raised.value).endswith(".") and str(raised.value).count(". ") == 0


@pytest.mark.parametrize("spelling", [*MAP_TABLE, *(alias for alias, _, _ in MAP_TABLE.values())])
@pytest.mark.parametrize("ndim", [2, 3])  # 3D gaze on a 2D shape: the points' last two coordinates
def test_gaze_map_equals_the_direct_function(spelling, ndim, request):
    recording = request.getfixturevalue(f"recording_{ndim}d")
    fixations = request.getfixturevalue(f"fixations_{ndim}d")
    name = maps.canonical_map(spelling)
    source = recording.coords[recording.valid] if MAP_TABLE[name][1] else fixations.coords
    expected = direct_map(name, source[:, -2:], fixations.duration, (64, 80), 30, 5.0)
    got = maps.gaze_map(spelling, (64, 80), recording=recording, fixations=fixations, kernel_size=30, sigma=5.0)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    assert expected.max() > 0


@pytest.mark.parametrize("kind", list(MAP_TABLE))
def test_gaze_map_stacks_planes(kind, recording_3d, fixations_3d):
    """An nD shape: each plane the map of the points on it (rounded), others left out."""
    raw = MAP_TABLE[kind][1]
    points = recording_3d.coords[recording_3d.valid] if raw else fixations_3d.coords
    durations = fixations_3d.duration if kind == "heatmap_fixations_duration" else None
    points = np.vstack([points, [[np.nan, 5.0, 5.0], [7.0, 5.0, 5.0], [-1.0, 5.0, 5.0]]])  # no plane
    durations = None if durations is None else np.r_[durations, 1.0, 1.0, 1.0]
    got = maps.map_of_points(kind, points, (4, 64, 80), durations, 30, 5.0, dtype=np.float32)
    assert got.shape == (4, 64, 80) and got.dtype == np.float32
    planes = np.round(points[:, 0])
    for plane in range(4):
        on = planes == plane
        expected = direct_map(kind, points[on, 1:], None if durations is None else durations[on], (64, 80), 30, 5.0)
        np.testing.assert_allclose(got[plane], expected.astype(np.float32), rtol=1e-6)
    assert all(got[plane].any() for plane in set(planes[np.isfinite(planes)]) & {0, 1, 2, 3})


@pytest.mark.parametrize("kind", list(MAP_TABLE))
def test_a_map_without_its_source_is_refused(kind, recording_2d, fixations_2d):
    raw = MAP_TABLE[kind][1]
    given = {"fixations": fixations_2d} if raw else {"recording": recording_2d}
    with pytest.raises(ValueError, match="needs raw gaze samples" if raw else "needs fixations"):
        maps.gaze_map(kind, (64, 80), **given)


@pytest.mark.parametrize("kind", list(MAP_TABLE))
def test_callers_use_the_dispatcher(kind, recording_3d, fixations_3d):
    """The SAM dense prompt, the heatmap layer and the widget settings take the same names."""
    from napari_gazeseg._napari._gaze_compute import HeatmapSettings
    from napari_gazeseg._napari.layers import HEATMAP_KINDS, heatmap_map
    from napari_gazeseg.models.sam_prompts import DENSE_KINDS, dense_map

    alias = MAP_TABLE[kind][0]
    assert DENSE_KINDS == maps.GAZE_MAPS and HEATMAP_KINDS == maps.HEATMAP_SPELLINGS
    sources = {"recording": recording_3d, "fixations": fixations_3d}
    plane = dense_map(kind, (64, 80), **sources)
    np.testing.assert_array_equal(plane, maps.gaze_map(kind, (64, 80), **sources))
    stack = maps.gaze_map(kind, (4, 64, 80), **sources, dtype=np.float32)
    np.testing.assert_array_equal(heatmap_map(alias, (4, 64, 80), **sources), stack)
    np.testing.assert_array_equal(heatmap_map(kind, (4, 64, 80), **sources), stack)
    assert HeatmapSettings(kind=alias).kind == alias and HeatmapSettings(kind=kind).kind == kind
    with pytest.raises(ValueError, match="is unknown"):
        HeatmapSettings(kind="heatmap")


def test_a_fifth_gaze_map_is_offered_as_a_prompt_by_the_widget_and_both_commands():
    """Issue 11: adding a map touches one file. With a fifth name in GAZE_MAPS (set before
    anything else reads it, in a fresh interpreter), the Segment widget's prompt list and
    the --prompt help of `gazeseg segment` and `gazeseg train-sam` all offer it."""
    import subprocess
    import sys

    code = """
import argparse
import napari_gazeseg.gaze.maps as maps
maps.GAZE_MAPS = (*maps.GAZE_MAPS, "fifth_map")
from napari_gazeseg._napari.segment_widget import PROMPT_CHOICES
from napari_gazeseg.commands import segment, train_sam
helps = []
for command in (segment, train_sam):
    parser = command.add_parser(argparse.ArgumentParser().add_subparsers())
    helps.append(next(a.help for a in parser._actions if "--prompt" in a.option_strings))
print("fifth_map" in PROMPT_CHOICES, ["fifth_map" in h for h in helps])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "[True,", "True]"], out.stdout
