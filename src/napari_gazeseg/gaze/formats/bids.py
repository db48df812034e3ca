"""BIDS eye-tracking physio: ``*_physio.tsv.gz`` + ``*_physio.json`` (read and write).

The layout (BIDS specification, "Physiological recordings", eye-tracking
section, from BEP020): a gzip-compressed TSV **without a header line**, one row
per sample, whose column names are the sidecar's ``Columns`` (for eye-tracking
``timestamp``, ``x_coordinate``, ``y_coordinate``, ``pupil_size``, ...); the
sidecar also gives ``SamplingFrequency`` (Hz), ``StartTime`` (s),
``PhysioType: "eyetrack"``, ``RecordedEye``, the units of each column
(``x_coordinate.Units``, ``timestamp.Units``) and, with the ``*_events.json`` of
the task, ``StimulusPresentation.ScreenResolution`` / ``ScreenSize`` /
``ScreenDistance``. ``n/a`` marks a missing value. Metadata is inherited: a
``task-X_physio.json`` higher in the dataset applies to every file whose name
holds its entities (the BIDS inheritance principle); nearer files win.

**Reading** (any such file, or its ``.json``): one entry keyed by the file name
without ``_physio.tsv.gz``. Time is ``timestamp`` from its first value (in its
``Units``; without them, the unit whose rate matches ``SamplingFrequency``, warned), else the row number
over ``SamplingFrequency``; ``meta["start_time_s"]`` is ``StartTime``. The screen
is the image: positions in ``pixel`` units are ``(row, col) = (y, x)`` on a
``ScreenResolution`` image (or ``image_shape``), normalised ones are scaled to
it; positions in degrees or millimetres are refused. ``meta["screen"]`` (the
geometry I-VT needs) is filled when ``ScreenSize`` and ``ScreenDistance`` (m)
are given too; ``meta["screen_resolution_px"]`` always. ``EnvironmentCoordinates``
/ ``ScreenOrigin`` ``bottom-left`` flips y, ``center`` shifts by half the screen.
Samples without a position or off the screen are invalid.

**Writing** (:func:`write_bids_physio`): a 2D recording as
``NAME_physio.tsv.gz`` + ``.json`` and ``NAME_physioevents.tsv.gz`` + ``.json``
(fixations when given, object sessions and tracker messages as messages).
Columns: ``timestamp`` (s from the recording start), ``x_coordinate`` /
``y_coordinate`` (column / row on the stimulus image in pixels, pixel centres at
integers), ``valid``, ``object_id`` and, when known, ``screen_x`` / ``screen_y``
(normalised display area). The sidecar keeps the recording's ``meta`` under
``napari_gazeseg``, so that a file read back equals the recording written
(``recording.equals``). Floats are written as their shortest round-trip text.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import numpy as np

from ..recording import Fixations, GazeRecording
from ._errors import format_error
from ._infer import looks_normalised, typical_step, warn, warn_off_image
from ._table import parse_numeric_table
from ._text import read_text

__all__ = ["is_bids_physio", "read_bids_physio", "write_bids_physio"]

_NAME = re.compile(r"^(?P<stem>.+)_(?P<suffix>physio|physioevents)\.(?P<ext>tsv\.gz|tsv|json)$", re.IGNORECASE)
_SECONDS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "millisecond": 1e-3,
            "milliseconds": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "microsecond": 1e-6,
            "microseconds": 1e-6, "ns": 1e-9}
_PIXELS = {"pixel", "pixels", "px", "pix"}
_NORMALISED = {"normalized", "normalised", "norm", "ratio", "fraction", "a.u.", "au", "arbitrary"}
_FORMAT_KEY = "napari_gazeseg"


def is_bids_physio(path: str | Path) -> bool:
    """True for a ``*_physio.tsv.gz`` / ``.tsv`` / ``.json`` file name."""
    match = _NAME.match(Path(path).name)
    return bool(match) and match["suffix"].lower() == "physio"


def _entities(name: str) -> dict[str, str]:
    match = _NAME.match(name)
    stem = match["stem"] if match else name
    return dict(part.split("-", 1) for part in stem.split("_") if "-" in part)


def _data_and_sidecar(path: Path) -> tuple[Path, Path]:
    match = _NAME.match(path.name)
    stem = path.parent / f"{match['stem']}_physio"
    if match["ext"].lower() == "json":
        for ext in (".tsv.gz", ".tsv"):
            if Path(f"{stem}{ext}").is_file():
                return Path(f"{stem}{ext}"), path
        raise format_error(path, "there is no _physio.tsv.gz beside this sidecar", "keep the data file beside it")
    return path, Path(f"{stem}.json")


def _inherited(data: Path, sidecar: Path, suffix: str, ignore: tuple[str, ...] = ()) -> dict:
    """The sidecar metadata of ``data`` merged from the dataset root down (BIDS inheritance)."""
    wanted = {k: v for k, v in _entities(data.name).items() if k not in ignore}
    folders = [data.parent]
    for _ in range(4):
        if (folders[-1] / "dataset_description.json").is_file() or folders[-1].parent == folders[-1]:
            break
        folders.append(folders[-1].parent)
    merged: dict = {}
    for folder in reversed(folders):
        candidates = []
        for candidate in folder.glob(f"*_{suffix}.json"):
            entities = _entities(candidate.name)
            if candidate != sidecar and entities.items() <= wanted.items():
                candidates.append((len(entities), candidate))
        for _, candidate in sorted(candidates):
            merged.update(_load_json(candidate))
    if suffix == "physio":
        if not sidecar.is_file():
            if not merged:
                raise format_error(
                    data, f"its sidecar {sidecar.name} is missing", "keep the _physio.json beside the data"
                )
        else:
            merged.update(_load_json(sidecar))
    return merged


def _load_json(path: Path) -> dict:
    try:
        content = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise format_error(path, f"the JSON is malformed ({err.msg})", "fix the sidecar", err.lineno) from None
    if not isinstance(content, dict):
        raise format_error(path, "the sidecar is not a JSON object", "fix the sidecar")
    return content


def _number(meta: dict, key: str, path, required: bool = True) -> float | None:
    value = meta.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise format_error(path, f"the sidecar's {key} is {value!r}, not a number", f"set {key} in the _physio.json")
    return float(value)


def read_bids_physio(
    path: str | Path, image_shape: tuple[int, int] | None = None
) -> dict[str, GazeRecording]:
    """Read a BIDS eye-tracking physio file (see the module docstring); raises :class:`GazeFormatError`."""
    data, sidecar = _data_and_sidecar(Path(path))
    meta = _inherited(data, sidecar, "physio")
    columns = meta.get("Columns")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or not columns:
        raise format_error(sidecar, "the sidecar has no Columns list", "name the data columns in Columns")
    for needed in ("x_coordinate", "y_coordinate"):
        if needed not in columns:
            raise format_error(
                sidecar,
                f"Columns ({', '.join(columns)}) lack {needed}",
                "export gaze positions as x_coordinate and y_coordinate",
            )
    rate = _number(meta, "SamplingFrequency", sidecar)
    if rate <= 0:
        raise format_error(sidecar, "SamplingFrequency is not positive", "set it to the sampling rate in Hz")
    start_time = _number(meta, "StartTime", sidecar, required=False)
    table = _table(data, columns)
    ours = meta.get(_FORMAT_KEY)
    if isinstance(ours, dict):
        return {_key(data): _ours(data, columns, table, ours)}
    x, y = table[:, columns.index("x_coordinate")], table[:, columns.index("y_coordinate")]
    t = _times(data, columns, table, meta, rate)
    events = _inherited(data, sidecar, "events", ignore=("recording",))
    presentation = {**events.get("StimulusPresentation", {}), **meta.get("StimulusPresentation", {})}
    resolution = presentation.get("ScreenResolution") or meta.get("ScreenResolution")
    shape = None
    if image_shape is not None:
        shape = (int(image_shape[-2]), int(image_shape[-1]))
    elif _pair(resolution):
        shape = (int(round(resolution[1])), int(round(resolution[0])))
    units = str((meta.get("x_coordinate") or {}).get("Units") or meta.get("SampleCoordinateUnits") or "").strip()
    kind = units.lower()
    if kind in _PIXELS:
        normalised = False
    elif kind in _NORMALISED or not kind:
        normalised = bool(looks_normalised(x, y))  # no unit, or one that says "relative"
    else:
        raise format_error(
            sidecar,
            f"the gaze positions are in {units!r}, not screen pixels or normalised units",
            "export x_coordinate and y_coordinate in pixels",
        )
    if normalised and shape is None:
        raise format_error(
            sidecar,
            "the positions are normalised but the screen resolution is unknown",
            "give StimulusPresentation.ScreenResolution in the sidecar or pass image_shape=(height, width)",
        )
    if normalised:
        x, y = x * shape[1] - 0.5, y * shape[0] - 0.5
    origin = presentation.get("ScreenOrigin") or meta.get("EnvironmentCoordinates") or events.get("EnvironmentCoordinates")
    x, y = _from_origin(x, y, origin, shape, sidecar)
    coords = np.column_stack([y, x])
    valid = np.isfinite(coords).all(axis=1)
    screen = None
    meta_out = {
        "source": "bids",
        "sampling_rate_hz": rate,
        "image": {"name": _key(data)},
        "coordinates": "normalised" if normalised else "pixels",
    }
    if start_time is not None:
        meta_out["start_time_s"] = start_time
    for key, name in (("RecordedEye", "eye"), ("Manufacturer", "manufacturer"),
                      ("ManufacturersModelName", "model")):
        if isinstance(meta.get(key), str):
            meta_out[name] = meta[key]
    if shape is not None:
        warn_off_image(data, coords[valid], shape)
        meta_out["image"]["shape"] = list(shape)
        meta_out["screen_resolution_px"] = [shape[1], shape[0]]
        size = presentation.get("ScreenSize")
        distance = presentation.get("ScreenDistance")
        if _pair(size) and size[0] < 10 and isinstance(distance, (int, float)) and 0 < distance < 10:
            meta_out["screen"] = {  # the whole geometry, in metres in BIDS
                "width_px": shape[1], "height_px": shape[0],
                "width_mm": size[0] * 1000.0, "height_mm": size[1] * 1000.0,
                "distance_mm": float(distance) * 1000.0,
            }
        height, width = shape
        on = (coords[:, 0] >= -0.5) & (coords[:, 0] < height - 0.5)
        on &= (coords[:, 1] >= -0.5) & (coords[:, 1] < width - 0.5)
        screen = np.column_stack([(x + 0.5) / width, (y + 0.5) / height])
        valid &= on
    else:
        warn(
            data,
            "the sidecars give no StimulusPresentation.ScreenResolution, so the screen size is "
            "unknown; positions are kept in screen pixels; pass image_shape=(height, width) to give it",
        )
    return {_key(data): GazeRecording(t=t, coords=coords, valid=valid, screen=screen, meta=meta_out)}


def _pair(value) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)
    )


def _key(data: Path) -> str:
    return _NAME.match(data.name)["stem"]


def _table(data: Path, columns: list[str]) -> np.ndarray:
    text = read_text(data)
    if text and not text.endswith("\n"):
        text += "\n"
    first = text.split("\n", 1)[0].split("\t")
    first_line = 1
    if [f.strip() for f in first] == columns:
        warn(data, "the data starts with a header line, which BIDS physio files must not have; it is skipped")
        text, first_line = text.split("\n", 1)[1], 2
    text = re.sub(r"(?<![^\t\n])n/a(?![^\t\n])", "", text)
    wanted = [i for i, c in enumerate(columns) if c in ("timestamp", "x_coordinate", "y_coordinate",
                                                            "valid", "object_id", "screen_x", "screen_y")]
    parsed = parse_numeric_table(text, columns, data, first_line, separator="\t", usecols=wanted)
    table = np.full((parsed.shape[0], len(columns)), np.nan)
    table[:, wanted] = parsed
    return table


def _times(data: Path, columns, table, meta: dict, rate: float) -> np.ndarray:
    n = table.shape[0]
    if "timestamp" not in columns or n == 0:
        return np.arange(n, dtype=np.float64) / rate
    raw = table[:, columns.index("timestamp")]
    bad = ~np.isfinite(raw)
    if bad.any():
        raise format_error(data, "a sample has no timestamp", "fix or delete that line", int(np.argmax(bad)) + 1)
    if n > 1 and (np.diff(raw) < 0).any():
        raise format_error(data, "timestamp goes backwards", "sort the rows by time", int(np.argmax(np.diff(raw) < 0)) + 2)
    units = str((meta.get("timestamp") or {}).get("Units") or "").strip()
    if units.lower() in _SECONDS or units in _SECONDS:
        factor = _SECONDS.get(units, _SECONDS.get(units.lower()))
    elif typical_step(raw) is None:
        factor = 1.0
    else:  # no Units: the one of s, ms, us, ns whose rate is nearest SamplingFrequency
        step = typical_step(raw)
        unit, factor = min(
            (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)),
            key=lambda item: abs(math.log(1.0 / (step * item[1]) / rate)),
        )
        found = 1.0 / (step * factor)
        if not 0.5 * rate <= found <= 2.0 * rate:
            raise format_error(
                data,
                f"timestamp has no Units and its interval ({step:g}) fits SamplingFrequency "
                f"({rate:g} Hz) in no unit",
                'give "timestamp": {"Units": "ms"} (or s, us) in the sidecar',
            )
        warn(data, f"timestamp has no Units; read as {unit}, which gives the sidecar's {rate:g} Hz")
    return (raw - raw[0]) * factor


def _from_origin(x, y, origin, shape, sidecar):
    text = " ".join(origin) if isinstance(origin, list) else str(origin or "top-left")
    text = text.lower().replace("_", "-").replace(" ", "-")
    if text in ("top-left", "left-top", "") or "top" in text and "left" in text:
        return x, y
    if shape is None:
        raise format_error(
            sidecar,
            f"the screen origin is {text!r} but the screen resolution is unknown",
            "give StimulusPresentation.ScreenResolution in the sidecar",
        )
    height, width = shape
    if "bottom" in text and "left" in text:
        return x, (height - 1) - y
    if "center" in text or "centre" in text:
        return x + (width - 1) / 2.0, y + (height - 1) / 2.0
    raise format_error(sidecar, f"the screen origin {text!r} is not supported", "export with a top-left origin")


def _ours(data: Path, columns, table, ours: dict) -> GazeRecording:
    meta = ours.get("meta", {})
    if not isinstance(meta, dict):
        raise format_error(data, "the napari_gazeseg section of the sidecar is malformed", "write the file again")
    get = lambda name: table[:, columns.index(name)] if name in columns else None  # noqa: E731
    t = get("timestamp")
    if t is None or (~np.isfinite(t)).any():
        raise format_error(data, "a sample has no timestamp", "write the file again")
    coords = np.column_stack([get("y_coordinate"), get("x_coordinate")])
    valid = get("valid")
    ids = get("object_id")
    screen = None
    if "screen_x" in columns:
        screen = np.column_stack([get("screen_x"), get("screen_y")])
    try:
        return GazeRecording(
            t=t,
            coords=coords,
            valid=None if valid is None else valid == 1.0,
            screen=screen,
            object_id=ids,
            meta=meta,
        )
    except ValueError as err:
        raise format_error(data, f"the samples are inconsistent ({err})", "write the file again") from None


# -- writing -----------------------------------------------------------------


def _text(value: float) -> str:
    return "n/a" if not math.isfinite(value) else repr(float(value))


def _gzip(path: Path, text: str) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as file:
        file.write(text.encode("utf-8"))


def write_bids_physio(
    recording: GazeRecording,
    path: str | Path,
    fixations: Fixations | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``recording`` as BIDS eye-tracking physio + physioevents; the paths written.

    ``path`` names the data file, ``..._recording-<label>_physio.tsv.gz``
    (e.g. ``sub-01_task-cells_recording-eye1_physio.tsv.gz``). ``fixations``
    (optional) become ``fixation`` rows of the events file. Existing files are
    kept unless ``overwrite=True`` (``FileExistsError`` names them).
    """
    if not isinstance(recording, GazeRecording):
        raise TypeError(f"write_bids_physio needs a GazeRecording, got {type(recording).__name__}.")
    path = Path(path)
    match = _NAME.match(path.name)
    if not match or match["suffix"] != "physio" or match["ext"] != "tsv.gz":
        raise ValueError(
            f"{path.name}: a BIDS physio file name ends with _physio.tsv.gz, e.g. "
            "sub-01_task-cells_recording-eye1_physio.tsv.gz."
        )
    if recording.ndim != 2:
        raise ValueError(
            f"BIDS physio holds gaze on a 2D screen; this recording is {recording.ndim}D, "
            "so write one slice at a time (GazeRecording.on_slice)."
        )
    stem = path.parent / match["stem"]
    targets = [
        path,
        Path(f"{stem}_physio.json"),
        Path(f"{stem}_physioevents.tsv.gz"),
        Path(f"{stem}_physioevents.json"),
    ]
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} exist in {path.parent}; pass overwrite=True to replace them.")
    columns = ["timestamp", "x_coordinate", "y_coordinate", "valid", "object_id"]
    values = [recording.t, recording.coords[:, 1], recording.coords[:, 0],
              recording.valid.astype(np.float64), recording.object_id.astype(np.float64)]
    if recording.screen is not None:
        columns += ["screen_x", "screen_y"]
        values += [recording.screen[:, 0], recording.screen[:, 1]]
    rows = np.column_stack(values) if len(recording) else np.empty((0, len(columns)))
    text = "".join("\t".join(_text(v) for v in row) + "\n" for row in rows.tolist())
    meta = recording.meta
    shape = recording.image_shape
    try:
        rate = float(recording.sampling_rate_hz)
    except ValueError:
        rate = 1.0
    name = (meta.get("image") or {}).get("name", "the stimulus image")
    size = f" ({shape[0]} x {shape[1]} px)" if shape else ""
    sidecar = {
        "Columns": columns,
        "PhysioType": "eyetrack",
        "SamplingFrequency": rate,
        "StartTime": 0.0,
        "RecordedEye": meta.get("eye") if meta.get("eye") in ("left", "right") else "cyclopean",
        "SampleCoordinateSystem": "gaze-on-screen",
        "SampleCoordinateUnits": "pixel",
        "EnvironmentCoordinates": "top-left",
        "Manufacturer": str(meta.get("manufacturer", meta.get("source", "n/a"))),
        "timestamp": {"Description": "time of the sample from the recording start", "Units": "s"},
        "x_coordinate": {"Description": f"column of the gaze on {name}{size}, pixel centres at integers",
                         "Units": "pixel"},
        "y_coordinate": {"Description": f"row of the gaze on {name}{size}, pixel centres at integers",
                         "Units": "pixel"},
        "valid": {"Description": "1 when the sample is on the image and tracked, else 0",
                  "Levels": {"0": "invalid", "1": "valid"}},
        "object_id": {"Description": "label id of the object session (0: none)"},
        _FORMAT_KEY: {"format_version": 1, "meta": meta},
    }
    if recording.screen is not None:
        sidecar["screen_x"] = {"Description": "normalised display-area x (0 left, 1 right)", "Units": "a.u."}
        sidecar["screen_y"] = {"Description": "normalised display-area y (0 top, 1 bottom)", "Units": "a.u."}
    geometry = meta.get("screen") if isinstance(meta.get("screen"), dict) else {}
    presentation = {"ScreenOrigin": ["top", "left"]}
    resolution = meta.get("screen_resolution_px")
    if {"width_px", "height_px"} <= geometry.keys():
        presentation["ScreenResolution"] = [geometry["width_px"], geometry["height_px"]]
    elif isinstance(resolution, list) and len(resolution) == 2:
        presentation["ScreenResolution"] = list(resolution)
    if {"width_mm", "height_mm"} <= geometry.keys():
        presentation["ScreenSize"] = [geometry["width_mm"] / 1000.0, geometry["height_mm"] / 1000.0]
    if "distance_mm" in geometry:
        presentation["ScreenDistance"] = geometry["distance_mm"] / 1000.0
    sidecar["StimulusPresentation"] = presentation
    events = _events(recording, fixations)
    path.parent.mkdir(parents=True, exist_ok=True)
    _gzip(path, text)
    targets[1].write_text(json.dumps(sidecar, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    _gzip(targets[2], events)
    targets[3].write_text(json.dumps({
        "Columns": ["onset", "duration", "trial_type", "blink", "message"],
        "Description": "Fixations, object sessions and tracker messages of the recording",
        "OnsetSource": "timestamp",
        "onset": {"Description": "start, in the units of the physio file's timestamp", "Units": "s"},
        "duration": {"Description": "duration of the event", "Units": "s"},
        "trial_type": {"Description": "event type", "Levels": {"fixation": "a fixation"}},
        "blink": {"Description": "1 while the eye was closed, else 0"},
        "message": {"Description": "a message (object session start, tracker message)"},
    }, indent=2) + "\n", encoding="utf-8")
    return targets


def _events(recording: GazeRecording, fixations: Fixations | None) -> str:
    rows = []
    if fixations is not None:
        for start, duration in zip(fixations.start.tolist(), fixations.duration.tolist()):
            rows.append((start, f"{duration!r}", "fixation", "0", "n/a"))
    ids = recording.object_id
    if len(ids):
        changes = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for index in changes.tolist():
            rows.append((float(recording.t[index]), "n/a", "n/a", "n/a", f"object {int(ids[index])}"))
    for item in recording.meta.get("messages", []) or []:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[0], (int, float)):
            message = str(item[1]).replace("\t", " ").replace("\n", " ")
            rows.append((float(item[0]), "n/a", "n/a", "n/a", message))
    rows.sort(key=lambda row: row[0])
    return "".join(f"{onset!r}\t{d}\t{kind}\t{blink}\t{message}\n" for onset, d, kind, blink, message in rows)
