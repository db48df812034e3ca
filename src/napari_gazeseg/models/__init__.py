"""Torch models: SAM with gaze prompts (GazeSam) and the gaze-supervised U-Net (GradTrack)."""

from __future__ import annotations

import importlib

from ._llvm_guard import load_triton_isolated

load_triton_isolated()  # before any submodule imports torch: see _llvm_guard

_PUBLIC = {
    "GazeSam": "sam_gaze",
    "GradTrack": "gradtrack",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
