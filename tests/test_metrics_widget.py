"""The Gaze metrics widget in a real viewer: table content, CSV export, live update after painting."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from napari_gazeseg._napari.layers import gaze_layers, layer_kind
from napari_gazeseg._napari.metrics_widget import GazeMetricsWidget, MetricsSettings
from napari_gazeseg.gaze.aoi import AOISet, metrics_table
from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer

WAIT_MS = 20_000


@pytest.fixture(scope="module")
def scene():
    return simulate_observer("cells", shape=(128, 160), n_objects=3, seed=5)


def _open(viewer, scene):
    viewer.add_image(scene.image, name="cells")
    fixations = detect_fixations_ivt(scene.recording)
    for layer_data in gaze_layers(scene.recording, fixations, name="cells"):
        viewer._add_layer_from_data(*layer_data)
    labels = viewer.add_labels(scene.labels.copy(), name="AOIs")
    fix_layer = next(layer for layer in viewer.layers if layer_kind(layer) == "fixations")
    return fixations, labels, fix_layer


def test_table_equals_metrics_table_and_exports(make_napari_viewer, qtbot, scene, tmp_path):
    viewer = make_napari_viewer()
    fixations, labels, fix_layer = _open(viewer, scene)
    widget = GazeMetricsWidget(viewer)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.schedule()
    expected = metrics_table(
        {fix_layer.name: (scene.recording, fixations)}, AOISet.from_labels(scene.labels)
    )
    got = widget.rows
    assert len(got) == len(expected) == 3
    for a, b in zip(got, expected):
        assert a["AOI"] == b["AOI"]
        assert a["Number_of_fixations"] == b["Number_of_fixations"]
        assert a["Total_duration_of_fixations"] == pytest.approx(b["Total_duration_of_fixations"])
        assert a["Proportion_of_time_on_AOI"] == pytest.approx(b["Proportion_of_time_on_AOI"])
    assert widget._table.rowCount() == 3
    assert widget.transitions.shape == (4, 4)

    out = tmp_path / "m.csv"
    widget.export_csv(out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["AOI"]) for r in rows] == [r["AOI"] for r in expected]

    # Clicking a row selects the AOI label and its fixations.
    widget._table.selectRow(0)
    aoi = int(widget._table.item(0, 2).text())
    assert labels.selected_label == aoi
    hit = AOISet.from_labels(scene.labels).hits(fix_layer.data)
    k = int(np.searchsorted(np.unique(scene.labels[scene.labels > 0]), aoi))
    assert fix_layer.selected_data == set(hit.point[hit.aoi == k].tolist())


def test_painting_the_aoi_layer_updates_the_table(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    _, labels, _ = _open(viewer, scene)
    widget = GazeMetricsWidget(viewer)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.schedule()
    assert {r["AOI"] for r in widget.rows} == {1, 2, 3}
    # Paint a new AOI (label 9) over the whole top-left quarter, as the brush would.
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        labels.paint((0, 0), 9)  # one brush dab fires the paint event
        region = np.zeros(labels.data.shape, bool)
        region[:64, :80] = True
        labels.data_setitem(np.nonzero(region), 9)
    assert 9 in {r["AOI"] for r in widget.rows}


def test_shapes_layer_as_aois_and_settings(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    fixations, _, fix_layer = _open(viewer, scene)
    rect = np.array([[0, 0], [0, 160], [128, 160], [128, 0]], dtype=float) - 0.5
    shapes = viewer.add_shapes([rect], shape_type="rectangle", name="whole image")
    widget = GazeMetricsWidget(viewer)
    widget.set_aoi_layer(shapes)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.settings = MetricsSettings(by_object=True, radius_px=0.0)
    rows = widget.rows
    # One AOI covering the image: every fixation of each session hits it.
    for oid in fixations.object_ids:
        row = next(r for r in rows if r["Object"] == oid)
        assert row["Number_of_fixations"] == int((fixations.object_id == oid).sum())


def test_no_aoi_says_what_to_do(make_napari_viewer, qtbot, scene):
    viewer = make_napari_viewer()
    _open(viewer, scene)
    viewer.layers["AOIs"].data = np.zeros_like(scene.labels)
    widget = GazeMetricsWidget(viewer)
    with qtbot.waitSignal(widget.failed, timeout=WAIT_MS) as blocker:
        widget.schedule()
    assert "holds no AOI yet" in blocker.args[0]


def test_open_gaze_files_lists_and_measures_them(make_napari_viewer, qtbot, scene, tmp_path):
    from napari_gazeseg.gaze.formats import write_gaze

    viewer = make_napari_viewer()
    viewer.add_labels(scene.labels.copy(), name="AOIs")
    widget = GazeMetricsWidget(viewer)
    path = tmp_path / "reader1.gaze.tsv"
    write_gaze(scene.recording, path)
    with qtbot.waitSignal(widget.updated, timeout=WAIT_MS):
        widget.open_files([path])
    assert len(widget.recording_layers()) == 1
    assert sum(r["Number_of_fixations"] for r in widget.rows) > 0
