"""Shared fixtures: small hand-made gaze data with every awkward case in it.

The recordings hold invalid samples (NaN coordinates, kept screen positions),
several object ids including 0 (between sessions), and equal timestamps where a
valid and an invalid sample share one time, so that round trips through layers
and files must keep the original order exactly.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from napari_gazeseg.gaze.recording import Fixations, GazeRecording

RATE_HZ = 120.0

#: The header of a Tobii Pro Lab data export (the columns the reader uses), in its order.
TOBII_PRO_LAB_COLUMNS = [
    "Recording timestamp [ms]", "Sensor", "Recording name", "Recording resolution width [px]",
    "Recording resolution height [px]", "Gaze point X [DACS px]", "Gaze point Y [DACS px]",
    "Validity left", "Validity right", "Eye movement type", "Presented Stimulus name",
    "Presented Media name", "Presented Media width [px]", "Presented Media height [px]",
    "Presented Media position X [DACS px]", "Presented Media position Y [DACS px]",
    "Original Media width [px]", "Original Media height [px]",
]


def _meta(shape: tuple[int, ...], name: str) -> dict:
    return {
        "sampling_rate_hz": RATE_HZ,
        "source": "test fixture",
        "image": {"shape": list(shape), "name": name},
        "screen": {
            "width_px": 1920,
            "height_px": 1080,
            "width_mm": 527.0,
            "height_mm": 296.0,
            "distance_mm": 650.0,
        },
    }


def make_recording(ndim: int = 2, n: int = 240, seed: int = 0) -> GazeRecording:
    """``n`` samples at 120 Hz over a 64 x 80 image (4 planes when ``ndim == 3``).

    Objects 1, 0, 2 in three blocks; samples 5-9, 50 and 100 are invalid (blink,
    track loss); the valid sample 51 has the same timestamp as the invalid
    sample 50.
    """
    rng = np.random.default_rng(seed)
    shape = (64, 80) if ndim == 2 else (4, 64, 80)
    t = np.arange(n) / RATE_HZ
    t[51] = t[50]
    coords = np.column_stack([rng.uniform(0, 63, n), rng.uniform(0, 79, n)])
    if ndim == 3:
        coords = np.column_stack([np.repeat([0, 1, 3], [n // 3, n // 3, n - 2 * (n // 3)]), coords])
    coords = coords.astype(np.float64)
    valid = np.ones(n, bool)
    valid[[5, 6, 7, 8, 9, 50, 100]] = False
    screen = rng.uniform(0.2, 0.8, (n, 2))
    screen[[5, 6, 7]] = np.nan  # eyes lost: the tracker has no screen position either
    object_id = np.repeat([1, 0, 2], [n // 3, n // 3, n - 2 * (n // 3)])
    return GazeRecording(
        t=t, coords=coords, valid=valid, screen=screen, object_id=object_id,
        meta=_meta(shape, f"fixture{ndim}d"),
    )


def answer_recording_picker(choose: list[str]) -> dict:
    """When the recording picker (``reader.pick_recordings``) opens, note what it offers and
    pick the names ``choose`` (Open), or Cancel when ``choose`` is empty. Returns what the
    dialog showed: ``{"listed": [names], "preselected": [names]}``, filled when it opened."""
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication, QListWidget

    seen: dict = {}

    def answer():
        dialog = QApplication.activeModalWidget()
        if dialog is None or dialog.objectName() != "gazeseg_pick_recordings":
            QTimer.singleShot(50, answer)
            return
        listing = dialog.findChild(QListWidget)
        seen["listed"] = [listing.item(row).text() for row in range(listing.count())]
        seen["preselected"] = [item.text() for item in listing.selectedItems()]
        listing.clearSelection()
        for name in choose:
            listing.item(seen["listed"].index(name)).setSelected(True)
        dialog.accept() if choose else dialog.reject()

    QTimer.singleShot(50, answer)
    return seen


def image_folder(folder, images, stem: str):
    """``folder``, made, holding ``images`` as ``STEM0.png``, ``STEM1.png``, ... (a series
    of images to annotate)."""
    import imageio.v3 as iio

    folder.mkdir()
    for k, image in enumerate(images):
        iio.imwrite(folder / f"{stem}{k}.png", image)
    return folder


def make_fixations(ndim: int = 2) -> Fixations:
    """Nine fixations: objects 1, 1, 1, 0, 2, 2, 2, 2, 1 with growing durations.

    In 3D the first three lie on plane 0, the rest on plane 2 except the last
    two on plane 3, so scanpaths split by object and by plane.
    """
    start = np.array([0.0, 0.3, 0.55, 0.9, 1.2, 1.5, 1.9, 2.2, 2.6])
    duration = np.array([0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5])
    rows = np.array([10.0, 12.5, 15.0, 30.0, 40.0, 42.0, 44.0, 46.0, 20.25])
    cols = np.array([10.0, 14.0, 18.0, 40.0, 60.0, 62.0, 58.0, 55.0, 12.0])
    coords = np.column_stack([rows, cols])
    shape: tuple[int, ...] = (64, 80)
    if ndim == 3:
        coords = np.column_stack([[0, 0, 0, 2, 2, 2, 2, 3, 3], coords]).astype(np.float64)
        shape = (4, 64, 80)
    return Fixations(
        start=start, duration=duration, coords=coords,
        object_id=[1, 1, 1, 0, 2, 2, 2, 2, 1],
        meta={**_meta(shape, f"fixture{ndim}d"), "detector": {"method": "hand-made"}},
    )


@pytest.fixture
def recording_2d() -> GazeRecording:
    return make_recording(2)


@pytest.fixture
def recording_3d() -> GazeRecording:
    return make_recording(3)


@pytest.fixture
def fixations_2d() -> Fixations:
    return make_fixations(2)


@pytest.fixture
def fixations_3d() -> Fixations:
    return make_fixations(3)


@pytest.fixture
def branches():
    """A fuzz test's branch counts over all its examples (``fuzz_edits.Branches``),
    checked against what the test said it needs (``branches.need``) after the last."""
    from fuzz_edits import Branches

    counts = Branches()
    counts.need()
    yield counts
    counts.at_least(**counts.needed)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After a test file's last test: collect, then freeze what survived.

    napari's ``make_napari_viewer`` runs a full ``gc.collect()`` in most
    teardowns (to check that no ``QtViewer`` leaked). Its cost grows with every
    object alive in the process, and each viewer test leaves ~14 000 behind
    (napari's and vispy's caches), so by the Record widget tests each teardown
    took ~4 s. Objects that outlive a whole test file (modules, caches, pytest's
    items) are moved out of the collector's sight with ``gc.freeze()``; only what
    the next file creates is scanned. Module-scoped fixtures are finalised
    before this runs, so none of them is frozen.
    """
    yield
    if nextitem is None or nextitem.module is not item.module:
        gc.collect()
        gc.freeze()
