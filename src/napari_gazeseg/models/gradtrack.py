"""GradTrack: a U-Net whose decoder is guided by gaze-track attention.

Wang et al., "Enjoying Information Dividend: Gaze Track-based Medical Weakly
Supervised Segmentation" (MICCAI), section 2.3. Track Attention (TA) modules
read the output features ``F^h`` of decoder blocks 2 and 4 and predict a
2-channel map ``P^h`` (background, foreground logits), supervised by the gaze
track maps ``G^50%`` and ``G^75%``. The foreground probability, with its
gradient stopped, is broadcast over the block's channels and added to its
features before the next block (eq. 4)::

    F^h <- F^h + stopgrad(softmax(P^h)[:, 1:2])

so the segmentation loss never trains the TA branch through the addition; the
TA modules learn only from their own track-map loss. The last decoder block
(6) predicts ``P^6``, the segmentation, through the 1x1 head of the U-Net.

With ``track_attention_blocks=()`` this is the plain U-Net used by the
baselines (VAM, VAM + CRF, GazeMedSeg-style, full supervision).
"""

from __future__ import annotations

import torch
from torch import nn

from .unet import ConvBlock, UNet, UNetConfig

__all__ = ["TrackAttention", "GradTrack", "DEFAULT_TA_BLOCKS"]

#: Decoder blocks (1-based) carrying a Track Attention module, as in the paper.
DEFAULT_TA_BLOCKS = (2, 4)


class TrackAttention(nn.Module):
    """Three conv blocks from ``F^h`` to 2-channel logits ``P^h``.

    Two ``conv 3x3 - instance norm - leaky ReLU`` blocks keep the channel count;
    the third block is a 1x1 conv to the two logits (no norm or activation on
    logits). Output has the spatial size of the input features.
    """

    def __init__(self, channels: int, num_classes: int = 2):
        super().__init__()
        self.blocks = nn.Sequential(
            ConvBlock(channels, channels),
            ConvBlock(channels, channels),
            nn.Conv2d(channels, num_classes, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.blocks(features)


class GradTrack(UNet):
    """U-Net with Track Attention on the given decoder blocks.

    ``forward(images)`` returns ``{block: logits}``: one entry per TA block
    (``(B, 2, H / s_h, W / s_h)``, ``s_h = config.decoder_scale(h)``) and the
    segmentation under key ``config.n_decoder_blocks`` (``(B, 2, H, W)``).
    Channel 1 is the foreground.
    """

    def __init__(
        self,
        config: UNetConfig | None = None,
        track_attention_blocks: tuple[int, ...] = DEFAULT_TA_BLOCKS,
    ):
        super().__init__(config)
        last = self.config.n_decoder_blocks
        blocks = tuple(int(b) for b in track_attention_blocks)
        if any(not 1 <= b < last for b in blocks):
            raise ValueError(f"Track Attention blocks must lie in 1..{last - 1}, got {blocks}.")
        self.track_attention_blocks = blocks
        channels = self.config.channels
        self.track_attention = nn.ModuleDict(
            {
                str(block): TrackAttention(channels[self.config.n_stages - 1 - block], self.config.num_classes)
                for block in blocks
            }
        )

    def after_decoder_block(self, block: int, features: torch.Tensor, outputs: dict) -> torch.Tensor:
        key = str(block)
        if key not in self.track_attention:
            return features
        logits = self.track_attention[key](features)
        outputs[block] = logits
        foreground = torch.softmax(logits.float(), dim=1)[:, 1:2].to(features.dtype)
        return features + foreground.detach()  # eq. (4): broadcast over channels, gradient stopped
