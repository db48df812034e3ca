"""The "Segment with gaze" dock widget: gaze layers -> one mask per object in a Labels layer.

Pick the image, the gaze (a gaze or fixations layer of napari-gazeseg; the
layers of the same recording are found through their group) and where the masks
go (a new Labels layer, or an existing one: other objects' pixels are kept unless
"Overwrite other labels" is ticked). Each object's mask is one undoable edit of
the Labels layer (Ctrl+Z takes it back). Two methods:

* **SAM**: each object session (object id = label id) prompts SAM on the slice
  the annotator looked at longest; the model (checkpoint search: docs/sam.md) is
  loaded once and image embeddings are cached per slice.
* **GradTrack**: the network segments the displayed slice without prompts; each
  foreground component an object session looked at becomes that object's label
  id (touching objects split between their fixations); with "One label per object
  looked at" unticked, the whole foreground becomes the next free label id.

With "Update while recording" ticked, the mask of the object being recorded
follows its fixations as they arrive: each new fixation asks for a decode; one
decode runs at a time, off the UI thread, and requests that arrive meanwhile
collapse into the newest. Errors (no checkpoint, no gaze on an object) are shown
as a napari notification and in the widget; napari keeps running.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..gaze.recording import Fixations, GazeRecording
from ..models.mask_labels import paint_mask
from ..models.object_gaze import ObjectGaze, fixations_of, object_on_slice, objects_in
from ._layer_combo import LayerComboBox
from ._deleted_visuals_guard import guard_deleted_visuals
from .layers import GAZESEG, fixations_from_layer, layer_kind, recording_from_layer

__all__ = ["PROMPT_CHOICES", "SamSettings", "SegmentWithGazeWidget"]

#: Prompts offered in the widget (see models.sam_prompts.parse_prompt_kind).
PROMPT_CHOICES = (
    "fixations",
    "fixations+box",
    "heatmap_fixations_duration",
    "heatmap_fixations",
    "heatmap_gaze",
    "blurred_gaze",
    "fixations+blurred_gaze",
)
_MASK_CHOICES = {"best score": None, "mask 1": 0, "mask 2": 1, "mask 3": 2, "single mask": "single"}
_NEW_LAYER = "new Labels layer"


@dataclass(frozen=True)
class SamSettings:
    """What identifies a loaded SAM: model type, base checkpoint, fine-tuned overlay, device."""

    model_type: str
    checkpoint: str | None
    finetuned: str | None
    device: str = "auto"


class _SamHolder:
    """One GazeSam shared by the widget's workers, reloaded when the settings change.

    ``lock`` serialises use: ``set_image`` then ``segment`` must not interleave.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._settings: SamSettings | None = None
        self._sam = None

    def get(self, settings: SamSettings):
        """The model for ``settings`` (call with :attr:`lock` held, off the UI thread)."""
        if self._sam is None or settings != self._settings:
            from ..models.sam_gaze import GazeSam

            self._sam = None
            self._sam = GazeSam(
                settings.model_type, settings.checkpoint, settings.device, settings.finetuned
            )
            self._settings = settings
        return self._sam


@dataclass
class _Request:
    """Everything a worker needs, copied from the layers on the UI thread."""

    image: np.ndarray
    contrast_limits: tuple[float, float]
    objects: list[ObjectGaze]
    prompt: str | None
    mask_choice: int | str | None


def _sam_masks(holder: _SamHolder, settings: SamSettings, request: _Request):
    """Worker: yield ``(object_id, slice_index, mask)`` for each object with gaze."""
    multimask = None if request.mask_choice is None else request.mask_choice != "single"
    choice = request.mask_choice if isinstance(request.mask_choice, int) else None
    with holder.lock:
        sam = holder.get(settings)
        for obj in request.objects:
            image_slice = np.asarray(request.image[obj.slice_index])
            sam.set_image(image_slice, request.contrast_limits, obj.slice_index or None)
            mask = sam.segment(obj.fixations, obj.recording, request.prompt, multimask, choice)
            yield obj.object_id, obj.slice_index, mask


def _gradtrack_labels(
    checkpoint: str | None,
    image_slice: np.ndarray,
    contrast_limits,
    gaze: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """GradTrack's foreground on one slice: int32 labels by object session, or 0/1 without gaze."""
    from ..models.gaze_instances import labels_from_gaze
    from ..models.gradtrack_predict import GradTrackPredictor

    predictor = GradTrackPredictor.from_checkpoint(checkpoint or None)
    mask = predictor.predict(image_slice, contrast_limits)
    if gaze is None:
        return mask.astype(np.int32)
    return labels_from_gaze(mask, *gaze)


class SegmentWithGazeWidget(QWidget):
    """Dock widget turning gaze sessions into label masks with SAM or GradTrack.

    Signals: ``finished`` after a segmentation (button or live) wrote its masks,
    ``failed(message)`` when one could not run.
    """

    finished = Signal()
    failed = Signal(str)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        from ..models.sam_loading import model_types

        self._viewer = napari_viewer
        guard_deleted_visuals(napari_viewer)
        self._holder = _SamHolder()
        self._worker = None
        self._live_worker = None
        self._live_pending: tuple[int, Fixations] | None = None
        self._painted: list[str] = []

        self._image = LayerComboBox(napari_viewer, _is_image, "no image layer")
        self._gaze = LayerComboBox(napari_viewer, _is_gaze, "no gaze or fixations layer")
        self._output = QComboBox()
        self._overwrite = QCheckBox("Overwrite other labels")
        self._object_ids = QLineEdit()
        self._object_ids.setPlaceholderText("all")
        self._object_ids.setToolTip(
            "Object ids to segment, e.g. '2, 5'; empty: every object session"
        )
        self._method = QComboBox()
        self._method.addItems(["SAM", "GradTrack"])
        self._model_type = QComboBox()
        self._model_type.addItems(model_types())
        self._checkpoint = QLineEdit()
        self._checkpoint.setPlaceholderText("found automatically (see docs/sam.md)")
        self._finetuned = QLineEdit()
        self._finetuned.setPlaceholderText("none")
        self._prompt = QComboBox()
        self._prompt.addItems(PROMPT_CHOICES)
        self._mask_choice = QComboBox()
        self._mask_choice.addItems(list(_MASK_CHOICES))
        self._live = QCheckBox("Update while recording")
        self._by_gaze = QCheckBox("One label per object looked at")
        self._by_gaze.setChecked(True)
        self._by_gaze.setToolTip(
            "GradTrack: label each foreground component with the object session whose "
            "fixations fall in it; unticked, the whole foreground becomes one new label"
        )
        self._run = QPushButton("Segment")
        self._status = QLabel("")
        self._status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Image", self._image)
        form.addRow("Gaze", self._gaze)
        form.addRow("Masks into", self._output)
        form.addRow("", self._overwrite)
        form.addRow("Objects", self._object_ids)
        form.addRow("Method", self._method)
        form.addRow("SAM model", self._model_type)
        form.addRow(
            "Checkpoint", _with_browse(self._checkpoint, self, "SAM or GradTrack checkpoint")
        )
        form.addRow("Fine-tuned", _with_browse(self._finetuned, self, "Fine-tuned gaze checkpoint"))
        form.addRow("Prompt", self._prompt)
        form.addRow("SAM mask", self._mask_choice)
        form.addRow("", self._by_gaze)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._live)
        layout.addWidget(self._run)
        layout.addWidget(self._status)
        layout.addStretch(1)

        self._run.clicked.connect(self.segment)
        self._method.currentTextChanged.connect(self._on_method)
        events = napari_viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self._reset_outputs)
        self._reset_outputs()
        self._on_method(self._method.currentText())

        from ..tracking.recorder import recorder_started

        recorder_started.connect(self._follow_recorder)
        self.destroyed.connect(
            partial(_disconnect_recorders, recorder_started, self._follow_recorder)
        )

    # -- public API (also what the buttons do) --------------------------------------
    def set_sam(
        self, model_type: str, checkpoint: str | None = None, finetuned: str | None = None
    ) -> None:
        """Choose the SAM model and files (empty or None: search / no overlay)."""
        self._method.setCurrentText("SAM")
        self._model_type.setCurrentText(model_type)
        self._checkpoint.setText(str(checkpoint or ""))
        self._finetuned.setText(str(finetuned or ""))

    def set_gradtrack(self, checkpoint: str | None = None, by_gaze: bool = True) -> None:
        """Choose GradTrack (checkpoint None: the bundled model) and whether gaze picks the objects."""
        self._method.setCurrentText("GradTrack")
        self._checkpoint.setText(str(checkpoint or ""))
        self._by_gaze.setChecked(by_gaze)

    def set_output(self, labels_layer=None) -> None:
        """Write masks into ``labels_layer``, or into a new Labels layer for None."""
        self._output.setCurrentText(_NEW_LAYER if labels_layer is None else labels_layer.name)

    def segment(self):
        """Segment every object of the chosen gaze (SAM) or the displayed slice (GradTrack).

        Returns the started worker, or None when the inputs are not usable (the
        reason is reported).
        """
        from napari.qt.threading import create_worker

        if self._worker is not None:
            self._report("a segmentation is still running; wait for it to finish.")
            return None
        try:
            image_layer = self._require_image()
            if self._method.currentText() == "GradTrack":
                worker = self._gradtrack_worker(image_layer)  # checks the inputs first
                labels = self._output_layer(image_layer)
                on_result = partial(
                    self._paint_gradtrack, labels, worker.slice_index, worker.by_gaze
                )
            else:
                request = self._sam_request(image_layer, live_object=None)
                labels = self._output_layer(image_layer)
                worker = create_worker(
                    _sam_masks,
                    self._holder,
                    self._sam_settings(),
                    request,
                    _progress={"total": len(request.objects), "desc": "Segmenting with SAM"},
                    _ignore_errors=True,  # reported by _report, not re-raised in the event loop
                )
                on_result = partial(self._paint, labels)
        except ValueError as err:
            self._report(str(err))
            return None
        self._status.setText("Segmenting ...")
        self._painted = []
        self._run.setEnabled(False)
        from napari.qt.threading import GeneratorWorker

        if isinstance(worker, GeneratorWorker):
            worker.yielded.connect(on_result)
        else:
            worker.returned.connect(on_result)
        worker.errored.connect(lambda err: self._report(str(err)))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()
        return worker

    # -- inputs ---------------------------------------------------------------------
    def _require_image(self):
        layer = self._image.current_layer()
        if layer is None:
            raise ValueError("open or choose an image layer to segment.")
        return layer

    def _sam_settings(self) -> SamSettings:
        return SamSettings(
            self._model_type.currentText(),
            self._checkpoint.text().strip() or None,
            self._finetuned.text().strip() or None,
        )

    def _gaze_data(self) -> tuple[Fixations, GazeRecording | None]:
        """The chosen recording's fixations and raw gaze (None for fixation-only data)."""
        layer = self._gaze.current_layer()
        if layer is None:
            raise ValueError(
                "open a gaze recording (File > Open, or a sample) and choose its layer."
            )
        group = layer.metadata[GAZESEG].get("group")
        siblings = {
            layer_kind(other): other
            for other in self._viewer.layers
            if layer_kind(other) and other.metadata[GAZESEG].get("group") == group
        }
        siblings[layer_kind(layer)] = layer
        recording = recording_from_layer(siblings["gaze"]) if "gaze" in siblings else None
        if "fixations" in siblings:
            return fixations_from_layer(siblings["fixations"]), recording
        return fixations_of(recording), recording

    def _spatial(self, image_layer) -> tuple[np.ndarray, int]:
        data = image_layer.data
        if image_layer.multiscale:
            data = data[0]
        return data, image_layer.ndim

    def _current_leading(self, image_layer, n_leading: int) -> tuple[int, ...]:
        """The image's displayed slice: its leading data indices at the viewer's current point.

        napari aligns layers on their last axes and places them by scale and
        translate, so the point goes through the layer's world-to-data transform.
        """
        if n_leading == 0:
            return ()
        data_point = np.asarray(image_layer.world_to_data(self._viewer.dims.point), float)
        shape = self._spatial(image_layer)[0].shape
        return tuple(
            int(np.clip(np.round(data_point[axis]), 0, shape[axis] - 1)) for axis in range(n_leading)
        )

    def _sam_request(self, image_layer, live_object: tuple[int, Fixations] | None) -> _Request:
        data, ndim = self._spatial(image_layer)
        n_leading = ndim - 2
        if live_object is None:
            fixations, recording = self._gaze_data()
        else:
            fixations, recording = live_object[1], None
        _require_gaze_fits(fixations, ndim)
        fixed_slice = (
            self._current_leading(image_layer, n_leading)
            if fixations.ndim == 2 and n_leading
            else None
        )
        if fixed_slice is not None:  # 2D gaze over a stack: use the displayed slice
            fixations = _lift(fixations, fixed_slice)
            recording = None
        if live_object is None:
            objects = objects_in(fixations, recording)
            chosen = self._chosen_objects()
            if chosen is not None:
                objects = [obj for obj in objects if obj.object_id in chosen]
        else:
            objects = [object_on_slice(live_object[0], fixations, None)]
        objects = [
            obj
            for obj in objects
            if len(obj.fixations) or (obj.recording is not None and obj.recording.valid.any())
        ]
        if not objects:
            raise ValueError(
                "the gaze holds no (chosen) object session with fixations; "
                "record one object per session or check the object ids."
            )
        return _Request(
            image=data,
            contrast_limits=tuple(float(v) for v in image_layer.contrast_limits),
            objects=objects,
            prompt=self._prompt.currentText(),
            mask_choice=_MASK_CHOICES[self._mask_choice.currentText()],
        )

    def _chosen_objects(self) -> set[int] | None:
        """Object ids typed in the Objects field, or None for all."""
        text = self._object_ids.text().replace(",", " ").split()
        if not text:
            return None
        try:
            return {int(part) for part in text}
        except ValueError:
            raise ValueError(
                f"object ids must be whole numbers separated by commas, got {self._object_ids.text()!r}."
            ) from None

    def _gradtrack_worker(self, image_layer):
        from napari.qt.threading import create_worker

        data, ndim = self._spatial(image_layer)
        leading = self._current_leading(image_layer, ndim - 2)
        gaze = self._gradtrack_gaze(ndim, leading)
        worker = create_worker(
            _gradtrack_labels,
            self._checkpoint.text().strip() or None,
            np.asarray(data[leading]),
            tuple(float(v) for v in image_layer.contrast_limits),
            gaze,
            _progress={"desc": "Segmenting with GradTrack"},
            _ignore_errors=True,
        )
        worker.slice_index = leading
        worker.by_gaze = gaze is not None
        return worker

    def _gradtrack_gaze(
        self, ndim: int, leading: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Fixation points ``(row, col)`` on the displayed slice and their object ids.

        None when "One label per object looked at" is off or no gaze layer is
        chosen: GradTrack's whole foreground becomes one label.
        """
        if not self._by_gaze.isChecked():
            return None
        if self._gaze.current_layer() is None:
            raise ValueError(
                "choose the gaze whose objects GradTrack should label, "
                "or untick 'One label per object looked at' to label the whole foreground."
            )
        fixations, _ = self._gaze_data()
        _require_gaze_fits(fixations, ndim)
        if fixations.ndim > 2:
            fixations = fixations.on_slice(leading)
        chosen = self._chosen_objects()
        if chosen is not None:
            fixations = fixations.select(np.isin(fixations.object_id, sorted(chosen)))
        if not (fixations.object_id != 0).any():
            raise ValueError(
                "the gaze holds no (chosen) object session with fixations on this slice; "
                "check the object ids, or untick 'One label per object looked at'."
            )
        return fixations.coords[:, -2:], fixations.object_id

    # -- output -----------------------------------------------------------------------
    def _reset_outputs(self, event=None) -> None:
        current = self._output.currentText()
        names = [layer.name for layer in reversed(self._viewer.layers) if _is_labels(layer)]
        self._output.blockSignals(True)
        self._output.clear()
        self._output.addItems([_NEW_LAYER, *names])
        self._output.setCurrentText(current if current in names else _NEW_LAYER)
        self._output.blockSignals(False)

    def _output_layer(self, image_layer):
        """The chosen Labels layer, created (matching the image's placement) when new."""
        name = self._output.currentText()
        if name != _NEW_LAYER and name in self._viewer.layers:
            layer = self._viewer.layers[name]
            spatial = self._spatial(image_layer)[0].shape
            spatial = spatial[:-1] if image_layer.rgb else spatial
            if tuple(layer.data.shape) != tuple(spatial):
                raise ValueError(
                    f"the Labels layer {name!r} has shape {layer.data.shape} but the image is "
                    f"{tuple(spatial)}; choose another output or a new Labels layer."
                )
            return layer
        data, _ = self._spatial(image_layer)
        shape = data.shape[:-1] if image_layer.rgb else data.shape
        layer = self._viewer.add_labels(
            np.zeros(shape, dtype=np.int32),
            name=f"{image_layer.name} gaze masks",
            scale=image_layer.scale,
            translate=image_layer.translate,
        )
        self._output.setCurrentText(layer.name)
        return layer

    def _paint(self, labels, result) -> None:
        object_id, slice_index, mask = result
        self._painted.append(
            f"{object_id} ({_paint_undoable(labels, slice_index, mask, object_id, self._overwrite.isChecked())} px)"
        )

    def _paint_gradtrack(self, labels, slice_index, by_gaze: bool, result) -> None:
        """Paint GradTrack's labels: each object session's id, or the next free id without gaze."""
        if not by_gaze:
            self._paint(labels, (int(labels.data.max(initial=0)) + 1, slice_index, result > 0))
            return
        for object_id in np.unique(result[result > 0]).tolist():
            self._paint(labels, (object_id, slice_index, result == object_id))
        if not self._painted:
            self._report(
                "GradTrack found no foreground under any object's fixations on this slice; "
                "untick 'One label per object looked at' to see its whole foreground."
            )

    def _on_finished(self) -> None:
        self._worker = None
        self._run.setEnabled(True)
        if not self._status.text().startswith("Segmenting"):
            return  # an error message stays visible
        self._status.setText(f"Done: label {', '.join(self._painted) or 'none'}.")
        self.finished.emit()

    def _report(self, message: str) -> None:
        from napari.utils.notifications import show_error

        self._status.setText(message)
        show_error(message)
        self.failed.emit(message)

    def _on_method(self, method: str) -> None:
        sam = method == "SAM"
        for widget in (
            self._model_type,
            self._finetuned,
            self._prompt,
            self._mask_choice,
            self._live,
        ):
            widget.setEnabled(sam)
        self._by_gaze.setEnabled(not sam)
        self._checkpoint.setPlaceholderText(
            "found automatically (see docs/sam.md)" if sam else "the bundled model"
        )

    # -- live mode --------------------------------------------------------------------
    def _follow_recorder(self, recorder) -> None:
        recorder.fixations_changed.connect(self.on_live_fixations)

    def on_live_fixations(self, object_id: int, fixations: Fixations) -> None:
        """A recorder's current object has new fixations: decode its mask (coalesced)."""
        if not self._live.isChecked() or self._method.currentText() != "SAM" or len(fixations) == 0:
            return
        self._live_pending = (int(object_id), fixations)
        if self._live_worker is None:
            self._start_live()

    def _start_live(self) -> None:
        from napari.qt.threading import create_worker

        live_object, self._live_pending = self._live_pending, None
        try:
            image_layer = self._require_image()
            labels = self._output_layer(image_layer)
            request = self._sam_request(image_layer, live_object)
        except ValueError as err:
            self._report(str(err))
            return
        worker = create_worker(
            _sam_masks, self._holder, self._sam_settings(), request, _ignore_errors=True
        )
        worker.yielded.connect(partial(self._paint, labels))
        worker.errored.connect(lambda err: self._report(str(err)))
        worker.finished.connect(self._on_live_finished)
        self._live_worker = worker
        worker.start()

    def _on_live_finished(self) -> None:
        self._live_worker = None
        if self._live_pending is not None:
            self._start_live()
        else:
            self.finished.emit()


def _paint_undoable(
    labels, slice_index: tuple[int, ...], mask, label_id: int, overwrite: bool
) -> int:
    """Paint one object's mask as one undoable edit of the Labels layer (Ctrl+Z reverts it).

    Returns the number of pixels that carry ``label_id`` on the slice afterwards.
    """
    current = np.asarray(labels.data[slice_index])
    painted = current.copy()
    pixels = paint_mask(painted, mask, label_id, overwrite)
    changed = np.nonzero(painted != current)
    if changed[0].size:
        leading = tuple(np.full(changed[0].size, i) for i in slice_index)
        with labels.block_history():
            labels.data_setitem(leading + changed, painted[changed].tolist())
    return pixels


def _require_gaze_fits(fixations: Fixations, ndim: int) -> None:
    """Gaze goes with an ``ndim``-D image when it is 2D (the displayed slice) or ``ndim``-D."""
    if fixations.ndim not in (2, ndim):
        raise ValueError(
            f"the gaze has {fixations.ndim}D coordinates but the image is {ndim}D; "
            "choose the gaze recorded on this image."
        )


def _lift(fixations: Fixations, leading: tuple[int, ...]) -> Fixations:
    """2D fixations placed on one slice of a stack (leading coordinates prepended)."""
    coords = np.hstack([np.tile(np.asarray(leading, float), (len(fixations), 1)), fixations.coords])
    return Fixations(
        fixations.start, fixations.duration, coords, fixations.object_id, fixations.meta
    )


def _is_image(layer) -> bool:
    from napari.layers import Image

    return isinstance(layer, Image) and layer_kind(layer) is None


def _is_gaze(layer) -> bool:
    return layer_kind(layer) in ("gaze", "fixations")


def _is_labels(layer) -> bool:
    from napari.layers import Labels

    return isinstance(layer, Labels)


def _with_browse(line: QLineEdit, parent: QWidget, title: str) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(line)
    button = QPushButton("...")
    button.setMaximumWidth(32)

    def browse() -> None:
        path, _ = QFileDialog.getOpenFileName(
            parent, title, "", "Checkpoints (*.pth *.pt);;All files (*)"
        )
        if path:
            line.setText(path)

    button.clicked.connect(browse)
    row.addWidget(button)
    return box


def _disconnect_recorders(signal, slot, *_) -> None:
    signal.disconnect(slot)
