"""The "Segment with gaze" dock widget: gaze layers -> one mask per object in a Labels layer.

Pick the image, the gaze (a gaze or fixations layer of napari-gazeseg; the
layers of the same recording are found through their group) and where the masks
go (a new Labels layer, or an existing one: other objects' pixels are kept unless
"Overwrite other labels" is ticked). Each object's mask is one undoable edit of
the Labels layer (Ctrl+Z takes it back). How gaze becomes masks is
:mod:`napari_gazeseg.segmentation` (shared with ``gazeseg segment``); this widget
only reads the layers on the UI thread, starts one worker and paints. Two methods:

* **SAM**: each object session (object id = label id) prompts SAM on the slice
  the annotator looked at longest; the model (checkpoint search: docs/sam.md) is
  loaded once and image embeddings are cached per slice.
* **GradTrack**: the network segments the displayed slice without prompts; each
  foreground component an object session looked at becomes that object's label
  id (touching objects split between their fixations); with "One label per object
  looked at" unticked, the whole foreground becomes the next free label id. The
  predictor is loaded once and held, like SAM.

The SAM model is chosen from the model registry (:mod:`napari_gazeseg.models.registry`,
SAM and micro-sam entries, shown as "NAME — downloaded" or "NAME — will download
(SIZE)"; the entry's architecture is the model type and its file, found without
network, the checkpoint), or "a local file…" (model type and Checkpoint field,
searched as docs/sam.md says when empty). **Download** fetches the chosen entry in
a worker with a napari progress bar in bytes; a failure is one sentence and leaves
no broken file (the registry's guarantee). A MedSAM entry segments with MedSAM's
own preprocessing and one box per object, around its fixations grown by *Box
margin* (:func:`~napari_gazeseg.segmentation.medsam_masks_for`). A SAM 2 entry
offers **Propagate through the stack** (also what Segment does with it): each
object's fixations on the planes they were made on prompt SAM 2's video
predictor, which carries the masks through the 3D stack or time series both ways
into one 3D Labels layer, exactly as ``gazeseg propagate``
(:func:`~napari_gazeseg.models.sam2_gaze.sam2_object_masks`); planes where an object
is absent stay empty without complaint. The device choice (auto / CPU / GPU) goes to the held model. Embeddings
are cached in memory and on disk in ``<user cache>/napari-gazeseg/embeddings``
(:func:`embeddings_dir`), so an image opened again is not encoded again; when the
image or its displayed slice changes and SAM's model is on disk, its embedding is
computed in the background (one worker at a time, under the model holder's lock,
so it never runs beside a segmentation's use of the model).

Before anything is created the inputs are checked: gaze recorded on another image
(its ``meta["image"]`` name or shape) is named in one sentence and the user is
asked; much gaze off the image is warned about. Progress shows the stage (loading
the model, embedding, object k of N). A mask that cannot be right (empty, or
covering most of the slice) is reported per object instead of "Done"; empty
masks are not painted.

With "Update while recording" ticked, the mask of the object being recorded
follows the recording of the *Record gaze* panel (found through
``viewer.window.dock_widgets``): each new fixation asks for a decode on the image
the gaze is recorded on (another image chosen here is refused), with the
object's raw samples so that every prompt kind works live; one decode runs at a
time, off the UI thread, and requests that arrive meanwhile collapse into the
newest. Errors are shown as a napari notification and in the widget; napari
keeps running.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from qtpy.QtCore import QTimer, Signal
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
from ..segmentation import (
    BUNDLED_GRADTRACK_CARD,
    PROMPT_CHOICES,
    ObjectGaze,
    ObjectMask,
    Stage,
    fixations_of,
    gaze_image_mismatch,
    gradtrack_gaze,
    gradtrack_object_masks,
    mask_problem,
    medsam_masks_for,
    objects_to_segment,
    off_image_warning,
    paint_mask,
    sam_masks_for,
)
from ._deleted_visuals_guard import guard_deleted_visuals
from ._layer_combo import LayerComboBox
from ._viewer import (
    displayed_slice,
    full_resolution,
    is_image,
    is_labels,
    placement_of,
    recording_layers,
    tuned_fixation_detector,
)
from ._viewer import image_data_shape as _data_shape
from .layers import fixations_from_layer, layer_kind, recording_from_layer

__all__ = [
    "DEVICE_CHOICES",
    "LOCAL_FILE",
    "PROMPT_CHOICES",
    "SamSettings",
    "SegmentSettings",
    "SegmentWithGazeWidget",
    "embeddings_dir",
]

#: The SAM mask choices as shown -> as ``GazeSam.segment(mask=...)`` takes them.
_MASK_CHOICES = {
    "best score": "best",
    "mask 1": 0,
    "mask 2": 1,
    "mask 3": 2,
    "single mask": "single",
}
_NEW_LAYER = "new Labels layer"
#: The model combo's last item: model type and Checkpoint field as typed.
LOCAL_FILE = "a local file\u2026"
#: Registry families this widget's SAM path segments with (same preprocessing as SAM).
_SAM_FAMILIES = ("SAM", "micro-sam")
#: Registry families offered: the SAM path's, MedSAM (its own preprocessing, box prompts) and
#: SAM 2 (its video predictor through a stack).
_WIDGET_FAMILIES = (*_SAM_FAMILIES, "MedSAM", "SAM 2")
#: Default margin (image pixels) around an object's fixations for MedSAM's box.
MEDSAM_BOX_MARGIN = 10
#: Device choices as shown -> as the models take them.
DEVICE_CHOICES = {"auto": "auto", "CPU": "cpu", "GPU": "cuda"}
#: Milliseconds the image/slice must stay put before its embedding is computed ahead.
_EMBED_AHEAD_MS = 300
#: Seconds between looks for the Record gaze panel while live updates wait for one.
_FIND_RECORDER_MS = 1000


@dataclass(frozen=True)
class SamSettings:
    """What identifies a loaded SAM: model type, base checkpoint, fine-tuned overlay, device."""

    model_type: str
    checkpoint: str | None
    finetuned: str | None
    device: str = "auto"
    cache_dir: str | None = None


@dataclass(frozen=True)
class SegmentSettings:
    """Everything the widget's controls choose (:attr:`SegmentWithGazeWidget.settings`).

    ``model`` a registry entry's name, or None for a local file (``model_type`` and
    ``checkpoint``); ``checkpoint`` / ``finetuned`` None: searched / the bundled
    model / no overlay; ``device`` ``"auto"``, ``"cpu"`` or ``"cuda"``; ``mask`` as ``GazeSam.segment(mask=...)`` takes it; ``objects`` as typed in the
    Objects field (``"2, 5"``; empty: all).
    """

    method: str = "SAM"
    model: str | None = None
    model_type: str = "vit_b"
    checkpoint: str | None = None
    device: str = "auto"
    finetuned: str | None = None
    prompt: str = PROMPT_CHOICES[0]
    mask: str | int = "best"
    objects: str = ""
    overwrite: bool = False
    by_gaze: bool = True
    live: bool = False


class _ModelHolder:
    """One model shared by the widget's workers, reloaded only when its settings change.

    ``lock`` serialises use (SAM's ``set_image`` then ``segment`` must not interleave).
    """

    def __init__(self, load) -> None:
        self.lock = threading.Lock()
        self._load = load
        self._key = None
        self._model = None

    def get(self, key):
        """The model for ``key`` (call with :attr:`lock` held, off the UI thread)."""
        if self._model is None or key != self._key:
            self._model = None
            self._model = self._load(key)
            self._key = key
        return self._model


@dataclass(frozen=True)
class Sam2Settings:
    """What identifies a loaded SAM 2 video predictor: configuration, checkpoint, device, overrides."""

    config: str
    checkpoint: str
    device: str = "auto"
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class MedSamSettings:
    """What identifies a loaded MedSAM: registry entry, checkpoint file, device."""

    name: str
    checkpoint: str
    device: str = "auto"


def _load_sam2(settings: Sam2Settings):
    from ..models.sam2_gaze import build_video_predictor

    return build_video_predictor(
        settings.config, settings.checkpoint, settings.device, settings.overrides
    )


def _load_medsam(settings: MedSamSettings):
    from ..models.medsam import MedSam

    return MedSam.from_registry(settings.name, settings.checkpoint, settings.device)


def _load_sam(settings: SamSettings):
    from ..models.sam_gaze import GazeSam

    return GazeSam(
        settings.model_type,
        settings.checkpoint,
        settings.device,
        settings.finetuned,
        cache_dir=settings.cache_dir,
    )


def embeddings_dir() -> Path:
    """The widget's disk cache of SAM embeddings: ``<user cache>/napari-gazeseg/embeddings``."""
    from ..models.registry import user_cache_dir

    return user_cache_dir() / "napari-gazeseg" / "embeddings"


def _load_gradtrack(key: tuple[str | None, str]):
    from ..models.gradtrack_predict import GradTrackPredictor

    return GradTrackPredictor.from_checkpoint(key[0], key[1])


@dataclass
class _SamJob:
    """Everything a SAM worker needs, copied from the layers on the UI thread."""

    image: object
    contrast_limits: tuple[float, float]
    objects: list[ObjectGaze]
    prompt: str | None
    mask: str | int
    clicks: dict | None = None


def _sam_worker(holder: _ModelHolder, settings: SamSettings, job: _SamJob):
    """Worker: :class:`Stage` items and one :class:`ObjectMask` per object."""
    yield Stage("loading the SAM model", 0, len(job.objects))
    with holder.lock:
        sam = holder.get(settings)
        yield from sam_masks_for(
            sam,
            job.image,
            job.objects,
            prompt=job.prompt,
            mask=job.mask,
            contrast_limits=job.contrast_limits,
            stages=True,
            clicks=job.clicks,
        )


def _medsam_worker(holder: _ModelHolder, settings: MedSamSettings, job: _SamJob, margin_px: float):
    """Worker: MedSAM's masks, one box per object (:func:`~napari_gazeseg.segmentation.medsam_masks_for`)."""
    yield Stage("loading the MedSAM model", 0, len(job.objects))
    with holder.lock:
        medsam = holder.get(settings)
        yield from medsam_masks_for(
            medsam,
            job.image,
            job.objects,
            contrast_limits=job.contrast_limits,
            margin_px=margin_px,
            stages=True,
        )


def _sam2_worker(holder: _ModelHolder, settings: Sam2Settings, stack, fixations, limits, object_ids):
    """Worker: SAM 2 through the stack, as ``gazeseg propagate`` (``sam2_object_masks``)."""
    from ..models.sam2_gaze import sam2_object_masks

    yield Stage("loading the SAM 2 model", 0, 1)
    with holder.lock:
        predictor = holder.get(settings)
        yield from sam2_object_masks(
            predictor, stack, fixations, contrast_limits=limits, object_ids=object_ids, stages=True
        )


def _embed_ahead_worker(holder: _ModelHolder, settings: SamSettings, data, leading, limits):
    """Worker: the embedding of one displayed plane into the held model's cache."""
    from ..models.embed_ahead import embed_in_background

    with holder.lock:
        sam = holder.get(settings)
        plane = np.asarray(data[leading] if leading else data)
        return embed_in_background(sam, plane, limits, leading or None)


def _download_worker(name: str, progress):
    from ..models import registry

    return registry.download(name, progress=progress)


def _gradtrack_worker(holder: _ModelHolder, key, image, fixations, **kwargs):
    """Worker: GradTrack's object masks on one slice (see ``gradtrack_object_masks``)."""
    yield Stage("loading the GradTrack model", 0, 1)
    with holder.lock:
        predictor = holder.get(key)
        yield from gradtrack_object_masks(predictor, image, fixations, stages=True, **kwargs)


class SegmentWithGazeWidget(QWidget):
    """Dock widget turning gaze sessions into label masks with SAM or GradTrack.

    Signals: ``finished`` after a segmentation (button or live) wrote its masks,
    ``failed(message)`` when one could not run, ``warned(message)`` for a doubt
    about the inputs or the results, ``stage(text)`` as a segmentation proceeds,
    ``download_progress(done_bytes, total_bytes)`` during a model download (on the UI
    thread, after the progress bar moved),
    ``downloaded(name)`` when one is in place, ``embedded_ahead(key)`` when a
    background embedding is in the cache.
    """

    finished = Signal()
    failed = Signal(str)
    warned = Signal(str)
    stage = Signal(str)
    download_progress = Signal(object, object)
    _download_bytes = Signal(object, object)  # from the download's worker thread (queued)
    downloaded = Signal(str)
    embedded_ahead = Signal(object)

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        from ..models.sam_loading import model_types

        self._viewer = napari_viewer
        guard_deleted_visuals(napari_viewer)
        self._sam_holder = _ModelHolder(_load_sam)
        self._sam2_holder = _ModelHolder(_load_sam2)
        self._medsam_holder = _ModelHolder(_load_medsam)
        self._gradtrack_holder = _ModelHolder(_load_gradtrack)
        self._worker = None
        self._progress = None
        self._live_worker = None
        self._live_pending: tuple[int, Fixations] | None = None
        self._download_worker = None
        self._download_bar = None
        self._download_done = -1
        self._embed_worker = None
        self._embed_pending = False
        self._recorder = None
        self._record_widget = None
        self._live_samples: list[GazeRecording] = []
        self._painted: list[str] = []
        self._problems: list[str] = []

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
        self._method.setToolTip(
            "SAM: zero-shot masks from gaze prompts. GradTrack: a U-Net trained from gaze "
            "(gazeseg train). On our synthetic benchmarks it was never the best gaze training: "
            "GazeMedSeg-style was ahead on single large objects, VAM + D-CRF on several small "
            "cells (where GradTrack needs --track-ratios 0.5 0.75 0.75; docs/gradtrack.md). "
            "Check it on a few masked images of your own data before relying on it."
        )
        self._model = QComboBox()
        self._model.setToolTip(
            "SAM checkpoints of the model registry (docs/models.md), or a local file"
        )
        self._download = QPushButton("Download")
        self._download.setToolTip("Download the chosen model into the user cache folder")
        self._device = QComboBox()
        self._device.addItems(list(DEVICE_CHOICES))
        self._device.setToolTip("auto: a CUDA or Apple GPU when there is one, else the CPU")
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
        self._model_card = QLabel(BUNDLED_GRADTRACK_CARD)
        self._model_card.setWordWrap(True)
        self._run = QPushButton("Segment")
        self._propagate = QPushButton("Propagate through the stack")
        self._propagate.setToolTip(
            "SAM 2: each object's fixations on the planes they were made on prompt SAM 2's "
            "video predictor, which carries the masks through every plane, both ways"
        )
        self._box_margin = QDoubleSpinBox()
        self._box_margin.setRange(0, 1000)
        self._box_margin.setDecimals(0)
        self._box_margin.setValue(MEDSAM_BOX_MARGIN)
        self._box_margin.setSuffix(" px")
        self._box_margin.setToolTip(
            "MedSAM: the box prompt is the box around the object's fixations, grown by this "
            "many image pixels on every side"
        )
        self._status = QLabel("")
        self._status.setWordWrap(True)
        self._find_recorder = QTimer(self)
        self._find_recorder.setInterval(_FIND_RECORDER_MS)
        self._find_recorder.timeout.connect(self._connect_record_widget)
        self._embed_timer = QTimer(self)
        self._embed_timer.setSingleShot(True)
        self._embed_timer.setInterval(_EMBED_AHEAD_MS)
        self._embed_timer.timeout.connect(self._embed_ahead)
        self._fill_models()

        form = QFormLayout()
        form.addRow("Image", self._image)
        form.addRow("Gaze", self._gaze)
        form.addRow("Masks into", self._output)
        form.addRow("", self._overwrite)
        form.addRow("Objects", self._object_ids)
        form.addRow("Method", self._method)
        model_row = QWidget()
        row = QHBoxLayout(model_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self._model, 1)
        row.addWidget(self._download)
        form.addRow("SAM model", model_row)
        form.addRow("Model type", self._model_type)
        form.addRow(
            "Checkpoint", _with_browse(self._checkpoint, self, "SAM or GradTrack checkpoint")
        )
        form.addRow("", self._model_card)
        form.addRow("Fine-tuned", _with_browse(self._finetuned, self, "Fine-tuned gaze checkpoint"))
        form.addRow("Device", self._device)
        form.addRow("Prompt", self._prompt)
        form.addRow("SAM mask", self._mask_choice)
        form.addRow("Box margin", self._box_margin)
        form.addRow("", self._by_gaze)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._live)
        layout.addWidget(self._run)
        layout.addWidget(self._propagate)
        layout.addWidget(self._status)
        layout.addStretch(1)

        self._run.clicked.connect(self.segment)
        self._propagate.clicked.connect(self.propagate_stack)
        self._method.currentTextChanged.connect(self._on_method)
        self._checkpoint.textChanged.connect(self._show_model_card)
        self._live.toggled.connect(self._on_live_toggled)
        self._model.currentIndexChanged.connect(self._on_model_changed)
        self._download.clicked.connect(self.download_model)
        self._download_bytes.connect(self._on_download_progress)
        self._image.layer_changed.connect(self._schedule_embed_ahead)
        napari_viewer.dims.events.current_step.connect(self._schedule_embed_ahead)
        events = napari_viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self._reset_outputs)
        self._reset_outputs()
        self._on_method(self._method.currentText())

    # -- public API (also what the buttons do) --------------------------------------
    def set_sam(
        self, model_type: str, checkpoint: str | None = None, finetuned: str | None = None
    ) -> None:
        """Choose the SAM model and files (empty or None: search / no overlay): "a local file…"."""
        self._method.setCurrentText("SAM")
        self._model.setCurrentIndex(self._model.findData(None))
        self._model_type.setCurrentText(model_type)
        self._checkpoint.setText(str(checkpoint or ""))
        self._finetuned.setText(str(finetuned or ""))

    def set_model(self, name: str | None) -> None:
        """Choose the registry entry ``name`` for SAM (None: "a local file…")."""
        index = self._model.findData(name)
        if index < 0:
            raise ValueError(
                f"{name!r} is not one of the widget's models "
                f"({', '.join(str(self._model.itemData(i)) for i in range(self._model.count() - 1))})."
            )
        self._method.setCurrentText("SAM")
        self._model.setCurrentIndex(index)

    @property
    def model_choices(self) -> list[str]:
        """The model combo's items as shown ("NAME — downloaded", ..., "a local file…")."""
        return [self._model.itemText(i) for i in range(self._model.count())]

    @property
    def held_sam(self):
        """The SAM model the widget holds (loaded by a segmentation or an embedding ahead), or None."""
        return self._sam_holder._model

    def set_gradtrack(self, checkpoint: str | None = None, by_gaze: bool = True) -> None:
        """Choose GradTrack (checkpoint None: the bundled model) and whether gaze picks the objects."""
        self._method.setCurrentText("GradTrack")
        self._checkpoint.setText(str(checkpoint or ""))
        self._by_gaze.setChecked(by_gaze)

    def set_image(self, image_layer) -> None:
        """Segment ``image_layer`` (an image layer of the viewer)."""
        self._image.set_current_layer(image_layer)

    @property
    def running(self) -> bool:
        """Whether a segmentation (button or live) is still running."""
        return self._worker is not None or self._live_worker is not None

    def set_output(self, labels_layer=None) -> None:
        """Write masks into ``labels_layer``, or into a new Labels layer for None."""
        self._output.setCurrentText(_NEW_LAYER if labels_layer is None else labels_layer.name)

    def set_objects(self, object_ids: str = "") -> None:
        """Segment only these object ids (e.g. ``"2, 5"``); empty: every object session."""
        self._object_ids.setText(str(object_ids))

    def set_live(self, on: bool = True) -> None:
        """Let the current object's mask follow the Record gaze panel's recording (SAM)."""
        self._live.setChecked(bool(on))

    @property
    def settings(self) -> SegmentSettings:
        """The controls' current choices."""
        return SegmentSettings(
            method=self._method.currentText(),
            model=self._model.currentData(),
            model_type=self._model_type.currentText(),
            checkpoint=self._checkpoint.text().strip() or None,
            device=DEVICE_CHOICES[self._device.currentText()],
            finetuned=self._finetuned.text().strip() or None,
            prompt=self._prompt.currentText(),
            mask=_MASK_CHOICES[self._mask_choice.currentText()],
            objects=self._object_ids.text(),
            overwrite=self._overwrite.isChecked(),
            by_gaze=self._by_gaze.isChecked(),
            live=self._live.isChecked(),
        )

    @settings.setter
    def settings(self, settings: SegmentSettings) -> None:
        choices = {
            self._method: settings.method,
            self._model_type: settings.model_type,
            self._prompt: settings.prompt,
            self._mask_choice: {value: name for name, value in _MASK_CHOICES.items()}.get(
                settings.mask
            ),
            self._device: {value: name for name, value in DEVICE_CHOICES.items()}.get(
                settings.device
            ),
        }
        for box, value in choices.items():  # all checked before any is set
            if box.findText(str(value)) < 0:
                raise ValueError(
                    f"{value!r} is not one of the widget's choices ({box.itemText(0)}, ...)."
                )
        model_index = self._model.findData(settings.model)
        if model_index < 0:
            raise ValueError(f"{settings.model!r} is not one of the widget's models.")
        self._model.setCurrentIndex(model_index)
        for box, value in choices.items():
            box.setCurrentText(str(value))
        self._checkpoint.setText(settings.checkpoint or "")
        self._finetuned.setText(settings.finetuned or "")
        self._object_ids.setText(settings.objects)
        self._overwrite.setChecked(settings.overwrite)
        self._by_gaze.setChecked(settings.by_gaze)
        self._live.setChecked(settings.live)

    @property
    def model_card(self) -> str:
        """What the chosen model was trained on, as shown (empty when none is shown)."""
        return self._model_card.text() if self._model_card.isVisibleTo(self) else ""

    @property
    def status(self) -> str:
        """The widget's last message (what was painted, or why not)."""
        return self._status.text()

    def segment(self, clicks: dict | None = None):
        """Segment every object of the chosen gaze (SAM) or the displayed slice (GradTrack).

        ``clicks`` maps object ids to correction clicks ``(positive, negative)``
        (``(K, 2)`` ``(row, col)`` arrays or None), or ``(positive, negative, box)``
        with a rectangle's ``(row, col)`` corners replacing the gaze box, added to
        those objects' gaze prompts (SAM only); with clicks, only the clicked objects are segmented
        again (the Objects field's choice is not changed).
        Returns the started worker, or None when the inputs are not usable (the
        reason is reported; nothing is created then).
        """
        from napari.qt.threading import create_worker

        if self._worker is not None:
            self._report("a segmentation is still running; wait for it to finish.")
            return None
        try:
            image_layer = self._require_image()
            if self._method.currentText() == "GradTrack":
                if clicks:
                    raise ValueError(
                        "correction clicks re-decode SAM's masks; choose SAM as the method "
                        "(or correct GradTrack's masks with the brush)."
                    )
                planned = self._gradtrack_args(image_layer)
                total = 1
            else:
                family = self.family
                if clicks and family not in _SAM_FAMILIES:
                    raise ValueError(
                        f"correction clicks are SAM point prompts, which {family} does not take; "
                        "choose a SAM or micro-sam model (or correct with the brush)."
                    )
                if family == "SAM 2":
                    return self.propagate_stack()
                job = self._sam_job(image_layer, clicks)
                if job is None:
                    planned = None
                elif family == "MedSAM":
                    margin = float(self._box_margin.value())
                    planned = (
                        (_medsam_worker, self._medsam_holder, self._medsam_settings(), job, margin),
                        {},
                    )
                else:
                    planned = ((_sam_worker, self._sam_holder, self._sam_settings(), job), {})
                total = 0 if job is None else len(job.objects)
            if planned is None:
                return None  # the user said no; already reported
            labels = self._output_layer(image_layer)  # a new layer comes with the first mask
        except ValueError as err:
            self._report(str(err))
            return None
        args, kwargs = planned
        if kwargs.get("foreground_id") == NO_OBJECT:  # the whole foreground: the next free label
            kwargs["foreground_id"] = (
                int(labels.data.max(initial=0)) + 1 if labels is not None else 1
            )
        worker = create_worker(*args, **kwargs, _ignore_errors=True)  # errors go to _report
        self._begin(total)
        worker.yielded.connect(partial(self._on_yielded, _Output(self, image_layer, labels)))
        worker.errored.connect(lambda err: self._report(str(err)))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()
        return worker

    def propagate_stack(self):
        """SAM 2 through the chosen 3D stack or time series into one 3D Labels layer.

        Each object session's fixations prompt SAM 2 on the planes they were made on
        and its video predictor propagates every object both ways, exactly as
        ``gazeseg propagate`` (:func:`~napari_gazeseg.models.sam2_gaze.sam2_object_masks`).
        Needs a SAM 2 model. Returns the started worker, or None (the reason is reported).
        """
        from napari.qt.threading import create_worker

        if self._worker is not None:
            self._report("a segmentation is still running; wait for it to finish.")
            return None
        try:
            if self._method.currentText() != "SAM" or self.family != "SAM 2":
                raise ValueError(
                    "choose a SAM 2 model (sam2.1_hiera_...) to propagate through the stack; "
                    "SAM, micro-sam and MedSAM segment each object on the slice looked at."
                )
            image_layer = self._require_image()
            shape = _data_shape(image_layer)
            if len(shape) != 3 or image_layer.multiscale:
                raise ValueError(
                    f"propagating needs a 3D stack or time series (planes, rows, cols); "
                    f"{image_layer.name!r} has shape {shape}."
                )
            fixations, recording, meta = self._gaze_data()
            if not self._gaze_is_for(
                image_layer, meta, recording if recording is not None else fixations
            ):
                return None
            settings = self._sam2_settings()
            object_ids = self._chosen_objects()
            from ..models.sam2_gaze import plane_prompts

            plane_prompts(fixations, shape, object_ids)  # its one-sentence refusals, before starting
            labels = self._output_layer(image_layer)
        except ValueError as err:
            self._report(str(err))
            return None
        output = _Output(self, image_layer, labels, propagation=True)
        worker = create_worker(
            _sam2_worker,
            self._sam2_holder,
            settings,
            self._spatial(image_layer),
            fixations,
            tuple(float(v) for v in image_layer.contrast_limits),
            object_ids,
            _ignore_errors=True,
        )
        self._begin(shape[0])
        worker.yielded.connect(partial(self._on_yielded, output))
        worker.errored.connect(lambda err: self._report(str(err)))
        worker.finished.connect(partial(self._on_propagated, output))
        self._worker = worker
        worker.start()
        return worker

    def _on_propagated(self, output: _Output) -> None:
        self._painted = [
            f"{object_id} (planes {min(planes)}\u2013{max(planes)})"
            for object_id, planes in sorted(output.reached.items())
        ]
        self._on_finished()

    @property
    def family(self) -> str:
        """The chosen model's family (SAM, micro-sam, MedSAM, SAM 2); "SAM" for a local file."""
        from ..models import registry

        name = self._model.currentData()
        if name is None:
            return "SAM"
        try:
            return registry.entry(name).family
        except registry.ModelDownloadError:
            return "SAM"

    def stack_propagation_model(self):
        """The model the Annotate series panel carries one mask through a stack with.

        ``("SAM 2", holder, Sam2Settings)`` for a SAM 2 model, ``("SAM", holder,
        SamSettings)`` for SAM and micro-sam; ValueError (one sentence) otherwise.
        The holder's lock must be held while the model is used (off the UI thread).
        """
        if self._method.currentText() != "SAM":
            raise ValueError(
                "choose SAM as the method in Segment with gaze (a SAM, micro-sam or SAM 2 "
                "model) to propagate masks."
            )
        family = self.family
        if family == "SAM 2":
            return family, self._sam2_holder, self._sam2_settings()
        if family in _SAM_FAMILIES:
            return "SAM", self._sam_holder, self._sam_settings()
        raise ValueError(
            f"{family} takes box prompts only; choose a SAM, micro-sam or SAM 2 model in "
            "Segment with gaze to propagate masks."
        )

    # -- inputs ---------------------------------------------------------------------
    def _require_image(self):
        layer = self._image.current_layer()
        if layer is None:
            raise ValueError("open or choose an image layer to segment.")
        return layer

    def _entry_file(self, name: str):
        """The registry entry ``name`` and its file on disk (no network), or one sentence."""
        from ..models import registry

        try:
            item = registry.entry(name)
            return item, str(registry.checkpoint_path(item))
        except registry.ModelDownloadError:
            raise ValueError(
                f"{name} is not downloaded yet; press Download beside the model, "
                f"or choose '{LOCAL_FILE}' and its checkpoint."
            ) from None

    def _sam2_settings(self) -> Sam2Settings:
        item, checkpoint = self._entry_file(self._model.currentData())
        return Sam2Settings(
            item.architecture.removeprefix("hiera_"),
            checkpoint,
            DEVICE_CHOICES[self._device.currentText()],
            tuple(item.config_overrides),
        )

    def _medsam_settings(self) -> MedSamSettings:
        name = self._model.currentData()
        _item, checkpoint = self._entry_file(name)
        return MedSamSettings(name, checkpoint, DEVICE_CHOICES[self._device.currentText()])

    def _sam_settings(self) -> SamSettings:
        """The model to hold: the registry entry's file (no network) or the local file's."""
        name = self._model.currentData()
        model_type = self._model_type.currentText()
        checkpoint = self._checkpoint.text().strip() or None
        if name is not None:
            item, checkpoint = self._entry_file(name)
            model_type = item.architecture
        return SamSettings(
            model_type,
            checkpoint,
            self._finetuned.text().strip() or None,
            DEVICE_CHOICES[self._device.currentText()],
            str(embeddings_dir()),
        )

    def _gaze_data(self) -> tuple[Fixations, GazeRecording | None, dict]:
        """The chosen recording's fixations, raw gaze (None for fixation-only data) and meta."""
        layer = self._gaze.current_layer()
        if layer is None:
            raise ValueError(
                "open a gaze recording (File > Open, or a sample) and choose its layer."
            )
        siblings = recording_layers(self._viewer, layer)
        recording = recording_from_layer(siblings["gaze"]) if "gaze" in siblings else None
        if "fixations" in siblings:
            fixations = fixations_from_layer(siblings["fixations"])
        else:
            fixations = fixations_of(recording, tuned_fixation_detector(self._viewer))
        meta = recording.meta if recording is not None else fixations.meta
        return fixations, recording, meta

    def _gaze_is_for(self, image_layer, meta: dict, gaze) -> bool:
        """Check the gaze belongs to the image: ask when it names another; warn when off it."""
        shape = _data_shape(image_layer)
        mismatch = gaze_image_mismatch(meta, image_layer.name, shape, advice=None)
        if mismatch and not self._confirm(f"{mismatch[0].upper()}{mismatch[1:]} Segment anyway?"):
            self._report(gaze_image_mismatch(meta, image_layer.name, shape))
            return False
        warning = off_image_warning(gaze, shape)
        if warning:
            self._warn(warning)
        return True

    def _confirm(self, question: str) -> bool:
        """Ask the user a yes/no question (No is the default)."""
        answer = QMessageBox.question(
            self,
            "Segment with gaze",
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _spatial(self, image_layer):
        return full_resolution(image_layer)

    def _current_leading(self, image_layer, n_leading: int) -> tuple[int, ...]:
        """The image's displayed slice: its leading data indices at the viewer's current point."""
        return displayed_slice(self._viewer, image_layer, n_leading)

    def _sam_job(self, image_layer, clicks: dict | None = None) -> _SamJob | None:
        fixations, recording, meta = self._gaze_data()
        if not self._gaze_is_for(
            image_layer, meta, recording if recording is not None else fixations
        ):
            return None
        chosen = set(int(k) for k in clicks) if clicks else self._chosen_objects()
        job = self._make_sam_job(image_layer, fixations, recording, chosen)
        if clicks:
            missing = sorted(set(int(k) for k in clicks) - {o.object_id for o in job.objects})
            if missing:
                raise ValueError(
                    f"there is no gaze session for object {missing[0]} to correct; click on an "
                    "object that was looked at (its label id)."
                )
            job.clicks = {int(k): v for k, v in clicks.items()}
        return job

    def _make_sam_job(self, image_layer, fixations, recording, object_ids) -> _SamJob:
        ndim = len(_data_shape(image_layer))
        objects = objects_to_segment(
            fixations,
            recording,
            image_ndim=ndim,
            object_ids=object_ids,
            slice_index=self._current_leading(image_layer, ndim - 2)
            if fixations.ndim == 2
            else None,
        )
        return _SamJob(
            image=self._spatial(image_layer),
            contrast_limits=tuple(float(v) for v in image_layer.contrast_limits),
            objects=objects,
            prompt=self._prompt.currentText(),
            mask=_MASK_CHOICES[self._mask_choice.currentText()],
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

    def _gradtrack_args(self, image_layer) -> tuple | None:
        ndim = len(_data_shape(image_layer))
        leading = self._current_leading(image_layer, ndim - 2)
        fixations = None
        if self._by_gaze.isChecked():
            if self._gaze.current_layer() is None:
                raise ValueError(
                    "choose the gaze whose objects GradTrack should label, "
                    "or untick 'One label per object looked at' to label the whole foreground."
                )
            fixations, recording, meta = self._gaze_data()
            if not self._gaze_is_for(
                image_layer, meta, recording if recording is not None else fixations
            ):
                return None
            try:
                fixations = gradtrack_gaze(
                    fixations,
                    image_ndim=ndim,
                    slice_index=leading,
                    object_ids=self._chosen_objects(),
                )
            except ValueError as err:
                raise ValueError(
                    str(err).replace(
                        "label the whole foreground instead",
                        "untick 'One label per object looked at'",
                    )
                ) from None
        key = (self._checkpoint.text().strip() or None, DEVICE_CHOICES[self._device.currentText()])
        return (
            _gradtrack_worker,
            self._gradtrack_holder,
            key,
            self._spatial(image_layer),
            fixations,
        ), {
            "contrast_limits": tuple(float(v) for v in image_layer.contrast_limits),
            "slice_index": leading,
            "rgb": bool(image_layer.rgb),
            "foreground_id": NO_OBJECT,  # set once the output layer is known
        }

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
        """The chosen Labels layer (its shape checked), or None for a new one."""
        name = self._output.currentText()
        shape = _data_shape(image_layer)
        if name != _NEW_LAYER and name in self._viewer.layers:
            layer = self._viewer.layers[name]
            if tuple(layer.data.shape) != shape:
                raise ValueError(
                    f"the Labels layer {name!r} has shape {layer.data.shape} but the image is "
                    f"{shape}; choose another output or a new Labels layer."
                )
            return layer
        return None

    def _new_output_layer(self, image_layer):
        """A new Labels layer matching the image's shape and placement, chosen as the output."""
        shape = _data_shape(image_layer)
        layer = self._viewer.add_labels(
            np.zeros(shape, dtype=np.int32),
            name=f"{image_layer.name} gaze masks",
            **placement_of(image_layer),  # rotate, shear and affine too
        )
        self._output.setCurrentText(layer.name)
        return layer

    def _begin(self, total: int) -> None:
        from napari.utils import progress

        self._status.setText("Segmenting ...")
        self._painted = []
        self._problems = []
        self._run.setEnabled(False)
        self._progress = progress(total=total, desc="Segmenting with gaze")

    def _on_yielded(self, output: "_Output", item) -> None:
        bar = self._progress
        if isinstance(item, Stage):
            self._status.setText(f"Segmenting: {item.text} ...")
            self.stage.emit(item.text)
            if bar is not None:
                bar.set_description(item.text)
                bar.n = item.done
                bar.refresh()
        elif isinstance(item, ObjectMask):
            self._paint(output, item)
            if bar is not None:
                bar.n = min(bar.n + 1, bar.total)
                bar.refresh()

    def _paint(self, output: "_Output", item: ObjectMask) -> None:
        problem = mask_problem(item.mask)
        if output.propagation:
            if problem != "empty mask":
                _paint_undoable(
                    output.layer(), item.slice_index, item.mask, item.object_id,
                    self._overwrite.isChecked(),
                )
                output.reached.setdefault(item.object_id, set()).add(item.slice_index[0])
            if problem and problem != "empty mask":
                self._problems.append(f"label {item.object_id} on plane {item.slice_index[0]}: {problem}")
            return
        if problem == "empty mask":
            self._problems.append(f"label {item.object_id}: empty mask (not painted)")
            return
        pixels = _paint_undoable(
            output.layer(), item.slice_index, item.mask, item.object_id, self._overwrite.isChecked()
        )
        if problem:
            self._problems.append(f"label {item.object_id}: {problem}")
        elif pixels == 0:
            self._problems.append(f"label {item.object_id}: 0 px left after other labels")
        else:
            self._painted.append(f"{item.object_id} ({pixels} px)")

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def _on_finished(self) -> None:
        self._worker = None
        self._close_progress()
        self._run.setEnabled(True)
        if not self._status.text().startswith("Segmenting"):
            return  # an error message stays visible
        if self._problems:
            painted = f"painted label {', '.join(self._painted)}; " if self._painted else ""
            self._warn(
                f"finished, but {painted}{'; '.join(self._problems)}: these cannot be right; "
                "check the image, the gaze and the model."
            )
        else:
            self._status.setText(f"Done: label {', '.join(self._painted) or 'none'}.")
        self.finished.emit()

    def _report(self, message: str) -> None:
        from napari.utils.notifications import show_error

        self._status.setText(message)
        show_error(message)
        self.failed.emit(message)

    def _warn(self, message: str) -> None:
        from napari.utils.notifications import show_warning

        self._status.setText(message)
        show_warning(message)
        self.warned.emit(message)

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
        self._show_model_card()
        self._on_model_changed()

    # -- model choice -----------------------------------------------------------------
    def _fill_models(self) -> None:
        """The registry's SAM-path entries with their state, then "a local file…"."""
        from ..models import registry

        current = self._model.currentData() if self._model.count() else ...
        self._model.blockSignals(True)
        self._model.clear()
        try:
            items = [e for e in registry.entries() if e.family in _WIDGET_FAMILIES]
        except registry.ModelDownloadError as err:  # a broken $GAZESEG_MODEL_REGISTRY
            items = []
            self._status.setText(str(err))
        for item in items:
            state = (
                "downloaded"
                if registry.is_downloaded(item)
                else f"will download ({registry.size_text(item.size)})"
            )
            self._model.addItem(f"{item.name} \u2014 {state}", item.name)
        self._model.addItem(LOCAL_FILE, None)
        if current is ...:  # first fill: the first downloaded entry, else a local file
            ready = [i.name for i in items if registry.is_downloaded(i)]
            current = ready[0] if ready else None
        index = self._model.findData(current)
        self._model.setCurrentIndex(index if index >= 0 else self._model.findData(None))
        self._model.blockSignals(False)

    def _on_model_changed(self, _index: int | None = None) -> None:
        from ..models import registry

        sam = self._method.currentText() == "SAM"
        name = self._model.currentData()
        local = name is None
        self._model.setEnabled(sam)
        self._model_type.setEnabled(sam and local)
        self._checkpoint.setEnabled(local or not sam)
        downloading = self._download_worker is not None
        self._download.setEnabled(
            sam and not local and not downloading and not registry.is_downloaded(name)
        )
        if not local:
            try:
                architecture = registry.entry(name).architecture
            except registry.ModelDownloadError:
                architecture = None
            if architecture is not None and self._model_type.findText(architecture) >= 0:
                self._model_type.setCurrentText(architecture)
        family = self.family if sam else None
        for widget in (self._prompt, self._mask_choice, self._finetuned, self._live):
            widget.setEnabled(family in _SAM_FAMILIES)
        self._box_margin.setEnabled(family == "MedSAM")
        self._propagate.setEnabled(family == "SAM 2")
        self._schedule_embed_ahead()

    def download_model(self, name: str | None = None):
        """Download the chosen registry entry (or ``name``) in a worker; returns it (None: refused)."""
        from napari.qt.threading import create_worker

        name = name if isinstance(name, str) else self._model.currentData()
        if name is None:
            self._report(f"choose a model of the list to download ('{LOCAL_FILE}' is yours).")
            return None
        if self._download_worker is not None:
            self._report("a download is still running; wait for it to finish.")
            return None
        from napari.utils import progress

        from ..models import registry

        try:
            size = registry.entry(name).size
        except registry.ModelDownloadError as err:
            self._report(str(err))
            return None
        worker = create_worker(
            _download_worker, name, self._download_callback, _ignore_errors=True
        )
        self._download_worker = worker
        self._download_done = -1
        self._download_bar = progress(total=size or 0, desc=f"Downloading {name}")
        self._download.setEnabled(False)
        self._status.setText(f"Downloading {name} ...")
        worker.returned.connect(partial(self._on_downloaded, name))
        worker.errored.connect(self._on_download_failed)
        worker.finished.connect(self._on_download_finished)
        worker.start()
        return worker

    def _download_callback(self, done: int, total) -> None:
        """Called by the registry in the worker thread; the signal reaches the UI thread queued."""
        self._download_bytes.emit(int(done), None if total is None else int(total))

    def _on_download_progress(self, done: int, total) -> None:
        """Move the bar (queued from the worker; a repaint may run later ones first: never backwards)."""
        bar = self._download_bar
        if bar is None or done <= self._download_done:
            return
        self._download_done = done
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()
        self.download_progress.emit(done, total)

    def _close_download_bar(self) -> None:
        if self._download_bar is not None:
            self._download_bar.close()
            self._download_bar = None

    def _on_downloaded(self, name: str, path) -> None:
        size = Path(path).stat().st_size
        self._on_download_progress(size, size)
        self._close_download_bar()
        self._status.setText(f"Downloaded {name} to {path}.")
        self._fill_models()
        self.downloaded.emit(name)

    def _on_download_failed(self, err: Exception) -> None:
        self._close_download_bar()
        self._report(str(err))

    def _on_download_finished(self) -> None:
        self._download_worker = None
        self._close_download_bar()
        self._on_model_changed()

    # -- embeddings ahead -------------------------------------------------------------
    def _schedule_embed_ahead(self, *_args) -> None:
        try:
            if self._method.currentText() == "SAM":
                self._embed_timer.start()  # restarted by every change: only the settled one runs
        except RuntimeError:  # the widget was deleted while the viewer lives on
            self._viewer.dims.events.current_step.disconnect(self._schedule_embed_ahead)

    def _embed_ahead(self) -> None:
        """Compute the displayed plane's embedding in the background when SAM's file is on disk."""
        from napari.qt.threading import create_worker

        if self._method.currentText() != "SAM" or self._worker is not None:
            return  # a segmentation embeds what it needs itself
        if self.family not in _SAM_FAMILIES:
            return  # MedSAM and SAM 2 embed their own way, when asked
        if self._embed_worker is not None:
            self._embed_pending = True
            return
        layer = self._image.current_layer()
        if layer is None or layer.multiscale:
            return
        try:
            settings = self._sam_settings()
        except ValueError:
            return  # not downloaded: nothing to load without asking
        if settings.checkpoint is None or not Path(settings.checkpoint).is_file():
            return  # searched checkpoints load when the user segments
        ndim = len(_data_shape(layer))
        worker = create_worker(
            _embed_ahead_worker,
            self._sam_holder,
            settings,
            self._spatial(layer),
            self._current_leading(layer, ndim - 2),
            tuple(float(v) for v in layer.contrast_limits),
            _ignore_errors=True,  # the segmentation reports a model that cannot load
        )
        worker.returned.connect(self._on_embedded_ahead)
        worker.finished.connect(self._on_embed_finished)
        self._embed_worker = worker
        worker.start()

    @property
    def embedding_ahead(self) -> bool:
        """Whether a background embedding is running."""
        return self._embed_worker is not None

    def _on_embedded_ahead(self, key) -> None:
        self.embedded_ahead.emit(key)

    def _on_embed_finished(self) -> None:
        self._embed_worker = None
        if self._embed_pending:
            self._embed_pending = False
            self._embed_ahead()

    def _show_model_card(self, _text: str | None = None) -> None:
        """The bundled GradTrack's card (what it was trained on) while it is the chosen model."""
        bundled = self._method.currentText() == "GradTrack" and not self._checkpoint.text().strip()
        self._model_card.setVisible(bundled)

    # -- live mode --------------------------------------------------------------------
    def _on_live_toggled(self, on: bool) -> None:
        if on:
            self._connect_record_widget()
            self._find_recorder.start()  # also notices the panel closed and opened again
        else:
            self._find_recorder.stop()

    def _connect_record_widget(self) -> None:
        """Follow the Record gaze panel docked in this window (the one held while it stays docked)."""
        from .record_widget import RecordGazeWidget

        docked = _docked_widgets(self._viewer)
        held = self._record_widget
        if held is not None and any(widget is held for widget in docked):
            return
        if held is not None:  # that panel was closed
            held.recording_started.disconnect(self._follow_recorder)
            self._record_widget = None
        found = next((w for w in docked if isinstance(w, RecordGazeWidget)), None)
        if found is None:
            if held is not None or not self._status.text():
                self._status.setText(
                    "Update while recording follows the Record gaze panel; open it to record."
                )
            return
        self._record_widget = found
        found.recording_started.connect(self._follow_recorder)
        if found.recorder is not None:
            self._follow_recorder(found.recorder)

    def _follow_recorder(self, recorder) -> None:
        if self._recorder is not None:
            for signal, slot in self._recorder_slots(self._recorder):
                signal.disconnect(slot)
        self._recorder = recorder
        self._live_samples = []
        for signal, slot in self._recorder_slots(recorder):
            signal.connect(slot)

    def _recorder_slots(self, recorder):
        return (
            (recorder.samples_added, self._on_live_samples),
            (recorder.object_started, self._on_live_object),
            (recorder.fixations_changed, self.on_live_fixations),
        )

    def _on_live_object(self, object_id: int) -> None:
        self._live_samples = []

    def _on_live_samples(self, samples: GazeRecording) -> None:
        """Keep the raw samples of the object being recorded (dense prompts need them)."""
        recorder = self._recorder
        if recorder is None or recorder.current_object == NO_OBJECT:
            return
        own = samples.for_object(recorder.current_object)
        if len(own):
            self._live_samples.append(own)

    def on_live_fixations(self, object_id: int, fixations: Fixations) -> None:
        """The recorder's current object has new fixations: decode its mask (coalesced)."""
        if not self._live.isChecked() or self._method.currentText() != "SAM" or len(fixations) == 0:
            return
        if self.family not in _SAM_FAMILIES:
            return  # live decoding is SAM's (points per new fixation)
        self._live_pending = (int(object_id), fixations)
        if self._live_worker is None:
            self._start_live()

    def _live_recording(self, object_id: int) -> GazeRecording | None:
        """The raw samples of ``object_id`` recorded so far (None before any)."""
        if not self._live_samples:
            return None
        if len(self._live_samples) > 1:  # keep them as one chunk
            self._live_samples = [GazeRecording.concatenate(self._live_samples)]
        own = self._live_samples[0].for_object(object_id)
        return own if len(own) else None

    def _start_live(self) -> None:
        from napari.qt.threading import create_worker

        (object_id, fixations), self._live_pending = self._live_pending, None
        try:
            settings = self._sam_settings()
            image_layer = self._require_image()
            if self._recorder is not None:
                mismatch = gaze_image_mismatch(
                    self._recorder.meta,
                    image_layer.name,
                    _data_shape(image_layer),
                    advice="choose the image being recorded under Image to update its masks live",
                )
                if mismatch:
                    raise ValueError(mismatch)
            job = self._make_sam_job(
                image_layer, fixations, self._live_recording(object_id), {object_id}
            )
            output = _Output(self, image_layer, self._output_layer(image_layer))
        except ValueError as err:
            self._report(str(err))
            return
        worker = create_worker(_sam_worker, self._sam_holder, settings, job, _ignore_errors=True)
        worker.yielded.connect(partial(self._on_live_yielded, output))
        worker.errored.connect(lambda err: self._report(str(err)))
        worker.finished.connect(self._on_live_finished)
        self._live_worker = worker
        worker.start()

    def _on_live_yielded(self, output: "_Output", item) -> None:
        if isinstance(item, ObjectMask):
            self._painted, self._problems = [], []
            self._paint(output, item)
            self._status.setText(
                f"Live: label {self._painted[0]}."
                if self._painted
                else f"Live: {self._problems[0]}."
            )

    def _on_live_finished(self) -> None:
        self._live_worker = None
        if self._live_pending is not None:
            self._start_live()
        else:
            self.finished.emit()


class _Output:
    """Where one run's masks go: the chosen Labels layer, or a new one made with the first mask."""

    def __init__(
        self, widget: SegmentWithGazeWidget, image_layer, layer, propagation: bool = False
    ) -> None:
        self._widget = widget
        self._image_layer = image_layer
        self._layer = layer
        #: Through a stack an object is absent from some planes: empty masks are expected there.
        self.propagation = propagation
        #: ``{object_id: {plane, ...}}`` painted by a propagation.
        self.reached: dict[int, set[int]] = {}

    def layer(self):
        if self._layer is None:
            self._layer = self._widget._new_output_layer(self._image_layer)
        return self._layer


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


def _docked_widgets(viewer) -> list:
    """The widgets docked in the viewer's window (napari's ``window.dock_widgets``)."""
    window = getattr(viewer, "window", None)
    docked = getattr(window, "dock_widgets", None)
    if docked is None:
        return []
    return list(docked.values())


def _is_image(layer) -> bool:
    return is_image(layer)


def _is_gaze(layer) -> bool:
    return layer_kind(layer) in ("gaze", "fixations")


def _is_labels(layer) -> bool:
    return is_labels(layer)


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
