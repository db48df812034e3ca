"""Torch models: SAM with gaze prompts (GazeSam) and the gaze-supervised U-Net (GradTrack)."""

from __future__ import annotations

from .._lazy import lazy_exports
from ._llvm_guard import load_triton_isolated

load_triton_isolated()  # before any submodule imports torch: see _llvm_guard

_PUBLIC = {
    "GazeSam": "sam_gaze",
    "GradTrack": "gradtrack",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
