"""Maps made from gaze: heatmaps, blurred gaze, visual attention maps, track maps.

Conventions shared by every function here:

- Points are ``(K, 2)`` arrays of ``(row, col)`` image data coordinates of one 2D
  slice (callers pass ``coords[:, -2:]``), pixel centres at integers, so pixel
  ``(i, j)`` covers ``[i - 0.5, i + 0.5) x [j - 0.5, j + 0.5)``.
- A point is *splatted* onto the pixel that contains it: ``floor(p + 0.5)`` per
  axis (nearest pixel centre, halves rounded up). Heatmaps and blurred gaze use
  this; track maps use exact sub-pixel distances instead.
- Points with a NaN or infinite coordinate are ignored (invalid samples). Points
  outside the image still contribute the part of their kernel that falls inside
  it: every map equals the map of an unbounded canvas cropped to the image.
- Every map is a float64 array of the requested ``shape = (rows, cols)``.

The four maps of *SAM meets Gaze* have one vocabulary and one dispatcher here:
:data:`GAZE_MAPS` names them (the paper's prompt spellings, which fine-tuned
checkpoints store), :data:`GAZE_MAP_ALIASES` maps the Gaze layers' shorter
spellings (``"fixations+duration"``, which heatmap layers store) to them,
:func:`needs_raw_gaze` says which are made of raw samples, and :func:`gaze_map`
makes any of them over a 2D image or, plane by plane, over an nD stack. A new
map is one entry in ``_KINDS``.

numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .recording import Fixations, GazeRecording

# scipy.ndimage and scipy.fft (~0.2 s to import) are imported where a map is made, so
# napari's UI thread, which imports this module for the map names, does not wait for them.

__all__ = [
    "GAZEMEDSEG_CANVAS",
    "GAZEMEDSEG_SIGMA",
    "GAZE_MAPS",
    "GAZE_MAP_ALIASES",
    "HEATMAP_SPELLINGS",
    "blurred_gaze",
    "canonical_map",
    "gaze_heatmap",
    "gaze_map",
    "map_of_points",
    "map_points",
    "map_uses_kernel",
    "needs_raw_gaze",
    "track_maps",
    "visual_attention_map",
]

#: Side of the square canvas GazeMedSeg draws its heatmaps on (pixels).
GAZEMEDSEG_CANVAS = 768
#: GazeMedSeg's Gaussian sigma on that canvas, per data set (canvas pixels).
GAZEMEDSEG_SIGMA = {"kvasir": 70.0, "nci-isbi": 50.0}

# Per point, the direct sum costs about (overhead + kernel pixels) units and the
# FFT about this many units per padded canvas pixel (measured on one CPU core).
_DIRECT_OVERHEAD_PX = 2000
_FFT_COST_PER_PX = 12
# Track points farther than this (pixels) would overflow squared distances.
_FARTHEST_TRACK_POINT = 1e12


# -- input checks ------------------------------------------------------------
def _image_shape(shape: Sequence[int]) -> tuple[int, int]:
    dims = tuple(int(s) for s in shape)
    if len(dims) != 2 or min(dims) < 1 or dims != tuple(shape):
        raise ValueError(f"shape must be two positive integers (rows, cols), got {tuple(shape)}.")
    return dims


def _points(points) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(
            f"points must have shape (K, 2) as (row, col), got {array.shape}; "
            "pass coords[:, -2:] of one slice."
        )
    return array


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    array = np.asarray(weights, dtype=np.float64).reshape(-1)
    if array.shape[0] != n:
        raise ValueError(f"weights has {array.shape[0]} entries but there are {n} points.")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError("weights must be finite and non-negative (e.g. durations in seconds).")
    return array


def _valid_points(points, weights) -> tuple[np.ndarray, np.ndarray]:
    """Finite points and their weights; invalid (NaN/inf) points dropped."""
    pts = _points(points)
    w = _weights(weights, pts.shape[0])
    keep = np.isfinite(pts).all(axis=1)
    return pts[keep], w[keep]


def _pixels_near(points: np.ndarray, shape: tuple[int, int], reach_before: int, reach_after: int):
    """Integer pixels ``floor(p + 0.5)`` of the points whose pixel lies at most
    ``reach_after`` before row/col 0 or ``reach_before`` past the last row/col
    (points a kernel with that reach carries into the image), and their mask."""
    pixels = np.floor(points + 0.5)
    near = ((pixels >= -reach_after) & (pixels <= np.asarray(shape) - 1 + reach_before)).all(axis=1)
    return pixels[near].astype(np.int64), near


def _fixation_points(fixations) -> np.ndarray:
    if isinstance(fixations, Fixations):
        return fixations.coords[:, -2:]
    return _points(fixations)


# -- heatmap -------------------------------------------------------------------
def _gaussian_1d(kernel_size: int, sigma: float) -> np.ndarray:
    """``exp(-d^2 / (2 sigma^2))`` at offsets ``d = j - kernel_size // 2``."""
    offsets = np.arange(kernel_size) - kernel_size // 2
    return np.exp(-(offsets**2) / (2.0 * sigma**2))


def _splat_direct(pixels, weights, shape, kernel_1d) -> np.ndarray:
    """Add ``w * outer(g, g)`` at each pixel, clipped to the image (the reference sum)."""
    rows, cols = shape
    k = kernel_1d.shape[0]
    before = k // 2
    kernel = np.outer(kernel_1d, kernel_1d)
    out = np.zeros(shape)
    for (r, c), w in zip(pixels, weights):
        r0, c0 = r - before, c - before
        rs, re = max(r0, 0), min(r0 + k, rows)
        cs, ce = max(c0, 0), min(c0 + k, cols)
        if rs < re and cs < ce:
            out[rs:re, cs:ce] += w * kernel[rs - r0 : re - r0, cs - c0 : ce - c0]
    return out


@lru_cache(maxsize=2)
def _kernel_spectrum(kernel_size: int, sigma: float, n_rows: int, n_cols: int) -> np.ndarray:
    """``rfft2`` of the separable 2D kernel on an ``(n_rows, n_cols)`` periodic grid."""
    from scipy import fft

    g = _gaussian_1d(kernel_size, sigma)
    spectrum = fft.fft(g, n_rows)[:, None] * fft.rfft(g, n_cols)[None, :]
    spectrum.flags.writeable = False  # shared by the cache
    return spectrum


def _canvas_grid(pixels, weights, kernel_size: int, padded_shape) -> np.ndarray:
    """Weights summed per pixel on a canvas padded by the kernel reach (then zeros)."""
    after = kernel_size - 1 - kernel_size // 2
    flat = (pixels[:, 0] + after) * padded_shape[1] + (pixels[:, 1] + after)
    size = padded_shape[0] * padded_shape[1]
    return np.bincount(flat, weights=weights, minlength=size).reshape(padded_shape)


def _splat_fft(pixels, weights, shape, kernel_size: int, sigma: float) -> np.ndarray:
    """The same sum as :func:`_splat_direct`, by one FFT convolution, O(pixels log pixels).

    Weights are accumulated on a canvas padded by the kernel on every side (so
    points outside the image still count) and convolved circularly with the
    separable kernel; the padding makes the circular result exact on the image
    part, which is cut out.

    FFT rounding is below ``eps * log2(N) * ||grid||_2 * sum(kernel)`` (measured:
    at most 1.3 % of that bound), while every pixel a kernel reaches holds at least
    ``min(weights) * min(g)**2``. When that smallest value exceeds 1e4 times the
    bound, the relative error is below 1e-4 everywhere and a threshold at half of
    it restores the exact zeros; otherwise (weights spanning many orders of
    magnitude, a kernel edge near underflow) :func:`_splat_separable` is used.
    """
    rows, cols = shape
    k = kernel_size
    from scipy import fft

    n_rows = fft.next_fast_len(rows + k - 1, real=False)
    n_cols = fft.next_fast_len(cols + k - 1, real=True)
    grid = _canvas_grid(pixels, weights, k, (n_rows, n_cols))
    kernel_1d = _gaussian_1d(k, sigma)
    smallest = weights.min() * kernel_1d.min() ** 2
    eps = np.finfo(np.float64).eps
    rounding = eps * math.log2(n_rows * n_cols) * np.linalg.norm(grid) * kernel_1d.sum() ** 2
    if not smallest >= 1e4 * rounding:
        return _splat_separable(pixels, weights, shape, kernel_1d)
    spectrum = fft.rfft2(grid)
    spectrum *= _kernel_spectrum(k, sigma, n_rows, n_cols)
    full = fft.irfft2(spectrum, s=(n_rows, n_cols), overwrite_x=True)
    out = full[k - 1 : k - 1 + rows, k - 1 : k - 1 + cols]
    return np.where(out > 0.5 * smallest, out, 0.0)


def _splat_separable(pixels, weights, shape, kernel_1d: np.ndarray) -> np.ndarray:
    """The same sum by direct separable convolution of the padded grid, O(pixels x kernel).

    Sums of non-negative terms only, so accurate to ~1e-15 relative on every
    pixel whatever the weights; used when the FFT's rounding could show.
    """
    rows, cols = shape
    k = kernel_1d.shape[0]
    grid = _canvas_grid(pixels, weights, k, (rows + k - 1, cols + k - 1))
    reversed_kernel = kernel_1d[::-1]
    centre = k // 2  # correlate1d centres the window there; take the full windows
    from scipy import ndimage

    along_rows = ndimage.correlate1d(grid, reversed_kernel, axis=0, mode="constant")
    along_rows = along_rows[centre : centre + rows]
    both = ndimage.correlate1d(along_rows, reversed_kernel, axis=1, mode="constant")
    return np.ascontiguousarray(both[:, centre : centre + cols])


def gaze_heatmap(
    points,
    shape: Sequence[int],
    weights=None,
    kernel_size: int = 100,
    sigma: float = 100 / 6,
) -> np.ndarray:
    """Sum of one unnormalised Gaussian kernel per point (SAM meets Gaze, sec. 2.3).

    Equal (to better than 1e-4 relative on every pixel, exactly 0 where no
    kernel reaches) to the reference sum::

        H[y, x] = sum_p w_p * g(y - r_p) * g(x - c_p),
        g(d) = exp(-d**2 / (2 sigma**2)) for -kernel_size//2 <= d < kernel_size - kernel_size//2,
        g(d) = 0 otherwise,

    where ``(r_p, c_p) = floor(point + 0.5)`` is the pixel containing point ``p``.
    The kernel is ``kernel_size`` pixels wide and high with its peak (value 1 times
    the weight) on that pixel; for an even size (the default 100) it reaches
    ``kernel_size // 2`` pixels up/left and one pixel fewer down/right.

    Parameters
    ----------
    points : (K, 2) array
        ``(row, col)`` image data coordinates; NaN rows are ignored, points outside
        the image add the part of their kernel that falls inside.
    shape : (rows, cols)
        Shape of the map.
    weights : (K,) array or None
        Per-point factors, non-negative (fixation durations in seconds for the
        "fixations + duration" heatmap); ``None`` weighs every point 1.
    kernel_size : int
        Kernel width and height in pixels (100 in the paper).
    sigma : float
        Gaussian standard deviation in pixels (100/6 in the paper).

    Returns
    -------
    (rows, cols) float64, not normalised: ``>= 0``, 0 where no kernel reaches.

    Notes
    -----
    Many points are accumulated on a padded grid and convolved once with the
    separable kernel by FFT: O(pixels log pixels), independent of the number of
    points. Few points are added one kernel at a time, which is then cheaper.
    When weights span so many orders of magnitude (or the kernel's edge is so
    small) that FFT rounding could reach 1e-4 of the smallest contribution, a
    direct separable convolution (O(pixels x kernel_size)) is used instead.
    """
    rows, cols = _image_shape(shape)
    kernel_size = int(kernel_size)
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive number of pixels, got {kernel_size}.")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}.")
    pts, w = _valid_points(points, weights)
    positive = w > 0
    before, after = kernel_size // 2, kernel_size - 1 - kernel_size // 2
    pixels, near = _pixels_near(pts[positive], (rows, cols), before, after)
    w = w[positive][near]
    kernel_1d = _gaussian_1d(kernel_size, sigma)
    canvas_px = (rows + kernel_size - 1) * (cols + kernel_size - 1)
    direct_cost = pixels.shape[0] * (kernel_size**2 + _DIRECT_OVERHEAD_PX)
    if direct_cost <= _FFT_COST_PER_PX * canvas_px:
        return _splat_direct(pixels, w, (rows, cols), kernel_1d)
    return _splat_fft(pixels, w, (rows, cols), kernel_size, float(sigma))


# -- blurred gaze ----------------------------------------------------------------
def blurred_gaze(points, shape: Sequence[int], radius: int = 3, sigma: float = 5.0) -> np.ndarray:
    """Binary mask of the gaze pixels, blurred with a small Gaussian (SAM meets Gaze).

    Every pixel that contains at least one point is 1 (however many points fall
    on it), all others 0; the mask is then filtered with a normalised Gaussian
    kernel of standard deviation ``sigma`` truncated at ``radius`` pixels
    (``2 * radius + 1`` taps per axis; scipy's ``gaussian_filter(mask, sigma,
    radius=radius)``). Gaze pixels up to ``radius`` pixels outside the image
    count; beyond that nothing was looked at (zeros), so the result equals the
    blurred mask of an unbounded canvas, cropped.

    Parameters
    ----------
    points : (K, 2) array
        ``(row, col)`` image data coordinates; NaN rows ignored.
    shape : (rows, cols)
    radius : int
        Kernel radius in pixels (3 in the paper).
    sigma : float
        Gaussian standard deviation in pixels (5 in the paper).

    Returns
    -------
    (rows, cols) float64 in ``[0, 1]``: the Gaussian-weighted fraction of gaze
    pixels in each ``(2 radius + 1)^2`` neighbourhood. 1 only inside solidly
    looked-at areas; an isolated gaze pixel peaks at about 0.024 with the
    defaults. Not rescaled.
    """
    rows, cols = _image_shape(shape)
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"radius must be a non-negative number of pixels, got {radius}.")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}.")
    pts, _ = _valid_points(points, None)
    pixels = _pixels_near(pts, (rows, cols), radius, radius)[0] + radius
    padded = np.zeros((rows + 2 * radius, cols + 2 * radius))
    padded[pixels[:, 0], pixels[:, 1]] = 1.0
    from scipy import ndimage

    blurred = ndimage.gaussian_filter(padded, sigma, radius=radius, mode="constant", cval=0.0)
    return np.clip(blurred[radius : radius + rows, radius : radius + cols], 0.0, 1.0)


# -- the SAM-meets-Gaze maps: one vocabulary, one dispatcher ----------------------------
def _heatmap_of(points, shape, weights, kernel_size, sigma) -> np.ndarray:
    return gaze_heatmap(points, shape, weights, kernel_size, sigma)


def _blurred_of(points, shape, weights, kernel_size, sigma) -> np.ndarray:
    return blurred_gaze(points, shape)  # the paper's radius 3 and sigma 5 pixels


@dataclass(frozen=True)
class _MapKind:
    """How one gaze map is made: from what, weighted how, with which function."""

    samples: bool  # made of the raw valid gaze samples (else of fixation centroids)
    durations: bool  # fixations weighted by their duration in seconds
    kernel: bool  # shaped by kernel_size and sigma (blurred gaze has a fixed kernel)
    spelling: str  # the Gaze layers' name for it (heatmap layers' metadata, widget)
    make: Callable[..., np.ndarray]  # (points, (rows, cols), weights, kernel_size, sigma) -> map


_KINDS = {
    "heatmap_gaze": _MapKind(True, False, True, "gaze", _heatmap_of),
    "heatmap_fixations": _MapKind(False, False, True, "fixations", _heatmap_of),
    "heatmap_fixations_duration": _MapKind(False, True, True, "fixations+duration", _heatmap_of),
    "blurred_gaze": _MapKind(True, False, False, "blurred", _blurred_of),
}
#: The gaze maps of *SAM meets Gaze* by their canonical names (its prompt spellings).
GAZE_MAPS = tuple(_KINDS)
#: Other spellings of the same maps -> canonical name (the Gaze layers' names).
GAZE_MAP_ALIASES = {kind.spelling: name for name, kind in _KINDS.items()}
#: The Gaze layers' spelling of each map, in :data:`GAZE_MAPS` order.
HEATMAP_SPELLINGS = tuple(kind.spelling for kind in _KINDS.values())


def canonical_map(kind: str) -> str:
    """The :data:`GAZE_MAPS` name of ``kind`` (a canonical name or an alias)."""
    if kind in _KINDS:
        return kind
    if kind in GAZE_MAP_ALIASES:
        return GAZE_MAP_ALIASES[kind]
    raise ValueError(
        f"gaze map {kind!r} is unknown; choose one of {', '.join(GAZE_MAPS)} "
        f"(or {', '.join(GAZE_MAP_ALIASES)})."
    )


def needs_raw_gaze(kind: str) -> bool:
    """Whether map ``kind`` is made of raw gaze samples (a recording), not fixations."""
    return _KINDS[canonical_map(kind)].samples


def map_uses_kernel(kind: str) -> bool:
    """Whether ``kernel_size`` and ``sigma`` shape map ``kind`` (blurred gaze: fixed kernel)."""
    return _KINDS[canonical_map(kind)].kernel


def map_points(
    kind: str, *, recording: GazeRecording | None = None, fixations: Fixations | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The points (all coordinate columns) and weights map ``kind`` is made of.

    Raw-sample maps take the valid samples of ``recording``; fixation maps the
    centroids of ``fixations``, weighted by duration (seconds) for
    ``heatmap_fixations_duration``. A missing source raises one sentence.
    """
    spec = _KINDS[canonical_map(kind)]
    if spec.samples:
        if recording is None:
            raise ValueError(
                f"the {kind!r} map needs raw gaze samples (it needs a gaze recording, not only "
                "fixations); pick a fixation map or open the raw recording."
            )
        return recording.coords[recording.valid], None
    if fixations is None:
        raise ValueError(f"the {kind!r} map needs fixations; detect fixations first.")
    return fixations.coords, (fixations.duration if spec.durations else None)


def map_of_points(
    kind: str,
    points,
    shape: Sequence[int],
    weights=None,
    kernel_size: int = 100,
    sigma: float = 100 / 6,
    *,
    dtype=np.float64,
) -> np.ndarray:
    """Map ``kind`` of ``(K, D)`` points (and per-point ``weights``) over ``shape``.

    ``shape = (rows, cols)``: one map of the points' last two coordinates (the
    points of one slice). ``shape = (planes..., rows, cols)`` with one entry per
    point coordinate: a stack, each plane the map of the points whose leading
    coordinates round to it (points off every plane, or with a non-finite
    leading coordinate, are left out). Returns ``dtype`` (float64 by default).
    """
    spec = _KINDS[canonical_map(kind)]
    shape = tuple(int(s) for s in shape)
    points = np.asarray(points, dtype=np.float64)
    points = points.reshape(0, len(shape)) if points.size == 0 else points
    weights = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)

    def one_plane(plane_points, plane_weights) -> np.ndarray:
        return spec.make(plane_points, shape[-2:], plane_weights, kernel_size, sigma)

    if len(shape) == 2:
        return one_plane(points[:, -2:], weights).astype(dtype, copy=False)
    if points.ndim != 2 or points.shape[1] != len(shape):
        raise ValueError(
            f"the map shape {shape} must have one entry per gaze coordinate axis "
            f"({points.shape[-1] if points.ndim == 2 else points.ndim})."
        )
    out = np.zeros(shape, dtype=dtype)
    with np.errstate(invalid="ignore"):
        on_a_plane = np.isfinite(points[:, :-2]).all(axis=1) & (np.abs(points[:, :-2]) < 2.0**62).all(axis=1)
    points = points[on_a_plane]
    weights = None if weights is None else weights[on_a_plane]
    leading = np.round(points[:, :-2]).astype(np.int64)
    for plane in {tuple(p) for p in leading}:
        if any(i < 0 or i >= n for i, n in zip(plane, shape[:-2])):
            continue
        on_plane = (leading == plane).all(axis=1)
        out[plane] = one_plane(points[on_plane, -2:], None if weights is None else weights[on_plane])
    return out


def gaze_map(
    kind: str,
    shape: Sequence[int],
    *,
    recording: GazeRecording | None = None,
    fixations: Fixations | None = None,
    kernel_size: int = 100,
    sigma: float = 100 / 6,
    dtype=np.float64,
) -> np.ndarray:
    """One of :data:`GAZE_MAPS` (or an alias) over an image, unnormalised.

    ``heatmap_gaze`` and ``blurred_gaze`` are made of the valid samples of
    ``recording``, ``heatmap_fixations`` and ``heatmap_fixations_duration`` of
    the centroids of ``fixations`` (:func:`map_points`). ``shape`` is
    ``(rows, cols)`` (the points' last two coordinates are used: the gaze of one
    slice) or the data shape of an nD image, made plane by plane
    (:func:`map_of_points`). ``kernel_size`` and ``sigma`` (pixels) shape the
    three heatmaps (:func:`gaze_heatmap`); blurred gaze uses the paper's radius 3
    and sigma 5 (:func:`blurred_gaze`).
    """
    points, weights = map_points(kind, recording=recording, fixations=fixations)
    return map_of_points(kind, points, shape, weights, kernel_size, sigma, dtype=dtype)


# -- visual attention map --------------------------------------------------------
def _cubic_weights(src_size: int, dst_size: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV ``INTER_CUBIC`` taps along one axis: indices and weights, ``(dst, 4)``.

    Half-pixel centres (``src = (dst + 0.5) * src_size / dst_size - 0.5``), Keys'
    cubic convolution with ``a = -0.75``, source indices clamped to the edge
    (replicated border), no antialiasing when shrinking, as ``cv2.resize``.
    """
    a = -0.75
    src = (np.arange(dst_size) + 0.5) * (src_size / dst_size) - 0.5
    first = np.floor(src)
    t = src - first
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    weights = np.stack([w0, w1, w2, 1 - w0 - w1 - w2], axis=1)
    index = first.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :]
    return np.clip(index, 0, src_size - 1), weights


def _resize_cubic(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a 2D float image as ``cv2.resize(image, (cols, rows), interpolation=INTER_CUBIC)``."""
    rows_index, rows_weight = _cubic_weights(image.shape[0], shape[0])
    cols_index, cols_weight = _cubic_weights(image.shape[1], shape[1])
    along_rows = np.einsum("rk,rkc->rc", rows_weight, image[rows_index])
    return np.einsum("ck,rck->rc", cols_weight, along_rows[:, cols_index])


def _gazemedseg_canvas_pixels(points: np.ndarray, shape: tuple[int, int], canvas: int):
    """GazeMedSeg's canvas pixel of each point and which points lie on the image.

    GazeMedSeg stores fixations normalised to the image, ``x = (col + 0.5) / cols``
    with pixel centres at integers (0 and 1 are the image edges), and draws them at
    ``round(x * canvas) - 1`` (Python's round: halves to even). A point within half
    a canvas pixel of the top/left edge gives -1 there (numpy then wraps it to the
    far edge); here it is clamped to 0. Points off the image are dropped.
    """
    normalised = (points + 0.5) / np.asarray(shape, dtype=np.float64)
    on_image = ((normalised >= 0) & (normalised <= 1)).all(axis=1)
    pixels = np.rint(normalised[on_image] * canvas).astype(np.int64) - 1
    return np.clip(pixels, 0, canvas - 1), on_image


def visual_attention_map(
    fixations,
    shape: Sequence[int],
    sigma: float,
    *,
    weights=None,
    mode: str = "image",
    canvas_size: int = GAZEMEDSEG_CANVAS,
) -> np.ndarray:
    """Duration-weighted fixation density, normalised to ``[0, 1]`` (the "VAM").

    Parameters
    ----------
    fixations : Fixations or (M, 2) array
        A :class:`Fixations` (its last two coordinate columns, ``(row, col)``, and
        its durations as weights; select one slice first for nD data) or
        ``(row, col)`` points in image data coordinates (NaN rows ignored).
    shape : (rows, cols)
        Shape of the image and of the map.
    sigma : float
        Gaussian standard deviation: image pixels in ``"image"`` mode, canvas
        pixels in ``"gazemedseg"`` mode (see :data:`GAZEMEDSEG_SIGMA`: 70 Kvasir-SEG,
        50 NCI-ISBI).
    weights : (M,) array or None
        Per-fixation weights; default the durations of a :class:`Fixations`, else 1.
    mode : ``"image"`` or ``"gazemedseg"``
        ``"image"``: the sum of weighted Gaussians (sigma, truncated at 4 sigma,
        same point splatting as :func:`gaze_heatmap`) on the image grid, divided by
        its maximum (0 stays 0; points off the image contribute their tails).
        ``"gazemedseg"``: GazeMedSeg's own recipe
        (``notebooks/gaze_annotation/generate_gaze_annotation_*.ipynb``): the
        weights are added at one pixel each of a ``canvas_size`` square canvas (the
        image stretched to a square, see ``_gazemedseg_canvas_pixels``), filtered
        with ``scipy.ndimage.gaussian_filter(canvas, sigma)`` (reflecting border,
        truncated at 4 sigma), min-max normalised, and resized to ``shape`` with
        OpenCV-compatible bicubic interpolation; values that cubic overshoot puts
        outside ``[0, 1]`` are clipped. GazeMedSeg computes in float32 and saves
        8-bit images; this keeps float64 (differences below 1e-6).
    canvas_size : int
        The canvas side in ``"gazemedseg"`` mode (768 in GazeMedSeg).

    Returns
    -------
    (rows, cols) float64 in ``[0, 1]``; all zeros when there are no fixations or
    every weight is 0.
    """
    rows, cols = _image_shape(shape)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}.")
    if weights is None and isinstance(fixations, Fixations):
        weights = fixations.duration
    pts, w = _valid_points(_fixation_points(fixations), weights)
    if mode == "image":
        radius = int(math.ceil(4.0 * sigma))
        vam = gaze_heatmap(pts, (rows, cols), w, kernel_size=2 * radius + 1, sigma=sigma)
        peak = vam.max()
        return vam / peak if peak > 0 else vam
    if mode != "gazemedseg":
        raise ValueError(f"mode must be 'image' or 'gazemedseg', got {mode!r}.")
    canvas_size = int(canvas_size)
    if canvas_size < 1:
        raise ValueError(f"canvas_size must be a positive number of pixels, got {canvas_size}.")
    pixels, on_image = _gazemedseg_canvas_pixels(pts, (rows, cols), canvas_size)
    canvas = np.zeros((canvas_size, canvas_size))
    np.add.at(canvas, (pixels[:, 0], pixels[:, 1]), w[on_image])
    from scipy import ndimage

    canvas = ndimage.gaussian_filter(canvas, sigma)
    low, high = canvas.min(), canvas.max()
    if not high > low:
        return np.zeros((rows, cols))
    normalised = (canvas - low) / (high - low)
    return np.clip(_resize_cubic(normalised, (rows, cols)), 0.0, 1.0)


# -- track maps --------------------------------------------------------------------
def _kept_count(ratio: float, n_points: int) -> int:
    """``ceil(ratio * n_points)``, robust to float error (0.7 * 10 keeps 7, not 8)."""
    return min(n_points, int(math.ceil(ratio * n_points - 1e-9)))


def _segment_band(a: np.ndarray, b: np.ndarray, radius: float, shape: tuple[int, int]):
    """Pixels (rows, cols) that may lie within ``radius`` of segment ``a``-``b``.

    A superset of the pixels with distance ``< radius``: for each image row ``y``
    near the segment, the columns of the part of the segment whose rows lie within
    ``radius`` of ``y``, widened by ``radius`` (and one pixel) on each side. About
    1.5 times the band's area; never the segment's whole bounding box.
    """
    n_rows, n_cols = shape
    low_row = max(0, int(math.floor(min(a[0], b[0]) - radius)))
    high_row = min(n_rows - 1, int(math.ceil(max(a[0], b[0]) + radius)))
    if low_row > high_row:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    y = np.arange(low_row, high_row + 1, dtype=np.float64)
    step = b[0] - a[0]
    if step == 0:
        t_low, t_high = np.zeros_like(y), np.ones_like(y)
    else:
        t_1 = (y - radius - a[0]) / step
        t_2 = (y + radius - a[0]) / step
        t_low = np.clip(np.minimum(t_1, t_2), 0.0, 1.0)
        t_high = np.clip(np.maximum(t_1, t_2), 0.0, 1.0)
    c_1 = a[1] + t_low * (b[1] - a[1])
    c_2 = a[1] + t_high * (b[1] - a[1])
    first = np.maximum(np.floor(np.minimum(c_1, c_2) - radius) - 1, 0).astype(np.int64)
    last = np.minimum(np.ceil(np.maximum(c_1, c_2) + radius) + 1, n_cols - 1).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    total = int(counts.sum())
    row_of = np.repeat(y.astype(np.int64), counts)
    starts = np.cumsum(counts) - counts
    cols = np.arange(total) - np.repeat(starts - first, counts)
    return row_of, cols


def _squared_distance_to_segment(rows, cols, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact squared Euclidean distance of points ``(rows, cols)`` to segment ``a``-``b``."""
    d_r, d_c = b[0] - a[0], b[1] - a[1]
    p_r, p_c = rows - a[0], cols - a[1]
    length2 = d_r * d_r + d_c * d_c
    if length2 == 0:
        return p_r * p_r + p_c * p_c
    t = np.clip((p_r * d_r + p_c * d_c) / length2, 0.0, 1.0)
    e_r, e_c = p_r - t * d_r, p_c - t * d_c
    return e_r * e_r + e_c * e_c


def track_maps(
    fixations,
    shape: Sequence[int],
    ratios: Sequence[float] = (0.5, 0.75, 1.0),
    beta: float = 10.0,
    tau: float = 0.25,
) -> dict[float, np.ndarray]:
    """GradTrack's gaze-track attention maps ``G^r`` (Wang et al., eq. 1-2).

    The gaze track is the polyline through the fixations in order of start time.
    Reverse truncation with ratio ``r`` keeps the last ``ceil(r * M)`` of the
    ``M`` fixations. ``D^r`` is the exact Euclidean distance of each pixel centre
    to that polyline (to the one point when one fixation is kept), and::

        G^r = exp(-D^r / beta) * (exp(-D^r / beta) > tau)

    ``G`` is 0 wherever ``D >= -beta * ln(tau)`` (13.9 px for beta 10, tau 0.25),
    so distances are evaluated only in that band around each segment: exact
    point-to-segment distances of the band pixels, minimum over segments. The
    cost is O(band pixels), not O(pixels x segments). Nested truncations share
    one pass over the segments from the last fixation backwards.

    Parameters
    ----------
    fixations : Fixations or (M, 2) array
        A :class:`Fixations` (last two coordinate columns, ``(row, col)``; select
        one slice first for nD data) or finite ``(row, col)`` points already in
        time order. Points may lie outside the image.
    shape : (rows, cols)
        Shape of the maps (224 x 224 in the paper; any shape works).
    ratios : sequence of float in (0, 1]
        Truncation ratios; the keys of the result, in the order given.
    beta : float
        Decay length in pixels (10 Kvasir-SEG, 15 NCI-ISBI).
    tau : float in [0, 1)
        Field-of-view threshold (0.25). With 0 the band is the whole image.

    Returns
    -------
    ``{ratio: (rows, cols) float64}`` with values in ``(tau, 1]`` on the band and 0
    elsewhere; all-zero maps when there are no fixations.
    """
    rows, cols = _image_shape(shape)
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta}.")
    if not 0 <= tau < 1:
        raise ValueError(f"tau must lie in [0, 1), got {tau}.")
    ratios = [float(r) for r in ratios]
    if any(not 0 < r <= 1 for r in ratios):
        raise ValueError(f"ratios must lie in (0, 1], got {ratios}.")
    points = _fixation_points(fixations)
    if not np.isfinite(points).all():
        raise ValueError("track points must be finite; drop invalid fixations first.")
    if points.size and np.abs(points).max() > _FARTHEST_TRACK_POINT:
        raise ValueError(
            "track points lie more than 1e12 pixels from the image; "
            "check that they are in image data coordinates."
        )
    n_points = points.shape[0]
    if n_points == 0:
        return {r: np.zeros((rows, cols)) for r in ratios}

    radius = -beta * math.log(tau) if tau > 0 else math.inf
    if math.isinf(radius):
        radius = float(np.ptp(np.vstack([points, [[0, 0], [rows - 1, cols - 1]]]), axis=0).sum())
    squared = np.full(rows * cols, np.inf)
    touched = np.zeros(rows * cols, dtype=bool)
    result: dict[float, np.ndarray] = {}
    done = 0  # points, counted from the last, whose segments are already in `squared`
    for keep in sorted({_kept_count(r, n_points) for r in ratios}):
        for index in range(n_points - keep, n_points - done):
            a = points[index]
            b = points[min(index + 1, n_points - 1)]
            band_rows, band_cols = _segment_band(a, b, radius, (rows, cols))
            flat = band_rows * cols + band_cols
            distance2 = _squared_distance_to_segment(band_rows, band_cols, a, b)
            squared[flat] = np.minimum(squared[flat], distance2)
            touched[flat] = True
        done = keep
        band = np.flatnonzero(touched)
        attention = np.exp(-np.sqrt(squared[band]) / beta)
        g = np.zeros(rows * cols)
        g[band] = np.where(attention > tau, attention, 0.0)
        g = g.reshape(rows, cols)
        same_keep = [r for r in dict.fromkeys(ratios) if _kept_count(r, n_points) == keep]
        for i, r in enumerate(same_keep):
            result[r] = g if i == 0 else g.copy()
    return {r: result[r] for r in ratios}
