"""Dataset folders: writing simulated scenes, reading them back, and clear errors."""

from __future__ import annotations

import argparse
import shutil

import numpy as np
import pytest

from napari_gazeseg.commands import simulate as simulate_command
from napari_gazeseg.gaze.dataset import iter_dataset, load_dataset, write_dataset
from napari_gazeseg.gaze.formats import write_gaze, write_gazemedseg_csv
from napari_gazeseg.gaze.recording import Fixations, GazeRecording
from napari_gazeseg.gaze.simulate import simulate_dataset


@pytest.fixture(scope="module")
def scenes():
    return list(simulate_dataset(3, "polyp", (64, 80), seed=1, n_objects=2))


@pytest.fixture
def folder(tmp_path, scenes):
    write_dataset(scenes, tmp_path / "set")
    return tmp_path / "set"


def _same_recording(read: GazeRecording, written: GazeRecording) -> None:
    assert isinstance(read, GazeRecording)
    assert read.equals(written)  # the native format round-trips every float and the meta


def test_round_trip_gives_back_images_masks_and_gaze(folder, scenes):
    items = load_dataset(folder)
    assert [item.name for item in items] == ["polyp_0000", "polyp_0001", "polyp_0002"]
    for item, scene in zip(items, scenes):
        np.testing.assert_array_equal(item.image, scene.image)
        assert item.mask.dtype == np.uint8
        np.testing.assert_array_equal(item.mask, scene.labels)
        _same_recording(item.gaze, scene.recording)
        assert item.image_path == folder / "images" / f"{scene.name}.png"
        assert item.gaze_path == folder / "gaze" / f"{scene.name}.gaze.tsv"
    assert sorted(p.name for p in (folder / "gaze").iterdir())[:2] == [
        "polyp_0000.gaze.json",
        "polyp_0000.gaze.tsv",
    ]


def test_many_labels_are_stored_as_uint16(tmp_path, scenes):
    scene = scenes[0]
    scene_with_many = type(scene)(
        **{**scene.__dict__, "labels": scene.labels * 200, "name": "many"}
    )
    write_dataset([scene_with_many], tmp_path)
    item = next(iter_dataset(tmp_path))
    assert item.mask.dtype == np.uint16 and item.mask.max() == 400


def test_masks_are_optional(folder):
    shutil.rmtree(folder / "masks")
    assert all(item.mask is None for item in iter_dataset(folder))


def test_grey_masks_saved_as_rgb_read_as_labels_colour_masks_are_refused(folder, scenes):
    import imageio.v3 as iio

    mask_path = folder / "masks" / "polyp_0000.png"
    labels = scenes[0].labels.astype(np.uint8)
    iio.imwrite(mask_path, np.stack([labels] * 3, axis=-1))
    np.testing.assert_array_equal(load_dataset(folder)[0].mask, labels)
    iio.imwrite(mask_path, np.stack([labels, labels, 0 * labels], axis=-1))
    with pytest.raises(ValueError, match=r"mask .*polyp_0000\.png is a colour image"):
        load_dataset(folder)


def test_missing_gaze_names_the_image_and_the_file_to_add(folder):
    (folder / "gaze" / "polyp_0001.gaze.tsv").unlink()
    (folder / "gaze" / "polyp_0001.gaze.json").unlink()
    items = iter_dataset(folder)
    assert next(items).name == "polyp_0000"
    with pytest.raises(
        FileNotFoundError, match=r"no gaze for .*polyp_0001\.png: add .*polyp_0001\.gaze\.tsv"
    ):
        next(items)


def test_unreadable_image_is_named(folder):
    (folder / "images" / "polyp_0000.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*polyp_0000\.png"):
        load_dataset(folder)


def test_missing_images_folder_says_what_a_dataset_holds(tmp_path):
    with pytest.raises(FileNotFoundError, match="images/, gaze/ and optionally masks/"):
        load_dataset(tmp_path)


def test_gaze_files_match_the_longest_image_name(tmp_path, scenes):
    """``a.b.png`` and ``a.png`` both exist: ``a.b.gaze.tsv`` belongs to ``a.b``."""
    short, long = scenes[0], scenes[1]
    for scene, name in ((short, "a"), (long, "a.b")):
        renamed = type(scene)(**{**scene.__dict__, "name": name})
        write_dataset([renamed], tmp_path)
    items = {item.name: item for item in iter_dataset(tmp_path)}
    assert set(items) == {"a", "a.b"}
    _same_recording(items["a.b"].gaze, long.recording)
    _same_recording(items["a"].gaze, short.recording)


def test_one_gazemedseg_file_can_hold_every_image(folder, scenes):
    """GazeMedSeg ships one fixation CSV for a whole dataset, keyed by image file name."""
    for path in (folder / "gaze").iterdir():
        path.unlink()
    write_gazemedseg_csv(
        {f"{s.name}.png": s.fixations for s in scenes}, folder / "gaze" / "fixations.csv"
    )
    items = load_dataset(folder)
    for item, scene in zip(items, scenes):
        assert isinstance(item.gaze, Fixations)
        assert item.gaze_path == folder / "gaze" / "fixations.csv"
        np.testing.assert_allclose(item.gaze.coords, scene.fixations.coords, atol=1e-9)


def test_two_gaze_files_for_one_image_is_an_error(folder, scenes):
    write_gaze(scenes[0].recording, folder / "gaze" / "polyp_0000.second.gaze.tsv")
    with pytest.raises(ValueError, match="several gaze files belong to polyp_0000.png"):
        load_dataset(folder)


def test_writing_refuses_to_replace_files_unless_asked(folder, scenes):
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        write_dataset(scenes[:1], folder)
    assert write_dataset(scenes[:1], folder, overwrite=True) == ["polyp_0000"]


def _gazeseg_simulate(argv: list[str]) -> int:
    """Run the sub-command as ``gazeseg simulate ARGV`` would."""
    parser = argparse.ArgumentParser(prog="gazeseg")
    simulate_command.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *argv])
    return args.func(args)


def test_gazeseg_simulate_writes_a_dataset_folder(tmp_path, capsys):
    out = tmp_path / "organs"
    assert (
        _gazeseg_simulate(
            ["--kind", "organ", "--n", "2", "--shape", "64", "72", "--seed", "3", str(out)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "organ_0001: 3 objects" in printed
    assert "wrote 2 organ images" in printed and str(out) in printed
    items = load_dataset(out)
    assert [item.name for item in items] == ["organ_0000", "organ_0001"]
    assert items[0].image.shape == (64, 72) and items[0].mask.max() == 3
    assert items[0].gaze.meta["simulation"]["seed"] == [3, 0]

    with pytest.raises(ValueError, match="organ_0000.png already exists; .* pass --overwrite"):
        _gazeseg_simulate(["--kind", "organ", "--n", "1", "--shape", "64", "72", str(out)])
    assert (
        _gazeseg_simulate(
            ["--kind", "organ", "--n", "1", "--shape", "64", "72", "--overwrite", str(out)]
        )
        == 0
    )
