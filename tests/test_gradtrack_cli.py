"""``gazeseg train`` end to end: simulated dataset folder -> model.pt -> GradTrackPredictor."""

import argparse
import json

import pytest

from napari_gazeseg.commands import train as train_command
from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
from napari_gazeseg.models.gradtrack_train import TrainConfig


def _parser():
    parser = argparse.ArgumentParser(prog="gazeseg")
    train_command.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(*argv):
    args = _parser().parse_args(["train", *map(str, argv)])
    return args.func(args)


def test_command_line_defaults_are_the_training_defaults():
    args = _parser().parse_args(["train", "data", "--out", "runs"])
    assert train_command.config_from_args(args).to_dict() == TrainConfig().to_dict()
    assert args.func is train_command.run


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from napari_gazeseg.gaze.dataset import write_dataset
    from napari_gazeseg.gaze.simulate import simulate_dataset

    folder = tmp_path_factory.mktemp("cells")
    write_dataset(simulate_dataset(6, kind="cells", shape=(96, 96), seed=3, n_objects=2), folder)
    return folder


def test_train_writes_a_model_the_predictor_segments_with(dataset, tmp_path):
    out = tmp_path / "run"
    common = ["--out", out, "--size", 32, "--base-channels", 4, "--max-channels", 8, "--beta", 2,
              "--batch-size", 2, "--momentum", 0.9, "--device", "cpu", "--quiet"]
    assert _run(dataset, *common, "--epochs", 2) == 0
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in log] == [1, 2] and "val_dice" in log[0]
    assert len(list((dataset / ".gazeseg-cache" / "gradtrack").glob("*.npz"))) == 6
    predictor = GradTrackPredictor.from_checkpoint(out / "model.pt", device="cpu")
    assert predictor.train_config.beta == 2
    from napari_gazeseg.gaze.dataset import iter_dataset

    item = next(iter(iter_dataset(dataset)))
    mask = predictor.predict(item.image)
    assert mask.shape == item.image.shape[:2] and mask.dtype == bool
    assert _run(dataset, *common, "--epochs", 3, "--resume") == 0
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_supervised_method_needs_masks(tmp_path, dataset):
    import shutil

    unlabelled = tmp_path / "unlabelled"
    shutil.copytree(dataset / "images", unlabelled / "images")
    shutil.copytree(dataset / "gaze", unlabelled / "gaze")
    with pytest.raises(ValueError, match="needs masks"):
        _run(unlabelled, "--out", tmp_path / "run", "--method", "supervised", "--size", 32, "--quiet")


def test_missing_dataset_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="gazeseg simulate"):
        _run(tmp_path / "nowhere", "--out", tmp_path / "run", "--quiet")
