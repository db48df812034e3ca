"""The public names of napari_gazeseg.gaze and .models, and what importing them costs."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["napari_gazeseg.gaze", "napari_gazeseg.models"])
def test_every_public_name_resolves(package):
    import importlib

    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__) and dir(module) == module.__all__
    for name in module.__all__:
        # the object its submodule defines, under its own name (no alias, no stale entry)
        home = importlib.import_module(f"{package}.{module._PUBLIC[name]}")
        value = getattr(module, name)
        assert value is getattr(home, name)
        assert getattr(value, "__name__", None) == name
        assert value.__module__.startswith(package + "."), (name, value.__module__)
    with pytest.raises(AttributeError, match="no attribute 'not_there'"):
        module.not_there


@pytest.mark.parametrize(
    "statement",
    [
        "from napari_gazeseg.gaze import GazeRecording, read_gaze, detect_fixations_ivt, gaze_heatmap",
        "import napari_gazeseg.tracking.tobii, napari_gazeseg.tracking.recorder",
    ],
)
def test_gaze_science_and_tracking_import_without_torch_or_napari(statement):
    """numpy/scipy only (DESIGN.md): a fresh process must not pull in torch, napari or Qt."""
    check = (
        f"{statement}\nimport sys\n"
        "print(sorted(m for m in ('torch', 'napari', 'qtpy', 'PyQt6') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
