"""The annotation series: files, log, resume, backups (napari-free)."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from conftest import image_folder

from napari_gazeseg.annotation import DEFAULT_OUTPUT, LOG_NAME, AnnotationSeries
from napari_gazeseg.gaze.dataset import load_dataset
from napari_gazeseg.gaze.formats import read_gaze
from napari_gazeseg.gaze.simulate import simulate_observer


@pytest.fixture(scope="module")
def scenes():
    return [simulate_observer("cells", shape=(64, 80), n_objects=2, seed=s) for s in range(4)]


@pytest.fixture
def folder(tmp_path, scenes):
    src = image_folder(tmp_path / "slides", [scene.image for scene in scenes], "img")
    (src / "notes.txt").write_text("not an image")
    return src


def test_plain_folder_goes_to_its_default_output(folder):
    series = AnnotationSeries(folder)
    assert series.output == folder / DEFAULT_OUTPUT
    assert [e.name for e in series.images] == ["img0", "img1", "img2", "img3"]
    assert series.first_unfinished() == 0
    assert series.progress_text() == "0 / 4 accepted"


def test_accept_writes_a_dataset_the_trainers_read(folder, scenes):
    series = AnnotationSeries(folder)
    for k in (0, 1):
        row = series.accept(f"img{k}", scenes[k].labels, scenes[k].recording,
                            seconds=12.5, model="sam vit_b", clicks=k)
        assert row["objects"] == 2 and row["clicks"] == k
    series.skip("img2", reason="blurred")
    assert series.counts() == {"todo": 1, "accepted": 2, "skipped": 1}
    assert series.first_unfinished() == 3
    out = series.output
    assert (out / "images" / "img0.png").exists() and (out / "gaze" / "img0.gaze.json").exists()
    np.testing.assert_array_equal(iio.imread(out / "masks" / "img1.png"), scenes[1].labels)
    assert read_gaze(out / "gaze" / "img1.gaze.tsv").equals(scenes[1].recording)
    rows = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]
    assert [(r["image"], r["state"]) for r in rows] == [
        ("img0", "accepted"), ("img1", "accepted"), ("img2", "skipped")
    ]
    assert {"time", "annotator", "files", "seconds", "model"} <= set(rows[0])
    # The output is a dataset folder: gazeseg train / segment / metrics read it.
    items = load_dataset(out)
    assert [i.name for i in items] == ["img0", "img1"]
    assert items[0].mask is not None


def test_resume_continues_at_the_first_unfinished_image(folder, scenes):
    series = AnnotationSeries(folder)
    series.accept("img0", scenes[0].labels, scenes[0].recording)
    series.accept("img1", scenes[1].labels, scenes[1].recording)
    again = AnnotationSeries(folder)
    assert again.first_unfinished() == 2
    assert [e.state for e in again.images] == ["accepted", "accepted", "todo", "todo"]
    np.testing.assert_array_equal(again.mask_of("img1"), scenes[1].labels)


def test_accepting_again_moves_the_old_files_to_a_backup(folder, scenes):
    series = AnnotationSeries(folder)
    series.accept("img0", scenes[0].labels, scenes[0].recording)
    new_mask = (scenes[0].labels > 0).astype(np.int32) * 5
    row = series.accept("img0", new_mask, scenes[1].recording)
    assert "replaced" in row
    backup = series.output / row["replaced"]
    np.testing.assert_array_equal(iio.imread(backup / "masks" / "img0.png"), scenes[0].labels)
    assert read_gaze(backup / "gaze" / "img0.gaze.tsv").equals(scenes[0].recording)
    np.testing.assert_array_equal(iio.imread(series.output / "masks" / "img0.png"), new_mask)


def test_a_torn_last_line_is_ignored_and_the_next_row_starts_clean(folder, scenes):
    series = AnnotationSeries(folder)
    series.accept("img0", scenes[0].labels)
    with open(series.log_path, "a") as fh:
        fh.write('{"image": "img1", "state": "acc')  # crash mid-write
    again = AnnotationSeries(folder)
    assert again.entry("img1").state == "todo"
    again.skip("img1")
    assert [r["image"] for r in AnnotationSeries(folder).rows()] == ["img0", "img1"]


def test_stacks_and_large_ids_go_to_tiff(tmp_path):
    src = tmp_path / "stacks"
    src.mkdir()
    tifffile.imwrite(src / "vol.tif", np.zeros((3, 16, 16), np.uint16))
    series = AnnotationSeries(src, output=tmp_path / "out")
    assert series.read_image("vol").shape == (3, 16, 16)
    mask = np.zeros((3, 16, 16), np.int32)
    mask[1, 4:8, 4:8] = 70000
    row = series.accept("vol", mask)
    assert row["files"]["mask"] == "masks/vol.tif"
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "masks" / "vol.tif"), mask)


def test_dataset_folder_is_annotated_in_place(tmp_path, scenes):
    from napari_gazeseg.gaze.dataset import write_dataset

    write_dataset(scenes[:2], tmp_path / "data")
    series = AnnotationSeries(tmp_path / "data")
    assert series.output == tmp_path / "data"
    # write_dataset wrote masks but no log: nothing counts as accepted yet
    assert series.first_unfinished() == 0
    row = series.accept(scenes[0].name, scenes[0].labels)
    assert "replaced" in row  # the mask written by write_dataset went to the backup


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "is not a folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "holds no images"),
    ],
)
def test_bad_folders_say_what_to_do(tmp_path, make, match):
    with pytest.raises(FileNotFoundError, match=match):
        AnnotationSeries(make(tmp_path))


def test_bad_masks_are_refused(folder):
    series = AnnotationSeries(folder)
    with pytest.raises(ValueError, match="integer labels"):
        series.accept("img0", np.zeros((64, 80)))
    with pytest.raises(KeyError, match="not an image of this series"):
        series.skip("nope")


def test_export_labels_stack_and_bids_gaze(folder, scenes, tmp_path):
    from napari_gazeseg.gaze.formats import read_gaze as read_any

    series = AnnotationSeries(folder)
    series.accept("img0", scenes[0].labels, scenes[0].recording, annotator="dr.who")
    series.accept("img2", scenes[2].labels, scenes[2].recording, annotator="dr.who")
    written = series.export(tmp_path / "export")
    stack = tifffile.imread(tmp_path / "export" / "labels.tif")
    assert stack.shape == (2, 64, 80)
    np.testing.assert_array_equal(stack[1], scenes[2].labels)
    assert json.loads((tmp_path / "export" / "labels.json").read_text()) == ["img0", "img2"]
    physio = [p for p in written if p.name.endswith("_physio.tsv.gz")]
    assert [p.name for p in physio] == [
        "sub-drwho_task-annotate_acq-img0_recording-eye1_physio.tsv.gz",
        "sub-drwho_task-annotate_acq-img2_recording-eye1_physio.tsv.gz",
    ]
    back = read_any(physio[1])
    assert len(back) == len(scenes[2].recording)
    with pytest.raises(FileExistsError):
        series.export(tmp_path / "export")


def test_correction_counts_read_new_rows_and_rows_from_before_boxes(folder, scenes):
    from napari_gazeseg.annotation import correction_counts

    series = AnnotationSeries(folder)
    series.output.mkdir(parents=True, exist_ok=True)
    old = {"image": "img1", "state": "skipped", "corrections": 3, "clicks": 2}  # no "boxes" yet
    series.log_path.write_text(json.dumps(old) + "\n")
    row = series.accept("img0", scenes[0].labels, corrections=1, clicks=4, boxes=2)
    rows = AnnotationSeries(folder).rows()
    assert rows[-1] == row
    assert [correction_counts(r) for r in rows] == [
        {"corrections": 3, "clicks": 2, "boxes": 0},
        {"corrections": 1, "clicks": 4, "boxes": 2},
    ]
    assert correction_counts({"image": "x"}) == {"corrections": 0, "clicks": 0, "boxes": 0}
