"""What the Gaze layers widget computes off the UI thread: fixations, scanpath, heatmap.

Pure data in, ``LayerDataTuple``\\ s out (no layers are touched here), so the
work can run in a :func:`napari.qt.threading.thread_worker` and the UI thread
only copies the results into the existing layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..gaze.fixations import FixationDetector, detector_defaults
from ..gaze.maps import canonical_map, needs_raw_gaze
from ..gaze.recording import Fixations, GazeRecording
from .layers import (
    LayerDataTuple,
    fixations_layer,
    heatmap_layer,
    label_colors_at,
    scanpath_layer,
)

__all__ = ["FIXATION_METHODS", "METHOD_NAMES", "FixationSettings", "HeatmapSettings", "LayerJob", "compute_layers"]

#: Fixation detectors the widget offers, by the name it shows.
FIXATION_METHODS = ("I-VT", "I-DT")
#: The name the widget shows -> the detector's name in :data:`~napari_gazeseg.gaze.fixations.DETECTORS`.
METHOD_NAMES = {"I-VT": "ivt", "I-DT": "idt"}
_IVT = detector_defaults("ivt")
_IDT = detector_defaults("idt")


@dataclass(frozen=True)
class FixationSettings:
    """What the widget's fixation controls show: both detectors' sliders at once.

    Angles are degrees of visual angle (the detectors convert them to image
    pixels when the recording has no screen geometry, and say so); times are
    seconds. Defaults are the detector functions' own
    (:func:`~napari_gazeseg.gaze.fixations.detector_defaults`); :attr:`detector`
    is the :class:`~napari_gazeseg.gaze.fixations.FixationDetector` they make.
    """

    method: str = "I-VT"
    velocity_threshold: float = _IVT["velocity_threshold"]  # deg/s, I-VT
    min_duration: float = _IVT["min_duration"]  # s, I-VT: shorter fixations are discarded
    merge_max_gap: float = _IVT["merge_max_gap"]  # s, I-VT: merge fixations closer in time ...
    merge_max_angle: float = _IVT["merge_max_angle"]  # deg, I-VT: ... and in space than these
    dispersion_threshold: float = _IDT["dispersion_threshold"]  # deg, I-DT
    idt_min_duration: float = _IDT["min_duration"]  # s, I-DT: shortest window

    @property
    def detector(self) -> FixationDetector:
        """The detector these settings choose (the other method's sliders are left out)."""
        if self.method == "I-VT":
            return FixationDetector(
                "ivt",
                velocity_threshold=self.velocity_threshold,
                min_duration=self.min_duration,
                merge_max_gap=self.merge_max_gap,
                merge_max_angle=self.merge_max_angle,
            )
        if self.method == "I-DT":
            return FixationDetector(
                "idt", dispersion_threshold=self.dispersion_threshold, min_duration=self.idt_min_duration
            )
        raise ValueError(f"fixation method must be one of {', '.join(FIXATION_METHODS)}.")

    @classmethod
    def of(cls, detector: FixationDetector) -> FixationSettings:
        """The controls showing ``detector`` (the other method's sliders at their defaults).

        Parameters the widget has no control for keep their values only in the
        detector; ``min_duration=None`` (keep all) shows as 0.
        """
        if detector.method == "ivt":
            return cls(
                method="I-VT",
                velocity_threshold=detector.velocity_threshold,
                min_duration=detector.min_duration or 0.0,
                merge_max_gap=detector.merge_max_gap or 0.0,
                merge_max_angle=detector.merge_max_angle,
            )
        return cls(
            method="I-DT",
            dispersion_threshold=detector.dispersion_threshold,
            idt_min_duration=detector.min_duration,
        )

    @property
    def ivt_parameters(self) -> dict | None:
        """``detect_fixations_ivt`` keyword arguments when the method is I-VT, else None
        (live fixations run I-VT incrementally: ``tracking.live_fixations``)."""
        return self.detector.ivt_parameters

    def detect(self, recording: GazeRecording) -> Fixations:
        """Run the chosen detector of :mod:`napari_gazeseg.gaze.fixations`."""
        return self.detector.detect(recording)


@dataclass(frozen=True)
class HeatmapSettings:
    """What the heatmap is made of (a :data:`~napari_gazeseg.gaze.maps.GAZE_MAPS` name or
    alias, as :data:`~napari_gazeseg._napari.layers.HEATMAP_KINDS` spells them) and its
    kernel in pixels."""

    kind: str = "fixations+duration"
    kernel_size: int = 100
    sigma: float = 100 / 6

    def __post_init__(self) -> None:
        canonical_map(self.kind)  # one of the gaze maps (raises one sentence otherwise)


@dataclass(frozen=True)
class LayerJob:
    """One recomputation: the data, where the layers go, and what to redo.

    ``recording`` is None for fixation-only sources, whose ``fixations`` are
    given instead of detected. ``shape`` is the image data shape for the
    recording's coordinate axes, or None when unknown (no heatmap then).
    ``image`` (the picked image's data, full resolution; any array napari shows)
    and its ``contrast_limits``, when given, colour the fixation numbers
    (:func:`~napari_gazeseg._napari.layers.label_colors_at`) here, off the UI
    thread; without them the numbers are white.
    """

    recording: GazeRecording | None
    fixations: Fixations | None
    fixation_settings: FixationSettings
    heatmap_settings: HeatmapSettings
    redo_fixations: bool
    redo_heatmap: bool
    name: str
    group: str
    shape: tuple[int, ...] | None
    scale: Sequence[float] | None = None
    translate: Sequence[float] | None = None
    affine: Any = None  # the image's rotate, shear and affine (``placement_of``)
    image: Any = None
    contrast_limits: Sequence[float] | None = None


def compute_layers(job: LayerJob) -> Iterator[dict[str, LayerDataTuple | Fixations]]:
    """Yield the recomputed layers of a job, fixations first, then the heatmap.

    A generator, so that a worker running it can be abandoned between the two
    steps when a newer job supersedes it. Yields dicts that may hold
    ``"fixations"`` and ``"scanpath"`` (``LayerDataTuple``), ``"detected"`` (the
    :class:`Fixations`) and ``"heatmap"``.
    """
    common = {
        "name": job.name, "group": job.group, "scale": job.scale, "translate": job.translate, "affine": job.affine
    }
    fixations = job.fixations
    if job.redo_fixations and job.recording is not None:
        fixations = job.fixation_settings.detect(job.recording)
        text_color = "white"
        if job.image is not None and len(fixations):
            text_color = label_colors_at(job.image, fixations.coords, job.contrast_limits)
        yield {
            "detected": fixations,
            "fixations": fixations_layer(fixations, image_shape=job.shape, text_color=text_color, **common),
            "scanpath": scanpath_layer(fixations, image_shape=job.shape, **common),
        }
    settings = job.heatmap_settings
    source = job.recording if needs_raw_gaze(settings.kind) else fixations
    if job.redo_heatmap and job.shape is not None and source is not None:
        yield {
            "heatmap": heatmap_layer(
                settings.kind,
                job.shape,
                recording=job.recording,
                fixations=fixations,
                kernel_size=settings.kernel_size,
                sigma=settings.sigma,
                **common,
            )
        }
