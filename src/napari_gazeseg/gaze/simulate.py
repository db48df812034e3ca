"""A synthetic observer: images, ground-truth masks and realistic gaze over them.

The observer is the annotator of *SAM meets Gaze* and *GradTrack*: it inspects the
objects of an image one after the other, one session per object (the annotator
starts and stops each object's recording with a key). Before each session the
object is cued (highlighted) and the observer looks at it once; that cue
fixation and the saccade after the session belong to no session (object id 0),
so the recording is continuous and sessions are separated by gaps of object id 0.
Within a session it makes

1. a rough **scan**: one fixation anywhere on the image, then a few around the
   object (1.2 to 3 object radii from its centre), coming closer;
2. a centre-out **tour** of the object: fixations inside it, the first near its
   centre, later ones ever closer to its boundary, going round it;
3. the **decisive** fixations: interior points near the centre, longer.

With the default :class:`ObserverModel` a session lasts about 3.9 s and an object,
cue included, about 4.6 s (SAM meets Gaze measured 5.68 s per object with its
key presses and a 0.5 s display of the object).

The eye moves as described in :mod:`napari_gazeseg.gaze._eye` (gamma fixation
durations, main-sequence saccades, Tobii-like accuracy and precision in degrees,
blinks and track loss). The image is shown centred on a screen of known
geometry (:class:`~napari_gazeseg.gaze.geometry.ScreenGeometry`), zoomed to fill
``display_fraction`` of it; ``meta["display"]`` records the placement
(:class:`~napari_gazeseg.gaze._display.ImagePlacement`) so that the screen
coordinates and image coordinates of every sample agree.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ._display import ImagePlacement, screen_from_directions, tilt, unit_directions
from ._eye import (
    fixation_durations,
    inside_intervals,
    loss_intervals,
    precision_noise_rad,
    saccade_durations,
    saccade_progress,
)
from ._scenes import SCENE_KINDS, make_scene
from .geometry import ScreenGeometry
from .recording import NO_OBJECT, Fixations, GazeRecording

__all__ = [
    "FIXATION",
    "LOST",
    "PHASES",
    "SACCADE",
    "SCENE_KINDS",
    "ImagePlacement",
    "ObserverModel",
    "SimulatedScene",
    "simulate_dataset",
    "simulate_gaze",
    "simulate_observer",
]

#: ``sample_kind`` values.
FIXATION, SACCADE, LOST = 0, 1, 2
#: Names of the ``fixation_phase`` values 0, 1, 2, 3.
PHASES = ("scan", "tour", "decisive", "cue")
_SCAN, _TOUR, _DECISIVE, _CUE = range(4)


@dataclass(frozen=True)
class ObserverModel:
    """How the simulated observer looks and how the eye tracker errs.

    Times in seconds, angles in degrees of visual angle.
    """

    #: Mean angular offset of the tracker's fixation centroids from the truth (Tobii "accuracy").
    accuracy_deg: float = 0.4
    #: RMS of sample-to-sample angular distances during fixations (Tobii "precision").
    precision_deg: float = 0.23
    #: Mean and minimum fixation duration (a shifted gamma distribution).
    fixation_mean_s: float = 0.25
    fixation_min_s: float = 0.08
    #: Mean duration of the decisive fixations that close a session.
    decisive_fixation_mean_s: float = 0.35
    #: Range of the cue fixation before each session.
    cue_duration_s: tuple[float, float] = (0.5, 0.8)
    #: Ranges (inclusive) of the number of fixations in each phase of a session.
    scan_fixations: tuple[int, int] = (2, 4)
    tour_fixations: tuple[int, int] = (5, 10)
    decisive_fixations: tuple[int, int] = (2, 3)
    #: Mean time between blinks, or None for no blinks.
    blink_interval_s: float | None = 4.0
    #: Range of blink durations (uniform).
    blink_duration_s: tuple[float, float] = (0.1, 0.3)
    #: Mean time between short track-loss gaps, or None for none.
    track_loss_interval_s: float | None = 12.0
    #: Range of track-loss gap durations (uniform).
    track_loss_duration_s: tuple[float, float] = (0.015, 0.06)

    def __post_init__(self) -> None:
        if self.accuracy_deg < 0 or self.precision_deg < 0:
            raise ValueError("accuracy_deg and precision_deg must be non-negative.")
        for name in ("scan_fixations", "tour_fixations", "decisive_fixations"):
            low, high = getattr(self, name)
            if not 0 <= low <= high or (name != "scan_fixations" and low < 1):
                raise ValueError(
                    f"{name} must be a (low, high) range of counts, got {(low, high)}."
                )


@dataclass(eq=False)
class SimulatedScene:
    """An image, its objects and the gaze of an observer who inspected them.

    Attributes
    ----------
    image : uint8 ``(rows, cols)`` (cells, organ) or ``(rows, cols, 3)`` (polyp);
        a given image is kept as it is.
    labels : int32 ``(rows, cols)``; 0 background, object ids ``1..n``.
    recording : GazeRecording
        The tracker's samples: ``coords`` (row, col) image data coordinates,
        ``screen`` normalised display coordinates, ``object_id`` the object of
        each session (0 between sessions).
    fixations : Fixations
        The fixations the observer truly made: exact onsets and durations in the
        recording's time base, noise-free positions, their session's object id
        (0 for cue fixations).
    sample_kind : int8 ``(N,)``
        0 fixation, 1 saccade, 2 blink or track loss (invalid). Fixation and
        saccade samples are invalid only where the gaze fell off the image.
    fixation_phase : int8 ``(M,)``
        Index into :data:`PHASES` for each true fixation.
    name : str
    """

    image: np.ndarray
    labels: np.ndarray
    recording: GazeRecording
    fixations: Fixations
    sample_kind: np.ndarray
    fixation_phase: np.ndarray
    name: str

    def __repr__(self) -> str:
        return (
            f"SimulatedScene({self.name!r}, image {self.image.shape} {self.image.dtype}, "
            f"{len(self.recording.object_ids)} objects, {self.recording!r}, {self.fixations!r})"
        )

    @property
    def placement(self) -> ImagePlacement:
        """Where the image was shown on the screen."""
        return ImagePlacement.from_meta(self.recording.meta)

    @property
    def geometry(self) -> ScreenGeometry:
        """The screen the image was shown on."""
        return ScreenGeometry.from_meta(self.recording.meta)

    @property
    def image_px_per_degree(self) -> float:
        """Image pixels per degree of visual angle at the screen centre (e.g. 0.4 deg of
        tracker accuracy is ``0.4 * image_px_per_degree`` image pixels there)."""
        return self.geometry.px_per_degree() / self.placement.scale


def simulate_observer(
    kind: str = "cells",
    shape: tuple[int, int] = (256, 256),
    n_objects: int = 3,
    rate_hz: float = 120.0,
    seed: int | Sequence[int] = 0,
    *,
    image: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    object_ids: Sequence[int] | None = None,
    name: str | None = None,
    observer: ObserverModel | None = None,
    geometry: ScreenGeometry | None = None,
    display_fraction: float = 0.8,
) -> SimulatedScene:
    """Draw a scene of ``kind`` (or take ``image`` and ``labels``) and simulate its observer.

    Parameters
    ----------
    kind : {"cells", "polyp", "organ"}
        Scene to draw; ignored when ``image`` and ``labels`` are given.
    shape : (rows, cols)
        Size of the drawn scene in pixels.
    n_objects : int
        Objects in the drawn scene.
    rate_hz : float
        Tracker sampling rate; samples lie at exactly ``k / rate_hz`` seconds.
    seed : int or sequence of ints
        Makes everything reproducible (numpy ``SeedSequence`` entropy).
    image, labels : arrays, optional
        A user's image (2D grey or ``(rows, cols, 3)`` RGB) and its 2D label image;
        the observer inspects the labelled objects.
    object_ids : sequence of int, optional
        The objects to inspect, in this order; default all label ids, ascending.
    name : str, optional
        Image name for ``meta["image"]["name"]``; default ``"<kind>_<seed>"``.
    observer : ObserverModel, optional
        Eye and tracker behaviour; defaults follow the SAM-meets-Gaze Tobii set-up.
    geometry : ScreenGeometry, optional
        The display; default a 24" 1920 x 1080 screen at 650 mm.
    display_fraction : float
        Fraction of the screen height (or width) the image fills.
    """
    entropy = [int(v) for v in np.atleast_1d(seed)]
    scene_seed, gaze_seed = np.random.SeedSequence(entropy).spawn(2)
    if (image is None) != (labels is None):
        raise ValueError("pass both image and labels, or neither to draw a synthetic scene.")
    if image is None:
        image, labels = make_scene(kind, shape, n_objects, np.random.default_rng(scene_seed))
    else:
        image, labels, kind = np.asarray(image), np.asarray(labels), "given"
        if labels.ndim != 2 or image.shape[:2] != labels.shape:
            raise ValueError(
                f"labels must be 2D and match the image's first two axes; got image {image.shape}, "
                f"labels {labels.shape}."
            )
    if name is None:
        name = f"{kind}_{'_'.join(str(v) for v in entropy)}"
    gaze = simulate_gaze(
        labels,
        rate_hz=rate_hz,
        seed=gaze_seed,
        object_ids=object_ids,
        name=name,
        observer=observer,
        geometry=geometry,
        display_fraction=display_fraction,
    )
    meta = copy.deepcopy(gaze.recording.meta)
    meta["simulation"].update(kind=kind, seed=entropy)
    gaze.recording.meta, gaze.fixations.meta = meta, copy.deepcopy(meta)
    return SimulatedScene(
        image=image,
        labels=np.asarray(labels, dtype=np.int32),
        recording=gaze.recording,
        fixations=gaze.fixations,
        sample_kind=gaze.sample_kind,
        fixation_phase=gaze.fixation_phase,
        name=name,
    )


@dataclass(eq=False)
class SimulatedGaze:
    """What :func:`simulate_gaze` returns: the fields of :class:`SimulatedScene` about gaze."""

    recording: GazeRecording
    fixations: Fixations
    sample_kind: np.ndarray
    fixation_phase: np.ndarray


def simulate_gaze(
    labels: np.ndarray,
    *,
    rate_hz: float = 120.0,
    seed: int | np.random.SeedSequence = 0,
    object_ids: Sequence[int] | None = None,
    name: str = "image",
    observer: ObserverModel | None = None,
    geometry: ScreenGeometry | None = None,
    display_fraction: float = 0.8,
) -> SimulatedGaze:
    """Simulate an observer inspecting each labelled object of a 2D label image in turn.

    See :func:`simulate_observer` for the parameters.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 2D integer image, got {labels.ndim}D {labels.dtype}.")
    if not rate_hz > 0:
        raise ValueError(f"the sampling rate must be positive, got {rate_hz} Hz.")
    observer = ObserverModel() if observer is None else observer
    geometry = ScreenGeometry.default() if geometry is None else geometry
    present = np.unique(labels)
    present = present[present > 0]
    ids = present if object_ids is None else np.asarray(object_ids, dtype=np.int64)
    if ids.size == 0:
        raise ValueError("the label image holds no objects; label at least one object to look at.")
    if np.unique(ids).size != ids.size:
        raise ValueError(f"object_ids {ids.tolist()} name an object twice; name each object once.")
    missing = np.setdiff1d(ids, present)
    if missing.size:
        raise ValueError(
            f"object ids {missing.tolist()} are not in the label image; pick ids it holds."
        )
    rng = np.random.default_rng(seed)
    placement = ImagePlacement.centred(
        labels.shape, (geometry.width_px, geometry.height_px), display_fraction
    )

    plan = _plan(labels, ids, observer, rng)
    targets = unit_directions(
        geometry.px_to_normalised(placement.image_to_screen_px(plan.coords)), geometry
    )
    duration = plan.duration
    start, saccade_amplitude_deg = _timeline(targets, duration)
    total_s = float(start[-1] + duration[-1])
    t = np.arange(int(np.ceil(total_s * rate_hz))) / rate_hz

    directions, offsets, kind, session = _eye_path(
        t, start, duration, saccade_amplitude_deg, targets, plan.object_id, observer, rng
    )
    offsets = offsets + precision_noise_rad(rng, t.shape[0], observer.precision_deg)
    screen = screen_from_directions(tilt(directions, offsets), geometry)

    lost = inside_intervals(
        t, loss_intervals(rng, total_s, observer.blink_interval_s, observer.blink_duration_s)
    ) | inside_intervals(
        t,
        loss_intervals(
            rng, total_s, observer.track_loss_interval_s, observer.track_loss_duration_s
        ),
    )
    kind[lost] = LOST
    screen[lost] = np.nan
    coords = placement.screen_px_to_image(geometry.normalised_to_px(screen))
    on_image = np.all((coords > -0.5) & (coords < np.asarray(labels.shape) - 0.5), axis=1)

    meta = {
        "sampling_rate_hz": float(rate_hz),
        "source": "simulated",
        "image": {"shape": [int(s) for s in labels.shape], "name": name},
        "screen": geometry.to_meta(),
        "display": placement.to_meta(),
        "simulation": {
            "observer": _observer_meta(observer),
            "display_fraction": float(display_fraction),
            "object_ids": [int(i) for i in ids],
        },
    }
    recording = GazeRecording(
        t=t, coords=coords, valid=on_image & ~lost, screen=screen, object_id=session, meta=meta
    )
    fixations = Fixations(
        start=start, duration=duration, coords=plan.coords, object_id=plan.object_id, meta=meta
    )
    return SimulatedGaze(recording, fixations, kind, plan.phase)


def simulate_dataset(
    n_images: int,
    kind: str = "cells",
    shape: tuple[int, int] = (256, 256),
    seed: int = 0,
    **options,
) -> Iterator[SimulatedScene]:
    """``n_images`` scenes with distinct seeds ``(seed, i)``, named ``<kind>_<i:04d>``,
    drawn one at a time as the iterator is consumed.

    ``options`` go to :func:`simulate_observer` (``n_objects``, ``rate_hz``, ...).
    """
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}.")
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; choose one of {', '.join(SCENE_KINDS)}.")
    return (
        simulate_observer(kind, shape, seed=(seed, index), name=f"{kind}_{index:04d}", **options)
        for index in range(n_images)
    )


# -- the observer's plan: where it looks and for how long -------------------------


@dataclass
class _Plan:
    coords: np.ndarray  # (M, 2) image (row, col)
    duration: np.ndarray  # (M,) s
    object_id: np.ndarray  # (M,)
    phase: np.ndarray  # (M,) int8


@dataclass
class _Object:
    pixels: np.ndarray  # (P, 2) row, col of its pixels
    depth: np.ndarray  # (P,) distance to the boundary / its maximum, in (0, 1]
    centre: np.ndarray  # (2,) centroid
    radius: float  # radius of the disc of equal area, pixels


def _describe(labels: np.ndarray, object_id: int, box: tuple[slice, slice]) -> _Object:
    mask = np.pad(labels[box] == object_id, 1)
    distance = ndimage.distance_transform_edt(mask)[1:-1, 1:-1]
    local = np.argwhere(mask[1:-1, 1:-1])
    pixels = local + np.array([box[0].start, box[1].start])
    depth = distance[local[:, 0], local[:, 1]]
    return _Object(
        pixels=pixels.astype(np.float64),
        depth=depth / depth.max(),
        centre=pixels.mean(axis=0),
        radius=float(np.sqrt(pixels.shape[0] / np.pi)),
    )


def _pick(rng, obj: _Object, candidates: np.ndarray, angle: float) -> np.ndarray:
    """The candidate pixel whose direction from the centre is closest to ``angle``,
    jittered within the pixel."""
    offsets = obj.pixels[candidates] - obj.centre
    turn = np.angle(np.exp(1j * (np.arctan2(offsets[:, 0], offsets[:, 1]) - angle)))
    best = candidates[np.argmin(np.abs(turn) + rng.uniform(0, 0.3, candidates.shape[0]))]
    return obj.pixels[best] + rng.uniform(-0.45, 0.45, 2)


def _session(rng, obj: _Object, shape: tuple[int, int], observer: ObserverModel):
    """Fixation positions (image coords) and phases of one object session."""
    limit = np.asarray(shape, dtype=np.float64) - 1
    n_scan = int(rng.integers(observer.scan_fixations[0], observer.scan_fixations[1] + 1))
    n_tour = int(rng.integers(observer.tour_fixations[0], observer.tour_fixations[1] + 1))
    n_decisive = int(
        rng.integers(observer.decisive_fixations[0], observer.decisive_fixations[1] + 1)
    )

    scan = []
    if n_scan:
        scan.append(rng.uniform(0.05, 0.95, 2) * limit)
        distances = np.sort(rng.uniform(1.2, 3.0, n_scan - 1))[::-1] * max(obj.radius, 3.0)
        for distance in distances:
            angle = rng.uniform(0, 2 * np.pi)
            scan.append(
                np.clip(obj.centre + distance * np.array([np.sin(angle), np.cos(angle)]), 0, limit)
            )

    tour = []
    levels = np.linspace(0.85, 0.25, n_tour) + rng.normal(0, 0.03, n_tour)
    angle = rng.uniform(0, 2 * np.pi)
    for level in levels:
        band = np.flatnonzero(np.abs(obj.depth - level) < 0.1)
        if band.size == 0:
            band = np.argsort(np.abs(obj.depth - level))[:3]
        tour.append(_pick(rng, obj, band, angle))
        angle += rng.uniform(1.8, 2.6)

    core = np.flatnonzero(obj.depth >= 0.6)
    near = np.linalg.norm(obj.pixels[core] - obj.centre, axis=1)
    closest = core[np.argsort(near)[: max(3, core.size // 3)]]
    decisive = [
        obj.pixels[rng.choice(closest)] + rng.uniform(-0.45, 0.45, 2) for _ in range(n_decisive)
    ]

    coords = np.array(scan + tour + decisive, dtype=np.float64).reshape(-1, 2)
    phase = np.repeat([_SCAN, _TOUR, _DECISIVE], [len(scan), len(tour), len(decisive)])
    return coords, phase


def _plan(labels: np.ndarray, ids: np.ndarray, observer: ObserverModel, rng) -> _Plan:
    boxes = ndimage.find_objects(labels)
    coords, phases, objects, durations = [], [], [], []
    for object_id in ids:
        obj = _describe(labels, int(object_id), boxes[int(object_id) - 1])
        cue = np.clip(
            obj.centre + rng.normal(0, 0.5 * obj.radius, 2), 0, np.asarray(labels.shape) - 1
        )
        session, phase = _session(rng, obj, labels.shape, observer)
        coords += [cue[None], session]
        phases += [[_CUE], phase]
        objects += [[NO_OBJECT], np.full(len(session), int(object_id))]
        decisive = phase == _DECISIVE
        durations += [
            [rng.uniform(*observer.cue_duration_s)],
            np.where(
                decisive,
                fixation_durations(
                    rng, len(session), observer.decisive_fixation_mean_s, observer.fixation_min_s
                ),
                fixation_durations(
                    rng, len(session), observer.fixation_mean_s, observer.fixation_min_s
                ),
            ),
        ]
    return _Plan(
        coords=np.concatenate(coords),
        duration=np.concatenate(durations).astype(np.float64),
        object_id=np.concatenate(objects).astype(np.int64),
        phase=np.concatenate(phases).astype(np.int8),
    )


# -- from plan to samples ---------------------------------------------------------


def _timeline(targets: np.ndarray, duration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixation onsets (s) and the amplitudes (deg) of the ``M - 1`` saccades between
    the ``M`` fixations: each fixation, then a main-sequence saccade to the next."""
    cross = np.linalg.norm(np.cross(targets[:-1], targets[1:]), axis=1)
    amplitude_deg = np.rad2deg(np.arctan2(cross, np.sum(targets[:-1] * targets[1:], axis=1)))
    saccades = saccade_durations(amplitude_deg)
    start = np.concatenate([[0.0], np.cumsum(duration[:-1] + saccades)])
    return start, amplitude_deg


def _accuracy_offsets(rng, targets: np.ndarray, accuracy_deg: float) -> np.ndarray:
    """``(M, 2)`` angular offsets (rad) of length ``accuracy_deg`` whose direction turns
    smoothly over the screen (calibration error), with a little per-fixation jitter."""
    base = rng.uniform(0, 2 * np.pi)
    sway = rng.normal(0, 1.5, 2)
    slope_x, slope_y = targets[:, 0] / targets[:, 2], targets[:, 1] / targets[:, 2]
    direction = base + sway[0] * slope_x + sway[1] * slope_y + rng.normal(0, 0.2, targets.shape[0])
    return np.deg2rad(accuracy_deg) * np.stack([np.cos(direction), np.sin(direction)], axis=1)


def _eye_path(t, start, duration, saccade_amplitude_deg, targets, fixation_object, observer, rng):
    """Noise-free gaze directions, accuracy offsets, sample kinds and session ids at times ``t``.

    Sample ``k`` lies in fixation ``i`` when ``start[i] <= t[k] < start[i] + duration[i]``,
    else in the saccade from fixation ``i`` to ``i + 1`` (of amplitude
    ``saccade_amplitude_deg[i]``), which belongs to the session of fixation ``i + 1``.
    """
    end = start + duration
    fixation = np.clip(np.searchsorted(start, t, side="right") - 1, 0, None)
    in_fixation = t < end[fixation]
    following = np.minimum(fixation + 1, len(start) - 1)
    saccade_length = np.maximum(start[following] - end[fixation], 1e-12)
    amplitude = saccade_amplitude_deg[np.minimum(fixation, len(saccade_amplitude_deg) - 1)]
    covered = saccade_progress((t - end[fixation]) / saccade_length, amplitude)
    progress = np.where(in_fixation, 0.0, covered)[:, None]

    path = targets[fixation] + progress * (targets[following] - targets[fixation])
    path /= np.linalg.norm(path, axis=1, keepdims=True)
    accuracy = _accuracy_offsets(rng, targets, observer.accuracy_deg)
    offsets = accuracy[fixation] + progress * (accuracy[following] - accuracy[fixation])
    kind = np.where(in_fixation, FIXATION, SACCADE).astype(np.int8)
    session = np.where(in_fixation, fixation_object[fixation], fixation_object[following])
    return path, offsets, kind, session


def _observer_meta(observer: ObserverModel) -> dict:
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in asdict(observer).items()
    }
