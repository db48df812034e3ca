"""A 2D U-Net in nnU-Net style: the backbone of GradTrack and of its baselines.

Building block (as in nnU-Net): ``conv 3x3 -> instance norm (affine) -> leaky ReLU
(slope 0.01)``, two per stage. Encoder stages go down with a strided 3x3 conv
(the first conv of the stage), decoder blocks go up with a transposed conv whose
kernel and stride equal the encoder stride, concatenate the skip features and
apply two conv blocks.

Resolution plan (``plan_strides``). GradTrack needs six decoder blocks, so the
encoder has seven stages. Halving 224 six times does not give whole pixels
(224 / 2**6 = 3.5), so, like nnU-Net's planner, we downsample only while the
feature map stays whole and at least ``min_feature`` (4) pixels wide; the
remaining deep stages keep the resolution (stride 1). The first stage never
downsamples. For the paper's 224 x 224 input:

==========  ======  ==========  ========  =============================
stage       stride  resolution  channels  decoder block reading it
==========  ======  ==========  ========  =============================
encoder 0   1       224         32        skip of block 6 (224)
encoder 1   2       112         64        skip of block 5 (112)
encoder 2   2       56          128       skip of block 4 (56)  <- TA
encoder 3   2       28          256       skip of block 3 (28)
encoder 4   2       14          512       skip of block 2 (14)  <- TA
encoder 5   2       7           512       skip of block 1 (7)
encoder 6   1       7           512       bottleneck
==========  ======  ==========  ========  =============================

Decoder block ``h`` (1-based, ``h = 1 .. 6``) upsamples by the stride of encoder
stage ``7 - h`` and outputs that stage's channel count, so block 2 works at 1/16
of the input (14 x 14 for 224) and block 4 at 1/4 (56 x 56); block 6 is at full
resolution. Channels start at ``base_channels`` (32) and double per stage up to
``max_channels`` (512, nnU-Net's cap for 2D; the bundled model uses a much
smaller plan, see ``docs/gradtrack.md``).

Tensors are ``(batch, channels, rows, cols)``; outputs are logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

__all__ = ["UNetConfig", "ConvBlock", "plan_strides", "UNet"]


def plan_strides(size: int, n_stages: int = 7, min_feature: int = 4) -> tuple[int, ...]:
    """Encoder strides for a square input of ``size`` pixels.

    Stage 0 has stride 1; each later stage halves the resolution while the
    result is a whole number of at least ``min_feature`` pixels, else keeps it.
    """
    if size < min_feature:
        raise ValueError(f"the input must be at least {min_feature} pixels wide, got {size}.")
    strides = [1]
    current = size
    for _ in range(n_stages - 1):
        if current % 2 == 0 and current // 2 >= min_feature:
            strides.append(2)
            current //= 2
        else:
            strides.append(1)
    return tuple(strides)


@dataclass(frozen=True)
class UNetConfig:
    """Everything needed to rebuild the network (stored in checkpoints).

    ``size`` is the square input side in pixels the network is planned and
    trained for; ``strides`` default to ``plan_strides(size, n_stages)``.
    """

    size: int = 224
    in_channels: int = 3
    num_classes: int = 2
    n_stages: int = 7
    base_channels: int = 32
    max_channels: int = 512
    strides: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.n_stages < 2:
            raise ValueError("a U-Net needs at least 2 stages.")
        if not self.strides:
            object.__setattr__(self, "strides", plan_strides(self.size, self.n_stages))
        else:
            object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        if len(self.strides) != self.n_stages:
            raise ValueError(f"strides need {self.n_stages} entries, got {len(self.strides)}.")

    @property
    def channels(self) -> tuple[int, ...]:
        """Feature channels of each encoder stage."""
        return tuple(
            min(self.base_channels * 2**stage, self.max_channels) for stage in range(self.n_stages)
        )

    @property
    def n_decoder_blocks(self) -> int:
        return self.n_stages - 1

    @property
    def divisor(self) -> int:
        """Input sides must be multiples of this (product of the strides)."""
        result = 1
        for stride in self.strides:
            result *= stride
        return result

    def decoder_scale(self, block: int) -> int:
        """Downsampling factor of decoder block ``block`` (1-based) w.r.t. the input."""
        if not 1 <= block <= self.n_decoder_blocks:
            raise ValueError(f"decoder blocks are numbered 1..{self.n_decoder_blocks}, got {block}.")
        scale = 1
        for stride in self.strides[: self.n_stages - block]:
            scale *= stride
        return scale

    def to_dict(self) -> dict:
        data = asdict(self)
        data["strides"] = list(self.strides)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "UNetConfig":
        return cls(**{**data, "strides": tuple(data.get("strides", ()))})


class ConvBlock(nn.Sequential):
    """``conv 3x3 (stride) -> InstanceNorm2d(affine) -> LeakyReLU(0.01)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=True),
            nn.InstanceNorm2d(out_channels, eps=1e-5, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )


class _EncoderStage(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__(ConvBlock(in_channels, out_channels, stride), ConvBlock(out_channels, out_channels))


class DecoderBlock(nn.Module):
    """Transposed conv up by ``stride``, concatenate the skip, two conv blocks."""

    def __init__(self, in_channels: int, skip_channels: int, stride: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, skip_channels, stride, stride=stride, bias=True)
        self.convs = nn.Sequential(
            ConvBlock(2 * skip_channels, skip_channels), ConvBlock(skip_channels, skip_channels)
        )

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up(features), skip], dim=1))


class UNet(nn.Module):
    """Encoder, six (``n_stages - 1``) decoder blocks and a 1x1 segmentation head.

    Subclasses hook into the decoder through :meth:`after_decoder_block`, which
    receives the output of each decoder block and may return modified features.
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = config = config or UNetConfig()
        channels, strides = config.channels, config.strides
        self.encoder = nn.ModuleList()
        previous = config.in_channels
        for stage in range(config.n_stages):
            self.encoder.append(_EncoderStage(previous, channels[stage], strides[stage]))
            previous = channels[stage]
        self.decoder = nn.ModuleList()
        for block in range(1, config.n_decoder_blocks + 1):
            stage = config.n_stages - 1 - block  # the skip this block reads
            self.decoder.append(DecoderBlock(previous, channels[stage], strides[stage + 1]))
            previous = channels[stage]
        self.head = nn.Conv2d(previous, config.num_classes, 1)
        self.apply(_init_weights)

    def check_input(self, images: torch.Tensor) -> None:
        expected = self.config.in_channels
        if images.ndim != 4 or images.shape[1] != expected:
            raise ValueError(
                f"expected images of shape (batch, {expected}, rows, cols), got {tuple(images.shape)}."
            )
        divisor = self.config.divisor
        if images.shape[-2] % divisor or images.shape[-1] % divisor:
            raise ValueError(
                f"image sides must be multiples of {divisor}, got {tuple(images.shape[-2:])}; "
                "resize the images to the network's planned size."
            )

    def after_decoder_block(self, block: int, features: torch.Tensor, outputs: dict) -> torch.Tensor:
        """Hook for subclasses; the plain U-Net returns the features unchanged."""
        return features

    def forward(self, images: torch.Tensor) -> dict[int, torch.Tensor]:
        """Logits per supervised decoder block: ``{6: (B, num_classes, H, W), ...}``.

        The key is the 1-based decoder block number; the last block's key,
        ``n_decoder_blocks``, holds the segmentation output at input resolution.
        """
        self.check_input(images)
        skips = []
        features = images
        for stage in self.encoder:
            features = stage(features)
            skips.append(features)
        outputs: dict[int, torch.Tensor] = {}
        for block, decoder_block in enumerate(self.decoder, start=1):
            features = decoder_block(features, skips[-1 - block])
            features = self.after_decoder_block(block, features, outputs)
        outputs[self.config.n_decoder_blocks] = self.head(features)
        return outputs


def _init_weights(module: nn.Module) -> None:
    """He (Kaiming) normal init for leaky ReLU, as nnU-Net does.

    Not on the ``meta`` device (a checkpoint's plan checked for its shapes): there
    is nothing to draw, and torch would import its compiler (``torch._dynamo``,
    seconds) to draw nothing.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and not module.weight.is_meta:
        nn.init.kaiming_normal_(module.weight, a=1e-2)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
