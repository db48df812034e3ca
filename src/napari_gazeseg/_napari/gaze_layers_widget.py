"""The "Gaze layers" dock widget: show a recording's layers and tune how they are made.

Pick the image the gaze was recorded on and a gaze (or fixations) layer, or open
a gaze file; show or hide each kind of layer; tune the fixation detector (I-VT
or I-DT) and the heatmap. Every change recomputes only the layers it affects,
off the UI thread, and writes the results into the existing layers in place
(their data, features and colours; never new layers for the same recording).
Changes are debounced, and a newer change supersedes a computation still
running: its results are dropped.

Opening a file holding several recordings (stimuli, participants, trials) asks
which to open in the reader's dialog (:func:`~napari_gazeseg._napari.reader.pick_recordings`);
a Tobii Pro Lab export also gives a ``NAME Pro Lab fixations`` layer, Pro Lab's
own classification. A recording with screen coordinates but no screen geometry
(``meta["screen"]``) shows fields for the screen's size, distance and
resolution: filled in, they become the gaze layer's ``meta["screen"]``, so I-VT
and I-DT thresholds are in degrees; the status line names the geometry used.
Once the widget is deleted, its running workers are quit and their results dropped.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from ._gaze_compute import (
    FIXATION_METHODS,
    METHOD_NAMES,
    FixationSettings,
    HeatmapSettings,
    LayerJob,
    compute_layers,
)
from ..gaze.maps import map_uses_kernel, needs_raw_gaze
from ._layer_combo import LayerComboBox
from ._deleted_visuals_guard import guard_deleted_visuals
from ._text_layout_cache import install as cache_text_layout
from .layers import (
    GAZESEG,
    HEATMAP_KINDS,
    LAYER_KINDS,
    create_layers,
    fixations_from_layer,
    label_colors_at,
    layer_kind,
    recording_from_layer,
    update_layer,
)
from ._viewer import (
    add_layers_in_turns,
    full_resolution,
    image_data_shape,
    is_image,
    layers_arriving,
    place_layer,
    placement_of,
    recording_layers,
)

if TYPE_CHECKING:
    import napari

__all__ = ["GazeLayersWidget"]

#: How the heatmap kinds are named in the widget.
HEATMAP_LABELS = {
    "gaze": "gaze samples",
    "fixations": "fixations",
    "fixations+duration": "fixations × duration",
    "blurred": "blurred gaze",
}
#: Milliseconds of quiet after the last change before recomputing.
DEBOUNCE_MS = 150


class _Lifetime:
    """Whether the widget's Qt object still exists, and the workers to quit when it goes.

    Plain Python, so the widget's ``destroyed`` signal can reach it after the
    C++ object is gone; the workers' slots check :attr:`alive` first.
    """

    def __init__(self) -> None:
        self.alive = True
        self.workers: list = []

    def end(self, *_args) -> None:
        self.alive = False
        for worker in self.workers:
            worker.quit()
        self.workers.clear()

    def track(self, worker) -> None:
        self.workers.append(worker)
        worker.finished.connect(lambda: self.workers.remove(worker) if worker in self.workers else None)

    def guard(self, slot):
        """``slot`` wrapped to do nothing once the widget is deleted."""
        def guarded(*args):
            if self.alive:
                slot(*args)
        return guarded


def _screen_of(meta: dict) -> dict | None:
    screen = meta.get("screen")
    return screen if isinstance(screen, dict) else None


def _double_slider(low: float, high: float, value: float, step: float, tip: str):
    slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setSingleStep(step)
    slider.setDecimals(len(str(step).split(".")[1]) if "." in str(step) else 0)
    slider.setValue(value)
    slider.setToolTip(tip)
    return slider


def _int_slider(low: int, high: int, value: int, tip: str):
    slider = QLabeledSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setToolTip(tip)
    return slider


class GazeLayersWidget(QWidget):
    """Dock widget that builds and tunes the gaze layers of one recording at a time.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose layers the widget reads and updates.

    Signals
    -------
    updated
        Emitted on the UI thread after a computation's results went into the layers.
    failed(str)
        Emitted with the error sentence when a computation or a file failed.
    """

    updated = Signal()
    failed = Signal(str)

    def __init__(self, napari_viewer: "napari.viewer.Viewer", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = napari_viewer
        guard_deleted_visuals(napari_viewer)
        cache_text_layout()  # fixation numbers redrawn after a slider move: most laid out before
        self._generation = 0
        self._worker = None
        self._pending = {"fixations": False, "heatmap": False}
        self._in_flight = dict(self._pending)  # what the running worker recomputes
        self._fill_missing = False
        self._recording_cache: tuple[object, object] | None = None  # (layer, recording)
        self._lifetime = _Lifetime()
        self.destroyed.connect(self._lifetime.end)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._start_job)
        # napari processes pending Qt events while it builds an image layer's
        # controls, in the middle of inserting the layer; layers must not be
        # added or changed then, so results wait until insertions are done
        self._insertions = 0
        self._queued: list[tuple[dict, int, LayerJob]] = []  # results waiting for their turn
        self._turn_scheduled = False
        napari_viewer.layers.events.inserting.connect(self._on_inserting)
        napari_viewer.layers.events.inserted.connect(self._on_inserted)
        self._build_ui()
        self._on_source_changed(self._source.current_layer())

    # -- user interface ------------------------------------------------------------
    def _build_ui(self) -> None:
        viewer = self._viewer
        self._image = LayerComboBox(viewer, is_image, "no image layer")
        self._image.setToolTip("The image the gaze was recorded on: the layers take its scale and size.")
        self._source = LayerComboBox(viewer, self._is_source, "no gaze layer")
        self._source.setToolTip("A gaze (or fixations) layer opened from a file, a sample or a recording.")
        self._open = QPushButton("Open…")
        self._open.setToolTip("Open a gaze file (native, Tobii Pro Lab TSV, GazeMedSeg or CSV).")
        source_row = QHBoxLayout()
        source_row.addWidget(self._source, 1)
        source_row.addWidget(self._open)

        self._show = {kind: QCheckBox(kind) for kind in LAYER_KINDS}
        show_row = QHBoxLayout()
        for kind, box in self._show.items():
            box.setChecked(kind != "heatmap")  # as gaze_layers builds them: the heatmap hidden
            show_row.addWidget(box)
        show_row.addStretch(1)

        top = QFormLayout()
        top.addRow("Image", self._image)
        top.addRow("Gaze", source_row)
        top.addRow("Show", show_row)

        self._method = QComboBox()
        self._method.addItems(FIXATION_METHODS)
        self._method.setToolTip("I-VT: velocity threshold (Tobii I-VT filter). I-DT: dispersion threshold.")
        defaults = FixationSettings()
        self._velocity = _double_slider(
            5.0, 300.0, defaults.velocity_threshold, 1.0,
            "Samples slower than this (degrees per second) belong to fixations.",
        )
        self._min_duration = _int_slider(
            0, 500, round(defaults.min_duration * 1000), "I-VT discards shorter fixations (ms)."
        )
        self._idt_min_duration = _int_slider(
            10, 500, round(defaults.idt_min_duration * 1000),
            "I-DT needs a window at least this long (ms) to start a fixation.",
        )
        self._merge_gap = _int_slider(
            0, 300, round(defaults.merge_max_gap * 1000),
            "Fixations separated by less time than this (ms) ...",
        )
        self._merge_angle = _double_slider(
            0.0, 5.0, defaults.merge_max_angle, 0.05,
            "... and less visual angle than this (degrees) are merged into one.",
        )
        self._dispersion = _double_slider(
            0.1, 5.0, defaults.dispersion_threshold, 0.05,
            "Samples spread over less than this (degrees) form a fixation.",
        )
        fixation_form = QFormLayout()
        fixation_form.addRow("Method", self._method)
        fixation_form.addRow("Velocity (°/s)", self._velocity)
        fixation_form.addRow("Dispersion (°)", self._dispersion)
        fixation_form.addRow("Min duration (ms)", self._min_duration)
        fixation_form.addRow("Min duration (ms)", self._idt_min_duration)
        fixation_form.addRow("Merge gap (ms)", self._merge_gap)
        fixation_form.addRow("Merge angle (°)", self._merge_angle)
        self._fixation_form = fixation_form
        self._fixation_box = QGroupBox("Fixations")
        self._fixation_box.setLayout(fixation_form)
        self._build_screen_ui()

        heat_defaults = HeatmapSettings()
        self._heatmap_kind = QComboBox()
        for kind in HEATMAP_KINDS:
            self._heatmap_kind.addItem(HEATMAP_LABELS.get(kind, kind.replace("_", " ")), kind)
        self._heatmap_kind.setCurrentIndex(HEATMAP_KINDS.index(heat_defaults.kind))
        self._heatmap_kind.setToolTip(
            "What each Gaussian is centred on; 'fixations × duration' weighs each by its "
            "duration (SAM meets Gaze). Blurred gaze uses radius 3 and sigma 5 pixels."
        )
        self._kernel = _int_slider(
            5, 400, heat_defaults.kernel_size, "Width and height of each Gaussian kernel in image pixels."
        )
        self._sigma = _double_slider(
            0.5, 100.0, heat_defaults.sigma, 0.1, "Standard deviation of the Gaussian in image pixels."
        )
        heat_form = QFormLayout()
        heat_form.addRow("Made from", self._heatmap_kind)
        heat_form.addRow("Kernel (px)", self._kernel)
        heat_form.addRow("Sigma (px)", self._sigma)
        self._heat_box = QGroupBox("Heatmap")
        self._heat_box.setLayout(heat_form)

        self._status = QLabel()
        self._status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self._fixation_box)
        layout.addWidget(self._screen_box)
        layout.addWidget(self._heat_box)
        layout.addWidget(self._status)
        layout.addStretch(1)

        self._image.layer_changed.connect(self._on_image_changed)
        self._source.layer_changed.connect(self._on_source_changed)
        self._open.clicked.connect(self._choose_file)
        for kind, box in self._show.items():
            box.toggled.connect(lambda checked, kind=kind: self._on_show_toggled(kind, checked))
        self._method.currentIndexChanged.connect(self._on_method_changed)
        for control in (self._velocity, self._min_duration, self._merge_gap, self._merge_angle,
                        self._dispersion, self._idt_min_duration):
            control.valueChanged.connect(lambda _value: self._schedule(fixations=True))
        self._heatmap_kind.currentIndexChanged.connect(self._on_heatmap_kind_changed)
        for control in (self._kernel, self._sigma):
            control.valueChanged.connect(lambda _value: self._schedule(heatmap=True))
        self._on_method_changed()
        self._on_heatmap_kind_changed(schedule=False)

    def _build_screen_ui(self) -> None:
        """Fields for the screen geometry a recording lacks (0 = not given)."""
        def millimetres(tip: str) -> QDoubleSpinBox:
            box = QDoubleSpinBox()
            box.setRange(0.0, 10_000.0)
            box.setDecimals(1)
            box.setSuffix(" mm")
            box.setSpecialValueText("—")
            box.setToolTip(tip)
            return box

        def pixels(tip: str) -> QSpinBox:
            box = QSpinBox()
            box.setRange(0, 100_000)
            box.setSuffix(" px")
            box.setSpecialValueText("—")
            box.setToolTip(tip)
            return box

        self._screen_width_mm = millimetres("Width of the screen's display area.")
        self._screen_height_mm = millimetres("Height of the screen's display area.")
        self._screen_distance = millimetres("Distance from the eyes to the screen.")
        self._screen_width_px = pixels("Horizontal resolution of the screen.")
        self._screen_height_px = pixels("Vertical resolution of the screen.")
        size_row = QHBoxLayout()
        size_row.addWidget(self._screen_width_mm)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self._screen_height_mm)
        resolution_row = QHBoxLayout()
        resolution_row.addWidget(self._screen_width_px)
        resolution_row.addWidget(QLabel("×"))
        resolution_row.addWidget(self._screen_height_px)
        form = QFormLayout()
        form.addRow("Size", size_row)
        form.addRow("Distance", self._screen_distance)
        form.addRow("Resolution", resolution_row)
        self._screen_box = QGroupBox("Screen (the recording has no geometry)")
        self._screen_box.setToolTip(
            "Fill in all five so the fixation thresholds are in degrees; "
            "until then they are converted to image pixels."
        )
        self._screen_box.setLayout(form)
        self._screen_box.setVisible(False)
        for box in self._screen_fields():
            box.valueChanged.connect(self._on_screen_changed)

    def _screen_fields(self):
        return (self._screen_width_px, self._screen_height_px, self._screen_width_mm,
                self._screen_height_mm, self._screen_distance)

    def _is_source(self, layer) -> bool:
        """Gaze layers, and fixations layers of recordings without one (fixation-only files)."""
        kind = layer_kind(layer)
        if kind == "gaze":
            return True
        if kind != "fixations":
            return False
        return "gaze" not in recording_layers(self._viewer, layer)

    def _set_row_visible(self, form: QFormLayout, field: QWidget, visible: bool) -> None:
        form.labelForField(field).setVisible(visible)
        field.setVisible(visible)

    # -- the current choice ------------------------------------------------------------
    @property
    def fixation_settings(self) -> FixationSettings:
        """The detector parameters as the widget shows them (seconds, degrees)."""
        return FixationSettings(
            method=self._method.currentText(),
            velocity_threshold=float(self._velocity.value()),
            min_duration=self._min_duration.value() / 1000.0,
            merge_max_gap=self._merge_gap.value() / 1000.0,
            merge_max_angle=float(self._merge_angle.value()),
            dispersion_threshold=float(self._dispersion.value()),
            idt_min_duration=self._idt_min_duration.value() / 1000.0,
        )

    @property
    def fixation_detector(self):
        """The :class:`~napari_gazeseg.gaze.fixations.FixationDetector` the controls choose."""
        return self.fixation_settings.detector

    @fixation_detector.setter
    def fixation_detector(self, detector) -> None:
        """Show ``detector`` in the controls, without recomputing (its layers already match)."""
        settings = FixationSettings.of(detector)
        controls = {
            self._velocity: settings.velocity_threshold,
            self._min_duration: round(settings.min_duration * 1000),
            self._merge_gap: round(settings.merge_max_gap * 1000),
            self._merge_angle: settings.merge_max_angle,
            self._dispersion: settings.dispersion_threshold,
            self._idt_min_duration: round(settings.idt_min_duration * 1000),
        }
        for control in (self._method, *controls):
            control.blockSignals(True)
        try:
            self._method.setCurrentText(settings.method)
            for control, value in controls.items():
                control.setValue(value)
        finally:
            for control in (self._method, *controls):
                control.blockSignals(False)
        self._on_method_changed()

    def _follow_detector(self) -> None:
        """Set the controls to the detector of the picked recording's fixations layer, if ours."""
        from ..gaze.fixations import FixationDetector

        fixations = self.group_layers().get("fixations")
        if fixations is None:
            return
        detector = fixations.metadata[GAZESEG].get("meta", {}).get("detector")
        try:
            self.fixation_detector = FixationDetector.from_meta(detector)
        except ValueError:
            pass  # fixations a tracker's own filter made: the controls stay as they are

    @property
    def heatmap_settings(self) -> HeatmapSettings:
        """The heatmap kind and kernel as the widget shows them (pixels)."""
        return HeatmapSettings(
            kind=self._heatmap_kind.currentData(),
            kernel_size=int(self._kernel.value()),
            sigma=float(self._sigma.value()),
        )

    def group_layers(self) -> dict[str, object]:
        """The layers of the chosen recording, by kind (only those in the viewer)."""
        return recording_layers(self._viewer, self._source.current_layer())

    def _on_inserting(self, event=None) -> None:
        self._insertions += 1

    def _on_inserted(self, event=None) -> None:
        self._insertions = max(0, self._insertions - 1)

    def _when_layers_settle(self, callback) -> bool:
        """Run ``callback`` later if a layer is being inserted or updates wait for their turn; True when deferred."""
        if self._insertions or self._queued:
            QTimer.singleShot(20, self._lifetime.guard(callback))
            return True
        return False

    # -- reacting to the user ------------------------------------------------------------
    def _on_source_changed(self, source) -> None:
        self._recording_cache = None
        layers = self.group_layers()
        is_recording = source is not None and layer_kind(source) == "gaze"
        self._fixation_box.setEnabled(is_recording)
        if is_recording:
            self._follow_detector()
        self._show["gaze"].setEnabled(is_recording)
        self._sync_show_boxes()
        self._sync_screen_fields(source if is_recording else None)
        if source is None:
            self._status.setText("Open a gaze file or a sample (File > Open Sample) to begin.")
            return
        self._place_layers(self._image.current_layer())
        what = "valid gaze samples" if is_recording else "fixations"
        self._status.setText(f"{source.name}: {len(source.data):,} {what}.")
        if source.metadata[GAZESEG].get("meta", {}).get("image") is None and self._image.current_layer() is None:
            self._status.setText("Pick the image the gaze was recorded on to draw a heatmap.")
        elif is_recording and not source.visible:
            self._status.setText(
                f"The raw gaze ({len(source.data):,} samples) starts hidden; tick 'gaze' to show it."
            )
        # the layers missing from the recording's set are made once the debounce has
        # passed: a reader or sample may still be adding them one by one
        self._fill_missing = True
        self._schedule()

    def _sync_show_boxes(self, event=None) -> None:
        """Tick the Show boxes as the layers are (the user may use the layer list's eyes)."""
        if not self._lifetime.alive:
            return
        for kind, layer in self.group_layers().items():
            layer.events.visible.connect(self._sync_show_boxes)  # napari ignores repeats
            box = self._show[kind]
            box.blockSignals(True)
            box.setChecked(layer.visible)
            box.blockSignals(False)

    # -- the screen geometry a recording lacks --------------------------------------------
    @staticmethod
    def _needs_screen(source) -> bool:
        """A gaze layer with screen coordinates whose file gave no geometry."""
        if source is None or layer_kind(source) != "gaze":
            return False
        entry = source.metadata[GAZESEG]
        return bool(entry.get("has_screen")) and (
            _screen_of(entry.get("meta", {})) is None or bool(entry.get("screen_entered"))
        )

    def _sync_screen_fields(self, source) -> None:
        """Show the screen fields for a recording that needs them, filled from its meta."""
        needs = self._needs_screen(source)
        self._screen_box.setVisible(needs)
        if not needs:
            return
        meta = source.metadata[GAZESEG].get("meta", {})
        screen = _screen_of(meta) or {}
        resolution = meta.get("screen_resolution_px") or meta.get("recording_resolution_px") or (0, 0)
        values = (
            screen.get("width_px", resolution[0]), screen.get("height_px", resolution[1]),
            screen.get("width_mm", 0.0), screen.get("height_mm", 0.0), screen.get("distance_mm", 0.0),
        )
        for box, value in zip(self._screen_fields(), values):
            box.blockSignals(True)
            box.setValue(type(box.value())(value))
            box.blockSignals(False)

    def entered_screen(self) -> dict | None:
        """The geometry the screen fields give (``meta["screen"]``), None until all are filled in."""
        values = [box.value() for box in self._screen_fields()]
        if not all(value > 0 for value in values):
            return None
        keys = ("width_px", "height_px", "width_mm", "height_mm", "distance_mm")
        return {key: (int(v) if key.endswith("_px") else float(v)) for key, v in zip(keys, values)}

    def _on_screen_changed(self, _value=None) -> None:
        """Put the entered geometry into the gaze layer's meta (or take it out) and redetect."""
        source = self._source.current_layer()
        if not self._needs_screen(source):
            return
        entry = source.metadata[GAZESEG]
        meta = entry.setdefault("meta", {})
        screen = self.entered_screen()
        if screen is None:
            if not entry.get("screen_entered"):
                return
            meta.pop("screen", None)
            entry.pop("screen_entered", None)
        else:
            meta["screen"] = screen
            entry["screen_entered"] = True
        self._recording_cache = None
        self._schedule(fixations=True)

    def _geometry_note(self, recording) -> str:
        """Which screen geometry I-VT / I-DT used, for the status line."""
        if recording is None:
            return ""
        screen = _screen_of(recording.meta)
        if screen is None or recording.screen is None:
            if recording.screen is None:
                return "; the recording has no screen coordinates, so thresholds were converted to image pixels"
            return ("; no screen geometry, so thresholds were converted to image pixels "
                    "(enter the screen below for degrees)")
        source = self._source.current_layer()
        entered = source is not None and source.metadata[GAZESEG].get("screen_entered")
        return (
            f" in degrees, on a {screen['width_mm']:g} × {screen['height_mm']:g} mm, "
            f"{screen['width_px']} × {screen['height_px']} px screen at {screen['distance_mm']:g} mm "
            f"({'as entered' if entered else 'from the file'})"
        )

    def _on_image_changed(self, image) -> None:
        self._place_layers(image)
        self._schedule(heatmap=True)

    def _place_layers(self, image) -> None:
        """Put the recording's layers over the image (its whole transform), and
        fixation numbers in the colour that reads on it."""
        if image is None:
            return
        layers = self.group_layers()
        for layer in layers.values():
            place_layer(layer, image)
        if "fixations" in layers:
            self._color_numbers(layers["fixations"], image)

    @staticmethod
    def _color_numbers(fixations, image) -> None:
        """Fixation numbers in black or white, whichever reads on the image at each."""
        data = full_resolution(image)
        colors = label_colors_at(data, fixations.data, image.contrast_limits)
        fixations.text.color = {"array": colors, "default": "white"}

    @staticmethod
    def _numbers_colored_for(job: LayerJob, image) -> bool:
        """Whether the worker coloured the numbers for this image as it is shown now."""
        data = full_resolution(image)
        return (
            job.image is data
            and job.contrast_limits is not None
            and tuple(job.contrast_limits) == tuple(image.contrast_limits)
        )

    def _on_show_toggled(self, kind: str, checked: bool) -> None:
        layer = self.group_layers().get(kind)
        if layer is not None:
            layer.visible = checked
        elif checked:
            self._schedule(fixations=kind in ("fixations", "scanpath"), heatmap=kind == "heatmap")

    def _on_method_changed(self, _index: int | None = None) -> None:
        ivt = self._method.currentText() == "I-VT"
        form = self._fixation_form
        for field in (self._velocity, self._min_duration, self._merge_gap, self._merge_angle):
            self._set_row_visible(form, field, ivt)
        for field in (self._dispersion, self._idt_min_duration):
            self._set_row_visible(form, field, not ivt)
        if _index is not None:
            self._schedule(fixations=True)

    def _on_heatmap_kind_changed(self, _index: int | None = None, schedule: bool = True) -> None:
        uses_kernel = map_uses_kernel(self._heatmap_kind.currentData())
        self._kernel.setEnabled(uses_kernel)
        self._sigma.setEnabled(uses_kernel)
        if schedule:
            self._schedule(heatmap=True)

    def _schedule(self, fixations: bool = False, heatmap: bool = False) -> None:
        """Note what must be recomputed and (re)start the debounce timer."""
        self._pending["fixations"] |= fixations
        heatmap_uses_fixations = not needs_raw_gaze(self._heatmap_kind.currentData())
        self._pending["heatmap"] |= heatmap or (fixations and heatmap_uses_fixations)
        self._debounce.start()

    # -- computing ---------------------------------------------------------------------
    def _recording(self, source):
        if self._recording_cache is None or self._recording_cache[0] is not source:
            self._recording_cache = (source, recording_from_layer(source))
            source.events.data.connect(self._forget_recording)
        return self._recording_cache[1]

    def _forget_recording(self, event=None) -> None:
        self._recording_cache = None

    def _shape(self, source, ndim: int) -> tuple[int, ...] | None:
        image = self._image.current_layer()
        if image is not None:
            shape = image_data_shape(image)
            return shape[-ndim:] if len(shape) >= ndim else None
        meta_shape = source.metadata[GAZESEG].get("meta", {}).get("image", {}).get("shape")
        return tuple(int(s) for s in meta_shape[:ndim]) if meta_shape else None

    def _make_job(self) -> LayerJob | None:
        source = self._source.current_layer()
        if source is None:
            return None
        layers = self.group_layers()
        is_recording = layer_kind(source) == "gaze"
        if self._fill_missing:
            shown = {kind for kind, box in self._show.items() if box.isChecked()}
            self._pending["fixations"] |= is_recording and bool(
                {"fixations", "scanpath"} & shown - set(layers)
            )
            self._pending["heatmap"] |= "heatmap" in shown - set(layers)
        recording = self._recording(source) if is_recording else None
        redo_fixations = is_recording and self._pending["fixations"]
        # a hidden heatmap that was never shown is not worth computing
        redo_heatmap = self._pending["heatmap"] and (
            "heatmap" in layers or self._show["heatmap"].isChecked()
        )
        fixations = None
        if not is_recording:
            fixations = fixations_from_layer(source)
        elif not redo_fixations:
            if "fixations" in layers:
                fixations = fixations_from_layer(layers["fixations"])
            elif redo_heatmap:
                redo_fixations = True
        image = self._image.current_layer()
        placement = placement_of(image if image is not None else source)
        entry = source.metadata[GAZESEG]
        return LayerJob(
            recording=recording,
            fixations=fixations,
            fixation_settings=self.fixation_settings,
            heatmap_settings=self.heatmap_settings,
            redo_fixations=redo_fixations,
            redo_heatmap=redo_heatmap,
            name=entry["name"],
            group=entry["group"],
            shape=self._shape(source, source.ndim),
            scale=placement["scale"],
            translate=placement["translate"],
            affine=placement["affine"],
            # the fixation numbers' colours are read off the image in the worker
            image=None if image is None else full_resolution(image),
            contrast_limits=None if image is None else tuple(image.contrast_limits),
        )

    def _start_job(self) -> None:
        from napari.qt.threading import create_worker

        if layers_arriving(self._viewer):  # a file's layers are still being added: wait for all
            self._debounce.start()
            return

        if self._worker is not None:
            # the running job's results will be dropped: the new one redoes its work too
            for kind, redo in self._in_flight.items():
                self._pending[kind] |= redo
        try:
            job = self._make_job()
        except ValueError as err:
            self._report(str(err))
            return
        self._pending = {"fixations": False, "heatmap": False}
        self._fill_missing = False
        if job is None or not (job.redo_fixations or job.redo_heatmap):
            return
        self._in_flight = {"fixations": job.redo_fixations, "heatmap": job.redo_heatmap}
        if job.redo_heatmap and job.shape is None:
            self._status.setText("Pick the image the gaze was recorded on to draw a heatmap.")
        if self._worker is not None:
            self._worker.quit()
        self._generation += 1
        generation = self._generation
        worker = create_worker(
            compute_layers, job, _progress={"desc": "Updating gaze layers"}, _ignore_errors=True
        )
        guard = self._lifetime.guard
        worker.yielded.connect(guard(lambda result: self._queue_results(result, generation, job)))
        worker.errored.connect(guard(lambda err: self._on_error(err, generation)))
        worker.finished.connect(guard(lambda: self._on_finished(generation)))
        self._worker = worker
        self._lifetime.track(worker)
        worker.start()

    def _queue_results(self, result: dict, generation: int, job: LayerJob) -> None:
        """Queue a worker's results, one layer's update per turn of the event loop.

        Each update then has a paint of its own and the window answers in between:
        the fixations', scanpath's and heatmap's updates done in one turn, with one
        paint, were a slider move's largest UI block (``benchmarks/bench_gaze_layers.py``).
        ``updated`` waits until the queue is empty (:meth:`_when_layers_settle`).
        """
        items = [{kind: result[kind]} for kind in ("fixations", "scanpath", "heatmap") if kind in result]
        if "detected" in result:
            items = items or [{}]
            items[0]["detected"] = result["detected"]
        self._queued.extend((item, generation, job) for item in items)
        self._next_turn()

    def _next_turn(self, delay_ms: int = 1) -> None:
        if self._queued and not self._turn_scheduled:
            self._turn_scheduled = True
            QTimer.singleShot(delay_ms, self._lifetime.guard(self._turn))  # 1, not 0: 0 ran in the paint's pass

    def _turn(self) -> None:
        self._turn_scheduled = False
        if self._insertions:  # napari is inserting a layer: its controls are half built
            self._next_turn(delay_ms=20)
            return
        try:
            self._apply(*self._queued.pop(0))
        finally:
            self._next_turn()  # an update that raised (napari shows it) does not stall the rest

    def _apply(self, result: dict, generation: int, job: LayerJob) -> None:
        if generation != self._generation:
            return  # superseded by a newer change
        source = self._source.current_layer()
        if source is None or source.metadata[GAZESEG]["group"] != job.group:
            return  # the recording's layers were removed meanwhile
        layers = self.group_layers()
        for kind in ("heatmap", "scanpath", "fixations"):
            if kind not in result:
                continue
            if kind in layers:
                update_layer(layers[kind], result[kind])
                image = self._image.current_layer()
                if kind == "fixations" and image is not None and not self._numbers_colored_for(job, image):
                    self._color_numbers(layers[kind], image)
            else:
                self._add_layer(kind, result[kind])
        detected = result.get("detected")
        if detected is not None:
            detector = detected.meta.get("detector", {})
            shown = {name: label for label, name in METHOD_NAMES.items()}
            method = shown.get(detector.get("name"), "the detector")
            self._status.setText(f"{len(detected)} fixations by {method}{self._geometry_note(job.recording)}.")

    def _add_layer(self, kind: str, layer_data) -> None:
        from napari.layers import Layer

        data, kwargs, layer_type = layer_data
        layer = Layer.create(data, {**kwargs, "visible": self._show[kind].isChecked()}, layer_type)
        if kind == "heatmap" and self._image.current_layer() is not None:
            self._viewer.layers.insert(self._viewer.layers.index(self._image.current_layer()) + 1, layer)
        else:
            self._viewer.add_layer(layer)
        self._place_layers(self._image.current_layer())
        self._sync_show_boxes()

    def _on_finished(self, generation: int) -> None:
        if self._when_layers_settle(lambda: self._on_finished(generation)):
            return
        if generation == self._generation:
            self._worker = None
            self._in_flight = {"fixations": False, "heatmap": False}
            self.updated.emit()

    def _on_error(self, error: Exception, generation: int) -> None:
        if generation == self._generation:
            self._report(str(error))

    def _report(self, message: str) -> None:
        from napari.utils.notifications import show_error

        self._status.setText(message)
        show_error(message)
        self.failed.emit(message)

    # -- opening files --------------------------------------------------------------------
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open gaze recording", "", "Gaze files (*.tsv *.csv *.txt);;All files (*)"
        )
        if path:
            self.open_file(path)

    def open_file(self, path: str) -> None:
        """Read a gaze file off the UI thread; when it holds several recordings, ask
        which to open (:func:`~napari_gazeseg._napari.reader.pick_recordings`); add
        their layers over the chosen image."""
        from napari.qt.threading import create_worker

        from .reader import gaze_file_contents

        worker = create_worker(gaze_file_contents, path, _progress={"desc": "Reading gaze"}, _ignore_errors=True)
        worker.returned.connect(self._lifetime.guard(lambda contents: self._on_file_read(path, contents)))
        worker.errored.connect(self._lifetime.guard(lambda err: self._report(str(err))))
        self._open_worker = worker
        self._lifetime.track(worker)
        worker.start()

    def _preferred(self, names: list[str], contents) -> str:
        """The recording whose image is the chosen image layer, else the first."""
        image = self._image.current_layer()
        if image is not None:
            for name in names:
                meta_image = contents[name].meta.get("image")
                shown = meta_image.get("name", "") if isinstance(meta_image, dict) else ""
                if image.name in (name, shown, os.path.splitext(shown)[0]):
                    return name
        return names[0]

    def _on_file_read(self, path: str, contents) -> None:
        """Pick the recordings to open, then build their layers off the UI thread."""
        from napari.qt.threading import create_worker

        from .reader import gaze_file_layers, pick_recordings

        names = list(contents)  # never empty: gaze_file_contents refuses such a file
        chosen = names
        if len(names) > 1:
            chosen = pick_recordings(self, path, names, [self._preferred(names, contents)])
            if not chosen:
                self._status.setText(f"Opened nothing from {os.path.basename(path)}.")
                return
        image = self._image.current_layer()
        kwargs = {"detector": self.fixation_detector}  # the fixations the controls show
        if image is not None:
            kwargs.update(placement_of(image), image_shape=image_data_shape(image))
        def build():  # the napari layers too, so that the UI thread only adds them
            return create_layers(
                gaze_file_layers(path, stimuli=chosen, contents=contents, own_fixations=True, **kwargs)
            )

        worker = create_worker(build, _progress={"desc": "Building gaze layers"}, _ignore_errors=True)
        worker.returned.connect(self._lifetime.guard(lambda layers: self._add_file_layers(layers, path)))
        worker.errored.connect(self._lifetime.guard(lambda err: self._report(str(err))))
        self._open_worker = worker
        self._lifetime.track(worker)
        worker.start()

    def _add_file_layers(self, layers: list, path: str) -> None:
        if self._when_layers_settle(lambda: self._add_file_layers(layers, path)):
            return
        self._status.setText(f"Adding the layers of {os.path.basename(path)}...")
        add_layers_in_turns(self._viewer, layers, self._lifetime.guard(
            lambda added: self._file_layers_added(added, path)
        ))

    def _file_layers_added(self, layers: list, path: str) -> None:
        first_source = next((layer for layer in layers if layer_kind(layer) in ("gaze", "fixations")), None)
        if first_source is not None:
            self._source.set_current_layer(first_source)
        entries = [layer.metadata[GAZESEG] for layer in layers]
        recordings = len({entry["group"] for entry in entries if "classified_by" not in entry})
        theirs = len({entry["group"] for entry in entries if "classified_by" in entry})
        also = ", with Pro Lab's own fixations as '... Pro Lab fixations'" if theirs else ""
        note = ""
        if self._needs_screen(first_source) and self.entered_screen() is None:
            note = (" It has no screen geometry, so the fixation thresholds are in image pixels; "
                    "enter the screen below for degrees.")
        self._status.setText(f"Opened {os.path.basename(path)}: {recordings} recording(s){also}.{note}")
        self.updated.emit()
