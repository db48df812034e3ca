"""The "Annotate series" dock widget: annotate a folder of images by looking, one image at a time.

It is a thin conductor over three parts that already exist:

* :class:`napari_gazeseg.annotation.AnnotationSeries` holds the series, writes
  each accepted image's files and the ``annotations.jsonl`` log, and resumes;
* the **Record gaze** panel records the gaze on the image shown (any source:
  Tobii, LSL, the mouse cursor, a replayed file), one object session per hotkey;
* the **Segment with gaze** panel turns the gaze into masks (SAM-gaze or
  GradTrack, live while recording) in this widget's Labels layer, where napari's
  brush, eraser and undo correct them.

This widget shows the image (one Image layer, reused), gives it a Labels layer,
keeps the time spent per image and object, and on **Accept & next**
(Shift+A) stops a recording of this image, writes its files through the series
and moves to the next unfinished image. **Skip** (Shift+S) and **Previous** move
without writing. On a 3D stack, **Propagate to neighbouring planes** carries the
chosen object's mask from the displayed plane to its neighbours (a number of
planes each way, or the whole stack) with the model chosen in *Segment with
gaze*: SAM 2's video predictor for a SAM 2 model
(:func:`napari_gazeseg.models.sam2_gaze.sam2_mask_propagation`), else SAM plane
by plane as micro-sam's 3D annotator does
(:func:`napari_gazeseg.stack_propagation.propagate_mask`); it runs in a worker
with a progress bar and paints each plane as one undoable edit (other objects'
pixels kept); Accept & next saves the 3D mask as it saves a 2D one.
**Correction** as micro-sam users expect: each image gets a prompts Points layer
(``NAME prompts``: positive and background clicks) and a boxes Shapes layer
(``NAME boxes``: rectangles), each click and box belonging to the object chosen
in the panel (a feature ``object_id``; boxes drawn in that object's label colour).
**Re-segment with clicks** has *Segment with gaze* decode the clicked objects again,
each from ONE SAM prompt: its gaze prompt, its clicks and its last box, which
replaces the gaze box (:func:`napari_gazeseg.models.sam_prompts.add_clicks`);
shapes that are not rectangles along the image axes are refused. The accept row
counts the clicks and boxes. **Improve model** fine-tunes the GradTrack model on the
accepted images in the background and reports the Dice before and after on the
accepted images it held out (:func:`napari_gazeseg.models.improve.improve_gradtrack`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QCheckBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..annotation import AnnotationSeries
from ..imaging import is_rgb
from ..segmentation import ObjectMask, Stage
from ..stack_propagation import DEFAULT_IOU_THRESHOLD, PropagationEnd, propagation_planes
from ._viewer import displayed_slice
from .layers import GAZESEG, layer_kind, recording_from_layer

__all__ = ["AnnotateSeriesWidget", "ACCEPT_KEY", "SKIP_KEY"]

ACCEPT_KEY = "Shift-A"
SKIP_KEY = "Shift-S"
IMAGE_LAYER = "annotate: image"
_STATE_MARK = {"todo": "•", "accepted": "✓", "skipped": "–"}
#: Face colour of a correction click: positive (object) and background.
_CLICK_COLOURS = {True: "#30d030", False: "#ff3030"}


def _dock_widget(viewer, name: str):
    """A docked widget of this plugin by its display name (napari's widget-communication route)."""
    window = getattr(viewer, "window", None)
    docks = getattr(window, "dock_widgets", None) if window is not None else None
    if not docks:
        return None
    for key, widget in docks.items():
        if key == name or key.startswith(f"{name} ("):
            return widget
    return None


def _propagation_worker(kind, holder, settings, image, mask, leading, object_id, each_way, iou,
                        limits):
    """Worker: one object's mask carried from plane ``leading`` through the stack."""
    yield Stage("loading the model", 0, 1)
    with holder.lock:
        model = holder.get(settings)
        if kind == "SAM 2":
            from ..models.sam2_gaze import sam2_mask_propagation

            yield from sam2_mask_propagation(
                model, image, mask, leading[-1], object_id, planes_each_way=each_way,
                contrast_limits=limits, stages=True,
            )
        else:
            from ..stack_propagation import propagate_mask

            yield from propagate_mask(
                model, image, mask, leading, object_id, planes_each_way=each_way,
                iou_threshold=iou, contrast_limits=limits, stages=True,
            )


def object_seconds(recording) -> dict[str, float]:
    """Seconds of each object session of a recording (``{"1": 3.2, ...}``)."""
    if recording is None or len(recording) == 0:
        return {}
    out = {}
    for oid in recording.object_ids:
        t = recording.t[recording.object_id == oid]
        out[str(int(oid))] = round(float(t.max() - t.min()), 3)
    return out


class AnnotateSeriesWidget(QWidget):
    """Dock widget: a series of images annotated by gaze, accepted one by one.

    Signals
    -------
    moved(int)
        The index of the image now shown.
    accepted(dict)
        The log row of each accept.
    improved(object)
        The :class:`~napari_gazeseg.models.improve.ImproveResult` of Improve model.
    propagated(dict)
        After a propagation: ``object_id``, ``planes`` (painted), ``ends``
        (:class:`~napari_gazeseg.stack_propagation.PropagationEnd`, SAM 1 only).
    failed(str)
        The sentence shown when something could not be done.
    """

    moved = Signal(int)
    accepted = Signal(dict)
    improved = Signal(object)
    propagated = Signal(dict)
    failed = Signal(str)

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = napari_viewer
        self.series: AnnotationSeries | None = None
        self.index: int | None = None
        self.image_layer = None
        self.labels_layer = None
        self._shown_at = time.monotonic()
        self._corrections = 0
        self._worker = None
        self.model_checkpoint: str | None = None

        self._folder = QPushButton("Open folder…")
        self._folder.clicked.connect(self._on_open)
        self._progress = QLabel("No series open.")
        self._list = QListWidget()
        self._list.itemDoubleClicked.connect(lambda item: self.go_to(self._list.row(item)))
        self._previous = QPushButton("Previous")
        self._previous.clicked.connect(self.previous)
        self._skip = QPushButton("Skip (Shift+S)")
        self._skip.clicked.connect(self.skip)
        self._accept = QPushButton("Accept && next (Shift+A)")
        self._accept.clicked.connect(self.accept)
        self._epochs = QSpinBox()
        self._epochs.setRange(1, 500)
        self._epochs.setValue(40)
        self._epochs.setPrefix("epochs ")
        self._improve = QPushButton("Improve model")
        self._improve.setToolTip(
            "Fine-tune the GradTrack model on the accepted images (their corrected masks), "
            "in the background; reports Dice before/after on accepted images held out."
        )
        self._improve.clicked.connect(self.improve_model)
        self._click_object = QSpinBox()
        self._click_object.setRange(1, 2**31 - 1)
        self._click_object.setPrefix("object ")
        self._click_object.setToolTip(
            "The label id of the object your next click or box corrects (boxes take its "
            "label colour)."
        )
        self._click_object.valueChanged.connect(self._on_click_kind)
        self._negative = QCheckBox("background click")
        self._negative.setToolTip(
            "Unticked: a click marks the object (SAM positive point); ticked: it marks "
            "background to remove from the object (negative point)."
        )
        self._negative.toggled.connect(self._on_click_kind)
        self._resegment = QPushButton("Re-segment with clicks")
        self._resegment.setToolTip(
            "Decode the clicked objects again with SAM: their gaze prompt plus your clicks "
            "(prompts layer, napari's add-points tool) and box (boxes layer, napari's rectangle "
            "tool; it replaces the gaze box). With several boxes for one object, the last one "
            "drawn is used."
        )
        self._resegment.clicked.connect(self.resegment_with_clicks)
        self._propagate_object = QSpinBox()
        self._propagate_object.setRange(1, 2**31 - 1)
        self._propagate_object.setPrefix("object ")
        self._propagate_object.setToolTip("The label id of the object to carry to other planes.")
        self._planes_each_way = QSpinBox()
        self._planes_each_way.setRange(0, 100_000)
        self._planes_each_way.setValue(0)
        self._planes_each_way.setSpecialValueText("whole stack")
        self._planes_each_way.setSuffix(" planes each way")
        self._iou = QDoubleSpinBox()
        self._iou.setRange(0.0, 1.0)
        self._iou.setSingleStep(0.05)
        self._iou.setValue(DEFAULT_IOU_THRESHOLD)
        self._iou.setPrefix("stop below IoU ")
        self._iou.setToolTip(
            "SAM (not SAM 2): stop a direction when a plane's mask overlaps the previous "
            "plane's less than this (intersection over union), or is empty"
        )
        self._propagate = QPushButton("Propagate to neighbouring planes")
        self._propagate.setToolTip(
            "Carry the object's mask from the displayed plane to its neighbours with the "
            "model chosen in Segment with gaze (SAM 2: its video predictor; SAM: plane by plane)"
        )
        self._propagate.clicked.connect(self.propagate)
        self._propagation_worker = None
        self._propagation_bar = None
        self._writing = False
        self._status = QLabel("")
        self._status.setWordWrap(True)
        self.prompts_layer = None
        self.boxes_layer = None

        clicks = QHBoxLayout()
        clicks.addWidget(self._click_object)
        clicks.addWidget(self._negative)
        moves = QHBoxLayout()
        for button in (self._previous, self._skip, self._accept):
            moves.addWidget(button)
        improve = QHBoxLayout()
        improve.addWidget(self._improve)
        improve.addWidget(self._epochs)
        layout = QVBoxLayout(self)
        layout.addWidget(self._folder)
        layout.addWidget(self._progress)
        layout.addWidget(self._list, 1)
        layout.addLayout(moves)
        layout.addLayout(clicks)
        layout.addWidget(self._resegment)
        spread = QHBoxLayout()
        spread.addWidget(self._propagate_object)
        spread.addWidget(self._planes_each_way)
        spread.addWidget(self._iou)
        layout.addLayout(spread)
        layout.addWidget(self._propagate)
        layout.addLayout(improve)
        layout.addWidget(self._status)
        self._keys = {ACCEPT_KEY: lambda viewer=None: self.accept(),
                      SKIP_KEY: lambda viewer=None: self.skip()}
        for key, handler in self._keys.items():
            napari_viewer.bind_key(key, handler, overwrite=True)
        self._update_buttons()

    # -- series ---------------------------------------------------------------------

    def _on_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images, or a dataset folder")
        if folder:
            self.open_series(folder)

    def open_series(self, folder: str | Path, output: str | Path | None = None) -> None:
        """Open a folder; show the first image not yet accepted or skipped."""
        try:
            self.series = AnnotationSeries(folder, output)
        except (FileNotFoundError, ValueError) as err:
            self._say(str(err), error=True)
            return
        self._refresh_list()
        first = self.series.first_unfinished()
        self.go_to(0 if first is None else first)
        if first is None:
            self._say("Every image of this series is accepted or skipped.")

    def _refresh_list(self) -> None:
        self._list.clear()
        for entry in self.series.images:
            self._list.addItem(f"{_STATE_MARK[entry.state]} {entry.name}")
        if self.index is not None:
            self._list.setCurrentRow(self.index)
        self._progress.setText(f"{self.series.progress_text()}  —  {self.series.output}")
        self._update_buttons()

    def _update_buttons(self) -> None:
        open_ = self.series is not None and self.index is not None
        for button in (self._previous, self._skip, self._accept):
            button.setEnabled(open_)
        self._propagate.setEnabled(
            open_ and self._propagation_worker is None
            and self.labels_layer is not None and self.labels_layer.ndim > 2
        )
        self._improve.setEnabled(
            open_ and self._worker is None and self.series.counts()["accepted"] >= 2
        )

    @property
    def current_name(self) -> str | None:
        if self.series is None or self.index is None:
            return None
        return self.series.images[self.index].name

    def go_to(self, index: int) -> None:
        """Show image ``index`` with its accepted mask (or an empty Labels layer)."""
        if self.series is None:
            return
        index = int(np.clip(index, 0, len(self.series) - 1))
        name = self.series.images[index].name
        try:
            image = self.series.read_image(name)
        except ValueError as err:
            self._say(str(err), error=True)
            return
        self.index = index
        rgb = is_rgb(image)
        shape = image.shape[:-1] if rgb else image.shape
        # The previous image's layers go (its files are in the series when accepted,
        # and every recording stays in the Record panel's own file); the image and
        # its Labels layer come as new layers, which every panel's layer list follows.
        for layer in list(self._viewer.layers):
            if layer_kind(layer) is not None:
                meta_name = layer.metadata[GAZESEG].get("meta", {}).get("image", {}).get("name")
                if meta_name != name:
                    self._viewer.layers.remove(layer)
        for old in (self.boxes_layer, self.prompts_layer, self.labels_layer, self.image_layer):
            if old is not None and old in self._viewer.layers:
                self._viewer.layers.remove(old)
        self.image_layer = self._viewer.add_image(image, name=name, rgb=rgb)
        mask = self.series.mask_of(name)
        labels = np.zeros(shape, dtype=np.int32) if mask is None else np.asarray(mask, dtype=np.int32)
        self.labels_layer = self._viewer.add_labels(labels, name=f"{name} labels")
        self.labels_layer.events.paint.connect(self._on_paint)
        self.prompts_layer = self._viewer.add_points(
            np.zeros((0, len(shape))), ndim=len(shape), name=f"{name} prompts", size=6,
            features={"object_id": np.zeros(0, dtype=np.int64), "positive": np.zeros(0, dtype=bool)},
        )
        self.boxes_layer = self._viewer.add_shapes(
            None, ndim=len(shape), name=f"{name} boxes", shape_type="rectangle", edge_width=2,
            face_color="transparent", features={"object_id": np.zeros(0, dtype=np.int64)},
        )
        self._on_click_kind()
        self._viewer.layers.selection.active = self.labels_layer
        self._viewer.reset_view()
        self._shown_at = time.monotonic()
        self._corrections = 0
        segment = _dock_widget(self._viewer, "Segment with gaze")
        if segment is not None and hasattr(segment, "set_output"):
            segment.set_output(self.labels_layer)
        self._refresh_list()
        state = self.series.images[index].state
        self._say(f"{name} ({index + 1} / {len(self.series)}, {state}): look at each object "
                  "(G starts and ends one), correct, then Accept & next.")
        self.moved.emit(index)

    def _on_paint(self, event=None) -> None:
        # Brush, eraser and fill strokes by the user are corrections; masks the
        # Segment widget writes arrive while the layer is in pan/zoom mode.
        if self._writing:
            return  # a propagation painting
        if self.labels_layer is not None and str(self.labels_layer.mode) in ("paint", "erase", "fill"):
            self._corrections += 1

    # -- correction clicks ------------------------------------------------------------

    def _alive(self, layer) -> bool:
        return layer is not None and layer in self._viewer.layers

    def _on_click_kind(self, *args) -> None:
        # The next click / box takes the chosen object (and kind) and its colour. napari
        # also paints the current colour onto the selected (e.g. just added) ones, so
        # every click and box is painted again from its own features afterwards.
        object_id = int(self._click_object.value())
        layer = self.prompts_layer
        if self._alive(layer):
            positive = not self._negative.isChecked()
            layer.feature_defaults = {"object_id": object_id, "positive": positive}
            layer.current_face_color = _CLICK_COLOURS[positive]
            if len(layer.data):
                layer.face_color = [_CLICK_COLOURS[bool(p)] for p in layer.features["positive"]]
        boxes = self.boxes_layer
        if self._alive(boxes) and self._alive(self.labels_layer):
            boxes.feature_defaults = {"object_id": object_id}
            boxes.current_edge_color = self.labels_layer.get_color(object_id)
            if len(boxes.data):
                boxes.edge_color = [self.labels_layer.get_color(int(oid))
                                    for oid in boxes.features["object_id"]]

    def clicks(self) -> dict:
        """The clicks and boxes per object: ``{id: (positive (K, 2) | None, negative (M, 2) | None)}``,
        or ``(positive, negative, box)`` for an object with a box (its last rectangle's
        ``(4, 2)`` ``(row, col)`` vertices). ValueError names a box SAM cannot take."""
        out = {}
        layer = self.prompts_layer
        if self._alive(layer) and len(layer.data):
            points = np.asarray(layer.data, dtype=np.float64)[:, -2:]
            ids = layer.features["object_id"].to_numpy(np.int64)
            positive = layer.features["positive"].to_numpy(bool)
            for oid in np.unique(ids):
                mine = ids == oid
                pos, neg = points[mine & positive], points[mine & ~positive]
                out[int(oid)] = (pos if len(pos) else None, neg if len(neg) else None)
        for oid, box in self._boxes().items():
            out[oid] = (*out.get(oid, (None, None)), box)
        return out

    def _boxes(self) -> dict[int, np.ndarray]:
        """Each object's last rectangle in the boxes layer, checked: ``{id: (4, 2) (row, col)}``."""
        from ..models.sam_prompts import user_box

        layer = self.boxes_layer
        if not self._alive(layer) or len(layer.data) == 0:
            return {}
        ids = layer.features["object_id"].to_numpy(np.int64)
        plane = self.labels_layer.data.shape[-2:]
        out = {}
        for k, (kind, vertices) in enumerate(zip(layer.shape_type, layer.data)):
            corners = np.asarray(vertices, dtype=np.float64)[:, -2:]
            try:
                if kind != "rectangle":
                    raise ValueError(f"is {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
                user_box(corners, plane)
            except ValueError as err:
                why = str(err) if str(err).startswith("is ") else "is rotated or off the image"
                raise ValueError(
                    f"Box {k + 1} of {layer.name} {why}: SAM takes rectangles along the image "
                    "axes on the image; delete it and draw one with the rectangle tool."
                ) from None
            out[int(ids[k])] = corners  # the last one drawn for an object wins
        return out

    def add_box(self, row0: float, col0: float, row1: float, col1: float, object_id: int) -> None:
        """Add one correction box (what the rectangle tool does with the mouse)."""
        self._click_object.setValue(int(object_id))
        self._on_click_kind()
        ndim = self.boxes_layer.ndim
        lead = list(displayed_slice(self._viewer, self.labels_layer, ndim - 2))
        corners = np.array([[*lead, row0, col0], [*lead, row1, col1]], dtype=float)
        self.boxes_layer.add_rectangles(corners)

    def add_click(self, row: float, col: float, object_id: int, positive: bool = True) -> None:
        """Add one correction click (what the add-points tool does with the mouse)."""
        self._click_object.setValue(int(object_id))
        self._negative.setChecked(not positive)
        ndim = self.prompts_layer.ndim
        lead = list(displayed_slice(self._viewer, self.labels_layer, ndim - 2))
        self.prompts_layer.add(np.array([[*lead, row, col]], dtype=float))

    def resegment_with_clicks(self):
        """Have Segment with gaze decode the clicked objects again: gaze prompt + clicks (SAM)."""
        segment = _dock_widget(self._viewer, "Segment with gaze")
        try:
            clicks = self.clicks()
        except ValueError as err:
            self._say(str(err), error=True)
            return None
        if segment is None:
            self._say("Open the Segment with gaze panel (SAM) to re-segment with clicks.", error=True)
            return None
        if not clicks:
            self._say("Add clicks to the prompts layer or a box to the boxes layer first "
                      "(object id and background choice above).")
            return None
        worker = segment.segment(clicks=clicks)
        if worker is None:
            self._say(f"Not re-segmented: {segment.status}", error=True)
            return None
        self._say(f"Re-segmenting object(s) {', '.join(map(str, sorted(clicks)))} with your clicks "
                  "and boxes.")
        return worker

    # -- 3D stacks: propagation -------------------------------------------------------

    def set_propagation(self, object_id: int, planes_each_way: int | None = None,
                        iou_threshold: float = DEFAULT_IOU_THRESHOLD) -> None:
        """Choose the object, planes each way (None or 0: the whole stack) and SAM's IoU stop."""
        self._propagate_object.setValue(int(object_id))
        self._planes_each_way.setValue(int(planes_each_way or 0))
        self._iou.setValue(float(iou_threshold))

    def _displayed_leading(self, n_leading: int) -> tuple[int, ...]:
        return displayed_slice(self._viewer, self.labels_layer, n_leading)

    def propagate(self):
        """Carry the chosen object's mask from the displayed plane through the stack (a worker).

        Returns the started worker, or None (the reason is shown and ``failed`` emitted).
        """
        from napari.qt.threading import create_worker
        from napari.utils import progress

        if self._propagation_worker is not None:
            self._say("A propagation is still running; wait for it to finish.", error=True)
            return None
        layer = self.labels_layer
        if self.series is None or layer is None or layer not in self._viewer.layers:
            self._say("Open a series first.", error=True)
            return None
        if layer.ndim < 3:
            self._say(f"{self.current_name} is a 2D image: there are no planes to propagate to.",
                      error=True)
            return None
        segment = _dock_widget(self._viewer, "Segment with gaze")
        if segment is None or not hasattr(segment, "stack_propagation_model"):
            self._say("Open the Segment with gaze panel and choose a SAM, micro-sam or SAM 2 model "
                      "to propagate with.", error=True)
            return None
        object_id = int(self._propagate_object.value())
        leading = self._displayed_leading(layer.ndim - 2)
        mask = np.asarray(layer.data[leading]) == object_id
        if not mask.any():
            self._say(f"Object {object_id} has no mask on plane {leading[-1]}; show the plane it is "
                      "on (or segment it there) first.", error=True)
            return None
        try:
            kind, holder, settings = segment.stack_propagation_model()
            if kind == "SAM 2" and layer.ndim != 3:
                raise ValueError("SAM 2 propagates through 3D stacks (planes, rows, cols); choose a "
                                 "SAM model in Segment with gaze for this image.")
        except ValueError as err:
            self._say(str(err), error=True)
            return None
        each_way = int(self._planes_each_way.value()) or None
        up, down = propagation_planes(layer.data.shape[len(leading) - 1], leading[-1], each_way)
        image = self.image_layer.data
        limits = tuple(float(v) for v in self.image_layer.contrast_limits)
        worker = create_worker(
            _propagation_worker, kind, holder, settings, image, mask, leading, object_id, each_way,
            float(self._iou.value()), limits, _ignore_errors=True,
        )
        run = {"object_id": object_id, "planes": [], "ends": [], "layer": layer, "model": kind}
        self._propagation_bar = progress(total=len(up) + len(down),
                                         desc=f"Propagating object {object_id}")
        worker.yielded.connect(lambda item: self._on_propagation_item(run, item))
        worker.errored.connect(lambda err: self._say(f"Propagation failed: {err}", error=True))
        worker.finished.connect(lambda: self._on_propagation_done(run))
        self._propagation_worker = worker
        self._propagate.setEnabled(False)
        self._say(f"Propagating object {object_id} from plane {leading[-1]} with {kind} ...")
        worker.start()
        return worker

    def _on_propagation_item(self, run: dict, item) -> None:
        from .segment_widget import _paint_undoable

        bar = self._propagation_bar
        if isinstance(item, Stage) and bar is not None:
            bar.set_description(item.text)
            bar.n = min(item.done, bar.total)
            bar.refresh()
        elif isinstance(item, PropagationEnd):
            run["ends"].append(item)
        elif isinstance(item, ObjectMask) and item.mask.any():
            layer = run["layer"]
            if layer not in self._viewer.layers:
                return  # the image was left meanwhile
            self._writing = True
            try:
                _paint_undoable(layer, item.slice_index, item.mask, item.object_id, False)
            finally:
                self._writing = False
            run["planes"].append(item.slice_index[-1])
            if bar is not None:
                bar.n = min(bar.n + 1, bar.total)
                bar.refresh()

    def _on_propagation_done(self, run: dict) -> None:
        self._propagation_worker = None
        self._propagate.setEnabled(True)
        if self._propagation_bar is not None:
            self._propagation_bar.close()
            self._propagation_bar = None
        if self._status.text().startswith("Propagation failed"):
            return
        planes = sorted(run["planes"])
        where = (f"planes {', '.join(map(str, planes))}" if planes else "no other plane")
        ends = "; ".join(f"{'up' if e.direction > 0 else 'down'}: {e.reason}" for e in run["ends"])
        self._say(f"Object {run['object_id']} propagated to {where}"
                  f"{f' ({ends})' if ends else ''}. Correct, undo (Ctrl+Z) or Accept & next.")
        self.propagated.emit({k: run[k] for k in ("object_id", "planes", "ends", "model")})

    # -- moves ------------------------------------------------------------------------

    def _recording_for(self, name: str):
        """The newest gaze layer recorded on this image, as a recording (or None)."""
        record = _dock_widget(self._viewer, "Record gaze")
        if record is not None and getattr(record, "recorder", None) is not None:
            record.stop_recording()
        for layer in reversed(list(self._viewer.layers)):
            if layer_kind(layer) != "gaze":
                continue
            meta = layer.metadata[GAZESEG].get("meta", {})
            if meta.get("image", {}).get("name") == name and len(layer.data):
                return recording_from_layer(layer)
        return None

    def accept(self) -> dict | None:
        """Write the current image's mask and gaze; go to the next unfinished image."""
        name = self.current_name
        if name is None:
            return None
        recording = self._recording_for(name)
        segment = _dock_widget(self._viewer, "Segment with gaze")
        model = getattr(segment, "model_card", None) if segment is not None else None
        clicks = 0
        prompts = [layer for layer in self._viewer.layers
                   if layer.name == f"{name} prompts" and hasattr(layer, "data")]
        if prompts:
            clicks = int(len(prompts[0].data))
        boxes = int(len(self.boxes_layer.data)) if self._alive(self.boxes_layer) else 0
        try:
            row = self.series.accept(
                name, np.asarray(self.labels_layer.data), recording,
                seconds=round(time.monotonic() - self._shown_at, 3),
                object_seconds=object_seconds(recording),
                model=model if isinstance(model, str) else None,
                corrections=self._corrections, clicks=clicks, boxes=boxes,
                gaze=recording is not None,
            )
        except (OSError, ValueError) as err:
            self._say(f"{name} was not accepted: {err}", error=True)
            return None
        self.accepted.emit(row)
        note = "" if recording is not None else " (no gaze was recorded on it)"
        nxt = self.series.first_unfinished()
        if nxt is None:
            self._refresh_list()
            self._say(f"Accepted {name}{note}. Every image is accepted or skipped: "
                      f"the dataset is in {self.series.output}.")
            return row
        self.go_to(nxt)
        self._say(f"Accepted {name}{note}; now {self.current_name}.")
        return row

    def skip(self) -> None:
        name = self.current_name
        if name is None:
            return
        self.series.skip(name, seconds=round(time.monotonic() - self._shown_at, 3))
        nxt = self.series.first_unfinished()
        self.go_to(nxt if nxt is not None else min(self.index + 1, len(self.series) - 1))

    def previous(self) -> None:
        if self.index is not None and self.index > 0:
            self.go_to(self.index - 1)

    # -- the model learns -------------------------------------------------------------

    def improve_model(self, *, supervision: str = "masks", device: str = "auto"):
        """Fine-tune GradTrack on the accepted images in a background worker."""
        from napari.qt.threading import create_worker

        if self.series is None:
            return None
        from ..models.improve import improve_gradtrack

        epochs = int(self._epochs.value())

        def work():
            yield from ()  # a generator worker: it can be quit between epochs
            return improve_gradtrack(self.series, supervision=supervision, epochs=epochs,
                                     base=self.model_checkpoint, device=device)

        worker = create_worker(work, _progress={"desc": "Improving the model"})
        worker.returned.connect(self._on_improved)
        worker.errored.connect(lambda err: self._say(f"Improve model failed: {err}", error=True))
        worker.finished.connect(self._on_worker_done)
        self._worker = worker
        self._update_buttons()
        self._say(f"Improving the model on {self.series.counts()['accepted']} accepted images "
                  f"({epochs} epochs) in the background; keep annotating.")
        worker.start()
        return worker

    def _on_worker_done(self) -> None:
        self._worker = None
        self._update_buttons()

    def _on_improved(self, result) -> None:
        self.model_checkpoint = str(result.checkpoint)
        segment = _dock_widget(self._viewer, "Segment with gaze")
        switched = ""
        if result.gain > 0 and segment is not None and hasattr(segment, "set_gradtrack"):
            segment.set_gradtrack(self.model_checkpoint)
            switched = " Segment with gaze now uses it."
        elif result.gain <= 0:
            switched = " It is not better: the current model stays in use."
        self._say(result.sentence() + switched)
        self.improved.emit(result)

    # -- plumbing ---------------------------------------------------------------------

    def _say(self, text: str, error: bool = False) -> None:
        self._status.setText(text)
        if error:
            self.failed.emit(text)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt)
        self.close_panel()
        super().closeEvent(event)

    def close_panel(self) -> None:
        """Unbind the hotkeys (they live and die with the panel)."""
        for key in self._keys:
            try:
                self._viewer.bind_key(key, None, overwrite=True)
            except (TypeError, ValueError):
                pass
        self._keys = {}
