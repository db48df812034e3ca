"""GradTrack inference loads no training code of ours (loop, DDP, data loaders).

Checked in a fresh interpreter: what importing the predictor and loading the
bundled model adds to ``sys.modules`` beyond what ``import torch`` itself loads.
"""

import json
import subprocess
import sys

_PROBE = """
import json, sys
import torch
before = set(sys.modules)
from napari_gazeseg.models.gradtrack_predict import GradTrackPredictor
import napari_gazeseg.segmentation
GradTrackPredictor.from_checkpoint(device="cpu")
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_gradtrack_inference_does_not_import_the_training_module():
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    added = json.loads(result.stdout.strip().splitlines()[-1])
    ours = {name for name in added if name.startswith("napari_gazeseg.models.")}
    assert "napari_gazeseg.models.gradtrack_train" not in ours
    assert "napari_gazeseg.models.gradtrack_losses" not in ours  # the training losses
    assert "napari_gazeseg.models.gradtrack_checkpoint" in ours
    # what torch itself loads with ``import torch`` is in ``before``; torch._dynamo (and with
    # it torch.distributed) came from initialising the checked plan's network on the meta device
    training = ("torch.distributed", "torch.nn.parallel", "torch.utils.data.distributed",
                "torch.utils.data.dataloader", "torch._dynamo")
    assert [name for name in added if name.startswith(training)] == []
