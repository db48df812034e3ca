"""The science of gaze: data types, file formats, fixations, maps, CRF, simulation.

numpy/scipy only: no GUI, no torch. Names are imported lazily so that
``from napari_gazeseg.gaze import GazeRecording`` costs only what it uses.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "GazeRecording": "recording",
    "Fixations": "recording",
    "read_gaze": "formats",
    "read_gaze_all": "formats",
    "write_gaze": "formats",
    "GazeFormatError": "formats",
    "detect_fixations_ivt": "fixations",
    "detect_fixations_idt": "fixations",
    "gaze_heatmap": "maps",
    "blurred_gaze": "maps",
    "visual_attention_map": "maps",
    "track_maps": "maps",
    "dense_crf": "crf",
    "pseudo_masks": "crf",
    "simulate_observer": "simulate",
    "SimulatedScene": "simulate",
    "simulate_dataset": "simulate",
    "write_dataset": "dataset",
    "load_dataset": "dataset",
    "iter_dataset": "dataset",
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
