"""The "Gaze metrics" dock widget: AOI metrics of recordings over a Labels or Shapes layer.

Pick the recordings (their fixations layers, ticked in a list) and an AOI layer:
every label of a Labels layer, or every polygon, rectangle or ellipse of a Shapes
layer, is an AOI. The widget shows one sortable row per AOI x recording (x object
session) with Tobii Pro Lab's metrics (:mod:`napari_gazeseg.gaze.aoi`), a bar chart
of the dwell time per AOI and the transition matrix, and exports the table as CSV.
Editing the AOI layer (painting labels, moving shapes) recomputes the table,
debounced and off the UI thread. Clicking a row highlights its AOI and the
fixations on it.

The widget only reads layers and writes the table: the metrics are computed by
:func:`napari_gazeseg.gaze.aoi.metrics_table`, as ``gazeseg metrics`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..gaze.aoi import TABLE_COLUMNS, AOISet, metrics_table, transition_matrix
from ._layer_combo import LayerComboBox
from ._viewer import full_resolution, recording_layers
from .layers import fixations_from_layer, layer_kind, recording_from_layer

if TYPE_CHECKING:
    import napari

__all__ = ["GazeMetricsWidget", "aoi_set_from_layer", "MetricsSettings"]

#: Milliseconds of quiet after the last AOI edit before recomputing.
DEBOUNCE_MS = 300
#: Columns the table shows (all of the CSV's).
SHOWN_COLUMNS = TABLE_COLUMNS


def _is_aoi_layer(layer) -> bool:
    from napari.layers import Labels, Shapes

    return isinstance(layer, (Labels, Shapes))


def _ellipse_polygon(corners: np.ndarray, n: int = 64) -> np.ndarray:
    """An ellipse given by napari's 4 bounding-box corners, as an n-vertex polygon."""
    centre = corners.mean(axis=0)
    half_a = (corners[1] - corners[0]) / 2.0
    half_b = (corners[3] - corners[0]) / 2.0
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False)[:, None]
    return centre + np.cos(angle) * half_a + np.sin(angle) * half_b


def aoi_set_from_layer(layer) -> AOISet:
    """The AOIs of a Labels layer (each label) or a Shapes layer (each closed shape).

    Shapes' names come from a ``name`` feature when the layer has one. Lines and
    paths enclose no area and are left out.
    """
    from napari.layers import Labels, Shapes

    if isinstance(layer, Labels):
        data = full_resolution(layer)
        return AOISet.from_labels(np.asarray(data))
    if isinstance(layer, Shapes):
        polys, ids, names = [], [], []
        features = layer.features
        for k, (verts, kind) in enumerate(zip(layer.data, layer.shape_type)):
            if kind in ("line", "path"):
                continue
            verts = np.asarray(verts, dtype=np.float64)
            if kind == "ellipse":
                lead = verts[:1, :-2].repeat(64, axis=0)
                verts = np.hstack([lead, _ellipse_polygon(verts[:, -2:])])
            polys.append(verts)
            ids.append(k + 1)
            name = features["name"].iloc[k] if "name" in features.columns else f"{kind} {k + 1}"
            names.append(str(name))
        return AOISet.from_polygons(polys, ids=ids, names=names)
    raise ValueError(f"layer {layer.name!r} is not a Labels or Shapes layer; pick one as AOIs.")


@dataclass
class MetricsSettings:
    """What the widget computes: per object session or not, and the hit radius."""

    by_object: bool = False
    radius_px: float = 0.0


def _group_gaze_layer(viewer, fixations_layer):
    return recording_layers(viewer, fixations_layer).get("gaze")


def _compute(inputs, aois: AOISet, settings: MetricsSettings):
    """Off the UI thread: the table rows and the summed transition matrix."""
    rows = metrics_table(inputs, aois, by_object=settings.by_object,
                         radius_px=settings.radius_px)
    trans = np.zeros((len(aois) + 1,) * 2, dtype=np.int64)
    for _, (_, fix) in inputs.items():
        trans += transition_matrix(fix, aois, radius_px=settings.radius_px)
    return rows, trans


class _SortItem(QTableWidgetItem):
    """A cell that sorts numbers as numbers, NaN last."""

    def __init__(self, value):
        if isinstance(value, float):
            text = "" if np.isnan(value) else f"{value:.4g}"
        else:
            text = str(value)
        super().__init__(text)
        self._key = value

    def __lt__(self, other):  # noqa: D105
        a, b = self._key, getattr(other, "_key", other.text())
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            a = np.inf if a != a else a
            b = np.inf if b != b else b
            return a < b
        return str(a) < str(b)


class GazeMetricsWidget(QWidget):
    """Dock widget: AOI metrics table, dwell chart, transitions, CSV export.

    Signals
    -------
    updated
        Emitted on the UI thread when a new table is shown.
    failed(str)
        Emitted with the sentence shown when a computation failed.
    """

    updated = Signal()
    failed = Signal(str)

    def __init__(self, napari_viewer: "napari.viewer.Viewer", parent: QWidget | None = None):
        super().__init__(parent)
        self._viewer = napari_viewer
        self._rows: list[dict] = []
        self._transitions: np.ndarray | None = None
        self._aois: AOISet | None = None
        self._generation = 0
        self._worker = None
        self._watched = None
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._start)

        self._recordings = QListWidget()
        self._recordings.setToolTip("Tick the recordings (fixations layers) to measure.")
        self._recordings.setMaximumHeight(110)
        self._recordings.itemChanged.connect(lambda _: self.schedule())
        self._aoi = LayerComboBox(napari_viewer, _is_aoi_layer, "(no Labels or Shapes layer)")
        self._aoi.layer_changed.connect(self._watch_aoi)
        self._by_object = QCheckBox("One row per object session")
        self._by_object.toggled.connect(lambda _: self.schedule())
        self._radius = QDoubleSpinBox()
        self._radius.setRange(0.0, 1000.0)
        self._radius.setSuffix(" px")
        self._radius.setToolTip("A fixation also hits an AOI this close to its centre.")
        self._radius.valueChanged.connect(lambda _: self.schedule())
        self._open = QPushButton("Open gaze files…")
        self._open.setToolTip("Open recordings as layers (they are listed and ticked here).")
        self._open.clicked.connect(self._on_open)
        self._export = QPushButton("Export CSV…")
        self._export.clicked.connect(self._on_export)
        self._status = QLabel("Pick recordings and an AOI layer.")
        self._status.setWordWrap(True)
        self._table = QTableWidget(0, len(SHOWN_COLUMNS))
        self._table.setHorizontalHeaderLabels([c.replace("_", " ") for c in SHOWN_COLUMNS])
        self._table.setSortingEnabled(True)
        self._table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self._table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self._table.itemSelectionChanged.connect(self._on_row_selected)

        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._figure = Figure(figsize=(4, 2.4), tight_layout=True)
        self._canvas = FigureCanvasQTAgg(self._figure)
        self._canvas.setMinimumHeight(180)

        form = QFormLayout()
        form.addRow("Recordings", self._recordings)
        form.addRow("AOIs", self._aoi)
        form.addRow(self._by_object)
        form.addRow("Hit radius", self._radius)
        buttons = QHBoxLayout()
        buttons.addWidget(self._open)
        buttons.addStretch(1)
        buttons.addWidget(self._export)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._table, 2)
        layout.addWidget(self._canvas, 1)
        layout.addLayout(buttons)
        layout.addWidget(self._status)

        events = napari_viewer.layers.events
        for event in (events.inserted, events.removed):
            event.connect(self._refresh_recordings)
        self._refresh_recordings()
        self._watch_aoi(self._aoi.current_layer())

    # -- public state ---------------------------------------------------------------

    @property
    def settings(self) -> MetricsSettings:
        return MetricsSettings(by_object=self._by_object.isChecked(),
                               radius_px=float(self._radius.value()))

    @settings.setter
    def settings(self, value: MetricsSettings) -> None:
        self._by_object.setChecked(bool(value.by_object))
        self._radius.setValue(float(value.radius_px))

    @property
    def rows(self) -> list[dict]:
        """The rows shown (as written to CSV)."""
        return list(self._rows)

    @property
    def transitions(self) -> np.ndarray | None:
        return None if self._transitions is None else self._transitions.copy()

    def recording_layers(self) -> list:
        """The ticked fixations layers."""
        out = []
        for i in range(self._recordings.count()):
            item = self._recordings.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                layer = item.data(Qt.ItemDataRole.UserRole)
                if layer in self._viewer.layers:
                    out.append(layer)
        return out

    def set_aoi_layer(self, layer) -> None:
        self._aoi.set_current_layer(layer)

    # -- inputs -----------------------------------------------------------------------

    def _refresh_recordings(self, event=None) -> None:
        ticked = {id(layer) for layer in self.recording_layers()}
        known = {id(self._recordings.item(i).data(Qt.ItemDataRole.UserRole))
                 for i in range(self._recordings.count())}
        self._recordings.blockSignals(True)
        self._recordings.clear()
        for layer in self._viewer.layers:
            if layer_kind(layer) != "fixations":
                continue
            item = QListWidgetItem(layer.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            new = id(layer) not in known
            item.setCheckState(
                Qt.CheckState.Checked if (id(layer) in ticked or new) else Qt.CheckState.Unchecked
            )
            item.setData(Qt.ItemDataRole.UserRole, layer)
            self._recordings.addItem(item)
        self._recordings.blockSignals(False)
        self.schedule()

    def _watch_aoi(self, layer) -> None:
        if self._watched is not None:
            for name in ("data", "paint", "set_data"):
                event = getattr(self._watched.events, name, None)
                if event is not None:
                    event.disconnect(self.schedule)
        self._watched = layer
        if layer is not None:
            for name in ("data", "paint", "set_data"):
                event = getattr(layer.events, name, None)
                if event is not None:
                    event.connect(self.schedule)
        self.schedule()

    def schedule(self, event=None) -> None:
        """Recompute after a short quiet time (debounced)."""
        self._debounce.start()

    # -- compute --------------------------------------------------------------------

    def _start(self) -> None:
        from napari.qt.threading import create_worker

        aoi_layer = self._aoi.current_layer()
        layers = self.recording_layers()
        if aoi_layer is None or not layers:
            self._status.setText("Pick recordings (fixations layers) and an AOI layer.")
            return
        try:
            aois = aoi_set_from_layer(aoi_layer)
            inputs = {}
            for layer in layers:
                gaze_layer = _group_gaze_layer(self._viewer, layer)
                rec = recording_from_layer(gaze_layer) if gaze_layer is not None else None
                inputs[layer.name] = (rec, fixations_from_layer(layer))
        except ValueError as err:
            self._report(str(err))
            return
        if len(aois) == 0:
            self._report(f"{aoi_layer.name!r} holds no AOI yet; paint labels or draw shapes.")
            return
        if self._worker is not None:
            self._worker.quit()
        self._generation += 1
        generation = self._generation
        worker = create_worker(_compute, inputs, aois, self.settings,
                               _progress={"desc": "Computing AOI metrics"})
        worker.returned.connect(lambda result: self._show(result, aois, generation))
        worker.errored.connect(lambda err: self._report(str(err)) if generation == self._generation else None)
        self._worker = worker
        self._status.setText("Computing…")
        worker.start()

    def _report(self, message: str) -> None:
        self._status.setText(message)
        self.failed.emit(message)

    def _show(self, result, aois: AOISet, generation: int) -> None:
        if generation != self._generation:
            return  # superseded by a newer edit
        rows, transitions = result
        self._rows, self._transitions, self._aois = rows, transitions, aois
        self._table.setSortingEnabled(False)
        self._table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, key in enumerate(SHOWN_COLUMNS):
                item = _SortItem(row[key])
                item.setData(Qt.ItemDataRole.UserRole, (row["Recording"], row["AOI"]))
                self._table.setItem(i, j, item)
        self._table.setSortingEnabled(True)
        self._draw_charts(rows, transitions, aois)
        n_rec = len({r["Recording"] for r in rows})
        self._status.setText(f"{len(aois)} AOIs x {n_rec} recording(s): {len(rows)} rows.")
        self.updated.emit()

    def _draw_charts(self, rows, transitions, aois: AOISet) -> None:
        fig = self._figure
        fig.clear()
        ax_bar, ax_mat = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        dwell = np.zeros(len(aois))
        index = {int(a): k for k, a in enumerate(aois.ids)}
        for row in rows:
            dwell[index[row["AOI"]]] += row["Total_duration_of_fixations"]
        ax_bar.bar(np.arange(len(aois)), dwell, color="tab:orange")
        ax_bar.set_xticks(np.arange(len(aois)))
        ax_bar.set_xticklabels([str(int(a)) for a in aois.ids], fontsize=6, rotation=90)
        ax_bar.set_ylabel("dwell on fixations (s)", fontsize=7)
        ax_bar.set_xlabel("AOI", fontsize=7)
        ax_bar.tick_params(labelsize=6)
        ax_mat.imshow(transitions, cmap="magma", interpolation="nearest")
        labels = ["none"] + [str(int(a)) for a in aois.ids]
        if len(labels) <= 20:
            ax_mat.set_xticks(range(len(labels)))
            ax_mat.set_yticks(range(len(labels)))
            ax_mat.set_xticklabels(labels, fontsize=6, rotation=90)
            ax_mat.set_yticklabels(labels, fontsize=6)
        ax_mat.set_title("transitions (from row to column)", fontsize=7)
        self._canvas.draw_idle()

    # -- interaction ----------------------------------------------------------------

    def _on_row_selected(self) -> None:
        items = self._table.selectedItems()
        if not items or self._aois is None:
            return
        recording, aoi_id = items[0].data(Qt.ItemDataRole.UserRole)
        self.highlight(recording, int(aoi_id))

    def highlight(self, recording: str, aoi_id: int) -> None:
        """Select the AOI in its layer and the recording's fixations that hit it."""
        from napari.layers import Labels

        aoi_layer = self._aoi.current_layer()
        if aoi_layer is None or self._aois is None:
            return
        if isinstance(aoi_layer, Labels):
            aoi_layer.selected_label = aoi_id
            aoi_layer.show_selected_label = True
        else:
            aoi_layer.selected_data = {aoi_id - 1}
        k = int(np.searchsorted(self._aois.ids, aoi_id))
        for layer in self.recording_layers():
            if layer.name != recording:
                continue
            hits = self._aois.hits(np.asarray(layer.data), radius_px=self.settings.radius_px)
            layer.selected_data = set(int(i) for i in hits.point[hits.aoi == k])

    def _on_open(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open gaze recordings")
        if paths:
            self.open_files(paths)

    def open_files(self, paths) -> None:
        """Open gaze files as layers through the plugin's reader; they join the list."""
        for path in paths:
            try:
                self._viewer.open(str(path), plugin="napari-gazeseg")
            except Exception as err:  # noqa: BLE001  napari wraps the reader's sentence
                cause = err.__cause__ or err
                self._report(f"{path}: {cause}")

    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export AOI metrics", "metrics.csv",
                                              "CSV (*.csv)")
        if path:
            # The save dialog has asked before replacing an existing file.
            self.export_csv(path, overwrite=True)

    def export_csv(self, path, *, overwrite: bool = False) -> None:
        from ..gaze.aoi import write_metrics_csv

        if not self._rows:
            self._report("There is no table to export yet; pick recordings and an AOI layer.")
            return
        write_metrics_csv(self._rows, path, overwrite=overwrite)
        self._status.setText(f"Wrote {len(self._rows)} rows to {path}.")

