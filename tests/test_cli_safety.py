"""`gazeseg train` / `train-sam` never lose a run and never end in a traceback (issue 10, item 12).

Each test reproduces one reported defect through the real command line (``main``)
or the real training code: an existing ``--out`` replaced silently, ``--out``
being a file, a damaged ``last.pt`` on ``--resume``, ``--lr nan`` or a diverged
epoch saved as an all-NaN model with rc 0, Ctrl-C leaving a traceback and a
dropped metrics line, a corrupt PNG in the dataset. A user error ends with rc 2
and one line on stderr naming the file and what to do.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import torch
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.cli import main
from napari_gazeseg.gaze.dataset import write_dataset
from napari_gazeseg.gaze.simulate import simulate_dataset
from napari_gazeseg.models import gradtrack_train

TINY_TRAIN = ["--size", "16", "--base-channels", "2", "--max-channels", "4", "--beta", "2",
              "--batch-size", "2", "--momentum", "0.9", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("safety-dataset")
    write_dataset(simulate_dataset(3, "cells", (48, 56), seed=5, n_objects=2), folder)
    return folder


def _train(dataset, out, *extra) -> int:
    return main(["train", str(dataset), "--out", str(out), *TINY_TRAIN, *map(str, extra)])


def _train_sam(dataset, out, checkpoint, *extra) -> int:
    return main(["train-sam", str(dataset), "--out", str(out), "--model-type", TINY_TYPE,
                 "--checkpoint", str(checkpoint), "--device", "cpu", "--quiet", *map(str, extra)])


def _one_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "\n" not in err, err
    assert err.startswith(f"gazeseg {command}: "), err
    return err


def _epochs(out) -> list[int]:
    return [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """A finished 1-epoch GradTrack run (its last.pt is damaged in copies by tests)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert _train(dataset, out, "--epochs", 1) == 0
    return out


# ----------------------------------------------------------------- existing --out


@pytest.mark.parametrize("command", ["train", "train-sam"])
@pytest.mark.parametrize("existing", ["model.pt", "last.pt", "metrics.jsonl"])
def test_an_existing_run_in_out_is_never_replaced_without_overwrite(dataset, tmp_path, capsys, command, existing):
    out = tmp_path / "run"
    out.mkdir()
    (out / existing).write_bytes(b"an earlier run")
    tiny = TINY_TRAIN if command == "train" else ["--model-type", TINY_TYPE, "--device", "cpu", "--quiet"]
    assert main([command, str(dataset), "--out", str(out), "--epochs", "1", *tiny]) == 2
    err = _one_line(capsys, command)
    assert str(out) in err and "--overwrite" in err and "--resume" in err
    assert (out / existing).read_bytes() == b"an earlier run"


def test_overwrite_replaces_the_run_and_resume_continues_it(dataset, trained, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    assert _train(dataset, out, "--epochs", 2, "--resume") == 0
    assert _epochs(out) == [1, 2]
    assert _train(dataset, out, "--epochs", 1, "--overwrite") == 0
    assert _epochs(out) == [1]
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1


def test_an_empty_out_folder_is_used(dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    assert _train(dataset, out, "--epochs", 1) == 0


@pytest.mark.parametrize("command", ["train", "train-sam"])
@pytest.mark.parametrize("where", ["out", "parent"])
def test_out_being_a_file_is_one_sentence(dataset, tmp_path, capsys, command, where):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("user's notes")
    out = blocker if where == "out" else blocker / "run"
    tiny = TINY_TRAIN if command == "train" else ["--model-type", TINY_TYPE, "--device", "cpu", "--quiet"]
    assert main([command, str(dataset), "--out", str(out), "--epochs", "1", "--overwrite", *tiny]) == 2
    assert "notes.txt" in _one_line(capsys, command)
    assert blocker.read_text() == "user's notes"


# ------------------------------------------------------------ damaged last.pt


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flipped(data: bytes) -> bytes:
    damaged = bytearray(data)
    for position in range(len(data) // 3, len(data), max(1, len(data) // 7)):
        damaged[position] ^= 0xFF
    return bytes(damaged)


def _save_with_digest(state, path):
    """A well-formed file (its digest right) whose content is wrong: the deeper checks must catch it."""
    state["digest"] = gradtrack_train.state_digest(state)
    torch.save(state, path)


def _wrong_shapes(path):
    state = torch.load(path, weights_only=True)
    state["state_dict"] = {k: torch.zeros(3) for k in state["state_dict"]}
    _save_with_digest(state, path)


def _no_optimizer(path):
    state = torch.load(path, weights_only=True)
    del state["optimizer"]
    _save_with_digest(state, path)


def _changed_weights(path):
    """Bytes changed inside tensor data, which torch reads back without complaint."""
    state = torch.load(path, weights_only=True)
    part = "state_dict" if "state_dict" in state else "mask_decoder"
    name = next(iter(state[part]))
    state[part][name] = state[part][name] + 1
    torch.save(state, path)


def _foreign_dict(path):
    torch.save({"epoch": 1}, path)


def _a_list(path):
    torch.save([1, 2, 3], path)


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", "hello")


DAMAGES = {
    "empty": lambda path: path.write_bytes(b""),
    "garbage": lambda path: path.write_bytes(os.urandom(4096)),
    "truncated": lambda path: path.write_bytes(_truncated(path.read_bytes())),
    "flipped bytes": lambda path: path.write_bytes(_flipped(path.read_bytes())),
    "wrong shapes": _wrong_shapes,
    "no optimiser": _no_optimizer,
    "changed weights": _changed_weights,
    "foreign dict": _foreign_dict,
    "a list": _a_list,
    "zip of text": _zip_of_text,
    "a folder": lambda path: (path.unlink(), path.mkdir()),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_train_resume_on_a_damaged_last_pt_is_one_sentence(dataset, trained, tmp_path, capsys, damage):
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    DAMAGES[damage](out / "last.pt")
    before = (out / "model.pt").read_bytes()
    assert _train(dataset, out, "--epochs", 2, "--resume") == 2
    err = _one_line(capsys, "train")
    assert "last.pt" in err and "weights_only" not in err
    assert (out / "model.pt").read_bytes() == before


@pytest.fixture(scope="module")
def sam_run(dataset, tiny_checkpoint, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("sam-run") / "run"
    assert _train_sam(dataset, out, tiny_checkpoint, "--epochs", 1) == 0
    return out


# the reading code is shared with train's: a representative subset (each case loads tiny SAM)
@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped bytes", "foreign dict", "a folder",
                                    "changed weights", "sam wrong shapes"])
def test_train_sam_resume_on_a_damaged_last_pt_is_one_sentence(
    dataset, tiny_checkpoint, sam_run, tmp_path, capsys, damage  # noqa: F811
):
    out = tmp_path / "run"
    shutil.copytree(sam_run, out)
    path = out / "last.pt"
    if damage == "sam wrong shapes":
        state = torch.load(path, weights_only=True)
        state["mask_decoder"] = {k: torch.zeros(2) for k in state["mask_decoder"]}
        _save_with_digest(state, path)
    else:
        DAMAGES[damage](path)
    before = (out / "model.pt").read_bytes()
    assert _train_sam(dataset, out, tiny_checkpoint, "--epochs", 2, "--resume") == 2
    err = _one_line(capsys, "train-sam")
    assert "last.pt" in err and "weights_only" not in err
    assert (out / "model.pt").read_bytes() == before


# ------------------------------------------------------------- NaN and divergence


@pytest.mark.parametrize("command", ["train", "train-sam"])
@pytest.mark.parametrize("lr", ["nan", "inf", "-0.1", "0"])
def test_a_learning_rate_that_is_not_a_positive_number_is_refused(dataset, tmp_path, capsys, command, lr):
    out = tmp_path / "run"
    tiny = TINY_TRAIN if command == "train" else ["--model-type", TINY_TYPE, "--device", "cpu", "--quiet"]
    assert main([command, str(dataset), "--out", str(out), "--lr", lr, "--epochs", "1", *tiny]) == 2
    assert "learning rate" in _one_line(capsys, command)
    assert not out.exists()


def test_weights_turned_nan_are_never_saved(dataset, tmp_path):
    """The loss of the step that ruins the weights is still finite: the weights are checked too."""
    from napari_gazeseg.models.gaze_supervision import SupervisionParams, load_folder_samples

    config = gradtrack_train.TrainConfig(size=16, base_channels=2, max_channels=4, epochs=1, batch_size=8,
                                         device="cpu", progress=False)
    config.lr = float("nan")  # past the check, as a diverging optimiser would be
    samples = load_folder_samples(dataset, SupervisionParams.from_train_config(config))
    with pytest.raises(gradtrack_train.TrainingDivergedError, match="nothing was saved"):
        gradtrack_train.fit(samples, config, tmp_path)
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "last.pt").exists()


def test_a_diverged_last_epoch_stops_with_one_sentence_and_keeps_the_good_epoch(
    dataset, tmp_path, capsys, monkeypatch
):
    real_loss, calls = gradtrack_train.method_loss, {"n": 0}

    def loss_that_explodes_in_epoch_2(*args, **kwargs):
        loss, terms = real_loss(*args, **kwargs)
        calls["n"] += 1
        return (loss * float("inf"), terms) if calls["n"] > 2 else (loss, terms)  # 2 steps per epoch

    monkeypatch.setattr(gradtrack_train, "method_loss", loss_that_explodes_in_epoch_2)
    out = tmp_path / "run"
    assert _train(dataset, out, "--epochs", 2, "--val-fraction", 0) == 2
    err = _one_line(capsys, "train")
    assert "epoch 2" in err and "--lr" in err and f"{out} keeps epoch 1" in err
    assert _epochs(out) == [1]
    for name in ("model.pt", "last.pt"):
        saved = torch.load(out / name, weights_only=True)
        assert saved["epoch"] == 1
        assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())


# ------------------------------------------------------------------ Ctrl-C


def test_ctrl_c_is_one_line_and_a_resumed_run_keeps_every_metrics_line(dataset, tmp_path, capsys, monkeypatch):
    """Ctrl-C at the worst moment (epoch 2's metrics and model.pt written, last.pt not yet)."""
    real_save, saves = gradtrack_train.save_checkpoint, {"n": 0}

    def save_then_interrupt(path, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] == 4:  # epoch 2's last.pt
            raise KeyboardInterrupt
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(gradtrack_train, "save_checkpoint", save_then_interrupt)
    out = tmp_path / "run"
    try:
        rc = _train(dataset, out, "--epochs", 3)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped from gazeseg as a traceback")
    assert rc == 130
    err = _one_line(capsys, "train")
    assert "interrupted" in err and "--resume" in err
    assert not list(out.glob("*.tmp"))
    monkeypatch.setattr(gradtrack_train, "save_checkpoint", real_save)
    assert _train(dataset, out, "--epochs", 3, "--resume") == 0
    assert _epochs(out) == [1, 2, 3]


def test_a_torn_metrics_line_does_not_stop_a_resume(dataset, trained, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(trained, out)
    with open(out / "metrics.jsonl", "a") as log:
        log.write('{"epoch": 2, "lo')
    assert _train(dataset, out, "--epochs", 2, "--resume") == 0
    assert _epochs(out) == [1, 2]


@pytest.mark.slow
def test_a_real_sigint_prints_one_line_and_leaves_whole_metrics_lines(dataset, tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "napari_gazeseg.cli", "train", str(dataset), "--out", str(out),
         *TINY_TRAIN, "--epochs", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        metrics = out / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert err.strip().startswith("gazeseg train: interrupted") and "\n" not in err.strip(), err
    lines = metrics.read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, len(lines) + 1))
    assert not list(out.glob("*.tmp"))


# ------------------------------------------------------------- corrupt inputs


@pytest.mark.parametrize("command", ["train", "train-sam"])
@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + os.urandom(300), "truncated"])
def test_a_corrupt_png_in_the_dataset_is_one_sentence(
    dataset, tiny_checkpoint, tmp_path, capsys, command, content  # noqa: F811
):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken, ignore=shutil.ignore_patterns(".gazeseg-cache"))
    image = sorted((broken / "images").glob("*.png"))[0]  # read first: no maps or embeddings made before
    if content == "truncated":
        content = image.read_bytes()[: image.stat().st_size // 2]
    image.write_bytes(content)
    out = tmp_path / "run"
    if command == "train":
        assert _train(broken, out, "--epochs", 1) == 2
    else:
        assert _train_sam(broken, out, tiny_checkpoint, "--epochs", 1) == 2
    assert image.name in _one_line(capsys, command)


# ---------------------------------------------------- GradTrack checkpoint checks


def _small_checkpoint(path):
    config = gradtrack_train.TrainConfig(size=16, base_channels=2, max_channels=4)
    torch.manual_seed(0)
    gradtrack_train.save_checkpoint(path, gradtrack_train.build_model(config), config, epoch=1)
    return torch.load(path, weights_only=True)


def _set(key, value):
    def change(checkpoint):
        checkpoint[key] = value
    return change


def _set_unet(key, value):
    def change(checkpoint):
        checkpoint["unet"][key] = value
    return change


def _nan_weight(checkpoint):
    name = next(iter(checkpoint["state_dict"]))
    checkpoint["state_dict"][name] = torch.full_like(checkpoint["state_dict"][name], float("nan"))


CHECKPOINT_DAMAGES = {
    # (change, what the sentence names)
    "NaN threshold": (_set("threshold", float("nan")), "threshold"),
    "threshold 1.5": (_set("threshold", 1.5), "threshold"),
    "threshold a string": (_set("threshold", "0.5"), "threshold"),
    "NaN weights": (_nan_weight, "NaN"),
    "channels not those of the weights": (_set_unet("base_channels", 8), "shape"),
    "154 GB plan": (_set_unet("base_channels", 65536), "base_channels"),
    "huge input side": (_set_unet("size", 1 << 20), "size"),
    "four input channels": (_set_unet("in_channels", 4), "RGB"),
    "TA block outside the plan": (_set("track_attention_blocks", [9]), "malformed"),
    "no unet plan": (_set("unet", None), "plan"),
    "weights missing": (_set("state_dict", {}), "missing"),
    "weights not tensors": (_set("state_dict", {"a": 1}), "weights"),
}


def test_a_gradtrack_checkpoint_changed_after_saving_is_refused(tmp_path):
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor

    path = tmp_path / "model.pt"
    checkpoint = _small_checkpoint(path)
    name = next(iter(checkpoint["state_dict"]))
    checkpoint["state_dict"][name] = checkpoint["state_dict"][name] * 0.5  # finite, right shape, wrong
    torch.save(checkpoint, path)  # the stored digest is now stale
    with pytest.raises(ValueError, match="does not match its digest"):
        GradTrackPredictor.from_checkpoint(path, device="cpu")


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGES))
def test_gradtrack_checkpoints_are_checked_before_a_network_is_built(tmp_path, damage):
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor

    path = tmp_path / "model.pt"
    checkpoint = _small_checkpoint(path)
    change, named = CHECKPOINT_DAMAGES[damage]
    change(checkpoint)
    _save_with_digest(checkpoint, path)  # a consistent file: the content checks must catch it
    with pytest.raises(ValueError) as err:
        GradTrackPredictor.from_checkpoint(path, device="cpu")
    message = str(err.value)
    assert str(path) in message and named in message and "\n" not in message


def test_a_checked_checkpoint_still_loads_and_predicts(tmp_path):
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor

    _small_checkpoint(tmp_path / "model.pt")
    predictor = GradTrackPredictor.from_checkpoint(tmp_path / "model.pt", device="cpu")
    assert predictor.predict(np.zeros((20, 24), np.uint8)).shape == (20, 24)
    assert predictor.threshold == 0.5


@pytest.mark.parametrize("per_object", [False, True], ids=["whole image", "per object"])
def test_a_corrupt_png_for_gradtrack_segment_is_one_sentence(dataset, tmp_path, capsys, per_object):
    """`gazeseg segment --method gradtrack` reads images itself when not per object."""
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken, ignore=shutil.ignore_patterns(".gazeseg-cache"))
    image = sorted((broken / "images").glob("*.png"))[0]
    image.write_bytes(image.read_bytes()[:200])
    argv = ["segment", str(broken), "--out", str(tmp_path / "labels"), "--method", "gradtrack",
            "--device", "cpu", "--quiet"]
    assert main(argv + (["--per-object"] if per_object else [])) == 2
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # after the bundled model's card, when it is shown
    assert "Traceback" not in err and last.startswith("gazeseg segment: ") and image.name in last, err
