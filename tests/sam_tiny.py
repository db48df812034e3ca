"""A tiny SAM built from segment_anything.modeling for tests (random weights).

Same architecture family as vit_b/l/h: ImageEncoderViT with img_size 1024 and
patch 16 (so embeddings stay 64 x 64 positions), the real PromptEncoder and
MaskDecoder/TwoWayTransformer, only thinner (32 channels instead of 256, which
makes the encoder's neck 60 times cheaper) and shallower. It is registered as
``vit_tiny`` and loaded through the same checkpoint code as the official models.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

from napari_gazeseg.models.sam_loading import register_sam_builder

TINY_TYPE = "vit_tiny"
TINY_FILE = "sam_vit_tiny_test.pth"


def build_tiny_sam() -> Sam:
    """An untrained tiny SAM (prompt and embedding width 32 instead of 256)."""
    prompt_dim = 32
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=1024,
            patch_size=16,
            embed_dim=32,
            depth=1,
            num_heads=2,
            mlp_ratio=2,
            out_chans=prompt_dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=14,
            global_attn_indexes=(),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=prompt_dim,
            image_embedding_size=(64, 64),
            input_image_size=(1024, 1024),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=1, embedding_dim=prompt_dim, mlp_dim=64, num_heads=2
            ),
            transformer_dim=prompt_dim,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
    ).eval()


def write_tiny_checkpoint(folder: Path, seed: int = 1) -> Path:
    """Register ``vit_tiny`` and save a randomly initialised checkpoint into ``folder``.

    With seed 1, fixation prompts on the synthetic scenes give masks covering a part
    of the image (neither empty nor everything), so tests can tell masks apart.
    """
    register_sam_builder(TINY_TYPE, build_tiny_sam, TINY_FILE)
    torch.manual_seed(seed)
    model = build_tiny_sam()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TINY_FILE
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A registered ``vit_tiny`` checkpoint file shared by the session's SAM tests."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("sam-checkpoints"))


@pytest.fixture
def no_user_checkpoints(monkeypatch, tmp_path):
    """Hide the user's own SAM checkpoints: empty cache folder, no environment variables."""
    monkeypatch.delenv("GAZESEG_SAM_CHECKPOINT", raising=False)
    monkeypatch.delenv("GAZESEG_SAM_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "napari-gazeseg" / "sam"


def ours_and_stock(tiny_checkpoint: Path):
    """``(ours, stock)``: GazeSam and segment-anything's own SamPredictor on the same tiny
    checkpoint (CPU), for tests that compare the two."""
    from segment_anything import SamPredictor

    from napari_gazeseg.models import GazeSam
    from napari_gazeseg.models.sam_loading import load_sam

    ours = GazeSam(TINY_TYPE, tiny_checkpoint, device="cpu")
    stock = SamPredictor(load_sam(TINY_TYPE, tiny_checkpoint, "cpu").model)
    return ours, stock


def blob_images() -> dict:
    """Test images of one bright blob (centre row 60, column 90) on noise, by name:
    ``(image, contrast limits or None)``; "grey" is 150 x 230 uint8."""
    import numpy as np

    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:150, 0:230]
    blob = np.exp(-((rows - 60) ** 2 + (cols - 90) ** 2) / 800.0)
    grey = (200 * blob + 20 * rng.random(blob.shape)).astype(np.uint8)
    rgb = np.stack([grey, 255 - grey, (grey // 2)], axis=-1)
    deep = (3000 * blob + 500 * rng.random(blob.shape)).astype(np.uint16)
    tall = np.ascontiguousarray(grey.T[:, :97])
    return {
        "grey": (grey, None),
        "rgb": (rgb, None),
        "uint16": (deep, (200.0, 3200.0)),
        "tall-nonsquare": (tall, None),
    }
