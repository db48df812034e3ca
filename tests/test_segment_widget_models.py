"""The Segment widget's model choice in a real viewer: registry combo, Download, device, disk cache.

A test registry ($GAZESEG_MODEL_REGISTRY) names a random-weight tiny SAM served
from a local HTTP server on 127.0.0.1 with its real SHA-256 (the server of
tests/test_model_registry.py), so the combo's states, the download with its
progress bar, a failing download and segmenting with the downloaded file are
all real. The user cache folder is a temporary one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)
from test_model_registry import server  # noqa: F401  (fixture: the local HTTP server)

from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.models import registry
from napari_gazeseg.models.sam_gaze import GazeSam

pytestmark = pytest.mark.gui

DASH = "\u2014"


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch):
    from qtpy.QtWidgets import QMessageBox

    def unexpected(parent, title, text, *args):
        raise AssertionError(f"unexpected question: {text}")

    monkeypatch.setattr(QMessageBox, "question", unexpected)


@pytest.fixture
def test_registry(server, tiny_checkpoint, monkeypatch, tmp_path):  # noqa: F811
    """A registry of the tiny SAM (served), one that cannot be fetched, and a MedSAM entry."""
    for name in ("GAZESEG_SAM_DIR", "GAZESEG_SAM_CHECKPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    data = tiny_checkpoint.read_bytes()
    server.files["/models/tiny.pth"] = data
    common = {
        "family": "SAM", "architecture": TINY_TYPE, "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data), "licence": "test only", "images": "tests",
    }
    items = [
        dict(common, name="tiny_test", file_name="tiny_test.pth", urls=[server.url + "/models/tiny.pth"]),
        dict(common, name="tiny_gone", file_name="tiny_gone.pth", urls=[server.url + "/models/gone.pth"]),
        dict(common, name="tiny_medsam", family="MedSAM", file_name="tiny_medsam.pth",
             urls=[server.url + "/models/tiny.pth"], preprocessing="medsam"),
    ]
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(items), encoding="utf-8")
    monkeypatch.setenv("GAZESEG_MODEL_REGISTRY", str(path))
    return {"size": len(data), "models": tmp_path / "user-cache" / "napari-gazeseg" / "sam",
            "embeddings": tmp_path / "user-cache" / "napari-gazeseg" / "embeddings"}


@pytest.fixture(scope="module")
def scene():
    return simulate_observer("cells", shape=(96, 112), n_objects=2, seed=2, name="cells")


def _open(viewer, scene):
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layers
    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget

    fixations = detect_fixations_ivt(scene.recording)
    viewer.add_image(scene.image, name="cells")
    for data, kwargs, kind in gaze_layers(scene.recording, fixations, image_shape=scene.image.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    widget = SegmentWithGazeWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def _one_sentence(message: str) -> bool:
    return "\n" not in message and message.rstrip().endswith(".") and "Traceback" not in message


def test_download_from_the_combo_then_segment_with_it_on_the_chosen_device(
    make_napari_viewer, qtbot, scene, test_registry
):
    from napari.utils import progress

    from napari_gazeseg._napari.segment_widget import LOCAL_FILE

    viewer = make_napari_viewer()
    widget = _open(viewer, scene)
    size_text = f"will download ({registry.size_text(test_registry['size'])})"
    choices = widget.model_choices
    assert f"tiny_test {DASH} {size_text}" in choices
    assert choices[-1] == LOCAL_FILE
    assert any(c.startswith(f"tiny_medsam {DASH}") for c in choices)  # MedSAM: its own path
    assert widget.settings.model is None  # nothing downloaded: today's local file

    widget.set_model("tiny_test")
    assert widget.settings.model == "tiny_test"
    failures = []
    widget.failed.connect(failures.append)
    assert widget.segment() is None  # not downloaded: refused in one sentence, nothing created
    assert "press Download" in failures[-1] and _one_sentence(failures[-1])

    seen, bars = [], []

    def record(done, total):
        seen.append((done, total))
        bars.extend((p.n, p.total) for p in list(progress._all_instances) if "Downloading" in str(p.desc))

    widget.download_progress.connect(record)
    with qtbot.waitSignal(widget.downloaded, timeout=20_000):
        assert widget.download_model() is not None
    total = test_registry["size"]
    assert seen[-1] == (total, total) and bars[-1] == (total, total) and len(seen) > 2
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert any(0 < n < t for n, t in bars)  # the napari progress bar moved through the bytes
    assert f"tiny_test {DASH} downloaded" in widget.model_choices
    assert (test_registry["models"] / "tiny_test.pth").is_file()

    # Segmenting uses the downloaded file, on the device chosen.
    widget.settings = replace(widget.settings, device="cpu")
    assert widget.segment() is not None
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        pass
    sam = widget.held_sam
    assert sam.loaded.checkpoint == test_registry["models"] / "tiny_test.pth"
    assert sam.loaded.model_type == TINY_TYPE and sam.device.type == "cpu"
    assert len(set(np.unique(viewer.layers["cells gaze masks"].data)) - {0}) >= 1

    if not torch.cuda.is_available():  # the GPU choice reaches the holder: refused there
        widget.settings = replace(widget.settings, device="cuda")
        with qtbot.waitSignal(widget.failed, timeout=20_000):
            widget.segment()
        assert "CUDA is not available" in failures[-1] and _one_sentence(failures[-1])


def test_a_failing_download_is_one_sentence_and_leaves_no_file(
    make_napari_viewer, qtbot, scene, test_registry
):
    viewer = make_napari_viewer()
    widget = _open(viewer, scene)
    widget.set_model("tiny_gone")
    with qtbot.waitSignal(widget.failed, timeout=20_000) as blocker:
        widget.download_model()
    message = blocker.args[0]
    assert "tiny_gone" in message and "HTTP 404" in message and _one_sentence(message)
    qtbot.waitUntil(lambda: widget._download.isEnabled(), timeout=5_000)
    folder = test_registry["models"]
    assert not folder.exists() or not any(p.name.startswith("tiny_gone") for p in folder.iterdir())
    assert any(c.startswith(f"tiny_gone {DASH} will download") for c in widget.model_choices)


def test_embeddings_ahead_and_on_disk_a_second_open_encodes_nothing(
    make_napari_viewer, qtbot, scene, test_registry, tiny_checkpoint, monkeypatch  # noqa: F811
):
    calls = []
    encode = GazeSam._encode

    def counted(self, rgb):
        calls.append(rgb.shape)
        return encode(self, rgb)

    monkeypatch.setattr(GazeSam, "_encode", counted)
    labels = []
    for _ in range(2):
        viewer = make_napari_viewer()
        widget = _open(viewer, scene)
        with qtbot.waitSignal(widget.embedded_ahead, timeout=30_000):
            widget.set_sam(TINY_TYPE, tiny_checkpoint)  # the image is open: embedded in the background
        assert len(calls) == 1  # the first open encodes once; the second finds it on disk
        assert widget.segment() is not None
        with qtbot.waitSignal(widget.finished, timeout=60_000):
            pass
        assert len(calls) == 1  # the segmentation used the embedding made ahead
        labels.append(np.array(viewer.layers["cells gaze masks"].data))
    assert list(test_registry["embeddings"].rglob("*.pt"))
    np.testing.assert_array_equal(labels[0], labels[1])
