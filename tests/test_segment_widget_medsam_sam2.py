"""The Segment widget with MedSAM and SAM 2 registry entries, in a real viewer (random weights, CPU).

A test registry ($GAZESEG_MODEL_REGISTRY) names a MedSAM-layout checkpoint (the
tiny random SAM of tests/sam_tiny.py, which MedSAM's code loads as it loads
ViT-B) and a shallow random SAM 2 (the model of tests/test_sam2_gaze.py, its
configuration changes carried by the entry's ``config_overrides``); both files
are put in the user cache folder as if downloaded. The masks are checked
exactly against the napari-free functions the CLI uses.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
from sam_tiny import TINY_TYPE, tiny_checkpoint  # noqa: F401  (fixture)

from napari_gazeseg.gaze.fixations import detect_fixations_ivt
from napari_gazeseg.gaze.recording import Fixations
from napari_gazeseg.gaze.simulate import simulate_observer
from napari_gazeseg.segmentation import ObjectMask, objects_to_segment, paint_all

pytestmark = pytest.mark.gui

SMALL = (
    "++model.image_size=128",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.memory_attention.num_layers=1",
)


@pytest.fixture(autouse=True)
def no_unexpected_questions(monkeypatch):
    from qtpy.QtWidgets import QMessageBox

    def unexpected(parent, title, text, *args):
        raise AssertionError(f"unexpected question: {text}")

    monkeypatch.setattr(QMessageBox, "question", unexpected)


def _entry(name, family, architecture, path, **extra):
    data = path.read_bytes()
    return {
        "name": name, "family": family, "architecture": architecture, "file_name": path.name,
        "urls": ["http://127.0.0.1:9/never-fetched"], "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data), "licence": "test only", "images": "tests", **extra,
    }


@pytest.fixture
def models(monkeypatch, tmp_path):
    """A registry file and its models folder (the user cache is a temporary one)."""
    for name in ("GAZESEG_SAM_DIR", "GAZESEG_SAM_CHECKPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    folder = tmp_path / "user-cache" / "napari-gazeseg" / "sam"
    folder.mkdir(parents=True)
    registry_file = tmp_path / "registry.json"
    monkeypatch.setenv("GAZESEG_MODEL_REGISTRY", str(registry_file))

    def register(*items):
        registry_file.write_text(json.dumps(list(items)), encoding="utf-8")

    return folder, register


def _widget(viewer):
    from napari_gazeseg._napari.segment_widget import SegmentWithGazeWidget

    widget = SegmentWithGazeWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def test_medsam_segments_with_its_own_preprocessing_and_a_box_from_the_fixations(
    make_napari_viewer, qtbot, models, tiny_checkpoint, monkeypatch  # noqa: F811
):
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layers
    from napari_gazeseg.models import medsam as medsam_module
    from napari_gazeseg.models.medsam import MedSam, gaze_box

    # spies on the real MedSAM code: what it was given and what it answered
    preprocessed, decoded = [], []
    preprocess, segment = medsam_module.medsam_preprocess, MedSam.segment

    def spy_preprocess(image, contrast_limits=None):
        preprocessed.append((np.array(image), contrast_limits))
        return preprocess(image, contrast_limits)

    def spy_segment(self, image, box, contrast_limits=None, embedding=None):
        mask = segment(self, image, box, contrast_limits, embedding)
        decoded.append((np.array(box), contrast_limits, embedding is not None, mask))
        return mask

    monkeypatch.setattr(medsam_module, "medsam_preprocess", spy_preprocess)
    monkeypatch.setattr(MedSam, "segment", spy_segment)

    folder, register = models
    shutil.copy(tiny_checkpoint, folder / "tiny_medsam.pth")
    register(_entry("tiny_medsam", "MedSAM", TINY_TYPE, folder / "tiny_medsam.pth",
                    preprocessing="medsam"))
    scene = simulate_observer("cells", shape=(72, 88), n_objects=2, seed=2, name="cells")
    fixations = detect_fixations_ivt(scene.recording)
    viewer = make_napari_viewer()
    viewer.add_image(scene.image, name="cells")
    for data, kwargs, kind in gaze_layers(scene.recording, fixations, image_shape=scene.image.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    widget = _widget(viewer)
    assert any(c.startswith("tiny_medsam") for c in widget.model_choices)
    widget.set_model("tiny_medsam")
    widget.settings = replace(widget.settings, device="cpu")
    assert widget.family == "MedSAM"
    assert widget._box_margin.isEnabled() and not widget._prompt.isEnabled()
    assert not widget._propagate.isEnabled()
    widget._box_margin.setValue(6)
    with qtbot.waitSignal(widget.finished, timeout=60_000):
        assert widget.segment() is not None

    limits = tuple(float(v) for v in viewer.layers["cells"].contrast_limits)
    # MedSAM's preprocessing (itself checked against MedSAM's script in test_medsam.py), once
    assert len(preprocessed) == 1 and preprocessed[0][1] == limits
    np.testing.assert_array_equal(preprocessed[0][0], scene.image)
    # one box per object: around its fixations, grown by the margin; one shared embedding
    objects = objects_to_segment(fixations, scene.recording, image_ndim=2)
    assert [o.object_id for o in objects] == [1, 2] and len(decoded) == 2
    for obj, (box, used_limits, shared, _) in zip(objects, decoded):
        expected_box = gaze_box(obj.fixations.coords[:, -2:], scene.image.shape, margin_px=6)
        np.testing.assert_array_equal(box, expected_box)
        assert used_limits == limits and shared
    expected = [ObjectMask(o.object_id, (), d[3]) for o, d in zip(objects, decoded)]
    labels = viewer.layers["cells gaze masks"].data
    np.testing.assert_array_equal(labels, paint_all(expected, scene.image.shape))
    assert widget.held_sam is None  # SAM's gaze-prompt path was not used
    # correction clicks are SAM point prompts: refused in one sentence for MedSAM
    failures = []
    widget.failed.connect(failures.append)
    assert widget.segment(clicks={1: (np.array([[5.0, 5.0]]), None)}) is None
    assert "MedSAM does not take" in failures[-1]


def test_sam2_propagates_each_objects_gazed_planes_through_the_stack(
    make_napari_viewer, qtbot, models, tmp_path, monkeypatch
):
    import torch
    from napari.layers import Layer

    from napari_gazeseg._napari.layers import gaze_layers
    from napari_gazeseg.models import sam2_gaze
    from napari_gazeseg.models.sam2_gaze import build_video_predictor

    calls = []  # the CLI's function, spied on: what the widget asked and what SAM 2 answered
    real = sam2_gaze.sam2_object_masks

    def spy(predictor, stack, fixations, **kwargs):
        calls.append({"stack": np.array(stack), "fixations": fixations, "kwargs": kwargs, "items": []})
        for item in real(predictor, stack, fixations, **kwargs):
            calls[-1]["items"].append(item)
            yield item

    monkeypatch.setattr(sam2_gaze, "sam2_object_masks", spy)

    folder, register = models
    torch.manual_seed(0)
    built = build_video_predictor("tiny", None, device="cpu", overrides=SMALL)
    torch.save({"model": built.state_dict()}, folder / "tiny_sam2.pt")
    register(_entry("tiny_sam2", "SAM 2", "hiera_tiny", folder / "tiny_sam2.pt", preprocessing="sam2",
                    layout="sam2", config_overrides=list(SMALL)))
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 60, (3, 40, 56)).astype(np.uint16)
    stack[:, 10:25, 12:30] += 900
    rows = [(1, 15, 20, 2), (2, 16, 24, 2), (0, 30, 45, 5)]  # object 2 on planes 1 and 2, 5 on 0
    fixations = Fixations(np.arange(3.0), np.full(3, 0.3), np.array([r[:3] for r in rows], float),
                          np.array([r[3] for r in rows]), {"image": {"name": "vol", "shape": [3, 40, 56]}})
    viewer = make_napari_viewer()
    viewer.add_image(stack, name="vol")
    for data, kwargs, kind in gaze_layers(None, fixations, image_shape=stack.shape):
        viewer.add_layer(Layer.create(data, kwargs, kind))
    widget = _widget(viewer)
    widget.set_model("tiny_sam2")
    widget.settings = replace(widget.settings, device="cpu")
    assert widget.family == "SAM 2" and widget._propagate.isEnabled()
    with qtbot.waitSignal(widget.finished, timeout=120_000):
        assert widget.propagate_stack() is not None

    predictor = widget._sam2_holder._model
    assert predictor.image_size == 128  # the entry's configuration changes reached the model
    torch.testing.assert_close(predictor.state_dict(), built.state_dict())  # and its weights
    limits = tuple(float(v) for v in viewer.layers["vol"].contrast_limits)
    assert len(calls) == 1
    np.testing.assert_array_equal(calls[0]["stack"], stack)
    assert calls[0]["fixations"].equals(fixations)
    assert calls[0]["kwargs"] == {"contrast_limits": limits, "object_ids": None, "stages": True}
    items = [m for m in calls[0]["items"] if isinstance(m, ObjectMask)]
    assert [(m.slice_index, m.object_id) for m in items] == [((p,), i) for p in (0, 1, 2) for i in (2, 5)]
    labels = viewer.layers["vol gaze masks"].data
    assert labels.shape == stack.shape
    np.testing.assert_array_equal(labels, paint_all(items, stack.shape))
    assert set(np.unique(labels).tolist()) <= {0, 2, 5} and (labels == 2).any()
    reached = {i: [m.slice_index[0] for m in items if m.object_id == i and m.mask.any()] for i in (2, 5)}
    painted = ", ".join(f"{i} (planes {min(p)}\u2013{max(p)})" for i, p in reached.items() if p)
    assert f"label {painted}" in widget.status  # per object: the planes it was painted on
    # the Segment button with a SAM 2 model on a 2D image says what to do
    failures = []
    widget.failed.connect(failures.append)
    viewer.add_image(stack[0], name="flat")
    widget.set_image(viewer.layers["flat"])
    assert widget.segment() is None and "3D stack" in failures[-1]
