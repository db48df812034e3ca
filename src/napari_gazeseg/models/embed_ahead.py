"""SAM embeddings computed ahead of time: a dataset's cache, shared out between processes.

Contract
--------
* :func:`dataset_images` lists a dataset folder's ``images/`` (sorted by name, the
  order ``iter_dataset`` uses); gaze and masks are not needed to embed.
* :func:`rank_and_world` reads ``RANK`` and ``WORLD_SIZE`` as ``torchrun`` sets
  them (``(0, 1)`` without them). :func:`shard` gives rank ``r`` of ``n`` every
  ``n``-th image starting at ``r``, so the ranks together embed each image once.
* :func:`embed_images` puts each image's embedding into ``sam``'s cache (any
  object with GazeSam's ``embedding_key`` / ``embed`` / ``cache``): a 2D grey or
  RGB(A) image as one entry keyed exactly as ``gazeseg train-sam`` and
  ``GazeSam.embed(image)`` look it up (no contrast limits: uint8 as stored,
  other dtypes stretched from minimum to maximum); a 3D stack ``(planes, rows,
  cols)`` as one entry per plane with the plane index. Entries already on disk
  are counted, not recomputed. Cache files are written atomically, so ranks
  writing into one folder at once never see half files.
* :func:`embed_in_background` is what a widget calls when an image is opened: the
  same computation as ``GazeSam.embed``, returning the key, for a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "EmbedReport",
    "dataset_images",
    "embed_images",
    "embed_in_background",
    "rank_and_world",
    "shard",
]


@dataclass
class EmbedReport:
    """What one process did: entries computed, entries found already cached, images seen."""

    computed: int = 0
    cached: int = 0
    images: list[str] = field(default_factory=list)


def rank_and_world() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` from the environment (torchrun), ``(0, 1)`` without them."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError as err:
        raise ValueError(
            f"RANK and WORLD_SIZE must be whole numbers ({err}); start under torchrun or unset them."
        ) from None
    if world < 1 or not 0 <= rank < world:
        raise ValueError(
            f"RANK {rank} does not fit WORLD_SIZE {world}; start under torchrun or unset them."
        )
    return rank, world


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """Every ``world_size``-th item starting at ``rank``."""
    return list(items)[rank::world_size]


def dataset_images(folder: str | os.PathLike) -> list[Path]:
    """The image files of ``FOLDER/images``, sorted by name; FileNotFoundError when none."""
    from ..gaze.dataset import IMAGE_SUFFIXES

    images_dir = Path(folder) / "images"
    if not images_dir.is_dir():
        raise FileNotFoundError(
            f"{images_dir} does not exist; a dataset folder holds images/ (and gaze/, masks/)."
        )
    paths = sorted(
        (p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.stem,
    )
    if not paths:
        raise FileNotFoundError(f"{images_dir} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return paths


def _read(path: Path) -> np.ndarray:
    from ..gaze.dataset import _read_image

    return _read_image(path)


def _planes(image: np.ndarray, name: str) -> list[tuple[tuple[int, ...], np.ndarray]]:
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4)):
        return [((), image)]
    if image.ndim == 3:
        return [((z,), image[z]) for z in range(image.shape[0])]
    raise ValueError(
        f"{name} has shape {image.shape}; embedding needs a 2D grey or RGB image or a 3D stack."
    )


def embed_images(
    sam,
    paths: Sequence[str | os.PathLike],
    progress: Callable[[int, int], None] | None = None,
    reader: Callable[[Path], np.ndarray] = _read,
) -> EmbedReport:
    """Embed ``paths`` into ``sam.cache``; ``progress(done, total)`` after each image."""
    report = EmbedReport()
    total = len(paths)
    for done, path in enumerate(paths):
        path = Path(path)
        image = np.asarray(reader(path))
        for index, plane in _planes(image, path.name):
            key = sam.embedding_key(plane, None, index or None)
            stored = sam.cache.path(key)
            if stored is not None and stored.is_file():
                report.cached += 1
                continue
            sam.embed(plane, None, index or None)
            report.computed += 1
        report.images.append(path.stem)
        if progress is not None:
            progress(done + 1, total)
    return report


def embed_in_background(
    sam,
    plane: np.ndarray,
    contrast_limits: tuple[float, float] | None = None,
    slice_index: Sequence[int] | None = None,
) -> tuple[str, str, str]:
    """Embed one displayed plane now (for a worker thread); returns its cache key.

    The Segment widget calls this from a ``thread_worker`` when an image is
    opened or the displayed slice changes, with the layer's contrast limits and
    the slice's leading indices, so the first mask later finds the embedding in
    ``sam.cache``. It does not touch ``sam``'s current image.
    """
    key = sam.embedding_key(plane, contrast_limits, slice_index)
    if sam.cache.get(key) is None:
        rgb = sam.prepare_image(plane, contrast_limits)
        sam.cache.put(key, sam._encode(rgb))
    return key
