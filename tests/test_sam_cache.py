"""Embedding cache: hits in memory and on disk, misses whenever image, contrast, slice or model change."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from sam_tiny import TINY_TYPE, tiny_checkpoint, write_tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.models import GazeSam
from napari_gazeseg.models.embedding_cache import EmbeddingCache, ImageEmbedding


@pytest.fixture
def image():
    rng = np.random.default_rng(1)
    return (rng.random((3, 64, 80)) * 4000).astype(np.uint16)  # a small (plane, row, col) stack


def _count_encoder_calls(sam: GazeSam) -> list[int]:
    calls = [0]
    sam.model.image_encoder.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_memory_hits_and_invalidation(tiny_checkpoint, image):  # noqa: F811
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    calls = _count_encoder_calls(sam)
    first = sam.set_image(image[1], (0, 4000), slice_index=1)
    again = sam.set_image(image[1], (0, 4000), slice_index=1)
    assert calls[0] == 1 and sam.cache.hits == 1
    assert torch.equal(first.features, again.features)
    sam.set_image(image[1], (0, 3000), slice_index=1)  # contrast limits change what SAM sees
    assert calls[0] == 2
    sam.set_image(image[2], (0, 4000), slice_index=2)  # another slice
    assert calls[0] == 3
    changed = image[1].copy()
    changed[10, 10] += 500  # one pixel edited
    sam.set_image(changed, (0, 4000), slice_index=1)
    assert calls[0] == 4
    sam.set_image(image[1], (0, 4000), slice_index=1)  # the original is still cached
    assert calls[0] == 4


def test_lru_keeps_the_most_recent():
    cache = EmbeddingCache(max_items=2)
    embedding = ImageEmbedding(torch.zeros(1, 4, 2, 2), (8, 8), (8, 8))
    keys = [cache.key("m", (i,), "h") for i in range(3)]
    cache.put(keys[0], embedding)
    cache.put(keys[1], embedding)
    assert cache.get(keys[0]) is not None  # 0 is now the most recent
    cache.put(keys[2], embedding)  # evicts 1
    assert cache.get(keys[1]) is None and cache.get(keys[0]) is not None and len(cache) == 2


def test_disk_cache_survives_a_new_model_and_follows_the_checkpoint(
    tiny_checkpoint,  # noqa: F811
    image,
    tmp_path,
):
    cache_dir = tmp_path / "embeddings"
    first = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", cache_dir=cache_dir)
    computed = first.set_image(image[0], (0, 4000), slice_index=0)
    files = list(cache_dir.rglob("*.pt"))
    assert (
        len(files) == 1 and "slice_0-" in files[0].name and not list(cache_dir.rglob("*.partial"))
    )

    second = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", cache_dir=cache_dir)
    calls = _count_encoder_calls(second)
    loaded = second.set_image(image[0], (0, 4000), slice_index=0)
    assert calls[0] == 0 and second.cache.hits == 1
    torch.testing.assert_close(loaded.features, computed.features, rtol=0, atol=0)
    assert loaded.input_size == computed.input_size and loaded.original_size == (64, 80)

    # Other weights under the same name: a different checkpoint digest, so a miss.
    other_dir = tmp_path / "other"
    other = write_tiny_checkpoint(other_dir, seed=7)
    retrained = GazeSam(TINY_TYPE, other, device="cpu", cache_dir=cache_dir)
    calls = _count_encoder_calls(retrained)
    retrained.set_image(image[0], (0, 4000), slice_index=0)
    assert calls[0] == 1 and len(list(cache_dir.rglob("*.pt"))) == 2
    shutil.rmtree(other_dir)


def test_a_corrupt_cache_file_is_recomputed(tiny_checkpoint, image, tmp_path):  # noqa: F811
    cache_dir = tmp_path / "embeddings"
    GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", cache_dir=cache_dir).set_image(image[0])
    (path,) = cache_dir.rglob("*.pt")
    path.write_bytes(b"not a torch file")
    sam = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu", cache_dir=cache_dir)
    calls = _count_encoder_calls(sam)
    sam.set_image(image[0])
    assert calls[0] == 1
    assert torch.load(path, weights_only=True)["features"].shape == (1, 32, 64, 64)
