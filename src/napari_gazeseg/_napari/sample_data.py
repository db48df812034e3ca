"""Sample data (File > Open Sample): images with a simulated observer's gaze over their objects.

Each sample returns, bottom to top: the image; its ground-truth labels (the
objects the observer was asked to annotate, in the colours the gaze layers give
those objects; hidden, to compare a segmentation with when switched on); the gaze heatmap (fixations weighted by duration, as
in SAM meets Gaze; hidden until switched on); the raw gaze, the scanpath and the
fixations (Tobii I-VT with its default parameters, as the Gaze layers widget
starts). The observer is :func:`napari_gazeseg.gaze.simulate_observer`: one
session per object at 120 Hz, with Tobii-like accuracy and precision, saccades,
blinks and track loss.
"""

from __future__ import annotations

import numpy as np

from .layers import LayerDataTuple, gaze_layers, label_colors_at, object_label_colormap

__all__ = ["synthetic_cells_with_gaze", "skimage_cells_with_gaze", "segment_ihc_glands"]


def _scene_layers(scene, image_name: str, image_kwargs: dict) -> list[LayerDataTuple]:
    from ..gaze.fixations import FixationDetector
    from ._deleted_visuals_guard import guard_current_viewer

    guard_current_viewer()
    fixations = FixationDetector().detect(scene.recording)  # I-VT with its defaults
    truth_kwargs = {
        "name": f"{image_name} ground truth",
        "opacity": 0.5,
        "visible": False,
        "colormap": object_label_colormap(scene.labels),
    }
    return [
        (scene.image, {"name": image_name, **image_kwargs}, "image"),
        (scene.labels, truth_kwargs, "labels"),
        *gaze_layers(
            scene.recording,
            fixations,
            image_shape=scene.labels.shape,
            name=image_name,
            text_color=label_colors_at(scene.image, fixations.coords),
        ),
    ]


def synthetic_cells_with_gaze() -> list[LayerDataTuple]:
    """A synthetic fluorescence-like image of cells, with the gaze of an observer annotating five."""
    from ..gaze.simulate import simulate_observer

    scene = simulate_observer("cells", shape=(384, 384), n_objects=5, seed=0, name="synthetic cells")
    return _scene_layers(scene, "synthetic cells", {"colormap": "gray"})


def segment_ihc_glands(image: np.ndarray) -> np.ndarray:
    """Label the DAB-stained glands of scikit-image's immunohistochemistry image.

    Classic steps: colour deconvolution to the DAB channel, Gaussian smoothing
    (sigma 4 px), Otsu threshold, opening (disk 5 px), small objects and holes
    removed, then touching glands split by a watershed on the distance transform
    seeded by its maxima at least 70 px apart. Returns int32 labels ``1..n``,
    the widest gland (largest distance maximum) first.
    """
    from scipy import ndimage
    from skimage import color, feature, filters, measure, morphology, segmentation

    dab = filters.gaussian(color.rgb2hed(image)[..., 2], sigma=4)
    mask = dab > filters.threshold_otsu(dab)
    mask = morphology.opening(mask, morphology.disk(5))
    mask = morphology.remove_small_objects(mask, max_size=2000)
    mask = morphology.remove_small_holes(mask, max_size=3000)
    distance = ndimage.distance_transform_edt(mask)
    peaks = feature.peak_local_max(distance, min_distance=70, threshold_abs=25, labels=measure.label(mask))
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, markers, mask=mask).astype(np.int32)


def skimage_cells_with_gaze() -> list[LayerDataTuple]:
    """scikit-image's immunohistochemistry image (colon tissue, 512 x 512 RGB) with gaze.

    The observer annotates the DAB-stained (brown) glands found by
    :func:`segment_ihc_glands`.
    """
    from skimage import data

    from ..gaze.simulate import simulate_observer

    image = data.immunohistochemistry()
    labels = segment_ihc_glands(image)
    scene = simulate_observer(image=image, labels=labels, seed=0, name="immunohistochemistry")
    return _scene_layers(scene, "immunohistochemistry", {"rgb": True})
