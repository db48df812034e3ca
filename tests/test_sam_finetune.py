"""Fine-tuning SAM's prompt encoder and mask decoder on gaze prompts (tiny SAM, CPU)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.gaze.dataset import write_dataset
from napari_gazeseg.gaze.simulate import simulate_dataset
from napari_gazeseg.models import GazeSam
from napari_gazeseg.models.sam_finetune import (
    SamFinetuneConfig,
    _training_step,
    collate_prompts,
    finetune_sam,
    prepare_training_images,
)
from napari_gazeseg.models.sam_prompts import SamPrompt


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sam-dataset")
    write_dataset(simulate_dataset(2, "cells", (96, 112), seed=4, n_objects=3), folder)
    return folder


def _config(dataset, out, checkpoint, **overrides):
    values = {
        "dataset": str(dataset),
        "out": str(out),
        "model_type": TINY_TYPE,
        "checkpoint": str(checkpoint),
        "prompt": "fixations",
        "epochs": 2,
        "lr": 2e-3,
        "warmup_steps": 2,
        "max_objects": 2,
        "device": "cpu",
    }
    values.update(overrides)
    return SamFinetuneConfig(**values)


def _mean_loss(sam: GazeSam, images) -> float:
    with torch.no_grad():
        losses = [
            _training_step(sam, image, np.arange(len(image.prompts)))["loss"] for image in images
        ]
    return float(torch.stack(losses).mean())


def test_padded_points_get_sams_not_a_point_embedding(tiny_checkpoint):  # noqa: F811
    prompts = [
        SamPrompt(np.array([[10.0, 20.0], [30.0, 40.0]]), np.ones(2, int)),
        SamPrompt(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]), np.ones(4, int)),
    ]
    (coords, labels), boxes, masks = collate_prompts(prompts, torch.device("cpu"))
    assert boxes is None and masks is None
    assert labels.tolist() == [[1, 1, -1, -1], [1, 1, 1, 1]]
    assert coords[0, 2:].abs().sum() == 0
    encoder = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu").model.prompt_encoder
    with torch.no_grad():
        sparse, _ = encoder(points=(coords, labels), boxes=None, masks=None)
    torch.testing.assert_close(sparse[0, 2], encoder.not_a_point_embed.weight[0])
    torch.testing.assert_close(sparse[0, 3], encoder.not_a_point_embed.weight[0])


@pytest.mark.parametrize("prompt", ["fixations", "heatmap_fixations_duration"])
def test_two_epochs_reduce_the_loss_and_load_back_as_overlay(
    dataset,
    tiny_checkpoint,  # noqa: F811
    tmp_path,
    prompt,
):
    out = tmp_path / "run"
    config = _config(
        dataset, out, tiny_checkpoint, prompt=prompt, cache_dir=str(tmp_path / "cache")
    )
    before = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", cache_dir=config.cache_dir)
    images = prepare_training_images(config, before)
    assert sum(len(image.prompts) for image in images) >= 4
    steps = []
    model_path = finetune_sam(config, on_step=lambda *args: steps.append(args))
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == len(images)  # embedded once per image

    after = GazeSam(
        TINY_TYPE, tiny_checkpoint, device="cpu", finetuned=model_path, cache_dir=config.cache_dir
    )
    assert after.default_prompt == prompt and after.default_multimask is False
    assert _mean_loss(after, images) < 0.9 * _mean_loss(before, images)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert len(steps) == 2 * sum(-(-len(image.prompts) // 2) for image in images)
    # The image encoder is untouched: only the prompt encoder and mask decoder were saved.
    stored = torch.load(model_path, weights_only=True)
    assert not any(key.startswith("image_encoder") for key in stored["prompt_encoder"])
    for name, value in after.model.image_encoder.state_dict().items():
        assert torch.equal(value, before.model.image_encoder.state_dict()[name])
    rows, cols = images[0].original_size
    after.set_image(np.zeros((rows, cols), np.uint8))
    assert after.segment(np.array([[rows / 2, cols / 2]]), prompt="fixations").shape == (rows, cols)


def test_resume_continues_where_it_stopped(dataset, tiny_checkpoint, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    finetune_sam(_config(dataset, out, tiny_checkpoint, epochs=1, max_objects=3))
    finetune_sam(_config(dataset, out, tiny_checkpoint, epochs=2, max_objects=3), resume=True)
    uninterrupted = tmp_path / "straight"
    finetune_sam(_config(dataset, uninterrupted, tiny_checkpoint, epochs=2, max_objects=3))
    resumed = torch.load(out / "model.pt", weights_only=True)
    straight = torch.load(uninterrupted / "model.pt", weights_only=True)
    for part in ("prompt_encoder", "mask_decoder"):
        for key, value in straight[part].items():
            torch.testing.assert_close(resumed[part][key], value, rtol=1e-5, atol=1e-6)
    epochs = [
        json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2]
    with pytest.raises(ValueError, match="was trained with prompt='fixations'"):
        finetune_sam(
            _config(dataset, out, tiny_checkpoint, epochs=3, prompt="fixations+box"), resume=True
        )
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        finetune_sam(_config(dataset, tmp_path / "empty", tiny_checkpoint), resume=True)
