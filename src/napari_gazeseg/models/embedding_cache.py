"""SAM image embeddings cached in memory (LRU) and on disk.

An embedding is keyed by

* the model: type and checkpoint digest (:attr:`LoadedSam.model_key`);
* the slice: the leading indices of an nD image (``()`` for a 2D image);
* the content SAM sees: SHA-256 of the 8-bit RGB slice after the contrast limits
  were applied (so changing the pixels *or* the contrast limits invalidates it).

A changed key is simply a miss; stale entries are never returned. On disk every
entry is one file ``<folder>/<model key>/<slice>-<content hash>.pt`` written
atomically (a crash never leaves a half file under the final name). Lookups and
insertions hold a lock, so a worker thread may embed ahead while the UI thread
segments (:mod:`napari_gazeseg.models.embed_ahead`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["EmbeddingCache", "ImageEmbedding", "content_hash"]


@dataclass
class ImageEmbedding:
    """The image encoder's output for one 2D slice.

    ``features (1, C, 64, 64)`` float32 on the CPU or the model's device;
    ``original_size`` ``(rows, cols)`` of the slice; ``input_size`` ``(rows, cols)``
    after resizing to SAM's longest side (before padding).
    """

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]

    def to(self, device: torch.device) -> ImageEmbedding:
        return ImageEmbedding(self.features.to(device), self.original_size, self.input_size)


def content_hash(rgb: np.ndarray) -> str:
    """SHA-256 (hex, 32 digits) of an image's shape, dtype and bytes."""
    rgb = np.ascontiguousarray(rgb)
    sha = hashlib.sha256(f"{rgb.shape}{rgb.dtype}".encode())
    sha.update(memoryview(rgb).cast("B"))
    return sha.hexdigest()[:32]


def _slice_name(slice_index: tuple[int, ...]) -> str:
    return "slice_" + "_".join(str(int(i)) for i in slice_index) if slice_index else "2d"


class EmbeddingCache:
    """Memory LRU of ``max_items`` embeddings in front of an optional disk folder.

    ``folder=None`` keeps embeddings in memory only. ``hits``/``misses`` count
    lookups (a disk hit counts as a hit and is promoted to memory).
    """

    def __init__(self, folder: str | os.PathLike | None = None, max_items: int = 8):
        if max_items < 1:
            raise ValueError(
                f"the memory cache needs room for at least one embedding, got {max_items}."
            )
        self.folder = None if folder is None else Path(folder)
        self.max_items = int(max_items)
        self._memory: OrderedDict[tuple, ImageEmbedding] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model_key: str, slice_index: tuple[int, ...], rgb_hash: str) -> tuple[str, str, str]:
        return (model_key, _slice_name(tuple(slice_index)), rgb_hash)

    def path(self, key: tuple[str, str, str]) -> Path | None:
        """The file an entry lives in on disk (None without a folder)."""
        if self.folder is None:
            return None
        model_key, slice_name, rgb_hash = key
        return self.folder / model_key / f"{slice_name}-{rgb_hash}.pt"

    def get(self, key: tuple[str, str, str]) -> ImageEmbedding | None:
        with self._lock:
            return self._get(key)

    def _get(self, key: tuple[str, str, str]) -> ImageEmbedding | None:
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key]
        path = self.path(key)
        if path is not None and path.is_file():
            try:
                stored = torch.load(path, map_location="cpu", weights_only=True)
                embedding = ImageEmbedding(
                    stored["features"].float(),
                    tuple(stored["original_size"]),
                    tuple(stored["input_size"]),
                )
            except Exception:  # noqa: BLE001  an unreadable file is a miss; it is rewritten on put
                embedding = None
            if embedding is not None:
                self.hits += 1
                self._remember(key, embedding)
                return embedding
        self.misses += 1
        return None

    def put(self, key: tuple[str, str, str], embedding: ImageEmbedding) -> None:
        cpu = embedding.to(torch.device("cpu"))
        self._remember(key, cpu)
        path = self.path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.partial")
        torch.save(
            {
                "features": cpu.features.contiguous(),
                "original_size": list(cpu.original_size),
                "input_size": list(cpu.input_size),
            },
            partial,
        )
        os.replace(partial, path)

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()

    def __len__(self) -> int:
        return len(self._memory)

    def _remember(self, key, embedding: ImageEmbedding) -> None:
        with self._lock:
            self._memory[key] = embedding
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_items:
                self._memory.popitem(last=False)
