"""The "Record gaze" dock widget: choose a source and an image, calibrate, record.

Hotkeys (free in napari's default keymap; also shown on the buttons):

* ``G`` starts a per-object gaze session, or ends the open one. Each session
  gets the next object id (1, 2, ...), which colours its samples and
  fixations and becomes the label value of its mask.
* ``Shift+G`` starts or stops the recording.

Both are bound while the panel is open; closing the panel unbinds them, and
closing it while recording stops the recording cleanly (file flushed and
closed, layers final) and says where the file is.

*Save to* never replaces a file: empty (or a folder) gives a new name, image
name + time stamp; an existing file asks for a new name or cancels. A typed
file name is used once: afterwards the field is cleared and the next recording
gets a new name in the same folder, so a series never writes one image's gaze
over another's.

While recording, three live layers follow the gaze: the last two seconds of
raw gaze, the fixations so far (the current one grows), and a heatmap of the
fixations weighted by duration. The readout shows the rate achieved, samples
lost and the percentage of valid samples. The file is written as it goes
(native ``NAME.gaze.tsv`` + ``NAME.gaze.json``) and survives a crash up to its
last flush (at most 0.2 s old).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np
from qtpy.QtCore import QEvent, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..gaze.recording import NO_OBJECT, Fixations, GazeRecording
from ..tracking.mapping import ViewNotMappableError
from ..tracking.recorder import new_recording_path, recording_stem, recordings_folder
from ..tracking.source import SourceError
from . import layers as gaze_layers
from ._deleted_visuals_guard import guard_deleted_visuals
from ._layer_combo import LayerComboBox
from ._viewer import (
    image_data_shape,
    is_image,
    last_axes,
    napari_canvas,
    placement_of,
    snapshot_view,
    tuned_fixation_detector,
)

__all__ = ["RecordGazeWidget", "LiveGazeLayers"]

SOURCE_TITTA = "Tobii (TittaPy)"
SOURCE_TOBII_RESEARCH = "Tobii (tobii-research)"
SOURCE_LSL = "LSL stream"
SOURCE_CURSOR = "Mouse cursor"
SOURCE_REPLAY = "Replay"
SOURCES = (SOURCE_TITTA, SOURCE_TOBII_RESEARCH, SOURCE_LSL, SOURCE_CURSOR, SOURCE_REPLAY)
#: The backend each source needs (tracking.source.backend_problem), None for none.
SOURCE_BACKENDS = {SOURCE_TITTA: "titta", SOURCE_TOBII_RESEARCH: "tobii-research", SOURCE_LSL: "lsl"}
LSL_UNITS = ("as the stream says", "normalised", "pixels")
#: Tobii (TittaPy) sampling rates offered; the tracker accepts those of its model.
TOBII_RATES = ("as set on the tracker", "60", "120", "150", "250", "300", "600", "1200")
TOGGLE_OBJECT_KEY = "g"
TOGGLE_RECORDING_KEY = "Shift+G"
#: Seconds of raw gaze the live tail shows.
TAIL_S = 2.0
#: At most this many tail points are drawn (every k-th sample at high rates; the file has all).
MAX_TAIL_POINTS = 300
#: Shortest intervals between redraws of the live layers (seconds of wall time).
TAIL_INTERVAL_S = 0.1
FIXATIONS_INTERVAL_S = 0.5
HEATMAP_INTERVAL_S = 3.0


def default_recording_path(image_name: str, folder: Path | None = None) -> Path:
    """A new unique recording file for ``image_name`` (image name + time stamp)."""
    return new_recording_path(image_name, folder)


def _recording_exists(path: Path) -> bool:
    from ..gaze.formats.native import sidecar_path

    return path.exists() or sidecar_path(path).exists()


def screen_geometry_of(screen, distance_mm: float):
    """:class:`ScreenGeometry` of a QScreen (physical pixels and millimetres)."""
    from ..gaze.geometry import ScreenGeometry

    ratio = screen.devicePixelRatio()
    size = screen.geometry()
    physical = screen.physicalSize()
    default = ScreenGeometry.default()
    width_mm = physical.width() if physical.width() > 0 else default.width_mm
    height_mm = physical.height() if physical.height() > 0 else default.height_mm
    return ScreenGeometry(
        width_px=int(round(size.width() * ratio)),
        height_px=int(round(size.height() * ratio)),
        width_mm=float(width_mm),
        height_mm=float(height_mm),
        distance_mm=float(distance_mm),
    )


class LiveGazeLayers:
    """The live gaze tail, fixations and heatmap of one recording (UI thread).

    napari re-slices and redraws a layer on every data change (10-35 ms each
    on a software-rendered canvas), so the live layers are cheap and throttled:
    the tail is a plain Points layer coloured by object id, redrawn at most
    every :data:`TAIL_INTERVAL_S` with at most :data:`MAX_TAIL_POINTS` points;
    fixations at most every :data:`FIXATIONS_INTERVAL_S`; the heatmap at most
    every :data:`HEATMAP_INTERVAL_S`. :meth:`finish` turns them into the
    plugin's full gaze, fixations and heatmap layers of the whole recording.
    """

    def __init__(self, viewer, image_layer, meta: dict) -> None:
        self._viewer = viewer
        self._image = image_layer
        self._placement = placement_of(image_layer)
        self._shape = tuple(int(s) for s in meta["image"]["shape"])
        self._meta = meta
        self._group = gaze_layers.new_group(f"{image_layer.name} live")
        self._tail: list[GazeRecording] = []
        self._fixations_by_object: dict[int, Fixations] = {}
        self._due = {"tail": 0.0, "fixations": 0.0, "heatmap": 0.0}
        self._stale = {"tail": False, "fixations": False, "heatmap": False}
        self.gaze = self.fixations = self.heatmap = None

    # -- inputs (connected to the recorder's signals) ---------------------------
    def add_samples(self, samples: GazeRecording) -> None:
        self._tail.append(samples)
        self._stale["tail"] = True
        self.refresh()

    def set_fixations(self, object_id: int, fixations: Fixations) -> None:
        self._fixations_by_object[object_id] = fixations
        self._stale["fixations"] = self._stale["heatmap"] = True
        self.refresh()

    def refresh(self, force: bool = False) -> None:
        """Redraw what changed and is due (everything that changed when ``force``)."""
        now = time.monotonic()
        for part, interval, draw in (
            ("tail", TAIL_INTERVAL_S, self._draw_tail),
            ("fixations", FIXATIONS_INTERVAL_S, self._draw_fixations),
            ("heatmap", HEATMAP_INTERVAL_S, self._draw_heatmap),
        ):
            if self._stale[part] and (force or now >= self._due[part]):
                self._stale[part] = False
                self._due[part] = now + interval
                draw()

    def finish(self, recording: GazeRecording, fixations: Fixations | None) -> None:
        """Show the whole recording and its fixations in the plugin's full layers."""
        self._tail = []
        common = {"name": self._image.name, "group": self._group, **self._placement}
        self._add_or_update("gaze", gaze_layers.gaze_layer(recording, image_shape=self._shape, **common))
        if fixations is not None and len(fixations):
            self._add_or_update("fixations", gaze_layers.fixations_layer(fixations, image_shape=self._shape, **common))
            heat = gaze_layers.heatmap_layer("fixations+duration", self._shape, fixations=fixations, **common)
            self._add_or_update("heatmap", heat)

    # -- drawing -----------------------------------------------------------------------
    def _add_or_update(self, attribute: str, layer_data) -> None:
        layer = getattr(self, attribute)
        if layer is None or layer not in self._viewer.layers:
            from napari.layers import Layer

            layer = self._viewer.add_layer(Layer.create(*layer_data))
            setattr(self, attribute, layer)
        else:
            gaze_layers.update_layer(layer, layer_data)

    def _draw_tail(self) -> None:
        tail = GazeRecording.concatenate(self._tail)
        tail = tail.between(float(tail.t[-1]) - TAIL_S, np.inf)
        self._tail = [tail]
        shown = np.flatnonzero(tail.valid)[::-1][:: max(1, int(np.ceil(tail.valid.sum() / MAX_TAIL_POINTS)))]
        coords = tail.coords[shown]
        colors = gaze_layers.object_colors(tail.object_id[shown])
        if self.gaze is None or self.gaze not in self._viewer.layers:
            self.gaze = self._viewer.add_points(
                coords, ndim=tail.ndim, name=f"{self._image.name} live gaze", size=max(2.0, max(self._shape[-2:]) / 150),
                metadata={gaze_layers.GAZESEG: {"live": True}},  # no kind: not a recording's layer
                face_color=colors, border_width=0, **last_axes(self._placement, tail.ndim),
            )
        else:
            self.gaze.data = coords
            if len(coords):
                self.gaze.face_color = colors

    def _draw_fixations(self) -> None:
        name = f"{self._image.name} live"
        data = gaze_layers.fixations_layer(
            self._all_fixations(), name=name, group=self._group, image_shape=self._shape, **self._placement
        )
        self._add_or_update("fixations", data)

    def _draw_heatmap(self) -> None:
        heat = gaze_layers.heatmap_layer(
            "fixations+duration", self._shape, fixations=self._all_fixations(),
            name=f"{self._image.name} live", group=self._group, **self._placement,
        )
        self._add_or_update("heatmap", heat)

    def _all_fixations(self) -> Fixations:
        everything = Fixations.concatenate(list(self._fixations_by_object.values()))
        return Fixations(everything.start, everything.duration, everything.coords, everything.object_id, meta=self._meta)


class RecordGazeWidget(QWidget):
    """Dock widget: source, image layer, calibration, start/stop, object sessions, quality.

    ``recording_started(recorder)`` is emitted with each recorder that starts, so
    other docked widgets (live SAM) can follow it. Fixations (live and after
    recording) come from the detector tuned in a docked Gaze layers panel, else
    the default I-VT filter.
    """

    recording_started = Signal(object)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        guard_deleted_visuals(napari_viewer)
        self.recorder = None
        self.live_layers: LiveGazeLayers | None = None
        self._source = None
        self._calibration_meta: dict | None = None
        #: Calibration dialog timing: time for the eyes to land on a dot, and validation sampling per dot.
        self.calibration_timing = {"settle_ms": 800, "collect_ms": 1000}

        self.source_box = QComboBox()
        self.source_box.addItems(SOURCES)
        self.source_box.setCurrentText(SOURCE_CURSOR)
        self.source_note = QLabel("")  # what to install when the chosen backend is absent
        self.source_note.setWordWrap(True)
        self.tobii_rate_box = QComboBox()
        self.tobii_rate_box.addItems(TOBII_RATES)
        self.tobii_rate_box.setToolTip("TittaPy sets the tracker to this rate; a rate its model lacks is refused.")
        self.lsl_box = QComboBox()  # itemData: the GazeStream
        self.lsl_find_button = QPushButton("Find streams")
        self.lsl_find_button.clicked.connect(self.find_lsl_streams)
        lsl_row = QHBoxLayout()
        lsl_row.addWidget(self.lsl_box, 1)
        lsl_row.addWidget(self.lsl_find_button)
        self.lsl_units_box = QComboBox()
        self.lsl_units_box.addItems(LSL_UNITS)
        self.lsl_units_box.setToolTip("Pixels are divided by the size of the screen napari is on.")
        self.lsl_outlet_box = QCheckBox("Publish to LSL")
        self.lsl_outlet_box.setToolTip("Also stream the mapped gaze and object markers to LSL (LabRecorder).")
        self.stimulus_box = QComboBox()
        self.stimulus_box.setToolTip("A file with several stimuli: which one to replay.")
        self.screen_mode_box = QCheckBox("Replay as seen on screen")
        self.screen_mode_box.setToolTip(
            "Off: the file's image coordinates land on the same pixels of this image. On: its "
            "screen positions, wherever the image is now."
        )
        self.image_box = LayerComboBox(napari_viewer, is_image, "no image layer")  # the user's images, renames followed
        self.rate_box = QDoubleSpinBox(minimum=10.0, maximum=1000.0, value=120.0, suffix=" Hz")
        self.speed_box = QDoubleSpinBox(minimum=0.1, maximum=100.0, value=1.0, suffix=" ×")
        self.replay_edit = QLineEdit()
        self.replay_edit.setPlaceholderText("gaze file to replay")
        self.distance_box = QDoubleSpinBox(minimum=200.0, maximum=2000.0, value=650.0, suffix=" mm")
        self.distance_box.setToolTip("Distance from the eyes to the screen, for visual angles.")
        self.live_box = QCheckBox("Show gaze live")
        self.live_box.setChecked(True)
        self.live_box.setToolTip(
            "Live gaze, fixations and heatmap while recording. Each redraw costs napari "
            "10-100 ms on software-rendered displays; turn off there. The file is the same."
        )
        self.save_edit = QLineEdit()
        #: The folder of new names when Save to is empty (the folder last saved to).
        self.recordings_folder: Path | None = None
        self._show_save_placeholder()
        browse = QPushButton("…")
        browse.clicked.connect(self._choose_save_path)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_edit)
        save_row.addWidget(browse)

        self.calibrate_button = QPushButton("Calibrate…")
        self.record_button = QPushButton("Start recording (Shift+G)")
        self.object_button = QPushButton("Start object (G)")
        self.object_button.setEnabled(False)
        self.status_label = QLabel("Not recording.")
        self.status_label.setWordWrap(True)
        self.quality_label = QLabel("")
        self.calibration_label = QLabel("Not calibrated.")
        self.calibration_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Source", self.source_box)
        form.addRow("", self.source_note)
        form.addRow("Image", self.image_box)
        form.addRow("Cursor rate", self.rate_box)
        form.addRow("Tobii rate", self.tobii_rate_box)
        form.addRow("LSL stream", lsl_row)
        form.addRow("LSL units", self.lsl_units_box)
        form.addRow("Replay file", self.replay_edit)
        form.addRow("Stimulus", self.stimulus_box)
        form.addRow("Replay speed", self.speed_box)
        form.addRow("", self.screen_mode_box)
        form.addRow("", self.lsl_outlet_box)
        form.addRow("Viewing distance", self.distance_box)
        form.addRow("Save to", save_row)
        form.addRow("", self.live_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.calibrate_button, self.calibration_label, self.record_button,
                       self.object_button, self.status_label, self.quality_label):
            layout.addWidget(widget)
        layout.addStretch(1)

        self.calibrate_button.clicked.connect(self.calibrate)
        self.record_button.clicked.connect(self.toggle_recording)
        self.object_button.clicked.connect(self.toggle_object)
        self.source_box.currentIndexChanged.connect(self._update_enabled)
        self.source_box.currentIndexChanged.connect(self._show_backend)
        self.replay_edit.editingFinished.connect(self._refresh_stimuli)
        self._outlet = None
        self._hotkeys = {TOGGLE_OBJECT_KEY: self._object_hotkey, TOGGLE_RECORDING_KEY: self._recording_hotkey}
        self._docked = False
        self._closed = False
        for key, handler in self._hotkeys.items():
            self.viewer.bind_key(key, handler, overwrite=True)
        self._quality_timer = QTimer(self)
        self._quality_timer.setInterval(500)
        self._quality_timer.timeout.connect(self._show_quality)
        self._update_enabled()

    # -- choices ----------------------------------------------------------------
    def _update_enabled(self) -> None:
        source = self.source_box.currentText()
        idle = self.recorder is None
        self.calibrate_button.setEnabled(idle and source in (SOURCE_TITTA, SOURCE_TOBII_RESEARCH))
        self.rate_box.setEnabled(idle and source == SOURCE_CURSOR)
        self.tobii_rate_box.setEnabled(idle and source == SOURCE_TITTA)
        for box in (self.lsl_box, self.lsl_find_button, self.lsl_units_box):
            box.setEnabled(idle and source == SOURCE_LSL)
        for box in (self.replay_edit, self.speed_box, self.screen_mode_box):
            box.setEnabled(idle and source == SOURCE_REPLAY)
        self.stimulus_box.setEnabled(idle and source == SOURCE_REPLAY and self.stimulus_box.count() > 1)
        self.lsl_outlet_box.setEnabled(idle)
        self.source_box.setEnabled(idle)
        self.image_box.setEnabled(idle)

    def _show_backend(self) -> None:
        """One sentence saying what to install when the chosen source's backend is absent."""
        from ..tracking.source import backend_problem

        backend = SOURCE_BACKENDS.get(self.source_box.currentText())
        self.source_note.setText((backend and backend_problem(backend)) or "")

    def find_lsl_streams(self) -> None:
        """List the gaze streams on the network (looking takes a second, off the UI thread)."""
        from napari.qt.threading import thread_worker

        from ..tracking.lsl import find_gaze_streams
        from ..tracking.source import backend_problem

        problem = backend_problem("lsl")
        if problem:
            self._say(problem, error=True)
            return
        self.lsl_find_button.setEnabled(False)
        worker = thread_worker(find_gaze_streams)(1.0)
        worker.returned.connect(self._show_lsl_streams)
        worker.errored.connect(lambda err: self._say(f"Looking for LSL streams failed ({err}).", error=True))
        worker.finished.connect(self._update_enabled)
        worker.start()
        self._lsl_worker = worker

    def _show_lsl_streams(self, streams) -> None:
        self.lsl_box.clear()
        for stream in streams:
            self.lsl_box.addItem(stream.name, stream)
            self.lsl_box.setItemData(self.lsl_box.count() - 1, stream.describe(), Qt.ItemDataRole.ToolTipRole)
        self.status_label.setText(
            f"Found {len(streams)} LSL gaze stream(s)." if streams else
            "No LSL gaze streams (type Gaze or EyeTracking) were found; start the tracker's LSL app."
        )

    def _refresh_stimuli(self) -> None:
        """The stimuli of the replay file, to choose from when there are several."""
        from ..tracking.replay import stimuli_in

        self.stimulus_box.clear()
        path = Path(self.replay_edit.text().strip())
        if path.is_file():
            try:
                self.stimulus_box.addItems(stimuli_in(path))
            except ValueError as err:  # GazeFormatError: said when recording starts
                self.status_label.setText(str(err))
        self._update_enabled()

    def _show_save_placeholder(self) -> None:
        folder = self.recordings_folder or recordings_folder()
        self.save_edit.setPlaceholderText(f"new file: {folder}/IMAGE-TIME.gaze.tsv")

    def _choose_save_path(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save gaze recording", "", "Native gaze (*.gaze.tsv)")
        if path:
            self.save_edit.setText(path)

    def _image_layer(self):
        layer = self.image_box.current_layer()
        if layer is None:
            raise SourceError("Open an image and choose it under Image before recording gaze.")
        return layer

    def _screen(self):
        canvas = napari_canvas(self.viewer)
        return None if canvas is None else canvas.native.screen()

    def _say(self, text: str, error: bool = False) -> None:
        from napari.utils.notifications import show_info, show_warning

        self.status_label.setText(text)
        (show_warning if error else show_info)(text)

    # -- sources ------------------------------------------------------------------
    def _tobii_source(self):
        """The chosen Tobii backend's source (kept between calibration and recording)."""
        from ..tracking.tobii import open_tobii_source

        backend = "titta" if self.source_box.currentText() == SOURCE_TITTA else "tobii-research"
        if self._source is None or self._source.name != "tobii" or getattr(self._source, "backend", "") != (
            "TittaPy" if backend == "titta" else "tobii-research"
        ):
            self._source = open_tobii_source(backend)
        rate = self.tobii_rate_box.currentText()
        if backend == "titta" and rate != TOBII_RATES[0] and float(rate) != self._source.nominal_rate_hz:
            self._source.set_frequency(float(rate))  # SourceError names the rates the model has
        return self._source

    def _make_source(self, image_layer):
        choice = self.source_box.currentText()
        if choice in (SOURCE_TITTA, SOURCE_TOBII_RESEARCH):
            return self._tobii_source()
        if choice == SOURCE_CURSOR:
            from ..tracking.mouse import CursorSource

            return CursorSource(screen=self._screen(), rate_hz=self.rate_box.value())
        if choice == SOURCE_LSL:
            from ..tracking.lsl import LslSource
            from ..tracking.source import backend_problem

            problem = backend_problem("lsl")
            if problem:
                raise SourceError(problem)
            stream = self.lsl_box.currentData()
            if stream is None:
                raise SourceError("Press Find streams and choose an LSL stream before recording it.")
            geometry = screen_geometry_of(self._screen(), self.distance_box.value())
            units = self.lsl_units_box.currentText()
            return LslSource(
                stream, units=None if units == LSL_UNITS[0] else units,
                screen_size_px=(geometry.width_px, geometry.height_px),
            )
        from ..tracking.replay import ReplaySource

        path = self.replay_edit.text().strip()
        if not path or not Path(path).is_file():
            raise SourceError("Choose an existing gaze file under Replay file to replay it.")
        if self.stimulus_box.count() == 0:
            self._refresh_stimuli()
        stimulus = self.stimulus_box.currentText() if self.stimulus_box.count() > 1 else None
        view = snapshot_view(self.viewer, image_layer, self._screen())
        mode = "screen" if self.screen_mode_box.isChecked() else "auto"
        return ReplaySource(path, speed=self.speed_box.value(), display_of=view.display_of, mode=mode,
                            stimulus=stimulus)

    # -- actions ---------------------------------------------------------------------
    def calibrate(self) -> None:
        """Run the Tobii calibration and validation dialog; keep the accepted result."""
        from ..tracking.calibration_dialog import CalibrationDialog

        try:
            source = self._tobii_source()
        except SourceError as err:
            self._say(str(err), error=True)
            return
        geometry = screen_geometry_of(self._screen(), self.distance_box.value())
        dialog = CalibrationDialog(
            source, None, geometry.directions, screen=self._screen(), parent=self, **self.calibration_timing
        )
        if dialog.exec() and dialog.result_meta is not None:
            self._calibration_meta = dialog.result_meta
            self.calibration_label.setText(f"Calibrated: {dialog.report.summary()}")

    def toggle_recording(self) -> None:
        if self.recorder is None:
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self) -> None:
        from ..tracking.recorder import GazeRecorder

        try:
            image_layer = self._image_layer()
            snapshot_view(self.viewer, image_layer, self._screen())
            source = self._make_source(image_layer)
        except (SourceError, ViewNotMappableError) as err:
            self._say(str(err), error=True)
            return
        path = self._recording_path(image_layer.name)
        if path is None:
            self._say("Not recording: no file was chosen.")
            return
        data_shape = image_data_shape(image_layer)
        geometry = screen_geometry_of(self._screen(), self.distance_box.value())
        meta = {
            "image": {"shape": [int(s) for s in data_shape], "name": image_layer.name},
            "screen": geometry.to_meta(),
        }
        if self._calibration_meta is not None and source.name == "tobii":
            meta.update(self._calibration_meta)
        view = partial(snapshot_view, self.viewer, image_layer, self._screen())
        recorder = GazeRecorder(
            source, path, view, ndim=len(data_shape), meta=meta, fixation_detector=self._fixation_detector()
        )
        self.live_layers = LiveGazeLayers(self.viewer, image_layer, meta)
        if self.live_box.isChecked():
            recorder.samples_added.connect(self.live_layers.add_samples)
            recorder.fixations_changed.connect(self.live_layers.set_fixations)
        recorder.message.connect(lambda text: self._say(text, error=True))
        recorder.object_started.connect(self._show_object)
        recorder.object_stopped.connect(lambda object_id: self._show_object(NO_OBJECT))
        recorder.finished.connect(lambda: self._stopped_by_itself(recorder))
        if self.lsl_outlet_box.isChecked():
            from ..tracking.lsl import GazeOutlet

            try:
                self._outlet = GazeOutlet(recorder, name=image_layer.name)
            except SourceError as err:
                self._say(str(err), error=True)
                return
        try:
            recorder.start()
        except (SourceError, OSError) as err:
            self._say(str(err), error=True)
            return
        except Exception as err:  # the tracker's SDK refused (connection, licence, ...)
            self._say(f"The {source.name} source could not start ({err}); check it and try again.", error=True)
            return
        self.recorder = recorder
        self.recording_started.emit(recorder)
        self.record_button.setText("Stop recording (Shift+G)")
        self.object_button.setEnabled(True)
        self._update_enabled()
        self._quality_timer.start()
        if self.save_edit.text().strip():
            self.save_edit.clear()  # a typed name is used once; the next gets a new one here
        self.recordings_folder = path.parent
        self._show_save_placeholder()
        self.status_label.setText(f"Recording {source.name} gaze to {path}.")

    def _recording_path(self, image_name: str) -> Path | None:
        """The file to record to: never an existing one (None when the user cancels)."""
        text = self.save_edit.text().strip()
        if not text:
            return default_recording_path(image_name, self.recordings_folder)
        path = Path(text).expanduser()
        if path.is_dir():
            return default_recording_path(image_name, path)
        if not _recording_exists(path):
            return path
        instead = new_recording_path(recording_stem(path), path.parent)
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Gaze recording exists")
        box.setText(f"{path} already exists and a recording never replaces a file. Record to {instead.name} instead?")
        new_button = box.addButton("Record to a new file", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return instead if box.clickedButton() is new_button else None

    def stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return
        recorder.stop()
        if self._outlet is not None:
            self._outlet.close()
            self._outlet = None
        self._show_whole_recording(recorder)
        self._quality_timer.stop()
        self._show_quality(recorder)
        self.record_button.setText("Start recording (Shift+G)")
        self.object_button.setText("Start object (G)")
        self.object_button.setEnabled(False)
        self._update_enabled()
        self.status_label.setText(f"Saved {recorder.samples_written} samples to {recorder.path}.")

    def _stopped_by_itself(self, recorder) -> None:
        """The recorder stopped on its own (the file could not be written): reset the controls."""
        if self.recorder is recorder:
            self.recorder = None
            self._quality_timer.stop()
            self.record_button.setText("Start recording (Shift+G)")
            self.object_button.setText("Start object (G)")
            self.object_button.setEnabled(False)
            self._update_enabled()

    def _show_whole_recording(self, recorder) -> None:
        """Replace the live layers' contents by the whole recording as saved."""
        from ..gaze.formats import read_gaze

        recording = read_gaze(recorder.path)
        fixations = self._fixation_detector()(recording) if recording.valid.sum() > 1 else None
        self.live_layers.finish(recording, fixations)

    def _fixation_detector(self):
        """The :class:`~napari_gazeseg.gaze.fixations.FixationDetector` the user tuned in a
        docked Gaze layers panel, else I-VT's defaults."""
        return tuned_fixation_detector(self.viewer)

    def toggle_object(self) -> None:
        if self.recorder is None:
            self._say("Start recording (Shift+G) before starting an object session.", error=True)
            return
        self.recorder.toggle_object()

    def _show_object(self, object_id: int) -> None:
        if object_id == NO_OBJECT:
            self.object_button.setText("Start object (G)")
        else:
            self.object_button.setText(f"Stop object {object_id} (G)")

    def _show_quality(self, recorder=None) -> None:
        recorder = recorder or self.recorder
        if recorder is not None:
            self.quality_label.setText(recorder.report().summary())
        if recorder is self.recorder and recorder is not None and getattr(recorder.source, "finished", False):
            self.stop_recording()  # the replayed file has ended
            self.status_label.setText(
                f"The replayed file has ended; saved {recorder.samples_written} samples to {recorder.path}."
            )

    # -- the panel's life -----------------------------------------------------------
    def _object_hotkey(self, viewer=None) -> None:
        self.toggle_object()

    def _recording_hotkey(self, viewer=None) -> None:
        self.toggle_recording()

    def event(self, event) -> bool:
        # napari's close button takes the widget out of its dock (setParent(None)).
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked:
                self.close_panel()
        return super().event(event)

    def closeEvent(self, event) -> None:
        self.close_panel()
        super().closeEvent(event)

    def close_panel(self) -> None:
        """The panel is closed: stop a recording cleanly, say where it is, unbind the hotkeys."""
        if self._closed:
            return
        self._closed = True
        recorder = self.recorder
        if recorder is not None:
            self.stop_recording()
            from napari.utils.notifications import show_info

            show_info(
                f"Record gaze was closed, so the recording stopped: {recorder.samples_written} "
                f"samples are in {recorder.path}."
            )
        for key, handler in self._hotkeys.items():
            current = self.viewer.bind_key(key, None)  # unbinds, returns what was bound
            if current is not None and current != handler:
                self.viewer.bind_key(key, current)  # another panel's: keep it
