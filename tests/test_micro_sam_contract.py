"""Contract: our reading of micro-sam's checkpoint layouts equals micro-sam's own (``get_sam_model``).

Runs only where the ``micro-sam`` package is installed. It is not in the test
set-up: its pip install (micro-sam 1.8.14) brings about 40 more packages and
``segment-anything-py``, a second distribution of the ``segment_anything``
package that replaces the files of the ``segment-anything`` we use (see
docs/models.md). To run it: ``python3.11 -m venv /tmp/msvenv``, put this
project's venv on its path, ``pip install micro-sam``, then run this file with
``PYTHONPATH=src``.

The checkpoint is a randomly initialised ViT-B (the smallest model type both
loaders know), saved in micro-sam's layouts.
"""

from __future__ import annotations

import pytest
import torch

micro_sam_util = pytest.importorskip(
    "micro_sam.util",
    reason="micro-sam is not installed (its pip install replaces segment_anything; docs/models.md)",
)


@pytest.fixture(scope="module")
def reference():
    from segment_anything import sam_model_registry

    torch.manual_seed(11)
    return sam_model_registry["vit_b"]().state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["state dict", "model_state + decoder_state"])
def test_our_loader_reads_what_micro_sam_reads(tmp_path, reference, layout):
    from napari_gazeseg.models.sam_loading import load_sam

    if layout == "state dict":  # micro-sam's exported vit_b.pt
        payload = reference
    else:  # export with the instance-segmentation decoder / torch_em training checkpoint
        payload = {
            "model_state": {f"sam.{k}": v for k, v in reference.items()},
            "decoder_state": {"encoder.weight": torch.zeros(2, 2)},
        }
    path = tmp_path / "micro_sam_vit_b.pt"
    torch.save(payload, path)

    _, theirs = micro_sam_util.get_sam_model(
        model_type="vit_b", checkpoint_path=path, device="cpu", return_sam=True
    )
    ours = load_sam("vit_b", path, device="cpu").model
    theirs_state, ours_state = theirs.state_dict(), ours.state_dict()
    assert set(ours_state) == set(theirs_state)
    for name, value in theirs_state.items():
        torch.testing.assert_close(ours_state[name], value, rtol=0, atol=0)
