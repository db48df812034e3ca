"""Saving a checkpoint atomically: a crash, Ctrl-C or a full disk never leaves half a file
under the checkpoint's name (nor the temporary beside it)."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def save_atomic(payload: dict, path: Path, temporary_suffix: str = ".tmp") -> None:
    """``torch.save`` to ``path`` + ``temporary_suffix``, renamed over ``path``; the
    temporary goes on any failure."""
    temporary = path.with_name(path.name + temporary_suffix)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    except BaseException:  # Ctrl-C or disk full: leave no half file behind
        temporary.unlink(missing_ok=True)
        raise
