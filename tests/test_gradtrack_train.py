"""GradTrack training loop on tensors: loss goes down, checkpoints, resume, DDP (gloo)."""

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from napari_gazeseg.models.gradtrack_data import SampleSet, augment, prepare_image
from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
from napari_gazeseg.models.gradtrack_train import TrainConfig, dice_scores, fit, split_indices
from napari_gazeseg.models.gaze_supervision import SupervisionParams

SIZE = 32


def _disk_samples(n: int, seed: int = 0) -> SampleSet:
    """Bright noisy disks on dark noise; gaze-like targets drawn around each disk centre."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:SIZE, :SIZE]
    names = SupervisionParams(size=SIZE).target_names(with_mask=True)
    images, targets = [], []
    for _ in range(n):
        centre = rng.uniform(9, SIZE - 9, size=2)
        radius = rng.uniform(5, 8)
        distance = np.hypot(rows - centre[0], cols - centre[1])
        disk = (distance <= radius).astype(np.float32)
        image = (60 + 120 * disk + rng.normal(0, 20, disk.shape)).clip(0, 255).astype(np.uint8)
        track = np.exp(-np.maximum(distance - radius / 2, 0) / 3.0)
        track = (track * (track > 0.25)).astype(np.float32)
        maps = {
            "track_50": track * (distance < radius / 2),
            "track_75": track * (distance < radius),
            "track_100": track,
            "pseudo_mask": (distance <= radius * 0.6).astype(np.float32),
            "vam_soft": np.where(track >= 0.5, track, 0).astype(np.float32),
            "vam_crf_soft": disk,
            "gazemedseg_0": disk,
            "gazemedseg_1": (distance <= radius * 0.8).astype(np.float32),
            "mask": disk,
        }
        images.append(prepare_image(image, SIZE))
        targets.append(torch.from_numpy(np.stack([maps[name] for name in names]).astype(np.float32)))
    return SampleSet(torch.stack(images), torch.stack(targets), names, tuple(f"disk{i}" for i in range(n)))


def _config(**overrides) -> TrainConfig:
    values = dict(
        size=SIZE, epochs=2, batch_size=4, lr=0.01, momentum=0.9, base_channels=4, max_channels=8,
        progress=False, device="cpu",
    )
    values.update(overrides)
    return TrainConfig(**values)


def _metrics(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_the_predictor_loads_the_model(tmp_path):
    train, val = _disk_samples(24), _disk_samples(4, seed=1)
    fit(train, _config(epochs=3), tmp_path, val_samples=val)
    log = _metrics(tmp_path)
    assert [m["epoch"] for m in log] == [1, 2, 3]
    assert log[-1]["loss"] < log[0]["loss"]
    assert {"track_100_block6", "track_50_block2", "track_75_block4", "vam", "val_dice", "lr"} <= set(log[0])
    assert log[1]["lr"] < log[0]["lr"] == pytest.approx(0.01)
    predictor = GradTrackPredictor.from_checkpoint(tmp_path / "model.pt", device="cpu")
    assert predictor.size == SIZE and predictor.train_config.method == "gradtrack"
    # the decision threshold chosen on the validation masks travels with the model
    assert predictor.threshold == log[-1]["val_threshold"]
    assert log[-1]["val_dice_at_threshold"] >= log[-1]["val_dice"]
    image = np.random.default_rng(0).integers(0, 4096, size=(45, 70)).astype(np.uint16)
    mask = predictor.predict(image, contrast_limits=(0, 4095))
    assert mask.dtype == bool and mask.shape == (45, 70)
    rgb = np.zeros((50, 40, 3), np.uint8)
    assert predictor.predict(rgb).shape == (50, 40)
    assert not predictor.predict(rgb, threshold=1.0).any()


@pytest.mark.parametrize("method", ["gradtrack", "vam", "gazemedseg", "supervised"])
def test_the_mixed_precision_step_runs_and_learns_under_a_cpu_bf16_autocast(tmp_path, monkeypatch, method):
    """CPU bf16, not the GPU: on CUDA every forward runs under a bfloat16 autocast; here
    the same loop runs under a CPU bfloat16 autocast, so dtype mistakes in the model or
    the losses show without a GPU. CUDA's own kernels and speed are not tested here."""
    from napari_gazeseg.models import gradtrack_train

    entered = []

    def cpu_bf16_autocast(device, enabled):
        entered.append(enabled)
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=enabled)

    monkeypatch.setattr(gradtrack_train, "_autocast", cpu_bf16_autocast)
    train, val = _disk_samples(16), _disk_samples(4, seed=1)
    fit(train, _config(epochs=3, method=method, mixed_precision=True), tmp_path, val_samples=val)
    assert entered and all(entered)
    log = _metrics(tmp_path)
    assert all(np.isfinite(m["loss"]) for m in log)
    assert log[-1]["loss"] < log[0]["loss"]
    predictor = GradTrackPredictor.from_checkpoint(tmp_path / "model.pt", device="cpu")
    image = (val.images[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    under_bf16 = predictor.predict_probability(image)
    monkeypatch.undo()
    in_float32 = predictor.predict_probability(image)
    assert under_bf16.dtype == np.float32 and np.abs(under_bf16 - in_float32).max() < 0.1


def test_resumed_training_matches_an_uninterrupted_run(tmp_path):
    samples = _disk_samples(8)
    fit(samples, _config(epochs=2), tmp_path / "straight")
    fit(samples, _config(epochs=1), tmp_path / "resumed")
    fit(samples, _config(epochs=2), tmp_path / "resumed", resume=True)
    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["state_dict"]
    resumed = torch.load(tmp_path / "resumed" / "model.pt", weights_only=True)["state_dict"]
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0)
    assert [m["epoch"] for m in _metrics(tmp_path / "resumed")] == [1, 2]
    with pytest.raises(ValueError, match="use the same settings"):
        fit(samples, _config(epochs=3, base_channels=8), tmp_path / "resumed", resume=True)


@pytest.mark.parametrize("method", ["vam", "vam_crf", "gazemedseg", "supervised"])
def test_baselines_train_a_plain_unet(tmp_path, method):
    fit(_disk_samples(4), _config(method=method, epochs=1), tmp_path)
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    assert checkpoint["track_attention_blocks"] == []
    assert not any(name.startswith("track_attention") for name in checkpoint["state_dict"])


def test_half_precision_weights_load_as_float32(tmp_path):
    fit(_disk_samples(4), _config(epochs=1, half_precision_weights=True), tmp_path)
    stored = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    predictor = GradTrackPredictor.from_checkpoint(tmp_path / "model.pt", device="cpu")
    assert next(predictor.model.parameters()).dtype == torch.float32


def test_augmentation_moves_image_and_maps_together():
    torch.manual_seed(3)
    image = torch.arange(2 * 16.0).reshape(2, 4, 4)
    for _ in range(10):
        moved_image, moved_targets = augment(image, image.clone())
        torch.testing.assert_close(moved_image, moved_targets)
        assert sorted(moved_image.flatten().tolist()) == sorted(image.flatten().tolist())


def test_dice_scores_and_split():
    a = torch.tensor([[[1, 1], [0, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    b = torch.tensor([[[1, 0], [0, 0]], [[0, 0], [0, 0]]], dtype=torch.bool)
    torch.testing.assert_close(dice_scores(a, b), torch.tensor([2 / 3, 1.0]))
    train, val = split_indices(10, 0.2, seed=0)
    assert len(val) == 2 and sorted(np.concatenate([train, val]).tolist()) == list(range(10))


def test_predictor_explains_bad_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="gazeseg train"):
        GradTrackPredictor.from_checkpoint(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not a GradTrack checkpoint"):
        GradTrackPredictor.from_checkpoint(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not be read"):
        GradTrackPredictor.from_checkpoint(garbage)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    result = fit(_disk_samples(8), _config(epochs=2, batch_size=2), out_dir, val_samples=_disk_samples(2, seed=1))
    # each process saves the weights it ended with, to check DDP kept them in step
    torch.save(result.model.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))


@pytest.mark.timeout(180)
def test_distributed_data_parallel_with_two_gloo_processes(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    log = _metrics(tmp_path)
    assert [m["epoch"] for m in log] == [1, 2] and "val_dice" in log[0]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    for name in rank0:
        torch.testing.assert_close(rank1[name], rank0[name], rtol=0, atol=0)
        torch.testing.assert_close(saved[name], rank0[name], rtol=0, atol=0)
    # the two processes saw different halves of the data: one step each per 2 images
    single = fit(_disk_samples(8), _config(epochs=2, batch_size=2), tmp_path / "single").model.state_dict()
    assert any(not torch.equal(single[name], rank0[name]) for name in rank0)
    predictor = GradTrackPredictor.from_checkpoint(tmp_path / "model.pt", device="cpu")
    assert predictor.predict(np.zeros((32, 32), np.uint8)).shape == (32, 32)


def test_a_diverging_run_stops_with_advice_and_keeps_the_last_good_epoch(tmp_path):
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(_disk_samples(8), _config(epochs=3, lr=1e12), tmp_path)
    assert [m["epoch"] for m in _metrics(tmp_path)] == [1]
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epoch"] == 1
