"""Ahead of time and across processes (tiny SAM, CPU): `gazeseg embed` fills a dataset's
embedding cache in one process or shared out by rank; `train-sam` with 2 gloo processes
trains the model one process trains."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from sam_tiny import TINY_FILE, TINY_TYPE, build_tiny_sam, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.cli import main
from napari_gazeseg.gaze.dataset import load_dataset, write_dataset
from napari_gazeseg.gaze.simulate import simulate_dataset
from napari_gazeseg.models import GazeSam
from napari_gazeseg.models.embed_ahead import embed_in_background, rank_and_world, shard


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embed-dataset")
    write_dataset(simulate_dataset(5, "cells", (48, 64), seed=4, n_objects=2), folder)
    return folder


def _argv(dataset, checkpoint, cache) -> list[str]:
    return ["embed", str(dataset), "--model-type", TINY_TYPE, "--checkpoint", str(checkpoint),
            "--device", "cpu", "--cache-dir", str(cache), "--quiet"]


def _entries(cache) -> dict[str, torch.Tensor]:
    return {
        str(path.relative_to(cache)): torch.load(path, weights_only=True)["features"]
        for path in sorted(cache.rglob("*")) if path.is_file()
    }


@pytest.mark.parametrize(
    ("n", "rank", "world", "expected"),
    [(5, 0, 1, [0, 1, 2, 3, 4]), (5, 0, 2, [0, 2, 4]), (5, 1, 2, [1, 3]), (2, 2, 3, []), (7, 1, 3, [1, 4])],
)
def test_each_rank_takes_every_nth_image(n, rank, world, expected):
    assert shard(list(range(n)), rank, world) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, (0, 1)), ({"RANK": "1", "WORLD_SIZE": "2"}, (1, 2)), ({"RANK": "2", "WORLD_SIZE": "2"}, None),
     ({"RANK": "x", "WORLD_SIZE": "2"}, None), ({"RANK": "0", "WORLD_SIZE": "0"}, None)],
)
def test_rank_and_world_come_from_torchrun(monkeypatch, env, expected):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if expected is None:
        with pytest.raises(ValueError, match="torchrun"):
            rank_and_world()
    else:
        assert rank_and_world() == expected


def test_embed_fills_the_cache_train_sam_reads(dataset, tiny_checkpoint, tmp_path, capsys):  # noqa: F811
    cache = tmp_path / "cache"
    assert main(_argv(dataset, tiny_checkpoint, cache)) == 0
    assert "5 embeddings computed, 0 already cached (5 images)" in capsys.readouterr().out
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", cache_dir=cache)
    items = load_dataset(dataset)
    assert len(_entries(cache)) == len(items) == 5
    for item in items:  # the key train-sam looks up, holding what GazeSam computes
        key = sam.embedding_key(item.image)
        assert sam.cache.path(key).is_file()
        stored = sam.cache.get(key).features
        torch.testing.assert_close(stored, sam._encode(sam.prepare_image(item.image)).features)
    assert main(_argv(dataset, tiny_checkpoint, cache)) == 0
    assert "0 embeddings computed, 5 already cached" in capsys.readouterr().out


def test_background_embedding_is_what_set_image_finds(dataset, tiny_checkpoint):  # noqa: F811
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    image = load_dataset(dataset)[0].image
    key = embed_in_background(sam, image, (0, 200), (3,))
    assert sam.embedding is None  # the current image is untouched
    misses = sam.cache.misses
    sam.set_image(image, (0, 200), (3,))
    assert sam.cache.misses == misses and sam.cache.get(key) is not None


def _rank_worker(rank: int, world: int, argv: list[str]) -> None:
    from napari_gazeseg.models.sam_loading import register_sam_builder

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    register_sam_builder(TINY_TYPE, build_tiny_sam, TINY_FILE)
    assert main(argv) == 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_ranks_fill_the_same_cache_as_one_process(dataset, tiny_checkpoint, tmp_path):  # noqa: F811
    single, shared = tmp_path / "single", tmp_path / "shared"
    assert main(_argv(dataset, tiny_checkpoint, single)) == 0
    mp.spawn(_rank_worker, args=(2, _argv(dataset, tiny_checkpoint, shared)), nprocs=2, join=True)
    one, two = _entries(single), _entries(shared)
    assert list(two) == list(one) and len(one) == 5  # no partial files, no extra entries
    for name in one:
        np.testing.assert_array_equal(two[name].numpy(), one[name].numpy())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _finetune_config(dataset, checkpoint, out, cache):
    from napari_gazeseg.models.sam_finetune import SamFinetuneConfig

    return SamFinetuneConfig(
        dataset=str(dataset), out=str(out), model_type=TINY_TYPE, checkpoint=str(checkpoint),
        epochs=2, warmup_steps=2, device="cpu", cache_dir=str(cache), seed=3,
    )


def _finetune_worker(rank: int, world: int, port: int, dataset, checkpoint, out, cache) -> None:
    from napari_gazeseg.models.sam_finetune import finetune_sam
    from napari_gazeseg.models.sam_loading import register_sam_builder

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    register_sam_builder(TINY_TYPE, build_tiny_sam, TINY_FILE)
    finetune_sam(_finetune_config(dataset, checkpoint, out, cache))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_train_sam_with_two_gloo_processes_trains_what_one_process_trains(dataset, tiny_checkpoint, tmp_path):  # noqa: F811
    """Each step's objects are shared out between the ranks and the gradients summed: same model."""
    from napari_gazeseg.models.sam_finetune import finetune_sam

    torch.set_num_threads(1)
    finetune_sam(_finetune_config(dataset, tiny_checkpoint, tmp_path / "one", tmp_path / "cache1"))
    mp.spawn(
        _finetune_worker,
        args=(2, _free_port(), dataset, tiny_checkpoint, tmp_path / "two", tmp_path / "cache2"),
        nprocs=2,
        join=True,
    )
    one = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    start = torch.load(tiny_checkpoint, weights_only=True)
    moved = 0
    for part in ("prompt_encoder", "mask_decoder"):
        for name, value in one[part].items():
            if name.endswith("k_proj.bias"):
                # softmax ignores a bias added to every key: its true gradient is 0, its float
                # gradient is rounding noise, which Adam turns into steps of +-lr either way
                continue
            torch.testing.assert_close(two[part][name], value, rtol=1e-4, atol=1e-5)
            moved += int(not torch.equal(value, start[f"{part}.{name}"]))
    assert moved > 10  # training changed the weights, so the agreement is not trivial
    lines = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    shared = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in shared] == [1, 2]
    for a, b in zip(lines, shared):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    # the two ranks shared the embedding work: the cache holds each image once
    assert len(list((tmp_path / "cache2").rglob("*.pt"))) == 5
