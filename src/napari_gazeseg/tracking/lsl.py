"""Gaze from any eye tracker that streams through the Lab Streaming Layer (``pylsl``).

EyeLink, Pupil Labs, Gazepoint, SMI and Tobii (through TittaLSL or Tobii's own
app) publish gaze as LSL streams of type ``Gaze`` or ``EyeTracking``. This
module finds them, reads each stream's channel description (labels, types,
units and eyes from the XML ``desc``, following the XDF "Gaze Meta Data"
convention where the stream does), maps channels to screen x/y and validity,
and delivers :class:`~.source.SampleBatch` objects like any other source.

* **Picker**: :func:`find_gaze_streams` returns :class:`GazeStream` records
  (name, type, source id, host, rate, channels); ``describe()`` is one line.
* **Channel mapping** (:class:`ChannelMap`, guessed by :func:`guess_channel_map`,
  overridable): x and y channels (one each, or a left and a right eye to
  average), their units ("normalised" 0..1 display area or "pixels") from the
  channels' ``unit`` or the user's choice, optional validity channels (valid
  where > 0) and confidence channel (valid where >= ``min_confidence``).
* **Screen coordinates**: with ``raw=False`` (the napari recorder) pixels are
  divided by the screen size to give normalised display points; with
  ``raw=True`` (``gazeseg record``) the x/y values go into the batch exactly as
  pushed, and ``meta()["screen_units"]`` says which units they are in.
* **Time**: each sample's LSL time stamp plus the inlet's ``time_correction()``
  (refreshed every second), i.e. the outlet's clock mapped to this computer's
  LSL clock (``pylsl.local_clock``), in microseconds. ``now_us()`` reads the
  same clock. The corrections measured go into the metadata.
* **Reconnect**: when the outlet disappears the source says so, looks for a
  stream with the same source id (else name) every half second and carries on
  when it returns; it says how long the gap was.
* **Dropped samples**: gaps in the outlet's time stamps longer than 1.5 nominal
  periods count ``round(gap) - 1`` samples each (as :mod:`.quality` does); the
  count and the reconnections go into the metadata.

:class:`GazeOutlet` goes the other way: it publishes a recording as it is made
(mapped gaze and object-session markers) for LabRecorder and other lab software.

``pylsl`` (which bundles liblsl) is imported when first needed.
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .source import BatchSink, MessageSink, SampleBatch, SourceError

__all__ = [
    "GAZE_STREAM_TYPES",
    "Channel",
    "GazeStream",
    "ChannelMap",
    "LslSource",
    "load_pylsl",
    "find_gaze_streams",
    "guess_channel_map",
    "GazeOutlet",
]

#: Stream types taken for gaze (compared without case).
GAZE_STREAM_TYPES = ("Gaze", "EyeTracking")
UNITS = ("normalised", "pixels")

_NO_PYLSL = "pylsl is not installed; install it with `pip install pylsl` to record LSL gaze streams."
_PIXEL_UNITS = {"pixel", "pixels", "px", "screen pixels"}
_NORMALISED_UNITS = {"normalized", "normalised", "norm", "normalized screen", "relative", "fraction"}
#: Pull at most this many samples per call; wait at most this long for the first (seconds).
_CHUNK = 4096
_PULL_TIMEOUT_S = 0.02
#: Refresh the clock offset this often (seconds).
_TIME_CORRECTION_EVERY_S = 1.0
#: Keep at most this many clock-offset measurements.
_MAX_CORRECTIONS = 3600


def load_pylsl():
    """Import and return pylsl, or raise :class:`SourceError` saying what to install."""
    try:
        return importlib.import_module("pylsl")
    except (ImportError, RuntimeError):  # RuntimeError: pylsl without a loadable liblsl
        raise SourceError(_NO_PYLSL) from None


@dataclass(frozen=True)
class Channel:
    """One channel of a stream, from its XML description (empty strings where absent)."""

    label: str
    unit: str = ""
    type: str = ""
    eye: str = ""


@dataclass(frozen=True)
class GazeStream:
    """A gaze stream on the network, as the picker shows it."""

    name: str
    type: str
    source_id: str
    hostname: str
    nominal_rate_hz: float
    channel_format: str
    channels: tuple[Channel, ...]
    info: object = field(default=None, compare=False, repr=False)  # the pylsl StreamInfo

    @classmethod
    def from_info(cls, info, full_info=None) -> "GazeStream":
        """From a resolved pylsl ``StreamInfo`` (kept to connect to) and the full one with
        the XML description (``inlet.info()``; default: ``info``)."""
        channels = []
        node = (full_info or info).desc().child("channels").child("channel")
        while not node.empty():
            channels.append(Channel(
                node.child_value("label"), node.child_value("unit"),
                node.child_value("type"), node.child_value("eye"),
            ))
            node = node.next_sibling()
        n = int(info.channel_count())
        if len(channels) != n:  # no or partial description: number the channels
            channels = [channels[i] if i < len(channels) else Channel(f"channel {i + 1}") for i in range(n)]
        formats = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8", 7: "int64"}
        return cls(
            name=info.name(), type=info.type(), source_id=info.source_id(), hostname=info.hostname(),
            nominal_rate_hz=float(info.nominal_srate()),
            channel_format=formats.get(int(info.channel_format()), "undefined"),
            channels=tuple(channels), info=info,
        )

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.channels]

    def describe(self) -> str:
        """One line for a picker."""
        rate = f"{self.nominal_rate_hz:g} Hz" if self.nominal_rate_hz > 0 else "irregular rate"
        channels = ", ".join(f"{c.label} [{c.unit}]" if c.unit else c.label for c in self.channels)
        return f"{self.name} ({self.type}, {rate}, from {self.hostname or '?'}, source id {self.source_id or '-'}): {channels}"


def find_gaze_streams(timeout_s: float = 1.0, types=GAZE_STREAM_TYPES, name: str | None = None,
                      pylsl_module=None) -> list[GazeStream]:
    """The gaze streams LSL finds within ``timeout_s`` seconds, with their channel descriptions.

    ``types`` filters by stream type (without case; None takes every stream),
    ``name`` by stream name.
    """
    lsl = load_pylsl() if pylsl_module is None else pylsl_module
    wanted = None if types is None else {t.lower() for t in types}
    found = []
    if name is not None:  # returns as soon as it is found
        infos = lsl.resolve_byprop("name", name, minimum=1, timeout=timeout_s)
    else:  # waits the whole time: every stream on the network answers
        infos = lsl.resolve_streams(wait_time=timeout_s)
    for info in infos:
        if wanted is not None and info.type().lower() not in wanted:
            continue
        if name is not None and info.name() != name:
            continue
        found.append(_full_stream(lsl, info))
    return sorted(found, key=lambda s: (s.name, s.source_id))


def _full_stream(lsl, info) -> GazeStream:
    """The stream with its XML description (a resolved info carries only the header)."""
    full = None
    try:
        inlet = lsl.StreamInlet(info, max_buflen=1, recover=False)
        try:
            full = inlet.info(timeout=2.0)
        finally:
            inlet.close_stream()
            del inlet
    except Exception:  # an outlet that vanished meanwhile: keep the header
        pass
    return GazeStream.from_info(info, full)


def _unit_kind(unit: str) -> str | None:
    unit = unit.strip().lower()
    if unit in _PIXEL_UNITS:
        return "pixels"
    if unit in _NORMALISED_UNITS:
        return "normalised"
    return None


@dataclass(frozen=True)
class ChannelMap:
    """Which channels hold the screen position, its units, and which say a sample is valid.

    ``x`` and ``y`` are tuples of channel indices: one channel each, or one per
    eye (their valid values are averaged). ``validity``: channels valid where
    > 0 (a sample is valid when any of them is; with per-eye x/y, the eye's own
    validity channel in the same order). ``confidence``: one channel, valid where
    ``>= min_confidence``. ``units``: "normalised" or "pixels"; ``screen_size_px``
    (width, height) turns pixels into normalised display points. ``flip_y``: the
    stream's y grows upwards (Pupil Labs' normalised surface coordinates).
    """

    x: tuple[int, ...]
    y: tuple[int, ...]
    units: str = "normalised"
    screen_size_px: tuple[float, float] | None = None
    validity: tuple[int, ...] = ()
    confidence: int | None = None
    min_confidence: float = 0.6
    flip_y: bool = False

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise ValueError(f"units must be 'normalised' or 'pixels', not {self.units!r}.")
        if not self.x or len(self.x) != len(self.y):
            raise ValueError("give as many x channels as y channels (one, or one per eye).")

    def to_meta(self, stream: GazeStream) -> dict:
        labels = stream.labels
        return {
            "x": [labels[i] for i in self.x], "y": [labels[i] for i in self.y], "units": self.units,
            "screen_size_px": None if self.screen_size_px is None else list(self.screen_size_px),
            "validity": [labels[i] for i in self.validity],
            "confidence": None if self.confidence is None else labels[self.confidence],
            "min_confidence": self.min_confidence, "flip_y": self.flip_y,
        }

    def apply(self, samples: np.ndarray, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(N, C)`` samples -> display ``(N, 2)`` (NaN where invalid) and validity ``(N,)``."""
        samples = np.asarray(samples, dtype=np.float64).reshape(-1, samples.shape[-1] if samples.ndim > 1 else 1)
        xs, ys = samples[:, list(self.x)], samples[:, list(self.y)]
        eye_ok = np.isfinite(xs) & np.isfinite(ys)
        if self.validity:
            flags = samples[:, list(self.validity)] > 0
            if flags.shape[1] == eye_ok.shape[1]:
                eye_ok &= flags
            else:
                eye_ok &= flags.any(axis=1, keepdims=True)
        if self.confidence is not None:
            eye_ok &= (samples[:, [self.confidence]] >= self.min_confidence)
        n = eye_ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            display = np.column_stack([
                np.where(eye_ok, xs, 0.0).sum(axis=1) / n,
                np.where(eye_ok, ys, 0.0).sum(axis=1) / n,
            ])
        valid = n > 0
        display[~valid] = np.nan
        if not raw:
            if self.units == "pixels":
                width, height = self.screen_size_px
                display = display / np.array([width, height], dtype=np.float64)
            if self.flip_y:
                display[:, 1] = 1.0 - display[:, 1]
        return display, valid


_X_NAMES = ("x", "gaze_x", "gazex", "screen_x", "screenx", "gaze_point_x", "por_x", "norm_pos_x", "bpogx",
            "fpogx", "gx", "pos_x", "position_x", "x_position")
_VALID_NAMES = ("valid", "validity", "gaze_valid", "bpogv", "fpogv")
_CONFIDENCE_NAMES = ("confidence", "conf")


def _norm(label: str) -> str:
    return label.strip().lower().replace(" ", "_").replace("-", "_")


def guess_channel_map(stream: GazeStream, units: str | None = None,
                      screen_size_px: tuple[float, float] | None = None, raw: bool = False) -> ChannelMap:
    """The channel mapping a stream's description implies; :class:`SourceError` when it says too little.

    x/y: channels of type ``ScreenX``/``ScreenY`` (XDF gaze meta data; with
    ``eye`` left/right, both eyes), else labels such as ``x``, ``gaze_x``,
    ``norm_pos_x``, ``BPOGX`` (Gazepoint), or ``...x...left/right`` pairs.
    Units: ``units`` when given, else the x channel's ``unit``. Pixels need
    ``screen_size_px`` unless ``raw``.
    """
    channels = stream.channels
    names = [_norm(c.label) for c in channels]
    types = [c.type.strip().lower() for c in channels]
    x = y = ()
    screen_x = [i for i, t in enumerate(types) if t == "screenx"]
    screen_y = [i for i, t in enumerate(types) if t == "screeny"]
    if screen_x and len(screen_x) == len(screen_y):
        both = [i for i in screen_x if channels[i].eye.lower() in ("both", "")]
        if both:
            x, y = (both[0],), (screen_y[screen_x.index(both[0])],)
        else:
            x, y = tuple(screen_x[:2]), tuple(screen_y[:2])
    if not x:
        for candidate in _X_NAMES:
            y_name = candidate[:-1] + "y" if candidate.endswith("x") else candidate.replace("x", "y")
            if candidate in names and y_name in names:
                x, y = (names.index(candidate),), (names.index(y_name),)
                break
    if not x:  # per-eye pairs: left_x/right_x, x_left/x_right, ...
        for eyes in (("left", "right"),):
            xs = [i for i, n in enumerate(names) if "x" in n.replace(eyes[0], "").replace(eyes[1], "").split("_")
                  and any(e in n for e in eyes)]
            ys = [i for i, n in enumerate(names) if "y" in n.replace(eyes[0], "").replace(eyes[1], "").split("_")
                  and any(e in n for e in eyes)]
            if len(xs) == 2 and len(ys) == 2:
                x, y = tuple(xs), tuple(ys)
    if not x:
        raise SourceError(
            f"The LSL stream {stream.name} has no channels recognisable as screen x and y "
            f"({', '.join(stream.labels)}); choose them with --x and --y (or in the widget)."
        )
    validity = tuple(i for i, (n, t) in enumerate(zip(names, types)) if n in _VALID_NAMES or t == "validity")
    if len(x) == 2:  # one validity channel per eye, in eye order, where the description says so
        per_eye = [i for i in validity if channels[i].eye.lower() in ("left", "right")]
        if len(per_eye) == 2:
            validity = tuple(sorted(per_eye, key=lambda i: channels[i].eye.lower() != channels[x[0]].eye.lower()))
    confidence = next((i for i, (n, t) in enumerate(zip(names, types))
                       if n in _CONFIDENCE_NAMES or t == "confidence"), None)
    declared = _unit_kind(channels[x[0]].unit)
    chosen = units or declared
    if chosen is None:
        raise SourceError(
            f"The LSL stream {stream.name} does not say whether {channels[x[0]].label} is in pixels "
            "or normalised to the screen; choose the units (--units pixels|normalised, or in the widget)."
        )
    if chosen == "pixels" and screen_size_px is None and not raw:
        raise SourceError(
            f"The LSL stream {stream.name} gives the gaze in pixels; give the tracked screen's size "
            "in pixels (--screen-size WIDTH HEIGHT, or in the widget)."
        )
    flip_y = "norm_pos" in names[y[0]]  # Pupil Labs: origin bottom-left
    return ChannelMap(x=x, y=y, units=chosen, screen_size_px=screen_size_px, validity=validity,
                      confidence=confidence, flip_y=flip_y)


class LslSource:
    """Gaze from one LSL stream, on a thread of its own.

    Parameters
    ----------
    stream : GazeStream or str
        The stream (from :func:`find_gaze_streams`), or a stream name to look for.
    channel_map : ChannelMap or None
        None guesses it from the stream's description (:func:`guess_channel_map`).
    raw : bool
        True delivers x/y exactly as pushed (headless recording); False delivers
        normalised display points (the napari recorder).
    units, screen_size_px : passed to :func:`guess_channel_map` when ``channel_map`` is None.
    timeout_s : float
        How long to look for a stream given by name.
    """

    name = "lsl"

    def __init__(self, stream: GazeStream | str, channel_map: ChannelMap | None = None, raw: bool = False,
                 units: str | None = None, screen_size_px=None, timeout_s: float = 2.0,
                 pylsl_module=None) -> None:
        self._lsl = load_pylsl() if pylsl_module is None else pylsl_module
        if isinstance(stream, str):
            streams = find_gaze_streams(timeout_s, types=None, name=stream, pylsl_module=self._lsl)
            if not streams:
                raise SourceError(
                    f"No LSL stream named {stream} was found; start the tracker's LSL app "
                    "(or check the name with `gazeseg record --source lsl --list`)."
                )
            stream = streams[0]
        elif stream.info is None or not stream.channels:
            raise ValueError("pass a GazeStream from find_gaze_streams().")
        self.stream = stream
        self.raw = bool(raw)
        self.channel_map = channel_map or guess_channel_map(stream, units, screen_size_px, raw=raw)
        if self.channel_map.units == "pixels" and self.channel_map.screen_size_px is None and not raw:
            raise SourceError("Give the screen size in pixels to record a pixel gaze stream over an image.")
        self.nominal_rate_hz = float(stream.nominal_rate_hz)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._on_batch: BatchSink | None = None
        self._on_message: MessageSink | None = None
        self._inlet = None
        self.connected = threading.Event()  # set while an inlet is open and receiving
        self.samples_received = 0
        self.dropped = 0
        self.reconnects = 0
        self._corrections: list[list[float]] = []
        self._last_stamp: float | None = None

    # -- GazeSource -------------------------------------------------------------------------------
    def start(self, on_batch: BatchSink, on_message: MessageSink) -> None:
        if self._thread is not None:
            raise SourceError("the LSL source is already running; stop it first.")
        self._on_batch, self._on_message = on_batch, on_message
        self._stopping.clear()
        self._inlet = self._open(self.stream.info)
        if self._inlet is None:
            raise SourceError(
                f"The LSL stream {self.stream.name} did not answer; check that its app is still streaming."
            )
        self._thread = threading.Thread(target=self._run, name="gaze-lsl", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Deliver what the inlet holds, close it, return once no more callbacks come."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None

    def now_us(self) -> int:
        """This computer's LSL clock (``pylsl.local_clock``) in microseconds."""
        return int(round(self._lsl.local_clock() * 1e6))

    def meta(self) -> dict:
        stream = self.stream
        with self._lock:
            corrections = [list(c) for c in self._corrections]
        return {
            "source": "lsl",
            "sampling_rate_hz": self.nominal_rate_hz,
            "clock": "LSL local_clock (this computer), microseconds; sample time stamps + time_correction()",
            "screen_units": self.channel_map.units if self.raw else "normalised",
            "lsl": {
                "name": stream.name, "type": stream.type, "source_id": stream.source_id,
                "hostname": stream.hostname, "channel_format": stream.channel_format,
                "channels": [{"label": c.label, "unit": c.unit, "type": c.type, "eye": c.eye}
                             for c in stream.channels],
                "channel_map": self.channel_map.to_meta(stream),
                "time_correction": {"columns": ["local_time_s", "offset_s"], "records": corrections},
                "samples_received": self.samples_received,
                "dropped_estimate": self.dropped,
                "reconnects": self.reconnects,
            },
        }

    # -- source thread -----------------------------------------------------------------------------
    def _open(self, info):
        """An open inlet on ``info`` with a first clock offset, or None when it does not answer."""
        try:
            inlet = self._lsl.StreamInlet(info, max_buflen=360, recover=False)
            inlet.open_stream(timeout=5.0)
            self._correct(inlet, timeout=2.0)
        except Exception:
            return None
        self.connected.set()
        return inlet

    def _correct(self, inlet, timeout: float) -> None:
        offset = float(inlet.time_correction(timeout=timeout))
        with self._lock:
            self._offset = offset
            self._corrections.append([float(self._lsl.local_clock()), offset])
            del self._corrections[:-_MAX_CORRECTIONS]

    def _run(self) -> None:
        next_correction = time.monotonic() + _TIME_CORRECTION_EVERY_S
        while True:
            stopping = self._stopping.is_set()
            try:
                samples, stamps = self._inlet.pull_chunk(timeout=0.0 if stopping else _PULL_TIMEOUT_S,
                                                         max_samples=_CHUNK)
                if time.monotonic() >= next_correction:
                    self._correct(self._inlet, timeout=0.5)
                    next_correction = time.monotonic() + _TIME_CORRECTION_EVERY_S
            except Exception as err:  # LostError: the outlet is gone
                if not self._lsl_lost(err):
                    self._on_message(
                        f"Reading the LSL stream {self.stream.name} failed ({err}); its recording stopped."
                    )
                    break
                if stopping or not self._reconnect():
                    break
                continue
            if stamps:
                self._deliver(samples, stamps)
            elif stopping:
                break
        self._close()

    def _lsl_lost(self, err: Exception) -> bool:
        return type(err).__name__ in ("LostError", "TimeoutError")

    def _deliver(self, samples, stamps) -> None:
        stamps = np.asarray(stamps, dtype=np.float64)
        values = np.asarray(samples, dtype=np.float64).reshape(len(stamps), -1)
        if self.nominal_rate_hz > 0:
            previous = stamps if self._last_stamp is None else np.concatenate([[self._last_stamp], stamps])
            periods = np.diff(previous) * self.nominal_rate_hz
            gaps = periods[periods >= 1.5]
            if gaps.size:
                self.dropped += int(np.sum(np.round(gaps) - 1))
        self._last_stamp = float(stamps[-1])
        self.samples_received += len(stamps)
        display, valid = self.channel_map.apply(values, raw=self.raw)
        timestamp_us = np.round((stamps + self._offset) * 1e6).astype(np.int64)
        self._on_batch(SampleBatch.from_arrays(timestamp_us, display, valid))

    def _reconnect(self) -> bool:
        """Wait for the stream to come back (same source id, else name); False when stopped."""
        self.connected.clear()
        self._close()
        stream = self.stream
        self._on_message(
            f"The LSL stream {stream.name} disappeared; samples until it returns are missing. "
            "Waiting for it to come back."
        )
        lost_at = time.monotonic()
        prop, value = ("source_id", stream.source_id) if stream.source_id else ("name", stream.name)
        while not self._stopping.is_set():
            for info in self._lsl.resolve_byprop(prop, value, minimum=1, timeout=0.5):
                inlet = self._open(info)
                if inlet is not None:
                    self._inlet = inlet
                    self.reconnects += 1
                    self._on_message(
                        f"The LSL stream {stream.name} is back after {time.monotonic() - lost_at:.1f} s; "
                        "recording continues."
                    )
                    return True
        return False

    def _close(self) -> None:
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            try:
                inlet.close_stream()
            except Exception:
                pass


class GazeOutlet:
    """Publish a recording as it is made: mapped gaze and object-session markers as LSL streams.

    LabRecorder (or any LSL inlet) can then record them beside EEG or physiology.
    Two outlets, both with ``source_id`` derived from ``name``:

    * ``NAME gaze`` (type ``Gaze``, double): the image coordinates (``row``,
      ``col``, with ``plane`` first for volumes; pixels, NaN where invalid), the
      screen ``x``/``y`` as recorded, ``valid`` (1/0) and ``object_id``; each
      sample stamped with its own time moved onto the LSL clock;
    * ``NAME markers`` (type ``Markers``, string, irregular): ``object N start``
      and ``object N stop`` when a session opens or closes.

    Connects to the recorder's ``samples_added``, ``object_started`` and
    ``object_stopped`` signals (the UI thread, or whoever drains); :meth:`close`
    disconnects and closes the outlets.
    """

    def __init__(self, recorder, name: str = "gazeseg", pylsl_module=None) -> None:
        self._lsl = lsl = load_pylsl() if pylsl_module is None else pylsl_module
        self.recorder = recorder
        ndim = int(recorder.ndim)
        image = ["row", "col"] if ndim == 2 else ["plane", "row", "col"][-ndim:]
        labels = image + ["x", "y", "valid", "object_id"]
        rate = float(getattr(recorder.source, "nominal_rate_hz", 0.0) or 0.0)
        info = lsl.StreamInfo(f"{name} gaze", "Gaze", len(labels), rate, "double64", f"gazeseg-{name}-gaze")
        channels = info.desc().append_child("channels")
        source = recorder.source
        raw_pixels = getattr(source, "raw", False) and getattr(source, "channel_map", None) is not None \
            and source.channel_map.units == "pixels"
        screen_units = "pixels" if raw_pixels else "normalized"
        for label in labels:
            channel = channels.append_child("channel")
            channel.append_child_value("label", label)
            if label in image:
                channel.append_child_value("unit", "pixels")
                channel.append_child_value("type", "ImagePosition")
            elif label in ("x", "y"):
                channel.append_child_value("unit", screen_units)
                channel.append_child_value("type", "ScreenX" if label == "x" else "ScreenY")
            elif label == "valid":
                channel.append_child_value("type", "Validity")
        info.desc().append_child_value("manufacturer", "napari-gazeseg")
        self.gaze = lsl.StreamOutlet(info)
        markers = lsl.StreamInfo(f"{name} markers", "Markers", 1, lsl.IRREGULAR_RATE, "string",
                                 f"gazeseg-{name}-markers")
        self.markers = lsl.StreamOutlet(markers)
        self._offset_s: float | None = None
        self.samples_pushed = 0
        recorder.samples_added.connect(self._on_samples)
        recorder.object_started.connect(self._on_started)
        recorder.object_stopped.connect(self._on_stopped)

    def _lsl_time(self, t: np.ndarray) -> np.ndarray:
        """Recording time (s from the start, source clock) -> LSL clock seconds."""
        if self._offset_s is None:  # source clock -> LSL clock, measured once
            self._offset_s = float(self._lsl.local_clock()) - self.recorder.source.now_us() / 1e6
        return self.recorder.start_us / 1e6 + np.asarray(t, dtype=np.float64) + self._offset_s

    def _on_samples(self, recording) -> None:
        if len(recording) == 0:
            return
        screen = recording.screen if recording.screen is not None else np.full((len(recording), 2), np.nan)
        chunk = np.column_stack([
            recording.coords, screen, recording.valid.astype(np.float64), recording.object_id.astype(np.float64),
        ])
        self.gaze.push_chunk(np.ascontiguousarray(chunk), self._lsl_time(recording.t).tolist())
        self.samples_pushed += len(recording)

    def _on_started(self, object_id: int) -> None:
        self.markers.push_sample([f"object {object_id} start"], float(self._lsl.local_clock()))

    def _on_stopped(self, object_id: int) -> None:
        self.markers.push_sample([f"object {object_id} stop"], float(self._lsl.local_clock()))

    def close(self) -> None:
        for signal, slot in ((self.recorder.samples_added, self._on_samples),
                             (self.recorder.object_started, self._on_started),
                             (self.recorder.object_stopped, self._on_stopped)):
            try:
                signal.disconnect(slot)
            except Exception:
                pass
        self.gaze = self.markers = None
