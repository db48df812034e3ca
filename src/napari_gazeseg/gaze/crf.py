"""Dense-CRF refinement of attention maps and the pseudo-masks cut from them.

``dense_crf`` refines a foreground probability map (a visual attention map) with
a fully connected CRF (Kraehenbuehl and Koltun 2011) whose pairwise term follows
the image's colour edges; ``pseudo_masks`` thresholds the result into the hard
under- and over-activation masks that GradTrack and GazeMedSeg train from.

The CRF comes from ``pydensecrf2`` (import name ``pydensecrf``), an optional
extra: ``pip install napari-gazeseg[crf]``. It is imported only when called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..imaging import to_uint8_rgb

__all__ = [
    "CRF_SETTINGS",
    "crf_params",
    "GAZEMEDSEG_THRESHOLDS",
    "GRADTRACK_UNDER_ACTIVATION",
    "dense_crf",
    "pseudo_masks",
]

#: GradTrack's conservative threshold for the under-activation mask (sec. 2.4).
GRADTRACK_UNDER_ACTIVATION = 0.7
#: GazeMedSeg's two-level thresholds per data set (``configs/static.py``):
#: the higher one gives the under-activation mask, the lower one the over-activation mask.
GAZEMEDSEG_THRESHOLDS = {"kvasir": (0.5, 0.3), "nci-isbi": (0.4, 0.2)}

#: Named dense-CRF settings. ``"gazemedseg"``: GazeMedSeg's bilateral kernel as
#: published (``sxy`` 80 px, ``srgb`` 13), set for Kvasir-SEG photographs of about
#: 600 px. ``"scaled"``: the same kernel with its *spatial* width scaled to the
#: image, ``sxy = 80 * sqrt(rows * cols) / 600`` (equal to GazeMedSeg's at 600 x
#: 600); ``srgb`` is an intensity width and does not change with size.
CRF_SETTINGS = {
    "gazemedseg": {"sxy": 80.0, "srgb": 13.0, "reference_px": None},
    "scaled": {"sxy": 80.0, "srgb": 13.0, "reference_px": 600.0},
}


def crf_params(shape: Sequence[int], setting: str = "gazemedseg") -> dict[str, float]:
    """``{"sxy": ..., "srgb": ...}`` of the named setting for an image of ``shape``.

    ``shape`` is ``(rows, cols, ...)``; see :data:`CRF_SETTINGS`.
    """
    try:
        entry = CRF_SETTINGS[setting]
    except KeyError:
        raise ValueError(
            f"unknown CRF setting {setting!r}; choose one of {', '.join(CRF_SETTINGS)}."
        ) from None
    sxy = entry["sxy"]
    if entry["reference_px"] is not None:
        rows, cols = int(shape[0]), int(shape[1])
        sxy = sxy * float(np.sqrt(rows * cols)) / entry["reference_px"]
    return {"sxy": float(sxy), "srgb": float(entry["srgb"])}


# pydensecrf.utils.unary_from_softmax clips probabilities to this before -log.
_PROBABILITY_FLOOR = 1e-5


def _densecrf_module():
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError:
        raise ImportError(
            "Dense CRF refinement needs pydensecrf2; install it with "
            "`pip install napari-gazeseg[crf]`."
        ) from None
    return densecrf


def dense_crf(
    image: np.ndarray,
    prob: np.ndarray,
    *,
    sxy: float = 80.0,
    srgb: float = 13.0,
    compat: float = 1.0,
    iterations: int = 10,
    smoothness_sxy: float | None = None,
    smoothness_compat: float = 3.0,
    contrast_limits: tuple[float, float] | None = None,
) -> np.ndarray:
    """Refine a foreground probability map with a fully connected CRF.

    The defaults are GazeMedSeg's (``crf_inference`` in its gaze-annotation
    notebooks): two labels (background, foreground) with unary energies
    ``-log(clip([1 - prob, prob], 1e-5, 1))`` (``unary_from_softmax``), one
    bilateral (appearance) pairwise term with ``sxy = 80`` px, ``srgb = 13``,
    Potts ``compat = 1``, no Gaussian smoothness term, 10 mean-field iterations.

    Parameters
    ----------
    image : (rows, cols) or (rows, cols, 3|4) array
        Grey or RGB(A), any dtype; mapped to 8-bit RGB as napari displays it
        (see :func:`napari_gazeseg.imaging.to_uint8_rgb`).
    prob : (rows, cols) array
        Foreground probability in ``[0, 1]``, e.g. a visual attention map.
    sxy, srgb : float
        Bilateral kernel widths: pixels, and 8-bit intensity levels.
    compat : float
        Weight of the bilateral term.
    iterations : int
        Mean-field iterations (0 returns ``prob`` itself, up to the 1e-5 floor).
    smoothness_sxy : float or None
        Width in pixels of an optional Gaussian (smoothness) pairwise term;
        ``None`` (GazeMedSeg) leaves it out.
    smoothness_compat : float
        Weight of that term.
    contrast_limits : (low, high) or None
        Intensities shown as black and white; ``None`` stretches min..max for
        non-uint8 images.

    Returns
    -------
    (rows, cols) float64 in ``[0, 1]``: the foreground marginal after inference.
    """
    rgb = to_uint8_rgb(image, contrast_limits)
    prob = np.asarray(prob, dtype=np.float64)
    if prob.shape != rgb.shape[:2]:
        raise ValueError(
            f"prob has shape {prob.shape} but the image is {rgb.shape[:2]}; "
            "make the map for this image."
        )
    if not np.isfinite(prob).all() or prob.min() < 0 or prob.max() > 1:
        raise ValueError("prob must hold probabilities in [0, 1]; normalise the map first.")
    iterations = int(iterations)
    if iterations < 0:
        raise ValueError(f"iterations must be 0 or more, got {iterations}.")
    densecrf = _densecrf_module()

    rows, cols = prob.shape
    two_class = np.stack([1.0 - prob, prob]).reshape(2, -1)
    unary = -np.log(np.clip(two_class, _PROBABILITY_FLOOR, 1.0))
    crf = densecrf.DenseCRF2D(cols, rows, 2)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    if smoothness_sxy is not None:
        crf.addPairwiseGaussian(sxy=float(smoothness_sxy), compat=float(smoothness_compat))
    crf.addPairwiseBilateral(
        sxy=float(sxy), srgb=float(srgb), rgbim=np.ascontiguousarray(rgb), compat=float(compat)
    )
    marginals = np.asarray(crf.inference(iterations), dtype=np.float64)
    return np.clip(marginals[1].reshape(rows, cols), 0.0, 1.0)


def pseudo_masks(
    vam: np.ndarray, thresholds: float | Sequence[float] = (GRADTRACK_UNDER_ACTIVATION,)
) -> dict[float, np.ndarray]:
    """Hard pseudo-masks ``vam >= threshold``, one per threshold.

    A high threshold keeps only the most attended core (an *under-activation*
    mask: few false positives, under-segmented); a low one keeps more (an
    *over-activation* mask). GradTrack trains on the dense-CRF-refined VAM at
    :data:`GRADTRACK_UNDER_ACTIVATION` (0.7); GazeMedSeg on two levels,
    :data:`GAZEMEDSEG_THRESHOLDS` (0.5 and 0.3 for Kvasir-SEG, 0.4 and 0.2 for
    NCI-ISBI). ``>=`` as in GazeMedSeg's data loader.

    Parameters
    ----------
    vam : (rows, cols) array
        A map in ``[0, 1]`` (usually ``dense_crf`` of a visual attention map).
    thresholds : float or sequence of float in [0, 1]

    Returns
    -------
    ``{threshold: (rows, cols) bool mask}`` in the order given; masks shrink as
    the threshold grows.
    """
    vam = np.asarray(vam, dtype=np.float64)
    if vam.ndim != 2:
        raise ValueError(f"vam must be a 2D map, got shape {vam.shape}.")
    if not np.isfinite(vam).all():
        raise ValueError("vam contains NaN or infinite values; make the map from finite data.")
    levels = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64))]
    if not levels or any(not 0 <= t <= 1 for t in levels):
        raise ValueError(f"thresholds must be one or more numbers in [0, 1], got {thresholds}.")
    return {t: vam >= t for t in levels}
