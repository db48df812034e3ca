"""Reader and writer through a real viewer and npe2, and the plugin's registration."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TOBII_PRO_LAB_COLUMNS, answer_recording_picker

from napari_gazeseg._napari.layers import GAZESEG, layer_kind
from napari_gazeseg._napari.reader import get_reader
from napari_gazeseg._napari.writer import write_gaze_points
from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.formats import GazeFormatError, read_gaze, write_gaze

PLUGIN = "napari-gazeseg"


def _by_kind(viewer) -> dict:
    return {layer_kind(layer): layer for layer in viewer.layers}


@pytest.mark.parametrize("fixture", ["recording_2d", "recording_3d"])
def test_native_file_opens_as_gaze_layers(make_napari_viewer, tmp_path, request, fixture):
    recording = request.getfixturevalue(fixture)
    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording, path)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    layers = _by_kind(viewer)
    assert list(layers) == ["heatmap", "gaze", "scanpath", "fixations"]
    assert not layers["heatmap"].visible and layers["gaze"].visible
    gaze = layers["gaze"]
    np.testing.assert_array_equal(gaze.data, recording.coords[recording.valid])
    np.testing.assert_array_equal(gaze.features["t"], recording.t[recording.valid])
    np.testing.assert_array_equal(gaze.features["object_id"], recording.object_id[recording.valid])
    assert gaze.metadata[GAZESEG]["meta"] == recording.meta
    expected = detect_fixations_ivt(recording)
    np.testing.assert_array_equal(layers["fixations"].data, expected.coords)
    np.testing.assert_array_equal(layers["fixations"].features["start"], expected.start)
    assert layers["heatmap"].data.shape == recording.image_shape


@pytest.mark.parametrize("fixture", ["recording_2d", "recording_3d"])
def test_native_layers_native_round_trip_is_exact(make_napari_viewer, tmp_path, request, fixture):
    recording = request.getfixturevalue(fixture)
    source, saved = tmp_path / "in.gaze.tsv", tmp_path / "out.gaze.tsv"
    write_gaze(recording, source)
    viewer = make_napari_viewer()
    viewer.open(str(source), plugin=PLUGIN)
    gaze = _by_kind(viewer)["gaze"]
    viewer.layers.selection = {gaze}
    written = viewer.layers.save(str(saved), selected=True, plugin=PLUGIN)
    assert written == [str(saved), str(tmp_path / "out.gaze.json")]
    assert read_gaze(saved).equals(read_gaze(source))
    assert read_gaze(saved).equals(recording)
    assert saved.read_bytes() == source.read_bytes()


def test_edited_points_are_saved_where_they_were_moved(make_napari_viewer, tmp_path, recording_2d):
    source, saved = tmp_path / "in.gaze.tsv", tmp_path / "out.gaze.tsv"
    write_gaze(recording_2d, source)
    viewer = make_napari_viewer()
    viewer.open(str(source), plugin=PLUGIN)
    gaze = _by_kind(viewer)["gaze"]
    moved = gaze.data.copy()
    moved[3] = [7.0, 9.5]
    gaze.data = moved
    write_gaze_points(str(saved), *gaze.as_layer_data_tuple()[:2])
    back = read_gaze(saved)
    np.testing.assert_array_equal(back.coords[3], [7.0, 9.5])
    np.testing.assert_array_equal(np.delete(back.coords, 3, 0), np.delete(recording_2d.coords, 3, 0))


def test_plain_csv_opens_with_x_as_column(make_napari_viewer, tmp_path):
    path = tmp_path / "clicks.csv"
    # 2 Hz clicks: a unitless "t" would be 2 Hz in s or 2000 Hz in ms, so the unit is named
    path.write_text("t [s],x,y\n0.0,10,20\n0.5,11.5,21\n1.0,,\n1.5,30,40\n")
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    gaze = _by_kind(viewer)["gaze"]
    np.testing.assert_array_equal(gaze.data, [[20, 10], [21, 11.5], [40, 30]])
    np.testing.assert_array_equal(gaze.features["t"], [0.0, 0.5, 1.5])
    assert gaze.name == "clicks gaze"
    assert "heatmap" not in _by_kind(viewer)  # the file does not say how large the image is


def test_files_that_are_not_gaze_are_left_to_other_readers(tmp_path):
    table = tmp_path / "measurements.csv"
    table.write_text("area,perimeter\n1,2\n")
    assert get_reader(str(table)) is None
    assert get_reader(str(tmp_path / "missing.gaze.tsv")) is None
    assert get_reader([str(table)]) is None


def test_broken_gaze_file_raises_one_sentence_and_napari_keeps_going(
    make_napari_viewer, tmp_path, recording_2d
):
    good = tmp_path / "good.gaze.tsv"
    write_gaze(recording_2d, good)
    broken = tmp_path / "broken.gaze.tsv"
    lines = good.read_text().splitlines()
    lines[4] = lines[4].replace("\t", "\tnot-a-number\t", 1)
    broken.write_text("\n".join(lines) + "\n")
    (tmp_path / "broken.gaze.json").write_text((tmp_path / "good.gaze.json").read_text())
    assert get_reader(str(broken)) is not None  # ours: reading it says what is wrong
    viewer = make_napari_viewer()
    with pytest.raises(GazeFormatError) as caught:
        viewer.open(str(broken), plugin=PLUGIN)
    message = str(caught.value)
    assert "broken.gaze.tsv" in message and "line 5" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    assert len(viewer.layers) == 0
    viewer.open(str(good), plugin=PLUGIN)  # the viewer still works
    assert len(viewer.layers) == 4


def test_non_gaze_csv_is_refused_by_name(make_napari_viewer, tmp_path):
    table = tmp_path / "measurements.csv"
    table.write_text("area,perimeter\n1,2\n")
    viewer = make_napari_viewer()
    with pytest.raises(ValueError, match="refused the file"):
        viewer.open(str(table), plugin=PLUGIN)


def test_writer_refuses_points_that_are_not_gaze(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    clicks = viewer.add_points(np.zeros((2, 2)), name="clicks")
    with pytest.raises(ValueError, match="'clicks' is not a napari-gazeseg layer"):
        write_gaze_points(str(tmp_path / "clicks.gaze.tsv"), *clicks.as_layer_data_tuple()[:2])
    assert not (tmp_path / "clicks.gaze.tsv").exists()


def test_manifest_is_valid_and_the_plugin_is_registered():
    from npe2 import PluginManager, PluginManifest

    manifest = PluginManifest.from_distribution(PLUGIN)
    manifest.validate_imports()  # every python_name in napari.yaml imports and exists
    manager = PluginManager.instance()
    manager.discover()
    assert PLUGIN in manager._manifests
    readers = [reader.command for reader in manager.iter_compatible_readers(["x.gaze.tsv"])]
    assert f"{PLUGIN}.get_reader" in readers
    samples = dict(manager.iter_sample_data())[PLUGIN]
    assert {s.key for s in samples} == {"synthetic_cells", "skimage_cells"}


def _tobii_export(path, n_per_stimulus: int = 40):
    """A Pro Lab export: 'cells' (400 x 300 shown at 2x at (560, 240)) then 'polyp' (100 x 50)."""
    rng = np.random.default_rng(1)
    media = {
        "cells": ("cells.png", 800, 600, 560, 240, 400, 300),
        "polyp": ("polyp.jpg", 100, 50, 10, 20, 100, 50),
    }
    lines = ["\t".join(TOBII_PRO_LAB_COLUMNS)]
    for block, (stimulus, (name, pw, ph, px, py, ow, oh)) in enumerate(media.items()):
        for i in range(n_per_stimulus):
            x, y = px + rng.uniform(0, pw), py + rng.uniform(0, ph)
            valid = "Invalid" if i % 13 == 5 else "Valid"
            fields = [
                f"{1000 * block + i * 1000 / 120!r}", "Eye Tracker", "Recording1", "1920", "1080",
                f"{x!r}", f"{y!r}", valid, valid, "Fixation", stimulus, name,
                str(pw), str(ph), str(px), str(py), str(ow), str(oh),
            ]
            lines.append("\t".join(fields))
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def test_tobii_pro_lab_export_opens_one_recording_per_stimulus(make_napari_viewer, tmp_path):
    from napari_gazeseg.gaze.formats import read_gaze_all

    path = _tobii_export(tmp_path / "export.tsv")
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    expected = read_gaze_all(path)
    assert list(expected) == ["cells", "polyp"]
    for name, recording in expected.items():
        gaze = viewer.layers[f"{name} gaze"]
        np.testing.assert_array_equal(gaze.data, recording.coords[recording.valid])
        np.testing.assert_array_equal(gaze.features["t"], recording.t[recording.valid])
        np.testing.assert_array_equal(gaze.features["screen_x"], recording.screen[recording.valid, 0])
        assert viewer.layers[f"{name} heatmap"].data.shape == recording.image_shape
    groups = {lay.metadata[GAZESEG]["group"] for lay in viewer.layers}
    assert len(groups) == 2 and len(viewer.layers) == 8


def test_gazemedseg_report_opens_as_fixations_without_raw_gaze(
    make_napari_viewer, tmp_path, fixations_2d
):
    from napari_gazeseg.gaze.formats import read_gaze_all, write_gazemedseg_csv

    path = tmp_path / "kvasir_fixation.csv"
    write_gazemedseg_csv({"a.jpg": fixations_2d, "b.jpg": fixations_2d.select(np.arange(4))}, path)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    assert [lay.name for lay in viewer.layers] == [
        "a.jpg heatmap", "a.jpg scanpath", "a.jpg fixations",
        "b.jpg heatmap", "b.jpg scanpath", "b.jpg fixations",
    ]
    for name, fixations in read_gaze_all(path).items():
        layer = viewer.layers[f"{name} fixations"]
        np.testing.assert_array_equal(layer.data, fixations.coords)
        np.testing.assert_array_equal(layer.features["duration"], fixations.duration)
        assert viewer.layers[f"{name} heatmap"].data.shape == (64, 80)


# -- issue 10 items 5 and 10, issue 12 item 10: the reader path ---------------------------
def _notifications_since(count: int) -> list:
    from napari.utils.notifications import notification_manager

    return notification_manager.records[count:]


def _notification_count() -> int:
    from napari.utils.notifications import notification_manager

    return len(notification_manager.records)


def test_recording_of_a_whole_slide_image_opens_with_a_small_heatmap(make_napari_viewer, tmp_path):
    import tracemalloc

    from napari_gazeseg._napari.reader import read_gaze_layers
    from napari_gazeseg.gaze.recording import GazeRecording

    rng = np.random.default_rng(3)
    n = 600
    coords = np.repeat(rng.uniform(0, 100_000, (6, 2)), n // 6, axis=0) + rng.normal(0, 20, (n, 2))
    recording = GazeRecording(
        t=np.arange(n) / 120.0, coords=coords,
        meta={"sampling_rate_hz": 120.0, "image": {"name": "slide.svs", "shape": [100_000, 100_000]}},
    )
    path = tmp_path / "slide.gaze.tsv"
    write_gaze(recording, path)
    tracemalloc.start()
    try:
        layers = read_gaze_layers(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 300 * 2**20  # the full-size float64 map alone would be 74.5 GiB
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    heatmap = _by_kind(viewer)["heatmap"]
    assert heatmap.data.shape == (2048, 2048) and len(layers) == 4
    np.testing.assert_allclose(heatmap.scale, [100_000 / 2048] * 2)


def test_a_file_of_many_images_opens_a_bounded_number_and_says_so(tmp_path, fixations_2d):
    from napari_gazeseg._napari.reader import READER_MAX_RECORDINGS, read_gaze_layers
    from napari_gazeseg.gaze.formats import write_gazemedseg_csv

    path = tmp_path / "kvasir_fixation.csv"
    write_gazemedseg_csv({f"image{i:04d}.jpg": fixations_2d for i in range(1000)}, path)
    before = _notification_count()
    layers = read_gaze_layers(str(path))  # no napari window: no dialog
    groups = {kwargs["metadata"][GAZESEG]["group"] for _data, kwargs, _type in layers}
    assert len(groups) == READER_MAX_RECORDINGS and len(layers) == 3 * READER_MAX_RECORDINGS
    assert layers[0][1]["name"] == "image0000.jpg heatmap"
    warnings = [n for n in _notifications_since(before) if "1000 recordings" in n.message]
    assert len(warnings) == 1 and "kvasir_fixation.csv" in warnings[0].message
    assert str(warnings[0].severity) == "warning"


def test_a_file_of_many_images_asks_which_to_open(make_napari_viewer, qtbot, tmp_path, fixations_2d):
    from napari_gazeseg.gaze.formats import write_gazemedseg_csv

    path = tmp_path / "kvasir_fixation.csv"
    write_gazemedseg_csv({f"image{i:03d}.jpg": fixations_2d for i in range(40)}, path)
    viewer = make_napari_viewer()
    seen = answer_recording_picker(["image039.jpg", "image007.jpg"])
    viewer.open(str(path), plugin=PLUGIN)
    assert len(seen["listed"]) == 40 and seen["preselected"] == [f"image{i:03d}.jpg" for i in range(12)]
    assert [layer.name for layer in viewer.layers] == [
        "image007.jpg heatmap", "image007.jpg scanpath", "image007.jpg fixations",
        "image039.jpg heatmap", "image039.jpg scanpath", "image039.jpg fixations",
    ]


def test_a_one_sample_stimulus_does_not_stop_the_export_opening(make_napari_viewer, tmp_path):
    path = _tobii_export(tmp_path / "export.tsv", n_per_stimulus=1)
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    layers = {layer.name: layer for layer in viewer.layers}
    assert len(layers["cells gaze"].data) == 1 and len(layers["cells fixations"].data) == 0
    assert len(layers["polyp gaze"].data) == 1


@pytest.mark.parametrize(
    "meta, problem",
    [
        ({"image": {"shape": "abc"}}, "image size 'abc'"),
        ({"image": {"shape": [0, 5]}}, "image size [0, 5]"),
        ({"image": {"shape": [64.5, 80]}}, "image size [64.5, 80]"),
        ({"image": {"shape": [64]}}, "image size [64]"),
        ({"image": {"shape": [True, 80]}}, "image size [True, 80]"),
        ({"image": [64, 80]}, "meta 'image'"),
        ({"sampling_rate_hz": "fast"}, "sampling rate 'fast'"),
        ({"sampling_rate_hz": -120}, "sampling rate -120"),
        ({"screen": {"width_px": "wide"}}, "fixations of 'fixture2d' cannot be detected"),
    ],
)
def test_sidecar_meta_the_layers_cannot_use_gives_one_sentence_naming_the_sidecar(
    tmp_path, recording_2d, meta, problem
):
    import json

    from napari_gazeseg._napari.reader import read_gaze_layers
    from napari_gazeseg.gaze.formats import read_gaze_all

    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording_2d, path)
    sidecar = tmp_path / "fixture.gaze.json"
    content = json.loads(sidecar.read_text())
    content["meta"] = {**meta, **({"image": {"name": "fixture2d"}} if "image" not in meta else {})}
    sidecar.write_text(json.dumps(content))
    read_gaze_all(path)  # the reader accepts the file ...
    with pytest.raises(GazeFormatError) as caught:  # ... the layers say what is wrong with it
        read_gaze_layers(str(path))
    message = str(caught.value)
    assert message.startswith(f"{sidecar}: ") and problem in message
    assert message.endswith(".") and message.count("; ") == 1


def test_the_sidecar_opens_its_recording(make_napari_viewer, tmp_path, recording_2d):
    from npe2 import PluginManager

    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording_2d, path)
    sidecar = tmp_path / "fixture.gaze.json"
    assert get_reader(str(sidecar)) is not None
    manager = PluginManager.instance()
    manager.discover()
    readers = [reader.command for reader in manager.iter_compatible_readers([str(sidecar)])]
    assert readers == [f"{PLUGIN}.get_reader"]  # napari.yaml's *.gaze.json pattern
    viewer = make_napari_viewer()
    viewer.open(str(sidecar), plugin=PLUGIN)
    gaze = _by_kind(viewer)["gaze"]
    np.testing.assert_array_equal(gaze.data, recording_2d.coords[recording_2d.valid])
    assert len(viewer.layers) == 4


def test_tables_and_json_that_are_not_gaze_are_left_to_other_readers(tmp_path):
    table = tmp_path / "measurements.tsv"
    table.write_text("area\tperimeter\n1\t2\n")
    (tmp_path / "measurements.json").write_text('{"units": "um"}')  # not our sidecar
    notes = tmp_path / "notes.txt"
    notes.write_text("Participant 3 wore glasses.\n")
    binary = tmp_path / "scan.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    settings = tmp_path / "settings.gaze.json"
    settings.write_text('{"format": "something else"}')
    (tmp_path / "settings.gaze.tsv").write_text("a\tb\n")
    for path in (table, notes, binary, settings, tmp_path / "measurements.json"):
        assert get_reader(str(path)) is None, path.name


def _broken_native_file(tmp_path, recording):
    """A native file whose line 7 holds a value that is no number."""
    path = tmp_path / "broken.gaze.tsv"
    write_gaze(recording, path)
    lines = path.read_text().splitlines()
    lines[6] = lines[6].replace("\t", "\tnot-a-number\t", 1)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_dropped_broken_gaze_file_shows_our_sentence_first(make_napari_viewer, tmp_path, recording_2d):
    from napari.errors import ReaderPluginError
    from qtpy.QtCore import QUrl

    path = _broken_native_file(tmp_path, recording_2d)
    viewer = make_napari_viewer()
    before = _notification_count()
    # what napari's QtViewer.dropEvent does with the dropped file's URL
    with pytest.raises(ReaderPluginError) as napari_says:
        viewer.window._qt_viewer._open_from_list_of_urls_data(
            [QUrl.fromLocalFile(str(path))], stack=False, choose_plugin=False
        )
    shown = _notifications_since(before)
    assert shown, "nothing was shown"
    first = shown[0]
    assert str(first.severity) == "error"
    assert first.message.startswith(f"{path}, line 7: ") and first.message.count("; ") == 1
    assert "Tried to read" in str(napari_says.value)  # napari's own message comes after ours
    assert len(viewer.layers) == 0


def test_a_stimulus_that_cannot_be_shown_is_left_out_and_the_others_open(tmp_path):
    from napari_gazeseg._napari.reader import read_gaze_layers

    path = _tobii_export(tmp_path / "export.tsv")
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    sizes = [header.index(f"{kind} Media {side} [px]") for kind in ("Presented", "Original") for side in ("width", "height")]
    for index, line in enumerate(lines[1:], start=1):
        fields = line.split("\t")
        if fields[10] == "polyp":
            for column in sizes:
                fields[column] = "0"  # a media of no size: no image to place the gaze on
            lines[index] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    before = _notification_count()
    layers = read_gaze_layers(str(path))
    assert [kwargs["name"] for _d, kwargs, _t in layers] == [
        "cells heatmap", "cells gaze", "cells scanpath", "cells fixations"
    ]
    warned = [n.message for n in _notifications_since(before) if str(n.severity) == "warning"]
    assert len(warned) == 1 and "'polyp'" in warned[0] and warned[0].startswith(f"{path}: ")


def test_fixations_too_far_out_to_draw_give_one_sentence_and_the_others_open(tmp_path):
    """Found by tests/test_reader_fuzz.py: a scanpath 1e300 px long overflowed napari's thumbnail."""
    from napari_gazeseg._napari.reader import read_gaze_layers

    path = tmp_path / "fixations.csv"
    path.write_text(
        "IMAGE,CURRENT_FIX_INDEX,CURRENT_FIX_X,CURRENT_FIX_Y,CURRENT_FIX_DURATION,CURRENT_FIX_PUPIL,"
        "CURRENT_FIX_START,IMAGE_HEIGHT,IMAGE_WIDTH\n"
        "c.jpg,1,-1e+300,0.0,0.0,,0.0,1,1\n"
        "a.jpg,2,0.5,0.5,100,,0.0,64,80\n"
        "c.jpg,3,0.0,0.0,0.0,,0.0,1,1\n"
    )
    before = _notification_count()
    layers = read_gaze_layers(str(path))
    assert [kwargs["name"] for _d, kwargs, _t in layers] == ["a.jpg heatmap", "a.jpg scanpath", "a.jpg fixations"]
    warned = [n.message for n in _notifications_since(before) if str(n.severity) == "warning"]
    assert len(warned) == 1 and "'c.jpg' lies 1e+300 pixels out" in warned[0]


# -- issue 11: opening from napari's running window does not freeze it --------------------
def _open_in_the_running_window(viewer, path, expected_layers: int, timeout_ms: int = 60_000) -> dict:
    """``viewer.open(path)`` called the way a drop or File > Open calls it: from inside
    Qt's running event loop. Records how many layers existed when it returned and how
    many event-loop turns (ticks of a 0 ms timer) had passed at each layer's arrival."""
    from qtpy.QtCore import QEventLoop, QTimer

    seen: dict = {"ticks": 0, "at_insert": []}
    loop = QEventLoop()
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: seen.__setitem__("ticks", seen["ticks"] + 1))

    def inserted(event=None):
        seen["at_insert"].append(seen["ticks"])
        if len(viewer.layers) >= expected_layers:
            QTimer.singleShot(300, loop.quit)  # let the last layer's widgets settle

    def open_now():
        seen["returned"] = viewer.open(str(path), plugin=PLUGIN)
        seen["layers_at_return"] = len(viewer.layers)

    viewer.layers.events.inserted.connect(inserted)
    ticker.start()
    QTimer.singleShot(0, open_now)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    ticker.stop()
    viewer.layers.events.inserted.disconnect(inserted)
    return seen


def test_opening_in_the_running_window_reads_off_the_ui_thread_and_adds_a_layer_a_turn(
    make_napari_viewer, tmp_path, recording_2d
):
    from napari_gazeseg._napari.reader import read_gaze_layers

    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording_2d, path)
    expected = read_gaze_layers(str(path))  # outside the event loop: the layers themselves
    viewer = make_napari_viewer()
    seen = _open_in_the_running_window(viewer, path, len(expected))
    # viewer.open returned before any layer existed: nothing was read on the UI thread's turn
    assert seen["layers_at_return"] == 0 and seen["returned"] == []
    # and each layer came on a later turn of the event loop than the one before it
    assert len(seen["at_insert"]) == len(expected) == 4
    assert all(b > a for a, b in zip(seen["at_insert"], seen["at_insert"][1:])), seen["at_insert"]
    assert [layer.name for layer in viewer.layers] == [kwargs["name"] for _d, kwargs, _t in expected]
    for layer, (data, kwargs, layer_type) in zip(viewer.layers, expected):
        assert type(layer).__name__.lower() == layer_type
        np.testing.assert_array_equal(np.asarray(layer.data), np.asarray(data))
        assert layer.visible == kwargs.get("visible", True)


def test_a_broken_file_opened_in_the_running_window_is_one_sentence_and_no_layer(
    make_napari_viewer, tmp_path, recording_2d
):
    path = _broken_native_file(tmp_path, recording_2d)
    viewer = make_napari_viewer()
    before = _notification_count()
    seen = _open_in_the_running_window(viewer, path, expected_layers=1, timeout_ms=3000)
    assert seen["layers_at_return"] == 0 and len(viewer.layers) == 0
    errors = [n for n in _notifications_since(before) if str(n.severity) == "error"]
    assert len(errors) == 1, [n.message for n in errors]
    assert errors[0].message.startswith(f"{path}, line 7: ") and errors[0].message.count("; ") == 1


def test_the_gaze_layers_widget_waits_for_a_file_still_arriving(
    make_napari_viewer, tmp_path, recording_2d, monkeypatch
):
    """With the widget open, a file opened from the window gets its own four layers and no
    layer the widget made for a recording it saw half-arrived (its layers arriving slower
    than the widget's debounce, as on a loaded machine)."""
    from napari_gazeseg._napari import _viewer
    from napari_gazeseg._napari.gaze_layers_widget import DEBOUNCE_MS, GazeLayersWidget

    monkeypatch.setattr(_viewer, "TURN_PAUSE_MS", 2 * DEBOUNCE_MS)

    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording_2d, path)
    viewer = make_napari_viewer()
    widget = GazeLayersWidget(viewer)
    widget._show["heatmap"].setChecked(True)  # the widget would make a heatmap when missing
    _open_in_the_running_window(viewer, path, expected_layers=4)
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(1500, loop.quit)  # past the widget's debounce and any job it starts
    loop.exec()
    kinds = [layer_kind(layer) for layer in viewer.layers]
    assert sorted(kinds) == sorted(["heatmap", "gaze", "scanpath", "fixations"]), kinds


def test_a_file_of_many_images_opened_in_the_running_window_asks_then_builds_off_the_ui_thread(
    make_napari_viewer, tmp_path, fixations_2d
):
    from napari_gazeseg.gaze.formats import write_gazemedseg_csv

    path = tmp_path / "kvasir_fixation.csv"
    write_gazemedseg_csv({f"image{i:03d}.jpg": fixations_2d for i in range(40)}, path)
    viewer = make_napari_viewer()
    answer_recording_picker(["image003.jpg"])
    seen = _open_in_the_running_window(viewer, path, expected_layers=3)
    assert seen["layers_at_return"] == 0
    assert [layer.name for layer in viewer.layers] == [
        "image003.jpg heatmap", "image003.jpg scanpath", "image003.jpg fixations",
    ]


def test_closing_the_viewer_while_a_file_arrives_drops_the_rest_quietly(
    make_napari_viewer, qtbot, tmp_path, recording_2d, monkeypatch
):
    from napari_gazeseg._napari import _viewer

    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording_2d, path)
    viewer = make_napari_viewer()
    monkeypatch.setattr(_viewer, "TURN_PAUSE_MS", 200)
    _open_in_the_running_window(viewer, path, expected_layers=1, timeout_ms=20_000)
    assert 1 <= len(viewer.layers) < 4 and _viewer.layers_arriving(viewer)
    viewer.close()
    qtbot.wait(2000)  # the remaining turns run against the closed window
    assert not _viewer.layers_arriving(viewer)


_UI_THREAD_IMPORTS_PROBE = """
import json, sys
import napari, napari.layers, napari.qt.threading  # what napari's running window has loaded
before = set(sys.modules)
from napari_gazeseg._napari import reader
reader.get_reader(sys.argv[1])  # napari's question, on its UI thread
from napari_gazeseg._napari import _deleted_visuals_guard, _viewer  # read_gaze_layers' first lines
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_the_ui_thread_part_of_an_open_imports_no_pandas_or_scipy(tmp_path, recording_2d):
    """napari asks ``get_reader`` and calls ``read_gaze_layers`` on its UI thread: in a new
    napari process, whatever they import freezes the window at the first drop. pandas (with
    pyarrow) and scipy.ndimage took ~0.5 s there (``-X importtime``); they load in the worker
    that reads the file."""
    import json
    import subprocess
    import sys

    path = tmp_path / "fixture.gaze.tsv"
    write_gaze(recording_2d, path)
    result = subprocess.run(
        [sys.executable, "-c", _UI_THREAD_IMPORTS_PROBE, str(path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    added = json.loads(result.stdout.strip().splitlines()[-1])
    assert "napari_gazeseg._napari.reader" in added  # the probe saw our imports
    heavy = [name for name in added if name.split(".")[0] in ("pandas", "pyarrow", "scipy", "torch", "skimage")]
    assert heavy == []
