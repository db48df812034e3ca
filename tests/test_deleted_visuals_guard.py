"""Deleting layers (fixation numbers, several at once) must not crash napari's next draw.

napari 0.9 / vispy 0.17 crash the OpenGL driver when deleted layers' visuals are
collected before the canvas has drawn without them (see
napari_gazeseg._napari._deleted_visuals_guard). A crash kills the process, so
the scenario runs in a fresh one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.gui

_SCENARIO = textwrap.dedent(
    """
    import time
    import numpy as np
    import napari
    from qtpy.QtWidgets import QApplication
    from napari_gazeseg._napari.layers import gaze_layers
    from napari.layers import Layer
    from napari_gazeseg.gaze.simulate import simulate_observer
    from napari_gazeseg.gaze.fixations import detect_fixations_ivt

    def draw(seconds=0.5):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            QApplication.instance().processEvents()
            time.sleep(0.01)

    viewer = napari.Viewer(show=True)
    scene = simulate_observer("cells", shape=(96, 96), n_objects=2, seed=1)
    viewer.add_image(scene.image, name="cells")
    {install}
    for round_ in range(2):
        fixations = detect_fixations_ivt(scene.recording)
        added = [viewer.add_layer(Layer.create(*t)) for t in gaze_layers(scene.recording, fixations)]
        draw()
        for layer in added:  # what a user does to open the next recording
            viewer.layers.remove(layer)
        draw()
    viewer.add_points(np.array([[10.0, 10.0]]), name="new points")
    draw()
    print("drew after deleting", flush=True)
    viewer.close()
    """
)


def test_deleting_a_recordings_layers_then_drawing_does_not_crash():
    script = _SCENARIO.format(
        install="from napari_gazeseg._napari._deleted_visuals_guard import guard_deleted_visuals\n"
        "guard_deleted_visuals(viewer)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-2000:]}"
    assert "drew after deleting" in done.stdout


def test_deleted_gazeseg_visuals_are_held_and_others_are_not(make_napari_viewer):
    from napari_gazeseg._napari._deleted_visuals_guard import HELD, guard_deleted_visuals
    from napari_gazeseg._napari.layers import GAZESEG

    viewer = make_napari_viewer(show=True)
    guard_deleted_visuals(viewer)
    guard_deleted_visuals(viewer)  # once per viewer
    ours = viewer.add_points(np.array([[5.0, 5.0]]), metadata={GAZESEG: {"kind": "fixations"}})
    theirs = viewer.add_points(np.array([[6.0, 6.0]]))
    visuals = viewer.window._qt_viewer.canvas.layer_to_visual
    our_visual = visuals[ours]
    viewer.layers.remove(theirs)
    viewer.layers.remove(ours)
    assert HELD[viewer] == [our_visual]
