"""Record live gaze to a crash-safe file and feed the live layers.

Three threads, none waiting on another:

* the **source thread** (Tobii SDK, cursor sampler, replay) only appends each
  :class:`~.source.SampleBatch` to an unbounded deque and wakes the writer;
* the **writer thread** drains the deque, stamps each sample with its object
  session, maps display points to image data coordinates with the newest
  :class:`~.mapping.ViewTransform`, appends to the native file and flushes it
  (flush + fsync) at least every ``flush_interval_s`` (0.2 s), so a crash loses
  at most the samples of the last flush interval; mapped chunks go to a second
  deque for the UI;
* the **UI thread** ticks a ``QTimer`` (every ``ui_interval_ms``, 25 ms = 40 Hz):
  it takes a fresh view snapshot (camera, slice, canvas position), drains the
  mapped chunks and emits the psygnal signals. When the UI is busy, chunks wait
  in the deque; nothing is dropped.

Time: ``t`` of a sample is ``(timestamp_us - start_us) / 1e6`` seconds, where
``start_us`` is the source clock at :meth:`GazeRecorder.start`.

The user's data (see ``docs/recording.md``, "What the plugin promises"):

* a recording never replaces a file: :meth:`GazeRecorder.start` refuses an
  existing path (or sidecar) in one sentence, and a file another recorder is
  writing (locked, any process); :func:`new_recording_path` gives a new unique
  name (image name + time stamp);
* every batch reaches the operating system as soon as the writer has it (a
  killed process loses only what the writer had not yet taken, tens of ms), and
  the disk (``fsync``) at least every ``flush_interval_s``;
* at each flush the writer checks its file is still there; when its folder was
  removed (or the file moved or replaced) the recording goes on in a fallback
  file holding everything from the start (``fallback_dir``, default
  :func:`recordings_folder`), and :attr:`GazeRecorder.message` says where, at
  the next UI tick;
* a file that cannot be written (disk full, read-only) stops the recording with
  one sentence naming the file; what was written stays readable.
"""

from __future__ import annotations

import collections
import datetime
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Union

import numpy as np
from psygnal import Signal

from napari_gazeseg.gaze.recording import NO_OBJECT, Fixations, GazeRecording

from .live_fixations import LiveFixations
from .mapping import ViewNotMappableError, ViewTransform
from .quality import QualityReport, StreamQuality
from .source import GazeSource, SampleBatch

__all__ = ["GazeRecorder", "new_recording_path", "recordings_folder"]

ViewProvider = Union[ViewTransform, Callable[[], ViewTransform], None]


def recordings_folder() -> Path:
    """Where recordings go unless the user says otherwise: ``~/gazeseg-recordings``."""
    return Path.home() / "gazeseg-recordings"


def recording_stem(path: str | Path) -> str:
    """``NAME`` of ``NAME.gaze.tsv`` (or ``NAME.tsv``)."""
    name = Path(path).name
    for suffix in (".gaze.tsv", ".tsv"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def new_recording_path(
    image_name: str, folder: str | Path | None = None, now: datetime.datetime | None = None
) -> Path:
    """A file name no recording uses yet: ``FOLDER/IMAGE-YYYYmmdd-HHMMSS.gaze.tsv``.

    ``IMAGE`` keeps letters, digits, ``-`` and ``_`` of ``image_name`` (others
    become ``_``; ``image`` when empty). When that file or its sidecar exists,
    ``-2``, ``-3``, ... is added. ``folder`` defaults to :func:`recordings_folder`.
    """
    from napari_gazeseg.gaze.formats.native import sidecar_path

    folder = recordings_folder() if folder is None else Path(folder)
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in image_name) or "image"
    for count in range(1, 100_000):
        path = folder / f"{safe}-{stamp}{'' if count == 1 else f'-{count}'}.gaze.tsv"
        if not path.exists() and not sidecar_path(path).exists():
            return path
    raise FileExistsError(f"{folder} holds 100000 recordings of {safe} made at {stamp}; choose another folder.")


class GazeRecorder:
    """Records one gaze source over one image.

    Parameters
    ----------
    source : GazeSource
    path : str or Path
        Native recording to write (``NAME.gaze.tsv`` plus its JSON sidecar).
    view : ViewTransform, callable returning one, or None
        The screen -> image mapping. A callable is called on the UI thread at
        every tick (a view that cannot be mapped, e.g. napari's 3D view, makes
        samples invalid until it can). None records screen coordinates only.
    ndim : int
        Dimensionality of the image data coordinates.
    meta : dict
        Recording metadata (image, screen geometry, ...); the source's own
        metadata, the start time and the sampling rate are added.
    flush_interval_s : float
        Longest time between file flushes (seconds).
    ui_interval_ms : int
        UI drain period (milliseconds).
    fixation_detector : FixationDetector or callable(GazeRecording) -> Fixations, optional
        For the live current-object fixations (default: ``FixationDetector()``,
        I-VT with its defaults; :class:`~napari_gazeseg.gaze.fixations.FixationDetector`).
    fallback_dir : str or Path, optional
        Where the recording goes on when its file disappears while recording
        (default: :func:`recordings_folder`, then the system's temporary folder).

    ``path`` is the file being written; it changes when the recording had to
    move to a fallback file.
    """

    samples_added = Signal(object)  # GazeRecording: the samples just mapped
    fixations_changed = Signal(int, object)  # object id, Fixations of that object
    object_started = Signal(int)
    object_stopped = Signal(int)
    message = Signal(str)  # one sentence for the user (connection lost, ...)
    finished = Signal()  # the recording stopped and its file is closed

    def __init__(
        self,
        source: GazeSource,
        path: str | Path,
        view: ViewProvider,
        ndim: int = 2,
        meta: dict | None = None,
        flush_interval_s: float = 0.2,
        ui_interval_ms: int = 25,
        fixation_detector: Callable[[GazeRecording], Fixations] | None = None,
        fallback_dir: str | Path | None = None,
    ) -> None:
        self.source = source
        self.path = Path(path)
        self.fallback_dir = None if fallback_dir is None else Path(fallback_dir)
        self.ndim = int(ndim)
        self.meta = dict(meta or {})
        self.flush_interval_s = float(flush_interval_s)
        self.ui_interval_ms = int(ui_interval_ms)
        self._view_provider = view
        self._view: ViewTransform | None = view if isinstance(view, ViewTransform) else None
        self._fixation_detector = fixation_detector
        self._raw: collections.deque[SampleBatch] = collections.deque()
        self._mapped: collections.deque[GazeRecording] = collections.deque()
        self._messages: collections.deque[str] = collections.deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._writer_thread: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._switch_lock = threading.Lock()
        self._switch_us: list[int] = [np.iinfo(np.int64).min]
        self._switch_ids: list[int] = [NO_OBJECT]
        self._current_object = NO_OBJECT
        self._last_object = NO_OBJECT
        self._live: LiveFixations | None = None
        self._timer = None
        self.start_us: int | None = None
        self.quality = StreamQuality(source.nominal_rate_hz)
        self.samples_written = 0

    # -- control (UI thread) -------------------------------------------------
    @property
    def recording(self) -> bool:
        return self._writer_thread is not None

    @property
    def current_object(self) -> int:
        """Object id of the open session, 0 when none is open."""
        return self._current_object

    def start(self) -> None:
        """Open the file, start the writer, the UI timer and the source.

        Raises :class:`~napari_gazeseg.gaze.formats.native.GazeFileError` (an
        ``OSError``; ``FileExistsError`` for an existing file) in one sentence
        when the file cannot be created: it exists, another recording is writing
        it, or its folder cannot be written. Nothing is started then.
        """
        if self.recording:
            raise RuntimeError("this recorder is already recording; stop it first.")
        from napari_gazeseg.gaze.formats.native import NativeGazeWriter, gaze_file_error

        self._refresh_view()
        self.start_us = int(self.source.now_us())
        meta = dict(self.meta)
        meta.update(self.source.meta())
        meta.setdefault("sampling_rate_hz", float(self.source.nominal_rate_hz))
        meta["start_time"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
        meta["start_time_us"] = self.start_us
        self.meta = meta
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise gaze_file_error(err, self.path) from None
        self._writer = NativeGazeWriter(self.path, self.ndim, meta)
        self._stopping.clear()
        self._writer_thread = threading.Thread(target=self._write_loop, name="gaze-writer", daemon=True)
        self._writer_thread.start()
        self._start_timer()
        try:
            self.source.start(self._on_batch, self._messages.append)
        except Exception:
            self._stop_writing()
            raise

    def stop(self) -> None:
        """Stop the source, write and close the file, emit what is left (UI thread)."""
        if not self.recording:
            return
        if self._current_object != NO_OBJECT:
            self.stop_object()
        self.source.stop()
        self._stop_writing()
        self.drain()
        self.finished.emit()

    def _stop_writing(self) -> None:
        """End the writer thread (it writes what is queued and closes the file) and the
        UI timer."""
        self._stopping.set()
        self._wake.set()
        self._writer_thread.join()
        self._writer_thread = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def start_object(self) -> int:
        """Begin a new object session now (source clock); returns its object id."""
        if self._current_object != NO_OBJECT:
            self.stop_object()
        object_id = self._last_object + 1
        self._switch_to(object_id)
        self._last_object = object_id
        self._live = LiveFixations(object_id, self._fixation_detector)
        self.object_started.emit(object_id)
        return object_id

    def stop_object(self) -> None:
        """End the open object session now (source clock)."""
        object_id = self._current_object
        if object_id == NO_OBJECT:
            return
        self._switch_to(NO_OBJECT)
        self.object_stopped.emit(object_id)

    def toggle_object(self) -> int:
        """Start a session when none is open, else end it; returns the current id."""
        if self._current_object == NO_OBJECT:
            return self.start_object()
        self.stop_object()
        return NO_OBJECT

    def report(self) -> QualityReport:
        return self.quality.report()

    def drain(self) -> None:
        """Emit everything the writer has mapped so far (UI thread; the timer calls it)."""
        self._refresh_view()
        while self._messages:
            self.message.emit(self._messages.popleft())
        if self._writer_error is not None:
            from napari_gazeseg.gaze.formats.native import gaze_file_error

            error, self._writer_error = self._writer_error, None
            if isinstance(error, OSError):
                error = gaze_file_error(error, self.path, writing=True)
            self.message.emit(
                f"The recording stopped: {str(error).rstrip('.')}, then record again; "
                f"{self.path} keeps the samples written until then."
            )
            self.stop()
            return
        chunks = []
        while self._mapped:
            chunks.append(self._mapped.popleft())
        if not chunks:
            return
        batch = GazeRecording.concatenate(chunks)
        self.samples_added.emit(batch)
        live = self._live
        if live is None:
            return
        try:
            changed = live.add(batch)
        except Exception as err:  # the recording goes on without live fixations
            self._live = None
            self.message.emit(f"Live fixations stopped ({err}); the recording itself continues.")
            return
        if changed:
            self.fixations_changed.emit(live.object_id, live.fixations())

    # -- internals ---------------------------------------------------------------
    def _switch_to(self, object_id: int) -> None:
        stamp = int(self.source.now_us()) if self.recording else np.iinfo(np.int64).min
        with self._switch_lock:
            self._switch_us.append(stamp)
            self._switch_ids.append(object_id)
        self._current_object = object_id

    def _start_timer(self) -> None:
        from qtpy.QtCore import QCoreApplication, QTimer

        if QCoreApplication.instance() is None:
            return  # no Qt event loop: the caller drains (scripts, the crash test)
        self._timer = QTimer()
        self._timer.setInterval(self.ui_interval_ms)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    def _refresh_view(self) -> None:
        provider = self._view_provider
        if provider is None or isinstance(provider, ViewTransform):
            return
        try:
            self._view = provider()
        except ViewNotMappableError as err:
            if self._view is not None:
                self._messages.append(str(err))
            self._view = None

    def _on_batch(self, batch: SampleBatch) -> None:
        """Source thread: append and wake the writer; nothing else."""
        self._raw.append(batch)
        self._wake.set()

    def _object_ids(self, stamps: np.ndarray) -> np.ndarray:
        with self._switch_lock:
            switch_us = np.asarray(self._switch_us, dtype=np.int64)
            switch_ids = np.asarray(self._switch_ids, dtype=np.int64)
        return switch_ids[np.searchsorted(switch_us, stamps, side="right") - 1]

    def _write_loop(self) -> None:
        last_flush = time.monotonic()
        failed = False
        try:
            while True:
                stopping = self._stopping.is_set()
                self._wake.wait(timeout=min(0.05, self.flush_interval_s / 2))
                self._wake.clear()
                batches = []
                while self._raw:
                    batches.append(self._raw.popleft())
                if batches:
                    self._write(SampleBatch.concatenate(batches))
                now = time.monotonic()
                if stopping or now - last_flush >= self.flush_interval_s:
                    self._flush()
                    last_flush = now
                if stopping and not self._raw:
                    break
        except Exception as err:  # surfaced to the user by drain(), which stops the recording
            failed = True
            self._writer_error = err
            self._stopping.set()
        finally:
            try:
                self._writer.close()  # closes the file (and its lock) even when it fails
            except OSError as err:
                if not failed:  # after a failure, closing only fails again: told once
                    self._writer_error = err

    def _flush(self) -> None:
        """Writer thread: fsync; a file that disappeared goes on in a fallback file."""
        from napari_gazeseg.gaze.formats.native import GazeFileLostError

        try:
            self._writer.flush()
        except GazeFileLostError:
            lost = self.path
            fallback = self._move_to_fallback(lost)
            self._messages.append(
                f"{lost} disappeared while recording (its folder was removed or the file moved); "
                f"the recording goes on in {fallback}, which holds everything from the start."
            )

    def _move_to_fallback(self, lost: Path) -> Path:
        folders = [self.fallback_dir or recordings_folder(), Path(tempfile.gettempdir())]
        for number, folder in enumerate(folders):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fallback = new_recording_path(recording_stem(lost), folder)
                self._writer.move_to(fallback)
            except OSError:
                if number == len(folders) - 1:
                    raise
                continue
            self.path = fallback
            return fallback
        raise AssertionError("unreachable")

    def _write(self, batch: SampleBatch) -> None:
        stamps = batch.timestamp_us
        t = (stamps - self.start_us) / 1e6
        valid = batch.valid
        view = self._view
        if view is None:
            coords = np.full((len(batch), self.ndim), np.nan)
            mapped_ok = np.zeros(len(batch), dtype=bool)
        else:
            coords, mapped_ok = view.map(batch.display)
        valid = valid & mapped_ok
        # a replayed file brings its own object sessions; live sources get the recorder's
        object_id = batch.object_id if batch.object_id is not None else self._object_ids(stamps)
        self._writer.append(t, coords, valid, batch.display, object_id)
        self.samples_written += len(batch)
        self.quality.add(stamps, batch.valid)
        self._mapped.append(
            GazeRecording(t=t, coords=coords, valid=valid, screen=batch.display, object_id=object_id, meta=self.meta)
        )
