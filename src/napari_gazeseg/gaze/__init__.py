"""The science of gaze: data types, file formats, fixations, maps, CRF, simulation.

numpy/scipy only: no GUI, no torch. Names are imported lazily so that
``from napari_gazeseg.gaze import GazeRecording`` costs only what it uses.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_PUBLIC = {
    "GazeRecording": "recording",
    "Fixations": "recording",
    "read_gaze": "formats",
    "read_gaze_all": "formats",
    "write_gaze": "formats",
    "GazeFormatError": "formats",
    "GazeFormatWarning": "formats",
    "write_bids_physio": "formats",
    "to_pymovements": "interop",
    "from_pymovements": "interop",
    "detect_fixations_ivt": "fixations",
    "detect_fixations_idt": "fixations",
    "FixationDetector": "fixations",
    "gaze_map": "maps",
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

__all__, __getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
