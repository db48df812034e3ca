"""Synthetic images with ground-truth label images, for the simulated observer.

Three kinds, each a plausible stand-in for data annotated with gaze:

* ``"cells"``: grey fluorescence microscopy; textured cells of varied brightness on
  a dark, unevenly lit background with debris and out-of-focus haze.
* ``"polyp"``: RGB colonoscopy (Kvasir-SEG-like); reddish mucosa with folds and
  vessels, bulging polyps of a paler colour and finer texture, specular
  highlights, a dark vignetted circular field of view.
* ``"organ"``: grey MRI/CT-like slice; a body outline on air, organs as smooth blobs
  of distinct intensity, unlabelled look-alike structures, a bias field and
  Rician noise.

Objects never overlap, so each label id ``1..n`` covers one connected blob.
The object is distinguishable by intensity, colour and texture but not by one
global threshold: vignetting, bias fields, dim objects and bright distractors
see to that. Arrays are ``(row, col)`` (``(row, col, 3)`` for RGB); everything is
deterministic given the numpy ``Generator``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["SCENE_KINDS", "make_scene"]

#: The scene kinds :func:`make_scene` draws.
SCENE_KINDS = ("cells", "polyp", "organ")

#: Shortest image side the scenes are drawn for (smaller objects lose their shape).
MIN_SIDE = 32


def make_scene(
    kind: str, shape: tuple[int, int], n_objects: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one image and its label image.

    Parameters
    ----------
    kind : {"cells", "polyp", "organ"}
    shape : (rows, cols)
        Image size in pixels.
    n_objects : int
        Number of labelled objects (ids ``1..n_objects``).
    rng : numpy.random.Generator
        Source of all randomness.

    Returns
    -------
    image : uint8, ``(rows, cols)`` for cells and organ, ``(rows, cols, 3)`` for polyp.
    labels : int32 ``(rows, cols)``, 0 background, ``1..n_objects`` the objects.
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; choose one of {', '.join(SCENE_KINDS)}.")
    shape = (int(shape[0]), int(shape[1]))
    if min(shape) < MIN_SIDE:
        raise ValueError(
            f"the image shape {shape} is too small; use at least {MIN_SIDE} pixels a side."
        )
    if n_objects < 1:
        raise ValueError(f"n_objects must be at least 1, got {n_objects}.")
    draw = {"cells": _cells, "polyp": _polyp, "organ": _organ}[kind]
    image, labels = draw(shape, int(n_objects), rng)
    return image, labels.astype(np.int32)


# -- shared drawing helpers ---------------------------------------------------


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise with zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    return (field - field.mean()) / (field.std() + 1e-12)


def _radial(shape: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """Distance of every pixel centre from ``centre`` (row, col), in units of the half-diagonal."""
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    half_diagonal = 0.5 * np.hypot(*shape)
    return np.hypot(rows - centre[0], cols - centre[1]) / half_diagonal


def _blob(
    shape: tuple[int, int],
    centre: tuple[float, float],
    radii: tuple[float, float],
    angle: float,
    rng: np.random.Generator,
    wobble: float = 0.12,
) -> tuple[tuple[slice, slice], np.ndarray]:
    """An irregular ellipse as ``(box, rho)``: ``rho`` is its normalised radius over
    the image region ``box``; ``rho < 1`` is inside, ``rho < 1.15`` stays within ``box``.

    The boundary is an ellipse with semi-axes ``radii`` (pixels, along the rotated
    row/col axes), rotated by ``angle`` (radians) and perturbed by harmonics 2-4 of
    relative amplitude up to ``wobble`` (at most 0.2).
    """
    reach = int(np.ceil(1.7 * max(radii))) + 2
    box = tuple(
        slice(max(0, int(c) - reach), min(size, int(c) + reach + 1))
        for c, size in zip(centre, shape)
    )
    rows, cols = np.ogrid[box[0], box[1]]
    dr, dc = rows - centre[0], cols - centre[1]
    cos, sin = np.cos(angle), np.sin(angle)
    u = (dr * cos + dc * sin) / radii[0]
    v = (-dr * sin + dc * cos) / radii[1]
    theta = np.arctan2(v, u)
    boundary = np.ones_like(theta)
    for harmonic in (2, 3, 4):
        amplitude = wobble * rng.uniform(0.2, 1.0) / (harmonic - 1)
        boundary = boundary + amplitude * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    return box, np.hypot(u, v) / np.clip(boundary, 0.5, None)


def _place(
    shape: tuple[int, int],
    radii: np.ndarray,
    rng: np.random.Generator,
    allowed: np.ndarray | None = None,
    gap: float = 3.0,
    extent: float = 1.25,
    required: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Centres (row, col) for blobs of the given radii, largest first, that do not touch.

    A blob of radius ``r`` may reach ``extent * r`` from its centre; blobs keep
    ``gap`` pixels apart and inside ``allowed`` (bool image, default the whole
    image). A blob that finds no room is shrunk (to 85 %, up to three times). When
    it still finds none, another random packing is tried (five in all); then
    ``required`` blobs raise ValueError and the others are left out. Returns the
    centres and the radii used.
    """
    for _ in range(4):
        try:
            return _pack(shape, radii, rng, allowed, gap, extent, required)
        except ValueError:
            pass
    return _pack(shape, radii, rng, allowed, gap, extent, required)


def _pack(shape, radii, rng, allowed, gap, extent, required):
    """One random packing for :func:`_place`, largest blob first."""
    radii = np.sort(np.asarray(radii, dtype=np.float64))[::-1]
    room = np.ones(shape, bool) if allowed is None else allowed
    free = ndimage.distance_transform_edt(np.pad(room, 1))[1:-1, 1:-1] - 1.0
    centres, used = [], []
    for radius in radii:
        for _ in range(4):
            candidates = np.flatnonzero(free > extent * radius)
            if candidates.size or radius < 3.0:
                break
            radius *= 0.85
        if candidates.size == 0:
            if not required:
                continue
            raise ValueError(
                f"cannot fit {len(radii)} objects into a {shape[0]} x {shape[1]} image; "
                "ask for fewer objects or a larger shape."
            )
        centre = np.array(np.unravel_index(rng.choice(candidates), shape), float) + rng.uniform(
            -0.4, 0.4, 2
        )
        reach = int(np.ceil(2 * extent * radius + gap)) + 1
        box = tuple(
            slice(max(0, int(c) - reach), min(n, int(c) + reach + 1)) for c, n in zip(centre, shape)
        )
        rows, cols = np.ogrid[box[0], box[1]]
        clearance = np.hypot(rows - centre[0], cols - centre[1]) - extent * radius - gap
        free[box] = np.minimum(free[box], clearance)
        centres.append(centre)
        used.append(radius)
    return np.asarray(centres).reshape(-1, 2), np.asarray(used)


def _object_radii(
    shape: tuple[int, int],
    n_objects: int,
    rng: np.random.Generator,
    low: float,
    high: float,
    max_cover: float,
) -> np.ndarray:
    """Radii (pixels) between ``low`` and ``high`` times the short side, shrunk so that
    the objects cover at most ``max_cover`` of the image, largest first."""
    side = min(shape)
    radii = side * rng.uniform(low, high, n_objects)
    cover = np.pi * np.sum(radii**2) / (shape[0] * shape[1])
    if cover > max_cover:
        radii *= np.sqrt(max_cover / cover)
    return np.sort(np.maximum(radii, 2.5))[::-1]


def _labels_from_blobs(shape: tuple[int, int], blobs: list) -> np.ndarray:
    """Label image with id ``i`` where blob ``i`` (1-based) has ``rho < 1``."""
    labels = np.zeros(shape, np.int32)
    for object_id, (box, rho) in enumerate(blobs, start=1):
        region = labels[box]
        region[(rho < 1.0) & (region == 0)] = object_id
    return labels


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def _random_shapes(shape, centres, radii, rng, wobble, elongation=(0.7, 1.0)):
    """Irregular ellipses (see :func:`_blob`) at the centres: major semi-axis ``radius``,
    minor ``radius`` times a ratio drawn from ``elongation``, random orientation."""
    blobs = []
    for centre, radius in zip(centres, radii):
        ratio = rng.uniform(*elongation)
        axes = (radius, radius * ratio) if rng.random() < 0.5 else (radius * ratio, radius)
        blobs.append(_blob(shape, tuple(centre), axes, rng.uniform(0, np.pi), rng, wobble))
    return blobs


# -- the three kinds ----------------------------------------------------------


def _cells(shape, n_objects, rng):
    """Fluorescent cells: bright textured blobs with a brighter core, on a dark background
    with haze, debris, uneven illumination and shot noise."""
    side = min(shape)
    radii = _object_radii(shape, n_objects, rng, 0.06, 0.11, max_cover=0.3)
    centres, radii = _place(shape, radii, rng)
    blobs = _random_shapes(shape, centres, radii, rng, wobble=0.12)
    labels = _labels_from_blobs(shape, blobs)

    fluorescence = np.zeros(shape)
    granules = _smooth_noise(rng, shape, 1.2)
    for object_id, (box, rho) in enumerate(blobs, start=1):
        inside = labels[box] == object_id
        brightness = rng.uniform(0.2, 0.9)
        nucleus = 0.35 * np.exp(-(rho**2) / 0.15)
        profile = brightness * (0.65 + 0.35 * (1 - np.clip(rho, 0, 1) ** 2) + nucleus)
        fluorescence[box][inside] = (profile * (1 + 0.18 * granules[box]))[inside]
    fluorescence = ndimage.gaussian_filter(fluorescence, 0.8)

    # unlabelled distractors: out-of-focus haze and small bright debris
    haze = np.zeros(shape)
    for _ in range(int(rng.integers(1, 4))):
        centre = rng.uniform(0, 1, 2) * shape
        haze += rng.uniform(0.12, 0.35) * np.exp(
            -((_radial(shape, centre) / rng.uniform(0.08, 0.2)) ** 2)
        )
    debris = np.zeros(shape)
    n_debris = int(rng.integers(n_objects, 3 * n_objects + 4))
    spots = (rng.uniform(0, 1, (n_debris, 2)) * (np.array(shape) - 1)).astype(int)
    debris[spots[:, 0], spots[:, 1]] = rng.uniform(4.0, 12.0, n_debris)
    debris = ndimage.gaussian_filter(debris, rng.uniform(0.8, 1.5))

    background = 0.05 + 0.03 * _smooth_noise(rng, shape, side / 8)
    illumination = 1.0 - 0.6 * _radial(shape, rng.uniform(0.3, 0.7, 2) * shape) ** 2
    signal = (background + haze + fluorescence + debris) * illumination
    photons = 120.0
    noisy = rng.poisson(np.clip(signal, 0, None) * photons) / photons
    noisy = noisy + 0.01 * rng.standard_normal(shape)
    return _to_uint8(noisy), labels


def _polyp(shape, n_objects, rng):
    """Colonoscopy frame: mucosa with folds and vessels; domed, paler polyps with a shadowed
    rim and specular highlights; vignetting inside a circular field of view."""
    side = min(shape)
    fov_centre = np.array(shape) / 2 + rng.uniform(-0.03, 0.03, 2) * side
    field_of_view = _radial(shape, fov_centre) < rng.uniform(0.85, 0.95)
    fov_core = ndimage.binary_erosion(field_of_view, iterations=max(2, side // 32))
    radii = _object_radii(shape, n_objects, rng, 0.1, 0.2, max_cover=0.3)
    centres, radii = _place(shape, radii, rng, allowed=fov_core, extent=1.3)
    blobs = _random_shapes(shape, centres, radii, rng, wobble=0.15, elongation=(0.75, 1.0))
    labels = _labels_from_blobs(shape, blobs)

    base = np.array([0.80, 0.40, 0.33]) * rng.uniform(0.9, 1.1, 3)
    folds = 1 + 0.14 * _smooth_noise(rng, shape, side / 10) + 0.05 * _smooth_noise(rng, shape, 2.0)
    vessel_field = _smooth_noise(rng, shape, side / 25)
    vessels = np.exp(-((vessel_field / 0.06) ** 2)) * (
        0.5 + 0.5 * (_smooth_noise(rng, shape, side / 12) > 0)
    )
    colour = base[None, None, :] * folds[..., None]
    colour = colour * (1 - vessels[..., None] * np.array([0.15, 0.35, 0.3]))

    light = rng.uniform(-1, 1, 2)
    light = light / (np.linalg.norm(light) + 1e-12)
    pits = _smooth_noise(rng, shape, 1.0)
    highlight_spots = np.zeros(shape)
    for object_id, ((box, rho), centre, radius) in enumerate(zip(blobs, centres, radii), start=1):
        inside = labels[box] == object_id
        height = np.sqrt(np.clip(1 - rho**2, 0, 1))
        slope_r, slope_c = np.gradient(height)
        shading = (
            0.8 + 0.3 * height - 4.0 * radius / side * (slope_r * light[0] + slope_c * light[1])
        )
        tint = base * np.array([1.06, 1.14, 1.1]) * rng.uniform(0.95, 1.05, 3)
        polyp_colour = tint[None, None, :] * (shading * (1 + 0.04 * pits[box]))[..., None]
        region = colour[box]
        region[(rho > 0.85) & (rho < 1.15)] *= 0.85
        region[inside] = polyp_colour[inside]
        for _ in range(int(rng.integers(2, 5))):
            spot = (
                np.asarray(centre)
                - light * radius * rng.uniform(0.1, 0.5)
                + rng.normal(0, 0.12 * radius, 2)
            )
            highlight_spots[
                int(np.clip(spot[0], 0, shape[0] - 1)), int(np.clip(spot[1], 0, shape[1] - 1))
            ] = 1
    mucosa_spots = (
        rng.uniform(0, 1, (int(rng.integers(5, 15)), 2)) * (np.array(shape) - 1)
    ).astype(int)
    highlight_spots[mucosa_spots[:, 0], mucosa_spots[:, 1]] = 1
    highlights = np.clip(ndimage.gaussian_filter(highlight_spots, max(1.0, side / 200)) * 25, 0, 1)
    colour = colour + highlights[..., None] * (1.05 - colour)

    colour = ndimage.gaussian_filter(colour, (0.7, 0.7, 0))
    vignetting = np.clip(1.05 - 0.75 * (_radial(shape, fov_centre) / 0.9) ** 2, 0.1, 1.0)
    colour = colour * vignetting[..., None] * field_of_view[..., None]
    colour = colour + 0.015 * rng.standard_normal(colour.shape) * field_of_view[..., None]
    return _to_uint8(colour), labels


def _organ(shape, n_objects, rng):
    """MRI/CT-like slice: a body outline with a fat rim on air; organs of distinct
    intensity; look-alike distractors; a bias field and Rician noise."""
    side = min(shape)
    centre = np.array(shape) / 2 + rng.uniform(-0.02, 0.02, 2) * side
    body = np.zeros(shape, bool)
    box, body_rho = _blob(
        shape, tuple(centre), (0.44 * shape[0], 0.46 * shape[1]), rng.uniform(-0.2, 0.2), rng, 0.05
    )
    body[box] = body_rho < 1
    depth = ndimage.distance_transform_edt(body)
    tissue = np.where(body, 0.38 + 0.025 * _smooth_noise(rng, shape, 2.0), 0.01)
    tissue[body & (depth < 0.05 * side)] = 0.62  # subcutaneous fat

    interior = depth > 0.07 * side
    radii = _object_radii(shape, n_objects, rng, 0.07, 0.14, max_cover=0.2)
    centres, radii = _place(shape, radii, rng, allowed=interior, gap=4.0, extent=1.3)
    blobs = _random_shapes(shape, centres, radii, rng, wobble=0.15, elongation=(0.55, 1.0))
    labels = _labels_from_blobs(shape, blobs)
    beside_organs = interior & ~ndimage.binary_dilation(labels > 0, iterations=4)
    distractor_radii = side * rng.uniform(0.03, 0.08, int(rng.integers(2, 5)))
    distractor_centres, distractor_radii = _place(
        shape, distractor_radii, rng, allowed=beside_organs, gap=3.0, required=False
    )

    image = tissue.copy()
    organ_texture = 0.02 * _smooth_noise(rng, shape, side / 20)
    for object_id, (box, _) in enumerate(blobs, start=1):
        level = rng.uniform(0.6, 0.8) if rng.random() < 0.6 else rng.uniform(0.16, 0.26)
        inside = labels[box] == object_id
        image[box][inside] = level + organ_texture[box][inside]
    texture = 0.06 * _smooth_noise(rng, shape, 1.5)
    for box, rho in _random_shapes(shape, distractor_centres, distractor_radii, rng, wobble=0.15):
        # vessels and bowel loops: some as bright as organs, textured
        level = rng.uniform(0.55, 0.85)
        image[box][rho < 1] = (level + texture[box])[rho < 1]

    image = ndimage.gaussian_filter(image, 1.0)
    bias = 1 + 0.2 * _smooth_noise(rng, shape, side / 3)
    image = image * bias
    sigma = 0.025
    image = np.hypot(image + sigma * rng.standard_normal(shape), sigma * rng.standard_normal(shape))
    return _to_uint8(image), labels
