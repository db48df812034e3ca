"""Pupil Labs exports: Pupil Player's ``gaze_positions.csv`` and
``gaze_positions_on_surface_*.csv``, and Pupil Cloud's (Neon, Invisible)
enrichment ``gaze.csv`` of the Reference Image Mapper and the Marker Mapper.

Columns, as Pupil Player's raw data exporter and surface tracker write them
(Pupil Labs documentation, "Raw Data Exporter" and "Surface Tracker"):

``gaze_positions.csv``
    ``gaze_timestamp`` (``timestamp`` in Pupil 0.x exports; seconds, Pupil
    time), ``world_index`` (``index``; the world-video frame), ``confidence``
    (0..1), ``norm_pos_x``, ``norm_pos_y`` (position in the world-camera frame,
    0..1, **origin bottom-left**, y up), then 3D columns we do not use.
``gaze_positions_on_surface_<name>.csv``
    ``world_timestamp``, ``world_index`` (``world_frame_idx``),
    ``gaze_timestamp``, ``x_norm``, ``y_norm`` (position on the surface, 0..1,
    origin bottom-left), ``x_scaled``, ``y_scaled`` (the same in the surface
    size set in Pupil Player; 1 x 1 unless set), ``on_surf`` (``on_srf``;
    ``True``/``False``), ``confidence``.

**Mapping.** A surface is a screen or a printed image: it *is* the image, of
the size set in Pupil Player (``x_scaled / x_norm``, ``y_scaled / y_norm``) or
``image_shape``; ``(row, col) = ((1 - y_norm) * height - 0.5, x_norm * width - 0.5)``.
A surface without a size (1 x 1) and no ``image_shape`` is placed on a 1000 x
1000 grid, with a warning (``meta["image"]["shape_assumed"]``). World gaze lies
on the world video, read as a stack of frames: ``(frame, row, col) =
(world_index, (1 - y) * height - 0.5, x * width - 0.5)`` on frames of
``image_shape`` or else Pupil Core's default 720 x 1280 world camera (warned).

**Samples**: time is seconds from the first gaze timestamp (rows sorted by it);
a sample is valid when its confidence is at least 0.6 (Pupil Player's default
minimum data confidence), it is on the surface (``on_surf``) and on the image.
Key: the surface name, or ``"world"``.

**Pupil Cloud enrichments** (Pupil Labs' export documentation, "Reference Image
Mapper" and "Marker Mapper"): ``gaze.csv`` with ``section id``, ``recording id``,
``timestamp [ns]`` (UTC nanoseconds), and either ``gaze detected in reference
image`` with ``gaze position in reference image x/y [px]`` (pixels of the
reference image from its top-left corner, as Pupil's scene-camera pixels; ``(row,
col) = (y - 0.5, x - 0.5)``) or ``gaze detected on surface`` with ``gaze position
on surface x/y [normalized]`` (``(0, 0)`` the surface's top-left corner, ``(1,
1)`` its bottom-right; ``(row, col) = (y * height - 0.5, x * width - 0.5)``).
One recording per section, keyed by its ``recording name`` from the export's
``sections.csv`` beside the file (the recording id without it; a name two
sections share gets the section id's first 8 characters). Time: nanoseconds
from the section's first sample, converted to seconds exactly (the integers are
subtracted before the division). A sample is valid when mapped (``gaze detected
...`` true, positions present) and on the image. The image size: ``image_shape``;
else, for the Reference Image Mapper, the export's ``reference_image.jpeg|png``;
else none (napari asks for the image), and for the Marker Mapper the nominal
1000 x 1000 surface, with a warning, as for a Pupil Player surface without size.
``meta["pupil_cloud"]`` keeps the enrichment, section and recording ids.

The same enrichments' ``fixations.csv`` (``start timestamp [ns]``, ``duration
[ms]``, ``fixation detected ...``, ``fixation x/y``) gives Pupil's own
:class:`Fixations` per section, mapped as their gaze, on the clock of the
``gaze.csv`` beside it (seconds from the section's first gaze sample; from the
first fixation without one); fixations not mapped onto the image are left out.

The Timeseries export's scene-camera ``gaze.csv`` (``gaze x [px]``, ``gaze y
[px]``, ``worn``) is read the same way onto the scene video as a stack of frames,
``(frame, y - 0.5, x - 0.5)``: the frame is the last one shown at or before the
sample, from ``world_timestamps.csv`` beside the file (required); valid when worn,
after the first frame and on the frame, of ``image_shape`` or else Neon's 1200 x
1600 (warned).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._infer import PLAUSIBLE_RATE_HZ, typical_step, warn, warn_off_image
from ._table import read_csv_columns
from ._text import read_text

__all__ = ["MIN_CONFIDENCE", "is_pupil_header", "read_pupil"]

#: Pupil Player's default minimum data confidence.
MIN_CONFIDENCE = 0.6
#: Pupil Core's default world-camera frame (height, width).
WORLD_FRAME = (720, 1280)
NOMINAL_SURFACE = (1000, 1000)
#: Neon's scene-camera frame (height, width); Pupil Invisible's is 1080 x 1088.
NEON_SCENE_FRAME = (1200, 1600)
_SURFACE_NAME = re.compile(r"^gaze_positions_on_surface_(?P<name>.+?)(?:_\d+(?:\.\d+)?)?\.csv$", re.IGNORECASE)


#: Pupil Cloud enrichment kinds: (detected column, x column, y column), lower case.
_CLOUD_COLUMNS = {
    "reference-image-mapper": (
        "gaze detected in reference image",
        "gaze position in reference image x [px]",
        "gaze position in reference image y [px]",
    ),
    "marker-mapper": (
        "gaze detected on surface",
        "gaze position on surface x [normalized]",
        "gaze position on surface y [normalized]",
    ),
}
_REFERENCE_IMAGES = ("reference_image.jpeg", "reference_image.jpg", "reference_image.png")
#: The same enrichments' fixations.csv: (detected column, x column, y column), lower case.
_CLOUD_FIXATION_COLUMNS = {
    "reference-image-mapper": ("fixation detected in reference image", "fixation x [px]", "fixation y [px]"),
    "marker-mapper": ("fixation detected on surface", "fixation x [normalized]", "fixation y [normalized]"),
}


def is_pupil_header(names: set[str]) -> str | None:
    """``"world"``, ``"surface"``, ``"reference-image-mapper"``, ``"marker-mapper"`` or
    ``"scene-camera"`` for a Pupil export header (lower-case names), else None."""
    for kind, (_detected, x, y) in _CLOUD_COLUMNS.items():
        if {"timestamp [ns]", x, y} <= names:
            return kind
    if {"timestamp [ns]", "gaze x [px]", "gaze y [px]"} <= names:
        return "scene-camera"
    for kind, (detected, x, y) in _CLOUD_FIXATION_COLUMNS.items():
        if {"start timestamp [ns]", "duration [ms]", detected, x, y} <= names:
            return kind + " fixations"
    if {"norm_pos_x", "norm_pos_y", "confidence"} <= names:
        return "world"
    if {"x_norm", "y_norm", "gaze_timestamp"} <= names and names & {"on_surf", "on_srf"}:
        return "surface"
    return None


def read_pupil(
    path: str | Path, image_shape: tuple[int, int] | None = None, what: str = "samples"
) -> dict[str, GazeRecording | Fixations]:
    """Read a Pupil Labs export (see the module docstring); raises :class:`GazeFormatError`.

    A Pupil Cloud ``fixations.csv`` gives Pupil's own :class:`Fixations` for either
    ``what``; the gaze exports refuse ``what="fixations"``.
    """
    path = Path(path)
    text = read_text(path)
    if not text.strip():
        raise format_error(path, "the file is empty", "pass a Pupil Player export with its header line")
    names = {n.strip().strip('"').lower() for n in re.split(r"[,\t]", text.split("\n", 1)[0])}
    kind = is_pupil_header(names)
    if kind is None:
        raise format_error(
            path,
            "the header is not a Pupil Player gaze export (norm_pos_x, norm_pos_y or x_norm, y_norm, on_surf)",
            "export gaze_positions.csv or gaze_positions_on_surface_NAME.csv with Pupil Player",
            1,
        )
    if kind.endswith(" fixations"):
        return _read_cloud_fixations(path, text, kind.removesuffix(" fixations"), image_shape)
    if what == "fixations":
        raise format_error(
            path, "this file holds gaze samples, not fixations",
            "open the export's fixations.csv (Pupil Cloud) or find fixations with detect_fixations_ivt",
        )
    if kind in _CLOUD_COLUMNS or kind == "scene-camera":
        return _read_cloud(path, text, kind, image_shape)
    if kind == "world":
        _, num, _ = read_csv_columns(
            text, path,
            {"t": ("gaze_timestamp", "timestamp"), "frame": ("world_index", "index"),
             "confidence": ("confidence",), "x": ("norm_pos_x",), "y": ("norm_pos_y",)},
        )
        on = np.ones(len(num["x"]), dtype=bool)
    else:
        _, num, txt = read_csv_columns(
            text, path,
            {"t": ("gaze_timestamp",), "frame": ("world_index", "world_frame_idx"),
             "confidence": ("confidence",), "x": ("x_norm",), "y": ("y_norm",),
             "xs": ("x_scaled",), "ys": ("y_scaled",)},
            {"on": ("on_surf", "on_srf")},
        )
        on = np.array([v.lower() in ("true", "1") for v in txt["on"]], dtype=bool)
    t = num["t"]
    if (~np.isfinite(t)).any():
        raise format_error(path, "a gaze timestamp is missing", "fix or delete that line", int(np.argmax(~np.isfinite(t))) + 2)
    order = np.argsort(t, kind="stable")
    x, y = num["x"][order], num["y"][order]
    confidence = num.get("confidence", np.ones_like(t))[order]
    t, on = t[order], on[order]
    meta = {"source": "pupil-labs"}
    step = typical_step(t)
    if step is not None:
        meta["sampling_rate_hz"] = round(1.0 / step, 1)
        low, high = PLAUSIBLE_RATE_HZ
        if not low <= 1.0 / step <= high:
            warn(path, f"the gaze timestamps give {1.0 / step:.4g} Hz, not seconds of an eye tracker; check the export")
    if kind == "surface":
        key = (_SURFACE_NAME.match(path.name) or {"name": None})["name"] or path.stem
        shape, assumed = _surface_shape(num, image_shape)
        height, width = shape
        coords = np.column_stack([(1.0 - y) * height - 0.5, x * width - 0.5])
        image = {"name": key, "shape": [height, width]}
        meta["surface"] = key
    else:
        key = "world"
        assumed = image_shape is None
        height, width = (int(image_shape[-2]), int(image_shape[-1])) if image_shape is not None else WORLD_FRAME
        frame = num.get("frame")
        frame = np.zeros_like(t) if frame is None else frame[order]
        coords = np.column_stack([frame, (1.0 - y) * height - 0.5, x * width - 0.5])
        n_frames = int(np.nanmax(frame)) + 1 if np.isfinite(frame).any() else 1
        image = {"name": "world", "shape": [n_frames, height, width]}
    if assumed:
        image["shape_assumed"] = True
        what = "surface has no size set in Pupil Player" if kind == "surface" else "world camera's frame size is not in the export"
        warn(
            path,
            f"the {what}, so positions are placed on a {height} x {width} image; "
            "pass image_shape=(height, width) to place them on yours",
        )
    meta["image"] = image
    finite = np.isfinite(coords).all(axis=1)
    warn_off_image(path, coords[finite & on], (height, width))
    inside = (coords[:, -2] >= -0.5) & (coords[:, -2] < height - 0.5)
    inside &= (coords[:, -1] >= -0.5) & (coords[:, -1] < width - 0.5)
    valid = finite & on & inside & (confidence >= MIN_CONFIDENCE)
    meta["min_confidence"] = MIN_CONFIDENCE
    screen = np.column_stack([x, 1.0 - y]) if kind == "surface" else None
    return {key: GazeRecording(t=t - t[0] if len(t) else t, coords=coords, valid=valid, screen=screen, meta=meta)}


def _surface_shape(num: dict, image_shape) -> tuple[tuple[int, int], bool]:
    if image_shape is not None:
        return (int(image_shape[-2]), int(image_shape[-1])), False
    sizes = []
    for scaled, norm in (("ys", "y"), ("xs", "x")):
        if scaled not in num:
            return NOMINAL_SURFACE, True
        usable = np.isfinite(num[scaled]) & np.isfinite(num[norm]) & (np.abs(num[norm]) > 0.01)
        if not usable.any():
            return NOMINAL_SURFACE, True
        sizes.append(float(np.median(num[scaled][usable] / num[norm][usable])))
    if all(abs(size - 1.0) < 1e-6 for size in sizes) or min(sizes) < 2:
        return NOMINAL_SURFACE, True
    return (int(round(sizes[0])), int(round(sizes[1]))), False


def _read_cloud(path: Path, text: str, kind: str, image_shape) -> dict[str, GazeRecording]:
    """A Pupil Cloud enrichment's ``gaze.csv`` (see the module docstring), one recording per section."""
    columns = _CLOUD_COLUMNS.get(kind, ("worn", "gaze x [px]", "gaze y [px]"))
    num, t_ns, detected, sections, recordings = _cloud_table(path, text, columns, "timestamp [ns]")
    frame_times = _scene_frame_times(path) if kind == "scene-camera" else None
    shape, assumed, image_name = _cloud_shape(path, kind, image_shape)
    names = _cloud_names(path, sections, recordings)
    out: dict[str, GazeRecording] = {}
    for section, rows in _by_section(sections, t_ns):
        t = (t_ns[rows] - t_ns[rows[0]]) / 1e9
        x, y = num["x"][rows], num["y"][rows]
        coords = _cloud_coords(kind, x, y, shape)
        valid = detected[rows] & np.isfinite(coords).all(axis=1)
        if frame_times is not None:
            frames = _frames_of(frame_times, section, recordings[rows[0]])
            if not len(frames):
                raise format_error(
                    path, f"world_timestamps.csv beside it has no scene frame of section {section!r}",
                    "keep the gaze.csv and world_timestamps.csv of one Timeseries export together",
                )
            frame = np.searchsorted(frames, t_ns[rows], side="right") - 1  # the frame shown at the sample
            valid &= frame >= 0
            coords = np.column_stack([frame.astype(np.float64), coords])
        meta: dict = {
            "source": "pupil-labs",
            "pupil_cloud": {"enrichment": kind, "section_id": section, "recording_id": recordings[rows[0]]},
        }
        step = typical_step(t)
        if step is not None:
            meta["sampling_rate_hz"] = round(1.0 / step, 1)
        if shape is not None:
            height, width = shape
            warn_off_image(path, coords[valid][:, -2:], shape)
            valid &= (coords[:, -2] >= -0.5) & (coords[:, -2] < height - 0.5)
            valid &= (coords[:, -1] >= -0.5) & (coords[:, -1] < width - 0.5)
            if frame_times is not None:
                meta["image"] = {"name": "scene video", "shape": [len(frames), height, width]}
            else:
                meta["image"] = {"name": image_name or names[section], "shape": [height, width]}
            if assumed:
                meta["image"]["shape_assumed"] = True
        screen = np.column_stack([x, y]) if kind == "marker-mapper" else None
        out[names[section]] = GazeRecording(t=t, coords=coords, valid=valid, screen=screen, meta=meta)
    if assumed:
        _warn_size_assumed(path, kind, shape)
    return out


def _cloud_table(path: Path, text: str, columns: tuple[str, str, str], time_name: str, numeric=None):
    """What every Pupil Cloud table holds: positions (``columns``: detected, x, y; and
    ``numeric``), whole-nanosecond times, the detected flags, each row's section and recording."""
    detected_name, x_name, y_name = columns
    _, num, txt = read_csv_columns(
        text, path, {"x": (x_name,), "y": (y_name,), **(numeric or {})},
        {"t": (time_name,), "section": ("section id",), "recording": ("recording id",),
         "detected": (detected_name,)},
    )
    n = len(num["x"])
    t_ns = _nanoseconds(path, txt["t"])
    detected = np.array([v.strip().lower() in ("true", "1", "1.0") for v in txt.get("detected", ["true"] * n)])
    sections = txt.get("section") or txt.get("recording") or [""] * n
    recordings = txt.get("recording") or sections
    return num, t_ns, detected, sections, recordings


def _by_section(sections: list[str], t_ns: np.ndarray):
    """Each section (in file order) with its rows in time order."""
    labels, first, which = np.unique(np.asarray(sections, dtype=str), return_index=True, return_inverse=True)
    for index in np.argsort(first):
        rows = np.flatnonzero(which == index)
        yield str(labels[index]), rows[np.argsort(t_ns[rows], kind="stable")]


def _cloud_coords(kind: str, x: np.ndarray, y: np.ndarray, shape) -> np.ndarray:
    """Image ``(row, col)`` of Pupil Cloud positions: normalised surface ones scaled to ``shape``."""
    if kind == "marker-mapper":
        return np.column_stack([y * shape[0] - 0.5, x * shape[1] - 0.5])
    return np.column_stack([y - 0.5, x - 0.5])


def _warn_size_assumed(path: Path, kind: str, shape) -> None:
    what = "the scene camera's frame size is not in the export" if kind == "scene-camera" else (
        "a Marker Mapper surface has no size in its export")
    warn(
        path,
        f"{what}, so positions are placed on a {shape[0]} x {shape[1]} image; "
        "pass image_shape=(height, width) to place them on yours",
    )


def _nanoseconds(path: Path, values: list[str]) -> np.ndarray:
    """Whole-nanosecond timestamps as int64; a field that is none is our sentence naming its line."""
    out = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        try:
            out[row] = int(value)
        except (ValueError, OverflowError):
            raise format_error(path, f"the timestamp {value!r} is not whole nanoseconds", "fix or delete that line",
                               row + 2) from None
    return out


def _scene_frame_times(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """The scene video's frame times from ``world_timestamps.csv`` beside a scene-camera
    ``gaze.csv``: (section ids, recording ids, nanoseconds)."""
    listing = path.parent / "world_timestamps.csv"
    if not listing.is_file():
        raise format_error(
            path,
            "scene-camera gaze needs the scene video's frame times, and world_timestamps.csv is not beside it",
            "keep the Timeseries export's world_timestamps.csv in the same folder",
        )
    _, _, found = read_csv_columns(
        read_text(listing), listing, {}, {"t": ("timestamp [ns]",), "section": ("section id",),
                                          "recording": ("recording id",)}
    )
    if "t" not in found:
        raise format_error(listing, "it has no 'timestamp [ns]' column", "use the Timeseries export's own file", 1)
    times = _nanoseconds(listing, found["t"])
    n = len(times)
    return found.get("section", [""] * n), found.get("recording", [""] * n), times


def _frames_of(frame_times, section: str, recording: str) -> np.ndarray:
    """The sorted frame times of one section (or, without section ids, of its recording)."""
    sections, recordings, times = frame_times
    if any(sections):
        mine = np.asarray(sections, dtype=str) == section
    else:
        ids = np.asarray(recordings, dtype=str)
        mine = (ids == recording) | (ids == "")
    return np.sort(times[mine])


def _cloud_shape(path: Path, kind: str, image_shape) -> tuple[tuple[int, int] | None, bool, str | None]:
    """(height, width) of the enrichment's image, whether it was assumed, and the reference image's file name."""
    if image_shape is not None:
        return (int(image_shape[-2]), int(image_shape[-1])), False, None
    if kind == "marker-mapper":
        return NOMINAL_SURFACE, True, None
    if kind == "scene-camera":
        return NEON_SCENE_FRAME, True, None
    for name in _REFERENCE_IMAGES:
        image = path.parent / name
        if image.is_file():
            import imageio.v3 as iio

            try:
                shape = iio.improps(image).shape
            except Exception:  # noqa: BLE001 - an unreadable image: its size stays unknown
                warn(path, f"the reference image {name} could not be read, so its size is unknown")
                return None, False, None
            return (int(shape[0]), int(shape[1])), False, name
    return None, False, None


def _cloud_names(path: Path, sections: list[str], recordings: list[str]) -> dict[str, str]:
    """Each section's recording name from ``sections.csv`` beside ``path``, else its recording id."""
    names: dict[str, str] = {}
    listing = path.parent / "sections.csv"
    if listing.is_file():
        try:
            _, _, found = read_csv_columns(
                read_text(listing), listing, {}, {"section": ("section id",), "name": ("recording name",)}
            )
            names = dict(zip(found.get("section", []), found.get("name", [])))
        except Exception:  # noqa: BLE001 - another table named sections.csv: keep the ids
            names = {}
    first = dict(zip(sections, recordings))
    chosen = {section: names.get(section) or first[section] for section in dict.fromkeys(sections)}
    counts = Counter(chosen.values())
    return {section: name if counts[name] == 1 else f"{name} {section[:8]}" for section, name in chosen.items()}


def _read_cloud_fixations(path: Path, text: str, kind: str, image_shape) -> dict[str, Fixations]:
    """A Pupil Cloud enrichment's ``fixations.csv``: Pupil's own fixations per section, on
    the clock of the ``gaze.csv`` beside it (seconds from the section's first gaze sample;
    from its first fixation without one). Fixations not mapped onto the image are left out
    (counted in ``meta["fixations_off_image"]``)."""
    num, start_ns, detected, sections, recordings = _cloud_table(
        path, text, _CLOUD_FIXATION_COLUMNS[kind], "start timestamp [ns]", {"duration_ms": ("duration [ms]",)}
    )
    origins = _gaze_origins(path)
    shape, assumed, image_name = _cloud_shape(path, kind, image_shape)
    names = _cloud_names(path, sections, recordings)
    out: dict[str, Fixations] = {}
    for section, rows in _by_section(sections, start_ns):
        origin = origins.get(section, start_ns[rows[0]])
        coords = _cloud_coords(kind, num["x"][rows], num["y"][rows], shape)
        keep = detected[rows] & np.isfinite(coords).all(axis=1) & np.isfinite(num["duration_ms"][rows])
        meta: dict = {
            "source": "pupil-labs",
            "classified_by": "Pupil Cloud",
            "pupil_cloud": {"enrichment": kind, "section_id": section, "recording_id": recordings[rows[0]],
                            "clock": "gaze.csv" if section in origins else "first fixation"},
            "fixations_off_image": int((~keep).sum()),
        }
        if shape is not None:
            meta["image"] = {"name": image_name or names[section], "shape": [int(shape[0]), int(shape[1])]}
            if assumed:
                meta["image"]["shape_assumed"] = True
        out[names[section]] = Fixations(
            start=(start_ns[rows][keep] - origin) / 1e9,
            duration=num["duration_ms"][rows][keep] / 1000.0,
            coords=coords[keep],
            meta=meta,
        )
    if assumed:
        _warn_size_assumed(path, kind, shape)
    return out


def _gaze_origins(path: Path) -> dict[str, int]:
    """Each section's first gaze timestamp (ns) from the ``gaze.csv`` beside ``path``; {} without one."""
    gaze = path.parent / "gaze.csv"
    if gaze.resolve() == path.resolve() or not gaze.is_file():
        return {}
    try:
        _, _, found = read_csv_columns(read_text(gaze), gaze, {}, {"t": ("timestamp [ns]",), "section": ("section id",)})
        times = _nanoseconds(gaze, found["t"])
    except Exception:  # noqa: BLE001 - not a readable gaze.csv: the fixations keep their own clock
        return {}
    origins: dict[str, int] = {}
    for section, t in zip(found.get("section", [""] * len(times)), times):
        origins[section] = min(origins.get(section, int(t)), int(t))
    return origins
