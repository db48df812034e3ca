"""`gazeseg segment` and `gazeseg train-sam` on a small dataset folder (tiny SAM, CPU)."""

from __future__ import annotations

import re

import imageio.v3 as iio
import numpy as np
import pytest
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.cli import main
from napari_gazeseg.gaze.dataset import load_dataset, write_dataset
from napari_gazeseg.gaze.simulate import simulate_dataset
from napari_gazeseg.models import GazeSam
from napari_gazeseg.segmentation import fixations_of, paint_all, sam_object_masks


def _run(argv: list[str]) -> int:
    """``gazeseg ARGV`` in this process (so the test's registered vit_tiny is known)."""
    return main(argv)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-dataset")
    write_dataset(simulate_dataset(2, "cells", (80, 104), seed=9, n_objects=3), folder)
    return folder


def _tiny_segment(dataset, out, checkpoint, *more: str) -> list[str]:
    """``gazeseg segment`` with the tiny SAM on the CPU, quietly."""
    return ["segment", str(dataset), "--out", str(out), "--model-type", TINY_TYPE,
            "--checkpoint", str(checkpoint), *more, "--device", "cpu", "--quiet"]


def test_segment_writes_one_label_image_per_image(dataset, tiny_checkpoint, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "labels"
    argv = _tiny_segment(dataset, out, tiny_checkpoint)
    assert _run(argv) == 0
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    for item in load_dataset(dataset):
        labels = iio.imread(out / f"{item.name}.png")
        assert labels.shape == item.image.shape[:2] and labels.dtype == np.uint8
        expected = paint_all(
            sam_object_masks(sam, item.image, fixations_of(item.gaze), item.gaze), labels.shape
        )
        assert len(np.unique(expected)) > 2
        np.testing.assert_array_equal(labels, expected)
    # the label images exist now: a second run refuses to replace them, --overwrite replaces
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert _run(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_train_sam_then_segment_with_the_overlay(dataset, tiny_checkpoint, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    argv = [
        "train-sam",
        str(dataset),
        "--out",
        str(run),
        "--model-type",
        TINY_TYPE,
        "--checkpoint",
        str(tiny_checkpoint),
        "--prompt",
        "fixations+box",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert _run(argv) == 0
    assert (run / "model.pt").is_file() and (run / "last.pt").is_file()
    out = tmp_path / "labels"
    assert _run(_tiny_segment(dataset, out, tiny_checkpoint, "--finetuned", str(run / "model.pt"))) == 0
    assert len(list(out.glob("*.png"))) == 2


def test_gradtrack_without_a_model_says_what_to_do(dataset, tmp_path, capsys):
    argv = [
        "segment",
        str(dataset),
        "--out",
        str(tmp_path),
        "--method",
        "gradtrack",
        "--checkpoint",
        str(tmp_path / "none.pt"),
    ]
    assert _run(argv) == 2
    assert re.search(
        r"gazeseg segment: no GradTrack checkpoint at .*none\.pt; train one",
        capsys.readouterr().err,
    )


def test_missing_sam_checkpoint_is_one_line_on_stderr(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GAZESEG_SAM_CHECKPOINT", raising=False)
    monkeypatch.delenv("GAZESEG_SAM_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    assert _run(["segment", str(dataset), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "gazeseg segment: no SAM vit_b checkpoint (sam_vit_b_01ec64.pth) was found"
    )
    assert "\n" not in err


def test_gradtrack_per_object_labels_each_looked_at_component(dataset, tmp_path):
    import torch

    from napari_gazeseg.segmentation import labels_from_gaze
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
    from napari_gazeseg.models.gradtrack_train import TrainConfig, build_model, save_checkpoint

    torch.manual_seed(0)
    config = TrainConfig(size=32, base_channels=4, max_channels=8)
    checkpoint = tmp_path / "gradtrack.pt"
    save_checkpoint(checkpoint, build_model(config), config, epoch=0)  # untrained, small
    common = ["segment", str(dataset), "--method", "gradtrack", "--checkpoint", str(checkpoint)]
    assert _run([*common, "--out", str(tmp_path / "whole"), "--device", "cpu", "--quiet"]) == 0
    assert _run([*common, "--out", str(tmp_path / "objects"), "--per-object", "--device", "cpu", "--quiet"]) == 0
    predictor = GradTrackPredictor.from_checkpoint(checkpoint, device="cpu")
    for item in load_dataset(dataset):
        mask = predictor.predict(item.image, None if item.image.dtype == np.uint8 else (
            float(item.image.min()), float(item.image.max())))
        whole = iio.imread(tmp_path / "whole" / f"{item.name}.png")
        np.testing.assert_array_equal(whole, mask.astype(np.uint8))
        fixations = fixations_of(item.gaze)
        expected = labels_from_gaze(mask, fixations.coords, fixations.object_id)
        np.testing.assert_array_equal(iio.imread(tmp_path / "objects" / f"{item.name}.png"), expected)


def _other_image_dataset(dataset, tmp_path):
    """The dataset with the second image's gaze claiming to be recorded on another image."""
    import shutil

    from napari_gazeseg.gaze.formats import read_gaze, write_gaze

    folder = tmp_path / "mixed"
    shutil.copytree(dataset, folder)
    item = load_dataset(folder)[1]
    (path,) = (folder / "gaze").glob(f"{item.name}.*.tsv")
    gaze = read_gaze(path)
    gaze.meta["image"] = {"name": "ihc_glands", "shape": [512, 512]}
    write_gaze(gaze, path)
    return folder, item.name


def test_gaze_of_another_image_is_refused_unless_forced(dataset, tiny_checkpoint, tmp_path, capsys):  # noqa: F811
    folder, name = _other_image_dataset(dataset, tmp_path)
    out = tmp_path / "labels"
    argv = _tiny_segment(folder, out, tiny_checkpoint)
    assert _run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"gazeseg segment: {name}: the gaze was recorded on another image ('ihc_glands', not "
        f"'{name}' and of shape (512, 512), not (80, 104)); pair each image with its own gaze, "
        "or pass --force to segment anyway."
    )
    assert not out.exists()  # nothing created before the inputs are checked
    assert _run([*argv, "--force"]) == 0
    assert len(list(out.glob("*.png"))) == 2


def test_masks_that_cannot_be_right_are_listed_per_object(dataset, tmp_path, capsys):
    """An untrained GradTrack thresholded at 0: the whole image is foreground, every object flagged."""
    import torch

    from napari_gazeseg.models.gradtrack_train import TrainConfig, build_model, save_checkpoint

    torch.manual_seed(0)
    config = TrainConfig(size=32, base_channels=4, max_channels=8)
    checkpoint = tmp_path / "gradtrack.pt"
    save_checkpoint(checkpoint, build_model(config), config, epoch=0, metrics={"val_threshold": 1e-6})
    out = tmp_path / "labels"
    argv = ["segment", str(dataset), "--out", str(out), "--method", "gradtrack",
            "--checkpoint", str(checkpoint), "--device", "cpu", "--quiet"]
    assert _run(argv) == 0
    captured = capsys.readouterr()
    flagged = [line for line in captured.err.splitlines() if "cannot be right" in line]
    assert len(flagged) == 2 and all("label 1: the mask covers 100% of the image" in f for f in flagged)
    assert "2 masks cannot be right" in captured.out
    out.joinpath("other.txt").write_text("kept")
    assert _run([*argv, "--overwrite"]) == 0  # the explicit way through replaces the label images
    assert len(list(out.glob("*.png"))) == 2 and out.joinpath("other.txt").read_text() == "kept"


def test_a_checkpoint_of_another_sam_is_refused_before_building(dataset, tmp_path, capsys, monkeypatch):
    """A vit_h file chosen for vit_b: one sentence at once, the 600 M-parameter model never built."""
    import torch

    from napari_gazeseg.models import sam_loading

    path = tmp_path / "sam_vit_h_4b8939.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(1280, 3, 16, 16)}, path)
    monkeypatch.setitem(sam_loading._BUILDERS, "vit_b", lambda: pytest.fail("vit_b was built"))
    out = tmp_path / "labels"
    assert _run(["segment", str(dataset), "--out", str(out), "--checkpoint", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gazeseg segment: sam_vit_h_4b8939.pth does not fit SAM vit_b")
    assert "it is a vit_h checkpoint: choose model type vit_h" in err and "\n" not in err
    assert not out.exists()
