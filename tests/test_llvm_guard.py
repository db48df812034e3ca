"""Opening the torch parts after napari has drawn must not crash napari (Mesa's LLVM vs triton's)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gui

_SCRIPT = textwrap.dedent(
    """
    {first}
    import napari
    import numpy as np
    viewer = napari.Viewer(show=True)
    viewer.add_image(np.eye(8))
    viewer.screenshot()  # the canvas has drawn: the OpenGL driver and its LLVM are loaded
    from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
    from napari_gazeseg.models.sam_gaze import GazeSam  # segment-anything -> torchvision -> dynamo
    mask = GradTrackPredictor.from_checkpoint(device="cpu").predict(np.zeros((64, 64), np.uint8))
    print("segmented", mask.shape)
    viewer.close()
    """
)


@pytest.mark.parametrize(
    "first",
    ["pass  # the viewer first", "import napari_gazeseg.models  # the package before the viewer"],
)
def test_torch_models_load_after_the_viewer_has_drawn(first):
    """In a fresh process (an import order cannot be undone): torch after napari has drawn."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(first=first)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-2000:]}"
    assert "segmented (64, 64)" in done.stdout
