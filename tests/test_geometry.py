"""ScreenGeometry: unit conversions and exact visual angles against closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from napari_gazeseg.gaze.geometry import ScreenGeometry

DEFAULT = ScreenGeometry.default()
# A small, non-square-pixel screen to catch mixed-up axes.
ODD = ScreenGeometry(
    width_px=800, height_px=1000, width_mm=400.0, height_mm=300.0, distance_mm=500.0
)


def test_default_is_a_24_inch_16_by_9_monitor_at_650_mm():
    assert (DEFAULT.width_px, DEFAULT.height_px, DEFAULT.distance_mm) == (1920, 1080, 650.0)
    assert math.hypot(DEFAULT.width_mm, DEFAULT.height_mm) == pytest.approx(24 * 25.4)
    assert DEFAULT.width_mm / DEFAULT.height_mm == pytest.approx(16 / 9)


def test_meta_round_trip_is_json():
    meta = json.loads(json.dumps({"screen": ODD.to_meta()}))
    assert ScreenGeometry.from_meta(meta) == ODD


@pytest.mark.parametrize("meta", [{}, None, {"image": {"shape": [4, 4]}}])
def test_from_meta_without_screen_is_none(meta):
    assert ScreenGeometry.from_meta(meta) is None


@pytest.mark.parametrize(
    ("screen", "message"),
    [
        ({"width_px": 10, "height_px": 10, "width_mm": 1.0, "height_mm": 1.0}, "lacks distance_mm"),
        (
            {"width_px": 10, "height_px": 10, "width_mm": 1.0, "height_mm": 1.0, "distance_mm": 0},
            "positive",
        ),
        (
            {"width_px": 10, "height_px": 10, "width_mm": -1.0, "height_mm": 1.0, "distance_mm": 5},
            "positive",
        ),
        (
            {"width_px": 10, "height_px": "a", "width_mm": 1.0, "height_mm": 1.0, "distance_mm": 5},
            "positive",
        ),
    ],
)
def test_from_meta_rejects_incomplete_or_bad_screens(screen, message):
    with pytest.raises(ValueError, match=message):
        ScreenGeometry.from_meta({"screen": screen})


@pytest.mark.parametrize(
    ("normalised", "mm"),
    [
        ((0.5, 0.5), (0.0, 0.0)),
        ((0.0, 0.0), (-200.0, -150.0)),
        ((1.0, 1.0), (200.0, 150.0)),
        ((0.75, 0.0), (100.0, -150.0)),
    ],
)
def test_normalised_to_mm_from_the_centre(normalised, mm):
    np.testing.assert_allclose(ODD.normalised_to_mm(normalised), mm)
    np.testing.assert_allclose(ODD.mm_to_normalised(mm), normalised)


def test_pixel_conversions_round_trip():
    xy = np.random.default_rng(0).uniform(0, 1, (50, 2))
    px = ODD.normalised_to_px(xy)
    np.testing.assert_allclose(px[:, 0], xy[:, 0] * 800)
    np.testing.assert_allclose(px[:, 1], xy[:, 1] * 1000)
    np.testing.assert_allclose(ODD.px_to_normalised(px), xy)


def test_angle_from_centre_to_edges_is_the_arctangent():
    edges = np.array([[1.0, 0.5], [0.5, 1.0], [0.0, 0.5], [1.0, 1.0]])
    expected = np.degrees(
        [
            math.atan(200 / 500),
            math.atan(150 / 500),
            math.atan(200 / 500),
            math.atan(math.hypot(200, 150) / 500),
        ]
    )
    np.testing.assert_allclose(ODD.visual_angle_deg([0.5, 0.5], edges), expected, rtol=1e-12)
    np.testing.assert_allclose(ODD.eccentricity_deg(edges), expected, rtol=1e-12)


def test_angle_across_the_screen_is_twice_the_half_angle():
    whole = ODD.visual_angle_deg([0.0, 0.5], [1.0, 0.5])
    assert whole == pytest.approx(2 * math.degrees(math.atan(200 / 500)), rel=1e-12)


def test_angles_match_arccos_of_unit_directions_and_broadcast():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, (7, 1, 2))
    b = rng.uniform(0, 1, (1, 5, 2))
    angles = ODD.visual_angle_deg(a, b)
    assert angles.shape == (7, 5)
    da = ODD.directions(a) / np.linalg.norm(ODD.directions(a), axis=-1, keepdims=True)
    db = ODD.directions(b) / np.linalg.norm(ODD.directions(b), axis=-1, keepdims=True)
    expected = np.degrees(np.arccos(np.clip((da * db).sum(-1), -1, 1)))
    np.testing.assert_allclose(angles, expected, atol=1e-6)
    np.testing.assert_allclose(ODD.visual_angle_deg(b, a), angles)


def test_tiny_angles_keep_their_precision():
    # 1e-7 of the screen width at the centre: exactly atan(step_mm / d) by symmetry.
    step = 1e-7
    angle = ODD.visual_angle_deg([0.5 - step / 2, 0.5], [0.5 + step / 2, 0.5])
    expected = 2 * math.degrees(math.atan(step * 400 / 2 / 500))
    assert angle == pytest.approx(expected, rel=1e-6)
    assert ODD.visual_angle_deg([0.3, 0.2], [0.3, 0.2]) == 0.0


def test_nan_in_nan_out():
    assert np.isnan(ODD.visual_angle_deg([np.nan, 0.5], [0.5, 0.5]))


def test_px_per_degree_at_the_centre_and_off_centre():
    centre = DEFAULT.px_per_degree()
    assert centre == pytest.approx(650 * math.pi / 180 / (DEFAULT.width_mm / 1920), rel=1e-6)
    assert 40 < centre < 42
    # Off centre, a horizontal shift of one pixel subtends less angle.
    values = DEFAULT.px_per_degree(np.array([[0.5, 0.5], [0.8, 0.5], [1.0, 0.5], [0.5, 1.0]]))
    assert values.shape == (4,)
    assert values[0] == pytest.approx(centre)
    assert values[0] < values[1] < values[2]
    # At the horizontal edge the local scale is d / cos^2(theta) mm per radian.
    theta = math.atan(DEFAULT.width_mm / 2 / 650)
    assert values[2] == pytest.approx(centre / math.cos(theta) ** 2, rel=1e-4)
    assert DEFAULT.deg_to_px(2.0) == pytest.approx(2 * centre)
    assert DEFAULT.deg_to_normalised(1.0) == pytest.approx(centre / 1920)


@pytest.mark.parametrize("direction", [0.0, 45.0, 90.0, 180.0, 250.0])
@pytest.mark.parametrize("start", [(0.5, 0.5), (0.1, 0.9), (0.85, 0.2)])
def test_offset_by_angle_gives_that_angle(start, direction):
    moved = DEFAULT.offset_by_angle(start, 1.5, direction)
    assert DEFAULT.visual_angle_deg(start, moved) == pytest.approx(1.5, abs=1e-9)
    shift = DEFAULT.normalised_to_px(moved) - DEFAULT.normalised_to_px(start)
    # The shift runs along the screen direction asked for (the rotation plane meets
    # the screen in that line).
    heading = math.degrees(math.atan2(shift[1], shift[0]))
    assert (heading - direction + 180) % 360 - 180 == pytest.approx(0.0, abs=1e-6)


def test_offsets_along_one_line_add_up():
    steps = DEFAULT.offset_by_angle(np.full((5, 2), 0.3), np.arange(5) * 0.25, 30.0)
    np.testing.assert_allclose(
        DEFAULT.visual_angle_deg(steps[0], steps), np.arange(5) * 0.25, atol=1e-9
    )


def test_normalised_to_degrees_axes():
    centre, right, down = ODD.normalised_to_degrees([[0.5, 0.5], [1.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(centre, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(right, [math.degrees(math.atan(200 / 500)), 0.0], atol=1e-12)
    np.testing.assert_allclose(down, [0.0, math.degrees(math.atan(150 / 500))], atol=1e-12)


def test_tangent_plane_coordinates_and_their_angles():
    corners = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    uv = ODD.normalised_to_tangent(corners)
    np.testing.assert_allclose(uv, [[-0.4, -0.3], [0.4, 0.3], [0.0, 0.0]])
    xy = np.random.default_rng(2).uniform(0, 1, (20, 2))
    uv = ODD.normalised_to_tangent(xy)
    angles = ScreenGeometry.tangent_angle_deg(uv[:-1, 0], uv[:-1, 1], uv[1:, 0], uv[1:, 1])
    np.testing.assert_allclose(angles, ODD.visual_angle_deg(xy[:-1], xy[1:]), rtol=1e-12)


# Second monitors are rarely the default 16:9 landscape panel.
MONITORS = {
    "portrait 24-inch": ScreenGeometry(1080, 1920, 298.9, 531.4, 600.0),
    "4:3 20-inch": ScreenGeometry(1600, 1200, 406.4, 304.8, 550.0),
    "ultrawide 34-inch": ScreenGeometry(3440, 1440, 797.7, 333.9, 700.0),
    "4K 27-inch HiDPI": ScreenGeometry(3840, 2160, 597.7, 336.2, 650.0),
}


@pytest.mark.parametrize("name", sorted(MONITORS))
def test_any_monitor_shape_gives_the_arctangents_of_its_own_half_sizes(name):
    screen = MONITORS[name]
    half_w, half_h, d = screen.width_mm / 2, screen.height_mm / 2, screen.distance_mm
    edges = np.array([[1.0, 0.5], [0.5, 1.0], [0.0, 0.0]])  # right, bottom, top-left corner
    expected = np.degrees(np.arctan(np.array([half_w, half_h, math.hypot(half_w, half_h)]) / d))
    np.testing.assert_allclose(screen.eccentricity_deg(edges), expected, rtol=1e-12)
    np.testing.assert_allclose(
        screen.normalised_to_mm([[0.25, 0.75]]), [[-half_w / 2, half_h / 2]], rtol=1e-12
    )
    px = screen.normalised_to_px([[0.25, 0.75]])
    np.testing.assert_allclose(px, [[0.25 * screen.width_px, 0.75 * screen.height_px]])
    assert ScreenGeometry.from_meta({"screen": screen.to_meta()}) == screen
